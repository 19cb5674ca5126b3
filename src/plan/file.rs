//! The plan on disk: JSON lines like the deletion journal (the header, then
//! one record per line, each fsynced before the step it announces), never
//! overwritten, archived once its deletion has started.

use std::fs::OpenOptions;
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
    plan.warnings = vec![super::Warning::NotSent; plan.people.len()];
    Ok(())
}

/// Writes a new plan; refuses when one is there (one plan at a time).
pub fn create(path: &Path, plan: &Plan) -> anyhow::Result<()> {
    let dir = folder(path);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create the plan {}", path.display()))?;
    let mut line = serde_json::to_vec(plan)?;
    line.push(b'\n');
    file.write_all(&line)?;
    file.sync_all()?;
    sync_dir(dir)
}

/// Appends `record` to the plan at `path`, on disk before this returns.
pub fn append(path: &Path, record: &Record) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("cannot write the plan {}", path.display()))?;
    let mut line = serde_json::to_vec(record)?;
    line.push(b'\n');
    file.write_all(&line)?;
    file.sync_all()
        .with_context(|| format!("cannot write the plan {}", path.display()))
}

/// Moves the plan aside once its deletion journal holds its rooms.
pub fn archive(path: &Path, plan: &Plan) -> anyhow::Result<PathBuf> {
    let name = format!(
        "{}.{}.done",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("plan"),
        plan.confirmed_at
    );
    let target = path.with_file_name(name);
    std::fs::rename(path, &target).with_context(|| format!("cannot archive {}", path.display()))?;
    sync_dir(folder(path))?;
    Ok(target)
}
