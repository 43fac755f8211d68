//! Checkpoint files on disk: written atomically, read back only when whole.
//!
//! A file is a header line `sluice-checkpoint 1 <xxh3-128 of the body>`
//! followed by the body (JSON, or columns for state and windows, see
//! [`super::columns`]). It is written to a hidden temporary name,
//! fsynced, renamed into place and the directory fsynced, so after a crash
//! a name holds a whole file or does not exist; the checksum catches what
//! the disk or a person changed since.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use xxhash_rust::xxh3::xxh3_128;

/// The first word of every checkpoint file.
const MAGIC: &str = "sluice-checkpoint";
/// The format's version.
const FORMAT: u32 = 1;

/// Why a checkpoint file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Unusable {
    /// It could not be read.
    #[error("cannot be read: {0}")]
    Unreadable(String),
    /// Its header is missing or not a checkpoint's.
    #[error("is not a Sluice checkpoint (no `{MAGIC} {FORMAT}` header)")]
    NotACheckpoint,
    /// Its body does not match its checksum: truncated or changed.
    #[error("is corrupt: its contents do not match their checksum (truncated or changed)")]
    Corrupt,
    /// Its body is not what this version of Sluice writes.
    #[error("cannot be decoded: {0}")]
    Undecodable(String),
}

/// The checksum the header carries.
fn checksum(body: &[u8]) -> String {
    format!("{:032x}", xxh3_128(body))
}

/// Writes `value` as JSON in the checkpoint file `path` (see
/// [`write_bytes`]); returns the body's size.
///
/// # Errors
///
/// When writing, syncing or renaming fails (a full disk, permissions).
pub fn write<T: serde::Serialize>(
    path: &Path,
    value: &T,
    before_rename: impl FnOnce(),
) -> std::io::Result<usize> {
    let body = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    write_bytes(path, &body, before_rename)?;
    Ok(body.len())
}

/// Writes `body` as the checkpoint file `path`, atomically and durably.
///
/// `before_rename` runs once the temporary file is complete (a fault point
/// for tests).
///
/// # Errors
///
/// When writing, syncing or renaming fails (a full disk, permissions).
pub fn write_bytes(path: &Path, body: &[u8], before_rename: impl FnOnce()) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(".{name}.tmp"));
    {
        let mut file = File::create(&temporary)?;
        writeln!(file, "{MAGIC} {FORMAT} {}", checksum(body))?;
        file.write_all(body)?;
        file.sync_all()?;
    }
    before_rename();
    std::fs::rename(&temporary, path)?;
    File::open(dir)?.sync_all()
}

/// Reads the JSON checkpoint file `path`.
///
/// # Errors
///
/// Why it cannot be used.
pub fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Unusable> {
    let body = read_bytes(path)?;
    serde_json::from_slice(&body).map_err(|e| Unusable::Undecodable(e.to_string()))
}

/// Reads the body of the checkpoint file `path`, checked.
///
/// # Errors
///
/// Why it cannot be used.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, Unusable> {
    let mut bytes = std::fs::read(path).map_err(|e| Unusable::Unreadable(e.to_string()))?;
    let newline = memchr::memchr(b'\n', &bytes).ok_or(Unusable::NotACheckpoint)?;
    let header = std::str::from_utf8(&bytes[..newline]).map_err(|_| Unusable::NotACheckpoint)?;
    let mut words = header.split(' ');
    if words.next() != Some(MAGIC) || words.next() != Some(&FORMAT.to_string()) {
        return Err(Unusable::NotACheckpoint);
    }
    if words.next() != Some(&checksum(&bytes[newline + 1..])) {
        return Err(Unusable::Corrupt);
    }
    bytes.drain(..=newline);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::{Unusable, read, write};

    #[test]
    fn a_written_file_reads_back_and_any_change_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch-1000.done");
        let value = vec!["a".to_owned(), "b".to_owned()];
        let mut ran = false;
        write(&path, &value, || ran = true).unwrap();
        assert!(ran);
        assert_eq!(read::<Vec<String>>(&path), Ok(value));
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(read::<Vec<String>>(&path), Err(Unusable::Corrupt));
        std::fs::write(&path, b"{\"not\": \"a checkpoint\"}\n").unwrap();
        assert_eq!(read::<Vec<String>>(&path), Err(Unusable::NotACheckpoint));
        std::fs::write(&path, b"").unwrap();
        assert_eq!(read::<Vec<String>>(&path), Err(Unusable::NotACheckpoint));
        assert!(matches!(
            read::<Vec<String>>(&dir.path().join("missing")),
            Err(Unusable::Unreadable(_))
        ));
    }
}
