//! The dictionary files on disk, read and written the same way by the server and by `check`: the
//! user's (`~/.config/biomed-lsp/dictionary.txt` or the `dictionary.userFile` setting) and the
//! workspace's (`.biomed-lsp/dictionary.txt`, committed with the manuscript). Blocking I/O: the
//! server calls it off its async runtime.

use std::path::{Path, PathBuf};

use crate::analysis::Dictionary;

/// A dictionary file that exists but cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read dictionary {}: {source}", path.display())]
pub struct DictionaryReadError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Where the user dictionary lives: the setting, else `$XDG_CONFIG_HOME/biomed-lsp/dictionary.txt`
/// (`~/.config/…` by default); `None` when there is neither a setting nor a home directory.
pub fn user_dictionary_path(setting: &str) -> Option<PathBuf> {
    if !setting.is_empty() {
        return Some(PathBuf::from(setting));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(config.join("biomed-lsp").join("dictionary.txt"))
}

/// The dictionary's file name in the project folder (`.biomed-lsp`).
pub const DICTIONARY_FILE_NAME: &str = "dictionary.txt";

/// The dictionary file a team commits with its manuscript, in the workspace folder `root`.
pub fn workspace_dictionary_path(root: &Path) -> PathBuf {
    root.join(crate::config_file::PROJECT_FOLDER)
        .join(DICTIONARY_FILE_NAME)
}

/// Reads word lists into one dictionary, with `extra_words` (from the settings). A file that does
/// not exist is an empty list; one that cannot be read is left out and reported.
pub fn read_dictionaries(
    paths: &[PathBuf],
    extra_words: &[String],
) -> (Dictionary, Vec<DictionaryReadError>) {
    let mut dictionary = Dictionary::new();
    let mut errors = Vec::new();
    for path in paths {
        match std::fs::read_to_string(path) {
            Ok(text) => dictionary.add_list(&text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => errors.push(DictionaryReadError {
                path: path.clone(),
                source,
            }),
        }
    }
    for word in extra_words {
        dictionary.add(word);
    }
    (dictionary, errors)
}

/// Adds a word to a word-per-line file (creating it and its folder), unless it is already there.
pub fn append_word(path: &Path, word: &str) -> std::io::Result<()> {
    use std::io::Write;
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error),
    };
    if Dictionary::parse(&existing).contains(word) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if !existing.is_empty() && !existing.ends_with('\n') {
        writeln!(file)?;
    }
    writeln!(file, "{word}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_appended_once_and_read_back_with_the_settings_words() {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let path = directory.path().join("nested").join("dictionary.txt");
        append_word(&path, "troponinemia").expect("append");
        append_word(&path, "troponinemia").expect("append again");
        std::fs::write(
            directory.path().join("other.txt"),
            "# a comment\nNT-proBNP", // no final newline
        )
        .expect("write");
        append_word(&directory.path().join("other.txt"), "hsTnT").expect("append after a line");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "troponinemia\n"
        );
        let paths = [
            path,
            directory.path().join("other.txt"),
            directory.path().join("missing.txt"),
        ];
        let (dictionary, errors) = read_dictionaries(&paths, &["CKD-EPI".to_string()]);
        assert!(errors.is_empty(), "{errors:?}");
        for word in ["troponinemia", "NT-proBNP", "hsTnT", "CKD-EPI"] {
            assert!(dictionary.contains(word), "{word}");
        }
        // A directory where a file should be is reported with its path.
        let (_, errors) = read_dictionaries(&[directory.path().to_path_buf()], &[]);
        assert_eq!(errors.len(), 1);
        assert!(errors[0]
            .to_string()
            .contains(&directory.path().display().to_string()));
    }
}
