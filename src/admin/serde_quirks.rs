//! Synapse answers that need a lenient reading, kept in one place.

use serde::{Deserialize, Deserializer};

/// `next_batch` is an integer offset in current Synapse; older releases and
/// some proxies send it as a string. Both are read as a number.
pub fn opt_u64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        Num(u64),
        Text(String),
    }
    match Option::<Lenient>::deserialize(d)? {
        None => Ok(None),
        Some(Lenient::Num(n)) => Ok(Some(n)),
        Some(Lenient::Text(s)) => s.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// A key Synapse always sends, null allowed: `Some(None)` for null, and
/// `None` (the field's `default`) when the key is absent, so that a partial
/// answer (a proxy's, a misrouted worker's) is told apart from "none".
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
