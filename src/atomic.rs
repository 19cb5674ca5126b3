//! Writing a file whole or not at all: a temporary file beside it (created
//! readable by the owner only), flushed to disk, then renamed over it. A
//! crash or an error never leaves a partial file at `path`.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

/// Writes `path` with what `fill` writes into the file.
pub fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = folder(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".oldrooms-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    fill(tmp.as_file_mut()).with_context(|| format!("cannot write {}", path.display()))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes `path` with `bytes`.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_with(path, |file| Ok(file.write_all(bytes)?))
}

/// The folder `path` is in (`.` for a bare file name).
pub fn folder(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a file created or renamed in `dir` survive a crash.
pub fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

/// Moves a finished file aside as `<name>.<stamp>.done` (or `.<stamp>.1.done`
/// and on, never over an earlier one: two runs can share a stamp).
pub fn archive(path: &Path, stamp: i64) -> anyhow::Result<std::path::PathBuf> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let target = (0..)
        .map(|n| match n {
            0 => path.with_file_name(format!("{name}.{stamp}.done")),
            n => path.with_file_name(format!("{name}.{stamp}.{n}.done")),
        })
        .find(|t| !t.exists())
        .unwrap_or_else(|| unreachable!("an endless range"));
    std::fs::rename(path, &target).with_context(|| format!("cannot archive {}", path.display()))?;
    sync_dir(folder(path))?;
    Ok(target)
}

/// Cuts off a last line that a crash left without its newline, so that
/// the next record starts on a line of its own.
pub fn cut_partial_line(file: &std::fs::File, path: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if whole < bytes.len() {
        file.set_len(u64::try_from(whole).unwrap_or(u64::MAX))
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot repair {}", path.display()))?;
    }
    Ok(())
}
