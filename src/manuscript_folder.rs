//! The other files of a manuscript's folder, read as data for one question only: is an
//! abbreviation the check would call "never used again" written in a section the editor has not
//! opened, or that `check` was not given? Regular files beside the document, in its language;
//! what they say can remove that finding, never add one.

use std::path::{Path, PathBuf};

use crate::prose::Language;
use crate::text_file::read_text_file;

/// Files read at most, in file-name order.
const MAX_FILES: usize = 64;

/// A file larger than this is left out (a manuscript section is far smaller).
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The texts of the regular files in `document`'s folder written in `language` (by their
/// extension), other than `document` and the files of `left_out`, in file-name order. A file that
/// cannot be read (too large, binary, not UTF-8, gone) is left out; links are not followed.
pub fn other_files_of_folder(
    document: &Path,
    language: Language,
    left_out: &[PathBuf],
) -> Vec<String> {
    let Some(folder) = document.parent() else {
        return Vec::new();
    };
    let folder = if folder.as_os_str().is_empty() {
        Path::new(".")
    } else {
        folder
    };
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let canonical = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let known: Vec<PathBuf> = std::iter::once(document)
        .chain(left_out.iter().map(PathBuf::as_path))
        .map(canonical)
        .collect();
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .map(|entry| entry.path())
        .filter(|path| Language::from_path(&path.to_string_lossy()) == Some(language))
        .filter(|path| !known.contains(&canonical(path)))
        .collect();
    paths.sort();
    paths.truncate(MAX_FILES);
    paths
        .iter()
        .filter_map(
            |path| match read_text_file(path, "manuscript file", MAX_FILE_BYTES) {
                Ok(text) => Some(text),
                Err(error) => {
                    tracing::debug!("left out of the manuscript's folder: {error}");
                    None
                }
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_other_files_in_the_language_are_read_in_name_order_and_nothing_else() {
        let folder = tempfile::tempdir().unwrap();
        let write =
            |name: &str, text: &[u8]| std::fs::write(folder.path().join(name), text).unwrap();
        write("02.results.md", b"second");
        write("01.intro.md", b"first");
        write("03.open.md", b"open in the editor");
        write("notes.txt", b"plain text");
        write("binary.md", b"\0\x01");
        write("paper.tex", b"latex");
        std::fs::create_dir(folder.path().join("figures.md")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/hostname", folder.path().join("linked.md")).unwrap();
        let document = folder.path().join("00.abstract.md");
        write("00.abstract.md", b"this one");
        let texts = other_files_of_folder(
            &document,
            Language::Markdown,
            &[folder.path().join("03.open.md")],
        );
        assert_eq!(texts, ["first", "second"]);
        assert!(other_files_of_folder(Path::new("/"), Language::Markdown, &[]).is_empty());
    }
}
