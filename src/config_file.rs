//! The project's configuration file, `.biomed-lsp/config.json` beside the workspace dictionary:
//! the editor settings' keys and schema (`editors/settings.json`), read by the server for its
//! workspace folder and by `check` from the directory it checks (searching upwards, as
//! `.editorconfig` is found). Settings are layered — defaults, then the file, then the editor's
//! settings or the command line's `--set` — and each value remembers where it came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::settings::{Settings, SettingsWarning, SETTING_KEYS};

/// The folder that marks a project root: it holds `config.json` and `dictionary.txt`.
pub const PROJECT_FOLDER: &str = ".biomed-lsp";
pub const CONFIG_FILE_NAME: &str = "config.json";

/// A configuration that cannot be used as it is, naming the file (or `--set`), the key and what
/// is expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{origin}: {warning}")]
    Setting {
        origin: String,
        warning: SettingsWarning,
    },
}

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingSource {
    Default,
    File(PathBuf),
    CommandLine,
}

impl std::fmt::Display for SettingSource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingSource::Default => write!(formatter, "default"),
            SettingSource::File(path) => write!(formatter, "{}", path.display()),
            SettingSource::CommandLine => write!(formatter, "--set"),
        }
    }
}

/// The configuration file of the project holding `start` (a file or a folder): the nearest
/// `.biomed-lsp/config.json` in it or a folder above it.
pub fn find_config_file(start: &Path) -> Option<PathBuf> {
    find_project_folder(start)
        .map(|folder| folder.join(CONFIG_FILE_NAME))
        .filter(|candidate| candidate.is_file())
}

/// The nearest `.biomed-lsp` folder in the folder of `start` (a file or a folder) or above it:
/// the project's configuration and dictionary live there.
pub fn find_project_folder(start: &Path) -> Option<PathBuf> {
    let start = if start.is_dir() {
        start
    } else {
        start.parent()?
    };
    let start = if start.as_os_str().is_empty() {
        Path::new(".")
    } else {
        start
    };
    let start = start.canonicalize().ok()?;
    start
        .ancestors()
        .map(|folder| folder.join(PROJECT_FOLDER))
        .find(|candidate| candidate.is_dir())
}

/// The configuration file of a workspace folder (the server reads only the folder's own).
pub fn workspace_config_file(root: &Path) -> PathBuf {
    root.join(PROJECT_FOLDER).join(CONFIG_FILE_NAME)
}

/// Settings and where each came from.
#[derive(Clone, Debug)]
pub struct LayeredSettings {
    pub settings: Settings,
    sources: BTreeMap<String, SettingSource>,
}

impl Default for LayeredSettings {
    fn default() -> Self {
        Self {
            settings: Settings::default(),
            sources: BTreeMap::new(),
        }
    }
}

impl LayeredSettings {
    /// Applies a configuration file. Every key is checked: the errors (unknown keys, bad values)
    /// are all returned, and the valid keys are applied all the same.
    pub fn apply_file(&mut self, path: &Path) -> Result<(), Vec<ConfigError>> {
        let value = read_config_file(path).map_err(|error| vec![error])?;
        let (applied, warnings) = self.settings.merge_json_strict(&value);
        for key in applied {
            self.sources
                .insert(key, SettingSource::File(path.to_path_buf()));
        }
        if warnings.is_empty() {
            return Ok(());
        }
        Err(warnings
            .into_iter()
            .map(|warning| ConfigError::Setting {
                origin: path.display().to_string(),
                warning,
            })
            .collect())
    }

    /// Applies one `KEY=VALUE` of the command line.
    pub fn apply_assignment(&mut self, assignment: &str) -> Result<(), ConfigError> {
        let key =
            self.settings
                .set_from_text(assignment)
                .map_err(|warning| ConfigError::Setting {
                    origin: format!("--set {assignment}"),
                    warning,
                })?;
        self.sources.insert(key, SettingSource::CommandLine);
        Ok(())
    }

    pub fn source_of(&self, key: &str) -> SettingSource {
        self.sources
            .get(key)
            .cloned()
            .unwrap_or(SettingSource::Default)
    }

