//! The offer to delete and the reactions that answer it. Only a confirm
//! reaction from an admin, on the newest offer's message, before it
//! expires, and only the first one, starts a deletion.

use matrix_sdk::ruma::{OwnedEventId, OwnedUserId};

use super::{
    Confirmed, DeletionStart, Effect, Filed, JobKind, Machine, Ms, Offer, OfferRooms, ScanResult,
    Spent, say,
};
use crate::bot::messages::{self, Answer, OfferText};
use crate::bot::text::Text;
use crate::report::Summary;
use crate::timefmt::rfc3339;

/// Reactions kept while the offer's own id is not known yet.
const EARLY_REACTIONS: usize = 16;

impl Machine {
    /// The offer for a finished scan's candidates: its id and text, with the
    /// expiry it states, which is the one enforced.
    pub(super) fn new_offer(
        &mut self,
        now: Ms,
        result: &ScanResult,
        summary: &Summary,
    ) -> Option<(Filed, Text)> {
        // Counted, not copied: the publishing writes the rooms to the
        // offer's file, so a million rooms' offer is not held in memory.
        let count = result
            .outcome
            .rows
            .iter()
            .filter(|r| r.verdict.should_delete())
            .count();
        if count == 0 {
            return None;
        }
        let expires = self.expiry(now);
        let mut text = messages::offer(&OfferText {
            rooms: count,
            summary,
            answer: self.answer(expires),
        });
        self.offer_notes(&mut text);
        let filed = Filed {
            offer: self.fresh_id(),
            expires,
            rooms: count,
        };
        let options = Some(result.options.clone());
        self.open_offer(filed.offer, OfferRooms::Filed(filed), options, expires);
        Some((filed, text))
    }

    /// When an offer made at `now` expires.
    pub(super) fn expiry(&self, now: Ms) -> Ms {
        now.saturating_add(self.s.confirm_timeout_ms)
    }

    /// An id for an offer, unlike any other offer's or job's.
    pub(super) fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Makes `rooms` the live offer `id` (from `fresh_id`), not yet posted.
    pub(super) fn open_offer(
        &mut self,
        id: u64,
        rooms: OfferRooms,
        options: Option<crate::policy::Rules>,
        expires: Ms,
    ) {
        self.offer = Some(Offer {
            id,
            event_id: None,
            rooms,
            options,
            expires,
            early: Vec::new(),
        });
    }

