//! The dictionary files on disk, read and written the same way by the server and by `check`: the
//! user's (`~/.config/biomed-lsp/dictionary.txt` or the `dictionary.userFile` setting) and the
//! workspace's (`.biomed-lsp/dictionary.txt`, committed with the manuscript). Blocking I/O: the
//! server calls it off its async runtime.

use std::path::{Path, PathBuf};

use crate::analysis::Dictionary;

/// A dictionary file that exists but cannot be used (unreadable, too large, binary, not UTF-8).
pub type DictionaryReadError = crate::text_file::TextFileError;

/// A word list larger than this is not read: the largest real ones are a few MB.
const MAX_DICTIONARY_BYTES: u64 = 32 * 1024 * 1024;

/// Where the user dictionary lives: the setting, else `dictionary.txt` in the user's
/// configuration folder; `None` when there is neither a setting nor a home directory.
pub fn user_dictionary_path(setting: &str) -> Option<PathBuf> {
    if !setting.is_empty() {
        return Some(PathBuf::from(setting));
    }
    Some(crate::config_file::user_config_folder()?.join("dictionary.txt"))
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
        match crate::text_file::read_text_file(path, "dictionary", MAX_DICTIONARY_BYTES) {
            Ok(text) => dictionary.add_list(&text),
            Err(error) if error.is_not_found() => {}
            Err(error) => errors.push(error),
        }
    }
    for word in extra_words {
        dictionary.add(word);
    }
    (dictionary, errors)
}

/// Why a word could not be added to a dictionary file.
#[derive(Debug, thiserror::Error)]
pub enum AppendWordError {
    #[error(transparent)]
    Unreadable(#[from] DictionaryReadError),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} leads outside the workspace folder {} (a link?); nothing was written", path.display(), root.display())]
    OutsideWorkspace { path: PathBuf, root: PathBuf },
}

/// Adds a word to a word-per-line file (creating it and its folder), unless it is already there.
/// A file that cannot be read as a dictionary is left untouched. With `inside`, a path that
/// leads outside that folder (through a link) is refused: a workspace's dictionary is written
/// inside the workspace only.
pub fn append_word(path: &Path, word: &str, inside: Option<&Path>) -> Result<(), AppendWordError> {
    use std::io::Write;
    if let Some(root) = inside {
        if !stays_inside(root, path) {
            return Err(AppendWordError::OutsideWorkspace {
                path: path.to_path_buf(),
                root: root.to_path_buf(),
            });
        }
    }
    let existing = match crate::text_file::read_text_file(path, "dictionary", MAX_DICTIONARY_BYTES)
    {
        Ok(text) => text,
        Err(error) if error.is_not_found() => String::new(),
        Err(error) => return Err(error.into()),
    };
    if Dictionary::parse(&existing).contains(word) {
        return Ok(());
    }
    let write_error = |source| AppendWordError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write_error)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(write_error)?;
    if !existing.is_empty() && !existing.ends_with('\n') {
        writeln!(file).map_err(write_error)?;
    }
    writeln!(file, "{word}").map_err(write_error)
}

/// Whether `path`, its links followed as far as it exists, lies inside `root`.
fn stays_inside(root: &Path, path: &Path) -> bool {
    let Ok(root) = root.canonicalize() else {
        return false;
    };
    // The nearest part of the path that exists decides where the rest will be created.
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if existing.symlink_metadata().is_ok() {
            break;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return false,
        }
    }
    let Ok(resolved) = existing.canonicalize() else {
        return false;
    };
    // What is still to be created has no links; `..` in it could climb out.
    rest.iter().all(|name| name != "..") && resolved.starts_with(&root)
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

/// The installed Hunspell dictionaries by file name, and the reasons those that exist could not be
/// read.
pub type InstalledHunspell = (
    Vec<(String, crate::analysis::spelling::HunspellDictionary)>,
    Vec<String>,
);