    /// Every setting in force, `key = value  (source)`, one a line.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for key in SETTING_KEYS {
            let value = self.settings.value_of(key).unwrap_or(Value::Null);
            out.push_str(&format!("{key} = {value}  ({})\n", self.source_of(key)));
        }
        out
    }
}

/// A workspace folder's configuration file, for the server: its value when it is JSON (to apply
/// the valid keys) and every mistake in it; nothing when there is no such file.
pub fn read_workspace_config(path: &Path) -> (Option<Value>, Vec<ConfigError>) {
    if !path.is_file() {
        return (None, Vec::new());
    }
    match read_config_file(path) {
        Ok(value) => {
            let errors = LayeredSettings::default()
                .apply_file(path)
                .err()
                .unwrap_or_default();
            (Some(value), errors)
        }
        Err(error) => (None, vec![error]),
    }
}

fn read_config_file(path: &Path) -> Result<Value, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ConfigError::Json {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_assignments_layer_and_say_where_each_value_came_from() {
        let project = tempfile::tempdir().expect("a temporary directory");
        let chapters = project.path().join("chapters");
        std::fs::create_dir_all(chapters.join("methods")).expect("folders");
        std::fs::create_dir_all(project.path().join(PROJECT_FOLDER)).expect("folder");
        let path = project.path().join(PROJECT_FOLDER).join(CONFIG_FILE_NAME);
        std::fs::write(
            &path,
            r#"{"diagnostics": {"minMargin": 6, "maxEditDistance": 1}, "dictionary.words": ["hsTnT"]}"#,
        )
        .expect("write");
        let found = find_config_file(&chapters.join("methods")).expect("found upwards");
        assert_eq!(found, path.canonicalize().expect("canonical"));

        let mut layered = LayeredSettings::default();
        layered.apply_file(&found).expect("a valid file");
        layered
            .apply_assignment("diagnostics.minMargin=7.5")
            .expect("a valid assignment");
        assert_eq!(layered.settings.check.min_margin, 7.5);
        assert_eq!(layered.settings.check.max_edit_distance, 1);
        assert_eq!(layered.settings.dictionary_words, ["hsTnT"]);
        assert_eq!(
            layered.source_of("diagnostics.minMargin"),
            SettingSource::CommandLine
        );
        assert_eq!(
            layered.source_of("diagnostics.maxEditDistance"),
            SettingSource::File(found.clone())
        );
        assert_eq!(layered.source_of("model"), SettingSource::Default);
        let described = layered.describe();
        assert!(
            described.contains("diagnostics.minMargin = 7.5  (--set)"),
            "{described}"
        );
        assert!(
            described.contains(&format!(
                "diagnostics.maxEditDistance = 1  ({})",
                found.display()
            )),
            "{described}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_file_the_key_and_what_is_expected() {
        let project = tempfile::tempdir().expect("a temporary directory");
        let path = project.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"diagnostics": {"minMargn": 6, "maxEditDistance": 3}, "completion.topK": 5}"#,
        )
        .expect("write");
        let mut layered = LayeredSettings::default();
        let errors: Vec<String> = layered
            .apply_file(&path)
            .expect_err("two mistakes")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        let file = path.display().to_string();
        assert!(
            errors.iter().all(|error| error.starts_with(&file)),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|error| error.contains("diagnostics.minMargn")
                    && error.contains("did you mean diagnostics.minMargin")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|error| error.contains("diagnostics.maxEditDistance")
                    && error.contains("between 1 and 2")),
            "{errors:?}"
        );
        // The valid key was applied all the same.
        assert_eq!(layered.settings.completion_top_k, 5);

        std::fs::write(&path, "{\"model\": ").expect("write");
        let errors = LayeredSettings::default()
            .apply_file(&path)
            .expect_err("not JSON");
        assert!(
            errors[0].to_string().contains("is not valid JSON"),
            "{}",
            errors[0]
        );
        let error = LayeredSettings::default()
            .apply_assignment("diagnostics.minMargin")
            .expect_err("no value");
        assert!(error.to_string().contains("expected KEY=VALUE"), "{error}");
    }
}
