//! The journal on disk: created only where none is, appended one fsynced
//! line per step by a thread of its own (never on the async workers), and
//! archived when the run is finished.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, mpsc};

use anyhow::Context as _;
use tokio::sync::oneshot;

use super::journal::{self, Counts, Journal, Record};
use crate::atomic::{folder, sync_dir};
use crate::timefmt::rfc3339;

/// Why a journal cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A journal is already there: never overwritten.
    #[error(
        "an unfinished deletion (confirmed by {confirmed_by} at {at}: {counts}) is recorded in {path}; it must finish (it resumes at the next start) before another deletion can begin"
    )]
    Unfinished {
        path: String,
        confirmed_by: String,
        at: String,
        counts: Counts,
    },
    /// A journal is there and cannot be read: the admin must look.
    #[error("the deletion journal {path} cannot be read ({why}); look at it, then move it away")]
    Unreadable { path: String, why: String },
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}

/// What is on disk at `path`.
pub fn read(path: &Path) -> Result<Option<Journal>, OpenError> {
    let unreadable = |why: String| OpenError::Unreadable {
        path: path.display().to_string(),
        why,
    };
    // The whole-JSON journal of an earlier oldrooms sits beside ours; its
    // run must not be forgotten.
    let legacy = path.with_extension("json");
    if legacy.exists() {
        return Err(OpenError::Unreadable {
            path: legacy.display().to_string(),
            why: "it was written by an older oldrooms, which must finish it".into(),
        });
    }
    match std::fs::read(path) {
        Ok(bytes) => journal::replay(&bytes).map(Some).map_err(unreadable),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unreadable(e.to_string())),
    }
}

