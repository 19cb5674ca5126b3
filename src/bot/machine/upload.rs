//! An edited results.csv uploaded in the admin room: read as a job, then
//! offered like a scan's candidates, under the same confirmation rules.

use matrix_sdk::ruma::OwnedUserId;

use super::status::describe;
use super::{Effect, JobId, JobKind, Machine, Ms, OfferRooms, Spent, Upload, say};
use crate::bot::messages;
use crate::delete::choice::Choice;

impl Machine {
    pub(super) fn upload(
        &mut self,
        now: Ms,
        sender: OwnedUserId,
        upload: Upload,
        out: &mut Vec<Effect>,
    ) {
        if !self.s.admins.contains(&sender) {
            self.refuse(now, &sender, out);
            return;
        }
        if self.shutting_down {
            out.push(say(
                "The bot is shutting down: the uploaded file was not read.",
            ));
            return;
        }
        if let Some(job) = &self.job {
            out.push(say(&format!(
                "Busy: {}. The uploaded file was not read; upload it again when this is done.",
                describe(job, now)
            )));
            return;
        }
        let job = self.new_job(now, JobKind::Upload { cancelled: false });
        out.push(Effect::ReadUpload {
            job,
            sender,
            upload,
        });
    }

    pub(super) fn upload_read(
        &mut self,
        now: Ms,
        id: JobId,
        sender: &OwnedUserId,
        result: Result<Box<Choice>, String>,
        out: &mut Vec<Effect>,
    ) {
        let Some(JobKind::Upload { cancelled }) = self.job_mut(id) else {
            return;
        };
        let cancelled = *cancelled;
        self.job = None;
        if cancelled {
            return;
        }
        let choice = match result {
            Ok(choice) => choice,
            Err(why) => {
                out.push(say(&format!(
                    "The uploaded file was not offered: {why}. Nothing was deleted; any standing \
                     offer still stands."
                )));
                return;
            }
        };
        if choice.offered.is_empty() {
            let text = messages::upload_offer(&choice, sender.as_str(), None);
            out.push(Effect::Say(text));
            return;
        }
        // The file replaces the standing offer, as a new scan does.
        self.end_offer(Spent::Replaced, out);
        let expires = self.expiry(now);
        let mut text =
            messages::upload_offer(&choice, sender.as_str(), Some(&self.answer(expires)));
        self.offer_notes(&mut text);
        let offer = self.fresh_id();
        let rooms = OfferRooms::Listed(choice.offered);
        self.open_offer(offer, rooms, choice.rules, expires);
        out.push(Effect::PostOffer { offer, text });
    }
}

#[cfg(test)]
mod tests {
    use super::super::builders::{
        command, event, new_deletion, says, settings, upload, uploaded, user,
    };
    use super::super::{Input, Machine, OnDisk};
    use super::*;

    fn started() -> Machine {
        let mut m = Machine::new(settings());
        m.handle(0, Input::Started(OnDisk::Nothing));
        m
    }

    /// Alice posts a file: the read job it starts.
    fn read_by_alice(m: &mut Machine, at: Ms) -> JobId {
        let out = m.handle(
            at,
            Input::Upload {
                sender: user("alice"),
                upload: upload(),
            },
        );
        match out.first() {
            Some(Effect::ReadUpload { job, .. }) => *job,
            _ => panic!("{out:?}"),
        }
    }

    /// An admin's upload read with `ids`: the effects of the read.
    fn offer_of(m: &mut Machine, ids: &[&str]) -> Vec<Effect> {
        let job = read_by_alice(m, 1);
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        m.handle(
            2,
            Input::UploadRead {
                job,
                sender: user("alice"),
                result: Ok(uploaded(&ids)),
            },
        )
    }

