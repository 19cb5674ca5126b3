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

/// A `null` count is read as zero.
pub fn u64_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.unwrap_or(0))
}

/// A `null` flag is read as false.
pub fn bool_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}
