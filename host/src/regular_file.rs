//! Reading a file that users name or drop in (a plugin, an input file):
//! only a regular file (after following symlinks), never more than a limit.
//!
//! The size a file system reports is no bound: `/dev/zero` reports 0 and
//! never ends, a FIFO blocks `open` until a writer comes. So the file is
//! opened without blocking, checked to be a regular file on the open handle
//! (no window between the check and the read), and read with a bound of
//! `limit + 1` bytes, the extra byte telling a file over the limit.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RegularFileError {
    /// Opening or reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The path names a directory, device, FIFO or socket.
    #[error("is a {0}, not a regular file")]
    NotRegular(&'static str),
    /// The file holds more than the limit.
    #[error("is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The file's size (what was read, when it grew while read).
        size: u64,
        /// The limit, in bytes.
        limit: u64,
    },
}

/// Reads the regular file at `path`, refusing anything else and any file of
/// more than `limit` bytes.
///
/// # Errors
///
/// [`RegularFileError`]: cannot be opened or read, not a regular file, or
/// over the limit.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, RegularFileError> {
    // O_NONBLOCK: opening a FIFO must not wait for a writer. It changes
    // nothing for a regular file.
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let metadata = file.metadata()?;
    if !metadata.file_type().is_file() {
        return Err(RegularFileError::NotRegular(type_name(
            metadata.file_type(),
        )));
    }
    if metadata.len() > limit {
        let size = metadata.len();
        return Err(RegularFileError::TooLarge { size, limit });
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        let size = bytes.len() as u64;
        return Err(RegularFileError::TooLarge { size, limit });
    }
    Ok(bytes)
}

fn type_name(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_without_reading_them() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_bounded(dir.path(), 10),
            Err(RegularFileError::NotRegular("directory"))
        ));
        assert!(matches!(
            read_bounded(Path::new("/dev/zero"), 10),
            Err(RegularFileError::NotRegular("character device"))
        ));
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        assert!(matches!(
            read_bounded(&fifo, 10),
            Err(RegularFileError::NotRegular("FIFO"))
        ));
    }

    #[test]
    fn a_file_is_read_up_to_its_limit_and_refused_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.wasm");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_bounded(&path, 10).unwrap(), b"0123456789");
        assert!(matches!(
            read_bounded(&path, 9),
            Err(RegularFileError::TooLarge { size: 10, limit: 9 })
        ));
        let link = dir.path().join("link.wasm");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert_eq!(read_bounded(&link, 10).unwrap(), b"0123456789");
    }
}