/// A journal being written, and its state as of the last record.
pub struct JournalFile {
    path: PathBuf,
    state: Mutex<Journal>,
    writer: Mutex<Option<mpsc::Sender<Append>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for JournalFile {
    /// Closes the file (and its lock) before the journal is given up, so
    /// that whoever opens it next finds it free.
    fn drop(&mut self) {
        self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Append {
    bytes: Vec<u8>,
    written: oneshot::Sender<std::io::Result<()>>,
}

impl JournalFile {
    /// Starts a new journal at `path`. Refuses when one is there, finished
    /// journals excepted: those are archived first.
    pub fn create(path: &Path, journal: Journal) -> Result<Self, OpenError> {
        if let Some(existing) = read(path)? {
            if !existing.is_finished() {
                return Err(OpenError::Unfinished {
                    path: path.display().to_string(),
                    confirmed_by: existing.confirmed_by.clone(),
                    at: rfc3339(existing.confirmed_at),
                    counts: existing.counts(),
                });
            }
            archive(path, &existing)?;
        }
        let dir = folder(path);
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        lock(&file, path)?;
        file.write_all(&journal.header_line())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        sync_dir(dir)?;
        Ok(Self::hold(path, file, journal))
    }

    /// Reopens an unfinished journal to resume it; `None` when there is none.
    pub fn resume(path: &Path) -> Result<Option<Self>, OpenError> {
        let Some(journal) = read(path)? else {
            return Ok(None);
        };
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        lock(&file, path)?;
        // A line cut by a crash is cut off, so the file replays the same
        // next time.
        crate::atomic::cut_partial_line(&file, path)?;
        Ok(Some(Self::hold(path, file, journal)))
    }

    fn hold(path: &Path, file: File, journal: Journal) -> Self {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || write_lines(file, rx));
        Self {
            path: path.to_owned(),
            state: Mutex::new(journal),
            writer: Mutex::new(Some(tx)),
            thread: Some(thread),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn snapshot(&self) -> Journal {
        self.lock().clone()
    }

    pub fn counts(&self) -> Counts {
        self.lock().counts()
    }

    pub fn snapshot_room(&self, i: usize) -> super::journal::Entry {
        self.lock().rooms[i].clone()
    }

    /// The confirmed scan's options, without copying the rooms.
    pub fn options(&self) -> Option<crate::policy::Rules> {
        self.lock().options.clone()
    }

    pub fn cancelled(&self) -> bool {
        self.lock().cancelled
    }

    fn lock(&self) -> MutexGuard<'_, Journal> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `change` to the state and waits until its record is on disk.
    /// Records reach the file in the order their changes were applied.
    pub async fn record<T>(
        &self,
        change: impl FnOnce(&mut Journal) -> (Option<Record>, T),
    ) -> anyhow::Result<T> {
        let waiting = {
            let mut state = self.lock();
            let (record, value) = change(&mut state);
            let Some(record) = record else {
                return Ok(value);
            };
            let (written, done) = oneshot::channel();
            let append = Append {
                bytes: journal::record_line(&record),
                written,
            };
            let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
            let sent = writer.as_ref().map(|w| w.send(append));
            if !matches!(sent, Some(Ok(()))) {
                anyhow::bail!("the journal writer stopped");
            }
            (done, value)
        };
        let (done, value) = waiting;
        done.await
            .map_err(|_| anyhow::anyhow!("the journal writer stopped"))?
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(value)
    }
}

/// The writer thread: appends what is queued, one fsync for a batch.
fn write_lines(mut file: File, rx: mpsc::Receiver<Append>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let mut result = Ok(());
        for a in &batch {
            if result.is_ok() {
                result = file.write_all(&a.bytes);
            }
        }
        if result.is_ok() {
            result = file.sync_data();
        }
        for a in batch {
            let answer = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            };
            let _ = a.written.send(answer);
        }
        if result.is_err() {
            // Nothing after a failed write may look written.
            for a in rx.iter() {
                let _ = a
                    .written
                    .send(Err(std::io::Error::other("an earlier write failed")));
            }
            return;
        }
    }
}

/// One process per journal: a second `oldrooms` on the same `data_dir`
/// must not resume the same rooms. Released when the file is closed.
fn lock(file: &File, path: &Path) -> anyhow::Result<()> {
    file.try_lock().map_err(|_| {
        anyhow::anyhow!(
            "{} is in use by another oldrooms process; run one at a time on a data_dir",
            path.display()
        )
    })
}

/// Moves a finished journal aside, keeping it as a record.
pub fn archive(path: &Path, journal: &Journal) -> anyhow::Result<PathBuf> {
    crate::atomic::archive(path, journal.confirmed_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delete::journal::{Entry, Step};

    fn journal() -> Journal {
        let rooms = ["!a", "!b"]
            .iter()
            .map(|id| Entry {
                room_id: (*id).try_into().unwrap(),
                name: String::new(),
                last_activity: Some(1),
                last_event: None,
                joined_local_members: 0,
                abandoned: false,
                step: Step::Pending,
                submitting_since: None,
            })
            .collect();
        Journal::new("@a:b", 7, None, rooms)
    }

    #[tokio::test]
    async fn a_journal_is_never_overwritten_and_resumes_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let file = JournalFile::create(&path, journal()).unwrap();
        file.record(|j| (Some(j.claim_submit(0, 7)), ()))
            .await
            .unwrap();
        file.record(|j| (j.cancel(), ())).await.unwrap();
        let written = file.snapshot();
        drop(file);

        let again = JournalFile::create(&path, journal()).err().unwrap();
        assert!(matches!(again, OpenError::Unfinished { .. }), "{again}");
        let resumed = JournalFile::resume(&path).unwrap().unwrap();
        assert_eq!(resumed.snapshot(), written);
        assert!(resumed.cancelled());

        drop(resumed);

        // A record cut by a crash: resumed twice, it reads the same.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"step\":{\"room\":1,\"st");
        std::fs::write(&path, &bytes).unwrap();
        let once = JournalFile::resume(&path).unwrap().unwrap();
        once.record(|j| (Some(j.claim_submit(1, 7)), ()))
            .await
            .unwrap();
        let after = once.snapshot();
        drop(once);
        assert_eq!(
            JournalFile::resume(&path).unwrap().unwrap().snapshot(),
            after
        );

        std::fs::write(&path, b"garbage\n").unwrap();
        let damaged = JournalFile::create(&path, journal()).err().unwrap();
        assert!(matches!(damaged, OpenError::Unreadable { .. }), "{damaged}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"garbage\n",
            "left as it was"
        );
    }

    #[tokio::test]
    async fn a_finished_journal_is_archived_before_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let file = JournalFile::create(&path, journal()).unwrap();
        for i in 0..2 {
            let done = Step::Done {
                outcome: crate::delete::Outcome::Deleted,
                detail: String::new(),
            };
            file.record(|j| (Some(j.set(i, done)), ())).await.unwrap();
        }
        drop(file);
        JournalFile::create(&path, journal()).unwrap();
        assert!(dir.path().join("j.jsonl.7.done").exists());
    }
}
