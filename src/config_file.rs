//! The project's configuration file, `.biomed-lsp/config.json` beside the workspace dictionary:
//! the editor settings' keys and schema (`editors/settings.json`), read by the server for its
//! workspace folder and by `check` from the directory it checks (searching upwards, as
//! `.editorconfig` is found). Settings are layered — defaults, the user's own configuration file
//! (`~/.config/biomed-lsp/config.json`), the project's file, then the editor's settings or the
//! command line's `--set` — and each value remembers where it came from. A project's file is the
//! workspace's: the machine settings in it (where text is sent, what is loaded, where we write)
//! are ignored with a warning naming the key and where to set it instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::settings::{
    ignored_machine_setting_message, Settings, SettingsOrigin, SettingsWarning, SETTING_KEYS,
};
use crate::text_file::{read_text_file, TextFileError};

/// The folder that marks a project root: it holds `config.json` and `dictionary.txt`.
pub const PROJECT_FOLDER: &str = ".biomed-lsp";
pub const CONFIG_FILE_NAME: &str = "config.json";
/// A configuration file larger than this is refused (a real one is a few hundred bytes).
const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;

/// The user's own configuration folder: `$XDG_CONFIG_HOME/biomed-lsp`, else
/// `~/.config/biomed-lsp`; `None` without a home directory.
pub fn user_config_folder() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|value| !value.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
        })?;
    Some(config.join("biomed-lsp"))
}

/// The user's configuration file, the only file that may set machine settings.
pub fn user_config_file() -> Option<PathBuf> {
    Some(user_config_folder()?.join(CONFIG_FILE_NAME))
}

/// A configuration that cannot be used as it is, naming the file (or `--set`), the key and what
/// is expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Read(#[from] TextFileError),
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
#[derive(Clone, Debug, Default)]
pub struct LayeredSettings {
    pub settings: Settings,
    sources: BTreeMap<String, SettingSource>,
    /// Machine settings a workspace's file named, with that file.
    ignored: Vec<(String, PathBuf)>,
}

impl LayeredSettings {
    /// Applies a configuration file the user or a workspace wrote. Every key is checked: the
    /// errors (unknown keys, bad values) are all returned, and the valid keys are applied all the
    /// same; a workspace's machine settings are left out (see [`Self::ignored_warnings`]).
    pub fn apply_file(
        &mut self,
        path: &Path,
        origin: SettingsOrigin,
    ) -> Result<(), Vec<ConfigError>> {
        let value = read_config_file(path).map_err(|error| vec![error])?;
        self.apply_value(&value, path, origin)
    }

    /// [`Self::apply_file`] for a file already read into `value`.
    fn apply_value(
        &mut self,
        value: &Value,
        path: &Path,
        origin: SettingsOrigin,
    ) -> Result<(), Vec<ConfigError>> {
        let outcome = self.settings.merge_file_json(value, origin);
        self.ignored.extend(
            outcome
                .ignored_machine_keys
                .into_iter()
                .map(|key| (key, path.to_path_buf())),
        );
        let (applied, warnings) = (outcome.applied, outcome.warnings);
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
                    origin: format!("--set {}", redacted_assignment(assignment)),
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

    /// One warning for each machine setting a workspace's file named: the key, the file, where
    /// to set it instead.
    pub fn ignored_warnings(&self) -> Vec<String> {
        self.ignored
            .iter()
            .map(|(key, path)| ignored_machine_setting_message(key, &path.display().to_string()))
            .collect()
    }

    /// Every setting in force, `key = value  (source)`, one a line; a machine setting a
    /// workspace's file named shows as ignored.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for key in SETTING_KEYS {
            let value = self.settings.value_of(key).unwrap_or(Value::Null);
            out.push_str(&format!("{key} = {value}  ({})\n", self.source_of(key)));
            for (ignored, path) in &self.ignored {
                if ignored == key {
                    out.push_str(&format!(
                        "    ignored: {key} in {} (a workspace may not set it; set it in your user configuration or with --set)\n",
                        path.display()
                    ));
                }
            }
        }
        out
    }
}

/// A `KEY=VALUE` as it may be shown: a secret's value left out.
fn redacted_assignment(assignment: &str) -> String {
    match assignment.split_once('=') {
        Some((key, _)) if key.trim().trim_start_matches("biomedLsp.") == "inference.token" => {
            format!("{key}=…")
        }
        _ => assignment.to_string(),
    }
}

