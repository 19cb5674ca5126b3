//! The plan on disk: JSON lines like the deletion journal (the header, then
//! one record per line, each fsynced before the step it announces), never
//! overwritten, archived once its deletion has started.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{Plan, Record, VERSION};
use crate::atomic::{folder, sync_dir};

/// Reads the plan at `path`: `None` when there is none. A last line cut by
/// a crash was never acted on and is ignored; anything else that does not
/// parse is an error, never a guess.
pub fn read(path: &Path) -> anyhow::Result<Option<Plan>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    replay(&bytes)
        .map(Some)
        .map_err(|why| anyhow::anyhow!("the plan {} cannot be read ({why})", path.display()))
}

pub(super) fn replay(bytes: &[u8]) -> Result<Plan, String> {
    crate::jsonl::replay(bytes, ready, |p: &mut Plan, r| p.apply(r))
}

/// A header of this version, with no warning sent until a record says so.
fn ready(plan: &mut Plan) -> Result<(), String> {
    if plan.version != VERSION {
        return Err(format!(
            "version {} is not the version {VERSION} this oldrooms knows",
            plan.version
        ));
    }
    plan.check_indices()?;
    plan.warnings = vec![super::Warning::NotSent; plan.people.len()];
    Ok(())
}

/// Holds the plan at `path` for this process, until the handle is dropped:
/// two `--resume` at once would warn the same person twice.
pub fn lock(path: &Path) -> anyhow::Result<File> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    file.try_lock().map_err(|_| {
        anyhow::anyhow!(
            "{} is in use by another oldrooms process; run one at a time on a data_dir",
            path.display()
        )
    })?;
    Ok(file)
}

/// Writes a new plan, held by the returned handle; refuses when one is
/// there (one plan at a time).
pub fn create(path: &Path, plan: &Plan) -> anyhow::Result<File> {
    let dir = folder(path);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create the plan {}", path.display()))?;
    let mut line = serde_json::to_vec(plan)?;
    line.push(b'\n');
    file.try_lock()
        .map_err(|_| anyhow::anyhow!("{} is in use", path.display()))?;
    file.write_all(&line)?;
    file.sync_all()?;
    sync_dir(dir)?;
    Ok(file)
}

/// Appends `record` to the plan at `path`, on disk before this returns.
pub fn append(path: &Path, record: &Record) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("cannot write the plan {}", path.display()))?;
    // After a line cut by a crash, the record starts on a line of its own.
    crate::atomic::cut_partial_line(&file, path)?;
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    file.write_all(&line)?;
    file.sync_all()
        .with_context(|| format!("cannot write the plan {}", path.display()))
}

/// Moves the plan aside once its deletion journal holds its rooms.
pub fn archive(path: &Path, plan: &Plan) -> anyhow::Result<PathBuf> {
    crate::atomic::archive(path, plan.confirmed_at)
}