    #[test]
    fn an_uploaded_file_is_offered_and_confirmed_like_a_scan() {
        let mut m = started();
        let out = offer_of(&mut m, &["!a:example.com", "!b:example.com"]);
        let Some(Effect::PostOffer { offer, text }) = out.last() else {
            panic!("{out:?}")
        };
        assert!(
            text.plain.starts_with("Delete these 2 rooms?"),
            "{}",
            text.plain
        );
        assert!(text.plain.contains("@alice:example.com uploaded"));
        m.handle(
            3,
            Input::OfferPosted {
                offer: *offer,
                event_id: Some(event("up")),
            },
        );
        // A stranger's reaction counts for nothing; an admin's deletes
        // exactly the file's rooms, re-checked with the config's policy.
        let stranger = Input::Reaction {
            sender: user("mallory"),
            target: event("up"),
            key: "✅".into(),
        };
        assert!(new_deletion(&m.handle(4, stranger)).is_none());
        let out = m.handle(
            5,
            Input::Reaction {
                sender: user("bob"),
                target: event("up"),
                key: "✅".into(),
            },
        );
        let (_, confirmed) = new_deletion(&out).expect("a deletion");
        let OfferRooms::Listed(rooms) = &confirmed.rooms else {
            panic!("{confirmed:?}")
        };
        let rooms: Vec<_> = rooms.iter().map(|r| r.room_id.as_str()).collect();
        assert_eq!(rooms, ["!a:example.com", "!b:example.com"]);
        assert_eq!(confirmed.options, None);
    }

    #[test]
    fn a_strangers_file_is_refused_once_and_not_read() {
        let mut m = started();
        let upload_from = |m: &mut Machine, at| {
            m.handle(
                at,
                Input::Upload {
                    sender: user("mallory"),
                    upload: upload(),
                },
            )
        };
        let out = upload_from(&mut m, 1);
        assert!(!out.iter().any(|e| matches!(e, Effect::ReadUpload { .. })));
        assert!(says(&out)[0].contains("only the admins"));
        assert!(upload_from(&mut m, 2).is_empty());
    }

    #[test]
    fn a_bad_file_leaves_the_standing_offer_alone() {
        let mut m = started();
        let out = offer_of(&mut m, &["!a:example.com"]);
        let Some(Effect::PostOffer { offer, .. }) = out.last() else {
            panic!()
        };
        m.handle(
            3,
            Input::OfferPosted {
                offer: *offer,
                event_id: Some(event("up")),
            },
        );
        let job = read_by_alice(&mut m, 4);
        let out = m.handle(
            5,
            Input::UploadRead {
                job,
                sender: user("alice"),
                result: Err(
                    "results.csv, line 3: should_delete must be yes or no, not `maybe`".into(),
                ),
            },
        );
        assert!(says(&out)[0].contains("line 3: should_delete"), "{out:?}");
        let out = m.handle(
            6,
            Input::Reaction {
                sender: user("alice"),
                target: event("up"),
                key: "✅".into(),
            },
        );
        assert!(new_deletion(&out).is_some(), "the first offer still stands");
    }

    #[test]
    fn a_cancelled_read_offers_nothing_and_busy_bots_read_nothing() {
        let mut m = started();
        let job = read_by_alice(&mut m, 1);
        // While the file is read, nothing else starts.
        let busy = m.handle(2, command(&user("bob"), "!oldrooms scan"));
        assert!(says(&busy)[0].starts_with("Busy: reading an uploaded results.csv"));
        let busy = m.handle(
            2,
            Input::Upload {
                sender: user("bob"),
                upload: upload(),
            },
        );
        assert!(says(&busy)[0].contains("upload it again"));
        let cancel = m.handle(3, command(&user("bob"), "!oldrooms cancel"));
        assert!(
            cancel
                .iter()
                .any(|e| matches!(e, Effect::CancelJob(j) if *j == job))
        );
        let out = m.handle(
            4,
            Input::UploadRead {
                job,
                sender: user("alice"),
                result: Ok(uploaded(&["!a:example.com".into()])),
            },
        );
        assert!(out.is_empty(), "{out:?}");
        let nothing = offer_of(&mut m, &[]);
        assert!(says(&nothing)[0].contains("marks no room that may be deleted"));
    }
}