/// The installed Hunspell dictionaries (see [`installed_hunspell_paths`]), read once per process,
/// and the reasons those that exist could not be read. A `.dic` without an `.aff` beside it is
/// read with the bundled English affix rules.
pub fn installed_hunspell_dictionaries() -> &'static InstalledHunspell {
    use crate::analysis::spelling::{default_affix_rules, parse_dictionary};
    static INSTALLED: std::sync::OnceLock<InstalledHunspell> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        let mut dictionaries = Vec::new();
        let mut errors = Vec::new();
        for path in installed_hunspell_paths() {
            let name = path.display().to_string();
            let words = match read_bounded_text(&path) {
                Ok(Some(words)) => words,
                Ok(None) => continue,
                Err(error) => {
                    errors.push(error.to_string());
                    continue;
                }
            };
            let affix_path = path.with_extension("aff");
            let affix_rules = match read_bounded_text(&affix_path) {
                Ok(Some(rules)) => rules,
                Ok(None) => default_affix_rules().to_string(),
                Err(error) => {
                    errors.push(error.to_string());
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

/// A text file's contents; `None` when it does not exist; an error when it is too large, binary
/// or not UTF-8 (Hunspell files in other encodings are not supported).
fn read_bounded_text(path: &Path) -> Result<Option<String>, crate::text_file::TextFileError> {
    match crate::text_file::read_text_file(path, "Hunspell file", MAX_HUNSPELL_FILE_BYTES) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_appended_once_and_read_back_with_the_settings_words() {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let path = directory.path().join("nested").join("dictionary.txt");
        append_word(&path, "troponinemia", None).expect("append");
        append_word(&path, "troponinemia", Some(directory.path())).expect("append again");
        std::fs::write(
            directory.path().join("other.txt"),
            "# a comment\nNT-proBNP", // no final newline
        )
        .expect("write");
        append_word(&directory.path().join("other.txt"), "hsTnT", None)
            .expect("append after a line");
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

    #[test]
    fn a_dictionary_that_is_no_text_is_reported_and_never_written() {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let path = directory.path().join("dictionary.txt");
        let binary = b"troponin\n\x00\x01\x02".to_vec();
        std::fs::write(&path, &binary).expect("write");
        let (dictionary, errors) = read_dictionaries(std::slice::from_ref(&path), &[]);
        assert!(!dictionary.contains("troponin"));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("binary"), "{}", errors[0]);
        let error = append_word(&path, "hsTnT", None).expect_err("not a dictionary");
        assert!(error.to_string().contains("dictionary.txt"), "{error}");
        assert_eq!(std::fs::read(&path).expect("read"), binary);
    }

    #[cfg(unix)]
    #[test]
    fn a_workspace_dictionary_linked_outside_the_workspace_is_never_written() {
        let workspace = tempfile::tempdir().expect("a workspace");
        let elsewhere = tempfile::tempdir().expect("another folder");
        let target = elsewhere.path().join("bashrc");
        std::fs::write(&target, "echo hi\n").expect("write");
        let project = workspace.path().join(".biomed-lsp");
        std::fs::create_dir_all(&project).expect("folder");
        let linked = project.join("dictionary.txt");
        std::os::unix::fs::symlink(&target, &linked).expect("link");
        let error = append_word(&linked, "troponin", Some(workspace.path())).expect_err("outside");
        assert!(
            matches!(error, AppendWordError::OutsideWorkspace { .. }),
            "{error}"
        );
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "echo hi\n");
        // A linked project folder is refused the same way.
        let other = tempfile::tempdir().expect("a second workspace");
        std::os::unix::fs::symlink(elsewhere.path(), other.path().join(".biomed-lsp"))
            .expect("link");
        let path = other.path().join(".biomed-lsp").join("dictionary.txt");
        assert!(append_word(&path, "troponin", Some(other.path())).is_err());
        assert!(!elsewhere.path().join("dictionary.txt").exists());
        // A real file inside is written.
        std::fs::remove_file(&linked).expect("unlink");
        append_word(&linked, "troponin", Some(workspace.path())).expect("inside");
        assert_eq!(
            std::fs::read_to_string(&linked).expect("read"),
            "troponin\n"
        );
    }
}
