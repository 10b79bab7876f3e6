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

/// Hunspell word lists the user installed that know medical terms, where distributions put them
/// (Debian's and Ubuntu's `hunspell-en-med`: `/usr/share/hunspell/en_med_glut.dic`), and any
/// `.dic` in the user's own folder (`$XDG_CONFIG_HOME/biomed-lsp/hunspell/`). Never a file of a
/// workspace: a repository does not choose what is loaded.
fn installed_hunspell_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = ["/usr/share/hunspell", "/usr/local/share/hunspell"]
        .iter()
        .flat_map(|folder| {
            ["en_med_glut.dic", "en-medical.dic", "en_US-med.dic"]
                .iter()
                .map(move |name| Path::new(folder).join(name))
        })
        .collect();
    if let Some(folder) = user_dictionary_path("")
        .as_deref()
        .and_then(Path::parent)
        .map(|config| config.join("hunspell"))
    {
        if let Ok(entries) = std::fs::read_dir(&folder) {
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "dic"))
                .collect();
            found.sort();
            paths.extend(found);
        }
    }
    paths
}

/// The installed Hunspell dictionaries (see [`installed_hunspell_paths`]), read once per process,
/// and the reasons those that exist could not be read. A `.dic` without an `.aff` beside it is
/// read with the bundled English affix rules.
pub fn installed_hunspell_dictionaries() -> &'static (
    Vec<(String, crate::analysis::spelling::HunspellDictionary)>,
    Vec<String>,
) {
    use crate::analysis::spelling::{default_affix_rules, parse_dictionary};
    static INSTALLED: std::sync::OnceLock<(
        Vec<(String, crate::analysis::spelling::HunspellDictionary)>,
        Vec<String>,
    )> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        let mut dictionaries = Vec::new();
        let mut errors = Vec::new();
        for path in installed_hunspell_paths() {
            let name = path.display().to_string();
            let words = match read_bounded_text(&path) {
                Ok(Some(words)) => words,
                Ok(None) => continue,
                Err(error) => {
                    errors.push(format!("cannot read Hunspell dictionary {name}: {error}"));
                    continue;
                }
            };
            let affix_path = path.with_extension("aff");
            let affix_rules = match read_bounded_text(&affix_path) {
                Ok(Some(rules)) => rules,
                Ok(None) => default_affix_rules().to_string(),
                Err(error) => {
                    errors.push(format!(
                        "cannot read Hunspell affix file {}: {error}",
                        affix_path.display()
                    ));
                    continue;
                }
            };
            match parse_dictionary(&name, &affix_rules, &words) {
                Ok(dictionary) => dictionaries.push((name, dictionary)),
                Err(error) => errors.push(error.to_string()),
            }
        }
        (dictionaries, errors)
    })
}

/// Hunspell files larger than this are not read (the largest English ones are a few MB).
const MAX_HUNSPELL_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A text file's contents; `None` when it does not exist; an error when it is too large or not
/// UTF-8 (Hunspell files in other encodings are not supported).
fn read_bounded_text(path: &Path) -> std::io::Result<Option<String>> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    if !metadata.is_file() {
        return Ok(None);
    }
    if metadata.len() > MAX_HUNSPELL_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "{} bytes, more than the {MAX_HUNSPELL_FILE_BYTES} read",
            metadata.len()
        )));
    }
    let bytes = std::fs::read(path)?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| std::io::Error::other("not UTF-8 text"))
}
