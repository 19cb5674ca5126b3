//! gzip for results.csv: a large scan's file is posted compressed when the
//! homeserver's upload limit refuses the plain one, and a compressed file
//! is read back like a plain one. Reading stops at a size cap, so a small
//! hostile file cannot unpack into all of memory.

use std::io::{Read as _, Write as _};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

/// Whether `bytes` start as a gzip stream does.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// `bytes`, gzip-compressed.
pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::default());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// The file at `path`, gzip-compressed, read a piece at a time: a large
/// results.csv is never whole in memory.
pub fn gzip_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    std::io::copy(&mut file, &mut encoder)?;
    encoder.finish()
}

/// Why a compressed file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GunzipError {
    #[error("not a valid gzip file ({0})")]
    Invalid(#[from] std::io::Error),
    #[error("unpacks to more than {0} MB")]
    TooLarge(u64),
}

/// The unpacked bytes of a gzip file, at most `max` of them.
pub fn gunzip(bytes: &[u8], max: u64) -> Result<Vec<u8>, GunzipError> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(max.saturating_add(1))
        .read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(GunzipError::TooLarge(max >> 20));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_packed_unpacks_the_same_and_a_bomb_stops_at_the_cap() {
        let text = "room_id,name\n!a:x,Archive\n".repeat(1000);
        let packed = gzip(text.as_bytes()).unwrap_or_default();
        assert!(is_gzip(&packed));
        assert!(!is_gzip(text.as_bytes()));
        assert!(packed.len() < text.len() / 10);
        let unpacked = gunzip(&packed, 1 << 20).unwrap_or_default();
        assert_eq!(unpacked, text.as_bytes());
        let bomb = gzip(&vec![0u8; 4 << 20]).unwrap_or_default();
        assert!(matches!(
            gunzip(&bomb, 1 << 20),
            Err(GunzipError::TooLarge(1))
        ));
        assert!(matches!(
            gunzip(&packed[..packed.len() / 2], 1 << 20),
            Err(GunzipError::Invalid(_))
        ));
    }
}
