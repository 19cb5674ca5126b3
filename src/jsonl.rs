//! Files of JSON lines written as a run goes (the deletion journal, a
//! plan): a header line, then one record per line, each on disk before the
//! step it announces; read back whole at start.

use serde::de::DeserializeOwned;

/// The header of `bytes`, checked by `check`, with each record after it
/// given to `apply` in order. A last line without its newline was cut by a
/// crash while it was written, so what it announced was never done: it is
/// ignored. Anything else that does not parse is an error, never a guess.
pub fn replay<H, R>(
    bytes: &[u8],
    check: impl FnOnce(&mut H) -> Result<(), String>,
    mut apply: impl FnMut(&mut H, &R) -> Result<(), String>,
) -> Result<H, String>
where
    H: DeserializeOwned,
    R: DeserializeOwned,
{
    let end = bytes
        .iter()
        .rposition(|b| *b == b'\n')
        .ok_or("the header line is incomplete")?;
    let mut lines = bytes[..end].split(|b| *b == b'\n').enumerate();
    let (_, head) = lines.next().ok_or("the file is empty")?;
    let mut header: H =
        serde_json::from_slice(head).map_err(|e| format!("line 1 (the header): {e}"))?;
    check(&mut header)?;
    for (n, text) in lines {
        if text.is_empty() {
            continue;
        }
        let record: R = serde_json::from_slice(text).map_err(|e| format!("line {}: {e}", n + 1))?;
        apply(&mut header, &record).map_err(|e| format!("line {}: {e}", n + 1))?;
    }
    Ok(header)
}
