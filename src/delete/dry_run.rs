//! A dry run: every room of a confirmed set re-checked against the server
//! now, exactly as a deletion would just before deleting it, and nothing
//! deleted. No journal: nothing happens that would need resuming.

use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::{StreamExt as _, TryStreamExt as _};

use super::journal::{Journal, Outcome, Step};
use super::{DeleteSettings, Rechecked, recheck_room};
use crate::admin::{AdminClient, AdminError};
use crate::policy::Policy;

/// Each room's step becomes what a real run would do: `would-delete`, or
/// `skipped` with the reason, or `failed` when the re-check could not be
/// made. Stops on an error that would repeat for every room (the token).
/// `checked` counts the rooms re-checked so far, for a progress report.
pub async fn dry_run(
    client: &AdminClient,
    base: &Policy,
    mut journal: Journal,
    settings: &DeleteSettings,
    checked: &AtomicUsize,
) -> Result<Journal, AdminError> {
    let policy = base.for_run(journal.options.clone());
    let rooms = &journal.rooms;
    // Indices, not `&Entry` items: an async block over a borrowed item makes
    // the future's `Send` depend on a higher-ranked lifetime rustc rejects.
    let steps: Vec<Step> = futures_util::stream::iter(0..rooms.len())
        .map(|i| {
            let policy = &policy;
            async move {
                let entry = &rooms[i];
                let (outcome, detail) = match recheck_room(client, policy, entry).await {
                    Ok(Rechecked::Delete { .. }) => (Outcome::WouldDelete, String::new()),
                    Ok(Rechecked::Keep(why)) => (Outcome::Skipped, why.to_string()),
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(e) => (Outcome::Failed, format!("re-check failed: {e}")),
                };
                checked.fetch_add(1, Ordering::Relaxed);
                Ok(Step::Done { outcome, detail })
            }
        })
        .buffered(settings.concurrency.max(1))
        .try_collect()
        .await?;
    for (i, step) in steps.into_iter().enumerate() {
        journal.set(i, step);
    }
    Ok(journal)
}
