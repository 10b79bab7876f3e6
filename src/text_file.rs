//! Reading a text file that a workspace or a user wrote (configuration, dictionary) as data: one
//! clear error naming the file when it is too large, binary or not UTF-8, never a panic and never
//! a partial read taken as the whole.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a text file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TextFileError {
    #[error("{} does not exist", path.display())]
    NotFound { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is {size} bytes, more than the {limit} bytes a {what} may have; it is ignored", path.display())]
    TooLarge {
        path: PathBuf,
        what: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("{} is a binary file (it holds a NUL byte at byte {offset}), not a {what}; it is ignored", path.display())]
    Binary {
        path: PathBuf,
        what: &'static str,
        offset: usize,
    },
    #[error("{} is not UTF-8 text (invalid byte at line {line}); save it as UTF-8; it is ignored", path.display())]
    NotUtf8 { path: PathBuf, line: usize },
}

impl TextFileError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, TextFileError::NotFound { .. })
    }
}

/// Reads `path` as UTF-8 text of at most `limit` bytes; `what` names the kind of file in errors
/// ("dictionary", "configuration file").
pub fn read_text_file(
    path: &Path,
    what: &'static str,
    limit: u64,
) -> Result<String, TextFileError> {
    let io_error = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            TextFileError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            TextFileError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    // One byte past the limit tells a file at the limit from one over it, whatever the metadata
    // says (a FIFO or /proc file has none).
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > limit {
        let size = std::fs::metadata(path)
            .map(|metadata| metadata.len())
            .unwrap_or(bytes.len() as u64)
            .max(bytes.len() as u64);
        return Err(TextFileError::TooLarge {
            path: path.to_path_buf(),
            what,
            size,
            limit,
        });
    }
    if let Some(offset) = bytes.iter().position(|&byte| byte == 0) {
        return Err(TextFileError::Binary {
            path: path.to_path_buf(),
            what,
            offset,
        });
    }
    String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        TextFileError::NotUtf8 {
            path: path.to_path_buf(),
            line: 1 + valid.iter().filter(|&&byte| byte == b'\n').count(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_read_and_every_bad_file_is_named() {
        let folder = tempfile::tempdir().expect("a temporary directory");
        let path = folder.path().join("dictionary.txt");
        std::fs::write(&path, "troponin\nphyloseq\n").expect("write");
        assert_eq!(
            read_text_file(&path, "dictionary", 100).expect("text"),
            "troponin\nphyloseq\n"
        );

        let error = read_text_file(&path, "dictionary", 10).expect_err("too large");
        assert!(
            matches!(error, TextFileError::TooLarge { size: 18, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("dictionary.txt"), "{error}");

        std::fs::write(&path, b"words\n\x89PNG\x00\x01").expect("write");
        let error = read_text_file(&path, "dictionary", 100).expect_err("binary");
        assert!(
            matches!(error, TextFileError::Binary { offset: 10, .. }),
            "{error}"
        );

        std::fs::write(&path, b"caf\xc3\xa9\nna\xefve\n").expect("write");
        let error = read_text_file(&path, "dictionary", 100).expect_err("Latin-1");
        assert!(
            matches!(error, TextFileError::NotUtf8 { line: 2, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("UTF-8"), "{error}");

        let error = read_text_file(&folder.path().join("absent.txt"), "dictionary", 100)
            .expect_err("absent");
        assert!(error.is_not_found());
        let error = read_text_file(folder.path(), "dictionary", 100).expect_err("a folder");
        assert!(!error.is_not_found(), "{error}");
    }
}