/// A configuration file for the server: its value when it is JSON (to apply the valid keys) and
/// every mistake in it, the machine settings a workspace's file names included; nothing when
/// there is no such file.
pub fn read_config_for_server(path: &Path, origin: SettingsOrigin) -> (Option<Value>, Vec<String>) {
    match read_config_file(path) {
        Ok(value) => {
            let mut layered = LayeredSettings::default();
            let mut messages: Vec<String> = layered
                .apply_value(&value, path, origin)
                .err()
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string)
                .collect();
            messages.extend(layered.ignored_warnings());
            (Some(value), messages)
        }
        Err(ConfigError::Read(error)) if error.is_not_found() => (None, Vec::new()),
        Err(error) => (None, vec![error.to_string()]),
    }
}

fn read_config_file(path: &Path) -> Result<Value, ConfigError> {
    let text = read_text_file(path, "configuration file", MAX_CONFIG_FILE_BYTES)?;
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
        layered
            .apply_file(&found, SettingsOrigin::User)
            .expect("a valid file");
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
            .apply_file(&path, SettingsOrigin::User)
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
            .apply_file(&path, SettingsOrigin::User)
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

    #[test]
    fn a_workspace_file_sets_no_machine_setting_and_says_so() {
        let project = tempfile::tempdir().expect("a temporary directory");
        let path = project.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"inference": {"url": "http://127.0.0.1:9/v2/models/x", "token": "t0k3n"},
                "model": "/tmp/weights", "dictionary.userFile": "/home/someone/.bashrc",
                "entities": {"model": "/tmp/tagger"}, "diagnostics.minMargin": 9}"#,
        )
        .expect("write");
        let mut layered = LayeredSettings::default();
        layered
            .apply_file(&path, SettingsOrigin::Workspace)
            .expect("valid keys");
        let defaults = Settings::default();
        assert_eq!(layered.settings.inference_url, defaults.inference_url);
        assert!(layered.settings.inference_token.is_empty());
        assert_eq!(layered.settings.model, defaults.model);
        assert_eq!(layered.settings.dictionary_user_file, "");
        assert_eq!(layered.settings.entities_model, defaults.entities_model);
        assert_eq!(layered.settings.check.min_margin, 9.0);
        let warnings = layered.ignored_warnings();
        assert_eq!(warnings.len(), 5, "{warnings:?}");
        assert!(
            warnings
                .iter()
                .any(|warning| warning.contains("biomedLsp.inference.url")
                    && warning.contains("config.json")
                    && warning.contains("user configuration")),
            "{warnings:?}"
        );
        assert!(warnings.iter().all(|warning| !warning.contains("t0k3n")));
        let described = layered.describe();
        assert!(described.contains("ignored: model in"), "{described}");
        assert!(!described.contains("t0k3n"), "{described}");

        // The same file from the user applies them; the token stays hidden.
        let mut layered = LayeredSettings::default();
        layered
            .apply_file(&path, SettingsOrigin::User)
            .expect("valid keys");
        assert_eq!(
            layered.settings.inference_url,
            "http://127.0.0.1:9/v2/models/x"
        );
        assert_eq!(layered.settings.inference_token.expose(), "t0k3n");
        assert!(layered.ignored_warnings().is_empty());
        let described = layered.describe();
        assert!(!described.contains("t0k3n"), "{described}");
        assert!(
            described.contains("inference.token = \"(set, hidden)\""),
            "{described}"
        );
    }

    #[test]
    fn a_configuration_file_that_is_no_text_is_named() {
        let project = tempfile::tempdir().expect("a temporary directory");
        let path = project.path().join("config.json");
        std::fs::write(&path, b"{\"model\": \"x\x00\"}").expect("write");
        let (value, errors) = read_config_for_server(&path, SettingsOrigin::Workspace);
        assert!(value.is_none());
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("config.json") && errors[0].contains("binary"),
            "{errors:?}"
        );
        let (value, errors) = read_config_for_server(
            &project.path().join("absent.json"),
            SettingsOrigin::Workspace,
        );
        assert!(value.is_none() && errors.is_empty());
    }
}