    /// How to answer an offer that expires at `expires`.
    pub(super) fn answer(&self, expires: Ms) -> Answer<'_> {
        Answer {
            confirm: &self.s.confirm_shown,
            cancel: &self.s.cancel_shown,
            prefix: &self.s.prefix,
            minutes: u64::try_from(self.s.confirm_timeout_ms)
                .unwrap_or(0)
                .div_ceil(60_000),
            expires_ms: expires,
        }
    }

    /// Ends the live offer, if any, for `why`. Returns whether there was one.
    pub(super) fn end_offer(&mut self, why: Spent, out: &mut Vec<Effect>) -> bool {
        let Some(offer) = self.offer.take() else {
            return false;
        };
        match offer.event_id {
            Some(event_id) => {
                if why != Spent::Replaced {
                    let note = match why {
                        Spent::Expired => "This offer expired: nothing was deleted.",
                        _ => "This offer was withdrawn: nothing was deleted.",
                    };
                    out.push(Effect::EditOffer {
                        event_id: event_id.clone(),
                        text: Text::plain(note),
                    });
                }
                self.spent.insert(event_id, why);
            }
            None => {
                self.spent_unposted.insert(offer.id, why);
            }
        }
        true
    }

    pub(super) fn offer_posted(
        &mut self,
        now: Ms,
        id: u64,
        event_id: Option<OwnedEventId>,
        out: &mut Vec<Effect>,
    ) {
        if let Some(why) = self.spent_unposted.remove(&id) {
            if let Some(event_id) = event_id {
                out.push(Effect::EditOffer {
                    event_id: event_id.clone(),
                    text: Text::plain(
                        "This offer was withdrawn before it was posted: nothing will be deleted.",
                    ),
                });
                self.spent.insert(event_id, why);
            }
            return;
        }
        // Only the first word about an offer counts.
        let Some(offer) = self
            .offer
            .as_mut()
            .filter(|o| o.id == id && o.event_id.is_none())
        else {
            return;
        };
        let Some(event_id) = event_id else {
            self.offer = None;
            out.push(say(
                "Could not post the offer to delete: nothing will be deleted. Run a new scan, or \
                 upload the file again.",
            ));
            return;
        };
        offer.event_id = Some(event_id.clone());
        let early = std::mem::take(&mut offer.early);
        for (sender, target, key) in early {
            if target == event_id {
                self.reaction(now, sender, target, &key, out);
            }
        }
    }

    pub(super) fn reaction(
        &mut self,
        now: Ms,
        sender: OwnedUserId,
        target: OwnedEventId,
        key: &str,
        out: &mut Vec<Effect>,
    ) {
        let confirm = key == self.s.confirm_key;
        let cancel = key == self.s.cancel_key;
        if !(confirm || cancel) || !self.s.admins.contains(&sender) {
            return;
        }
        // ❌ on the offer that made the waiting plan withdraws it.
        if cancel
            && let Some(plan) = &self.plan
            && plan.facts.offer.as_ref() == Some(&target)
        {
            self.cross_plan(&target, out);
            return;
        }
        if let Some(why) = self.spent.get(&target).cloned() {
            self.spent_reaction(sender, why, confirm, out);
            return;
        }
        let Some(offer) = &mut self.offer else {
            return;
        };
        match &offer.event_id {
            Some(id) if *id == target => {}
            Some(_) => return,
            None => {
                // Our own send has not told us the offer's id yet.
                if offer.early.len() < EARLY_REACTIONS {
                    offer.early.push((sender, target, key.to_owned()));
                }
                return;
            }
        }
        if cancel {
            self.end_offer(Spent::Withdrawn, out);
            out.push(say(&format!(
                "Withdrawn by {sender}: nothing will be deleted."
            )));
            return;
        }
        if now >= offer.expires {
            let expired = offer.expires;
            self.end_offer(Spent::Expired, out);
            out.push(say(&format!(
                "{sender}: that offer expired at {}. Nothing was deleted; run a new scan.",
                rfc3339(expired)
            )));
            return;
        }
        if self.shutting_down || self.job.is_some() {
            // The offer stands; nothing is used up by a refusal.
            out.push(say(&format!(
                "{sender}: the bot is busy or shutting down, so nothing was deleted. The offer stands until {}.",
                rfc3339(offer.expires)
            )));
            return;
        }
        let expires = offer.expires;
        if let Some(refusal) = self.refuse_for_plan(&sender, expires) {
            out.push(refusal);
            return;
        }
        let Some(offer) = self.offer.take() else {
            return;
        };
        let count = offer.rooms.len();
        let confirmed = Confirmed {
            by: sender.to_string(),
            at: now,
            options: offer.options,
            rooms: offer.rooms,
        };
        if let Some(grace) = self.s.grace_ms {
            self.start_plan(now, grace, confirmed, sender, target, out);
            return;
        }
        let kind = JobKind::Delete {
            counts: None,
            cancelling: false,
            confirmed_by: Some(sender.clone()),
            plan: false,
        };
        let job = self.new_job(now, kind);
        self.spent.insert(target, Spent::Used { by: sender, job });
        tracing::info!(rooms = count, "deletion confirmed");
        out.push(Effect::StartDeletion {
            job,
            start: DeletionStart::New(Box::new(confirmed)),
        });
    }

    /// A reaction on an offer that no longer stands.
    fn spent_reaction(
        &mut self,
        sender: OwnedUserId,
        why: Spent,
        confirm: bool,
        out: &mut Vec<Effect>,
    ) {
        let Spent::Used { by, job } = why else {
            out.push(say(&format!(
                "{sender}: that offer is no longer valid ({}). Nothing was deleted.",
                match why {
                    Spent::Expired => "it expired",
                    Spent::Replaced => "a newer offer replaced it",
                    _ => "it was withdrawn",
                }
            )));
            return;
        };
        let running = self.job.as_ref().is_some_and(|j| j.id == job);
        if confirm || !running {
            let state = if running {
                "is being carried out"
            } else {
                "was carried out"
            };
            out.push(say(&format!(
                "{sender}: that offer was already confirmed by {by}; the deletion {state}."
            )));
            return;
        }
        // A cancel reaction on the offer being carried out stops it.
        self.cancel(out);
    }
}
