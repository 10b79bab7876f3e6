//! User settings of the server (section `biomedLsp`), parsed from JSON with defaults.
//!
//! Settings arrive from the project's `.biomed-lsp/config.json` (see `config_file`), from
//! `initializationOptions`, `workspace/didChangeConfiguration` and `workspace/configuration`, and
//! on the command line (`--set`). Each accepts nested objects (`{"completion": {"topK": 5}}`) and
//! dotted keys (`{"completion.topK": 5}`). An invalid value keeps the previous value and yields a
//! warning naming the key; from a file or the command line, so does an unknown key.
//!
//! Machine settings (where text is sent, what is loaded or run, where we write) come only from
//! the user: a workspace's configuration file naming one is ignored with a warning.

use serde_json::Value;

pub const SETTINGS_SECTION: &str = "biomedLsp";
/// The environment variable holding the inference server's token when no setting gives it.
pub const INFERENCE_TOKEN_VARIABLE: &str = "BIOMED_LSP_INFERENCE_TOKEN";

#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub model: String,
    pub revision: String,
    /// `auto`, `cpu`, `cuda`, `cuda:N` or `metal`.
    pub device: String,
    /// `auto`, `f32` or `q8` (8-bit weights on the CPU).
    pub precision: String,
    pub offline: bool,
    /// The model's endpoint on an Open Inference Protocol server; empty: the model runs here.
    pub inference_url: String,
    pub inference_timeout_ms: u64,
    /// Sent as `Authorization: Bearer …` to the inference server; else `BIOMED_LSP_INFERENCE_TOKEN`.
    pub inference_token: crate::secret::Secret,
    /// PEM certificates trusted for the inference server besides the system's.
    pub inference_ca_file: String,
    /// Plain `http://` to a host other than this machine (else refused: the text would travel
    /// unencrypted).
    pub inference_allow_http: bool,
    /// The entity tagger: a Hub id, a directory, `bundled` or `off`.
    pub entities_model: String,
    pub completion_top_k: usize,
    pub completion_min_probability: f32,
    pub completion_max_pieces: usize,
    /// How many whole sentences on each side of the cursor's sentence go to the model.
    pub context_sentences: usize,
    pub diagnostics_enabled: bool,
    /// `auto` (warning for strong evidence, information otherwise) or a fixed severity.
    pub diagnostics_severity: String,
    /// How a hovered word that is not flagged is explained (`None`: no evidence line); flagged
    /// words show their finding's evidence (`check.evidence`).
    pub hover_evidence: Option<crate::model::EvidenceMethod>,
    /// The check's thresholds (`diagnostics.minMargin` and the other numeric `diagnostics.*`
    /// keys); the severities in it are the defaults, `diagnostics_severity` overrides them.
    pub check: crate::analysis::CheckSettings,
    /// Quiet time after the last edit before a document is checked again.
    pub diagnostics_debounce_ms: u64,
    /// The user dictionary (word per line); empty means the platform default location.
    pub dictionary_user_file: String,
    /// Extra accepted words.
    pub dictionary_words: Vec<String>,
    pub latex_prose_commands: Vec<String>,
    pub latex_skip_commands: Vec<String>,
    pub latex_skip_environments: Vec<String>,
}

/// Every key the server reads (under `biomedLsp`); `editors/settings.json` documents exactly these.
pub const SETTING_KEYS: [&str; 42] = [
    "model",
    "revision",
    "device",
    "precision",
    "inference.url",
    "inference.timeoutMs",
    "inference.token",
    "inference.caFile",
    "inference.allowHttp",
    "offline",
    "entities.model",
    "completion.topK",
    "completion.minProbability",
    "completion.maxPieces",
    "contextSentences",
    "diagnostics.enabled",
    "diagnostics.severity",
    "diagnostics.minMargin",
    "diagnostics.confusableMinMargin",
    "diagnostics.marginPerExtraEdit",
    "diagnostics.frequencyWeight",
    "diagnostics.minAlternativeLogProbability",
    "diagnostics.strongMargin",
    "diagnostics.screenMaxLogProbability",
    "diagnostics.maxEditDistance",
    "diagnostics.minWordLength",
    "diagnostics.unknownTerms",
    "diagnostics.unknownMaxLogProbability",
    "diagnostics.debounceMs",
    "diagnostics.evidence",
    "hover.evidence",
    "abbreviations.enabled",
    "abbreviations.undefined",
    "abbreviations.common",
    "abbreviations.off",
    "termVariants.enabled",
    "termVariants.accepted",
    "dictionary.userFile",
    "dictionary.words",
    "latex.proseCommands",
    "latex.skipCommands",
    "latex.skipEnvironments",
];

/// The settings that choose where the manuscript's text is sent, what is loaded or run, or where
/// we write outside the workspace. They are taken from the user (the user's configuration file,
/// the editor's user settings, the command line, the environment), never from a workspace: a
/// cloned repository must not choose them. `editors/settings.json` marks exactly these
/// `"scope": "machine"`.
pub const MACHINE_SETTING_KEYS: [&str; 11] = [
    "model",
    "revision",
    "device",
    "precision",
    "offline",
    "inference.url",
    "inference.timeoutMs",
    "inference.token",
    "inference.caFile",
    "inference.allowHttp",
    "entities.model",
];

/// Whether `key` is a machine setting ([`MACHINE_SETTING_KEYS`], or `dictionary.userFile`).
pub fn is_machine_setting(key: &str) -> bool {
    MACHINE_SETTING_KEYS.contains(&key) || key == "dictionary.userFile"
}

/// Who wrote a settings value: the user, or a workspace (its files are data, not commands).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingsOrigin {
    User,
    Workspace,
}

/// What merging a settings value did.
#[derive(Debug, Default)]
pub struct MergeOutcome {
    pub applied: Vec<String>,
    pub warnings: Vec<SettingsWarning>,
    /// Machine settings a workspace named, left as they were.
    pub ignored_machine_keys: Vec<String>,
}

/// The warning for a machine setting a workspace file named: the key, where it was, where to set
/// it instead.
pub fn ignored_machine_setting_message(key: &str, origin: &str) -> String {
    format!(
        "{origin}: biomedLsp.{key} is ignored: a workspace may not choose where text is sent, \
         what is loaded or where files are written; set it in your user configuration \
         ({}), your editor's user settings or with --set",
        crate::config_file::user_config_file()
            .map(|path| path.display().to_string())
            .unwrap_or_else(|| "~/.config/biomed-lsp/config.json".to_string())
    )
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: crate::model::resolve::DEFAULT_MODEL.to_string(),
            revision: "main".to_string(),
            device: "auto".to_string(),
            precision: "auto".to_string(),
            offline: false,
            inference_url: String::new(),
            inference_timeout_ms: crate::model::resolve::DEFAULT_INFERENCE_TIMEOUT_MS,
            inference_token: crate::secret::Secret::default(),
            inference_ca_file: String::new(),
            inference_allow_http: false,
            entities_model: crate::model::resolve::BUNDLED_MODEL_NAME.to_string(),
            completion_top_k: 10,
            completion_min_probability: 0.001,
            completion_max_pieces: 2,
            context_sentences: 2,
            diagnostics_enabled: true,
            diagnostics_severity: "auto".to_string(),
            // Occlusion would take a BERT-base hover past its budget on a CPU (BENCHMARKS.md,
            // "Evidence"); a flagged word's hover shows its finding's evidence anyway.
            hover_evidence: None,
            check: crate::analysis::CheckSettings::default(),
            diagnostics_debounce_ms: 400,
            dictionary_user_file: String::new(),
            dictionary_words: Vec::new(),
            latex_prose_commands: Vec::new(),
            latex_skip_commands: Vec::new(),
            latex_skip_environments: Vec::new(),
        }
    }
}

fn evidence_name(method: Option<crate::model::EvidenceMethod>) -> &'static str {
    method.map_or("off", crate::model::EvidenceMethod::as_str)
}

fn evidence_method(value: &Value) -> Result<Option<crate::model::EvidenceMethod>, String> {
    let name = value
        .as_str()
        .ok_or_else(|| format!("expected a string, got {value}"))?;
    if name == "off" {
        return Ok(None);
    }
    crate::model::EvidenceMethod::parse(name)
        .map(Some)
        .ok_or_else(|| {
            format!(
                "{name:?} is not one of off, {}",
                crate::model::EvidenceMethod::NAMES.join(", ")
            )
        })
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("invalid setting {SETTINGS_SECTION}.{key}: {reason}; keeping {kept}")]
pub struct SettingsWarning {
    pub key: String,
    pub reason: String,
    pub kept: String,
}

impl Settings {
    /// Whether the engine must be loaded again for `other`.
    pub fn model_differs(&self, other: &Settings) -> bool {
        self.model != other.model
            || self.revision != other.revision
            || self.device != other.device
            || self.precision != other.precision
            || self.offline != other.offline
            || self.inference_url != other.inference_url
            || self.inference_timeout_ms != other.inference_timeout_ms
            || self.inference_token != other.inference_token
            || self.inference_ca_file != other.inference_ca_file
            || self.inference_allow_http != other.inference_allow_http
            || self.entities_model != other.entities_model
    }

    /// The model these settings name. The token falls back to `BIOMED_LSP_INFERENCE_TOKEN`.
    pub fn model_options(&self) -> crate::model::ModelOptions {
        let token = if self.inference_token.is_empty() {
            crate::secret::Secret::new(
                std::env::var(INFERENCE_TOKEN_VARIABLE)
                    .unwrap_or_default()
                    .trim(),
            )
        } else {
            self.inference_token.clone()
        };
        crate::model::ModelOptions {
            model: self.model.clone(),
            revision: self.revision.clone(),
            device: self.device.clone(),
            precision: self.precision.clone(),
            offline: self.offline,
            inference_url: self.inference_url.clone(),
            inference_timeout_ms: self.inference_timeout_ms,
            inference_token: token,
            inference_ca_file: self.inference_ca_file.clone(),
            inference_allow_http: self.inference_allow_http,
            entities_model: self.entities_model.clone(),
        }
    }

    /// Applies the keys present in `value` (the `biomedLsp` object, or an object holding it under
    /// `biomedLsp`) on top of `self`. Unknown keys are ignored (an editor also sends the keys of
    /// its extension); invalid values are reported.
    pub fn merge_json(&mut self, value: &Value) -> Vec<SettingsWarning> {
        self.merge(value, false, SettingsOrigin::User).warnings
    }

    /// [`Self::merge_json`] for a configuration file or the command line, where a key the server
    /// does not read is a mistake to report too. Returns the keys applied and the warnings.
    pub fn merge_json_strict(&mut self, value: &Value) -> (Vec<String>, Vec<SettingsWarning>) {
        let outcome = self.merge(value, true, SettingsOrigin::User);
        (outcome.applied, outcome.warnings)
    }

    /// [`Self::merge_json_strict`] for a configuration file: from a workspace, machine settings
    /// are left as they are and listed.
    pub fn merge_file_json(&mut self, value: &Value, origin: SettingsOrigin) -> MergeOutcome {
        self.merge(value, true, origin)
    }

    fn merge(&mut self, value: &Value, strict: bool, origin: SettingsOrigin) -> MergeOutcome {
        let mut warnings = Vec::new();
        let mut applied = Vec::new();
        let mut ignored_machine_keys = Vec::new();
        let section = match value.get(SETTINGS_SECTION) {
            Some(inner) => inner,
            None => value,
        };
        let Value::Object(_) = section else {
            if !section.is_null() {
                warnings.push(SettingsWarning {
                    key: String::new(),
                    reason: format!("expected an object, got {section}"),
                    kept: "all settings".to_string(),
                });
            }
            return MergeOutcome {
                applied,
                warnings,
                ignored_machine_keys,
            };
        };
        let mut flat = Vec::new();
        flatten("", section, &mut flat);
        for (key, value) in flat {
            if strict && !SETTING_KEYS.contains(&key.as_str()) {
                let nearest = SETTING_KEYS.iter().min_by_key(|known| {
                    crate::analysis::lexicon::osa_distance(
                        &known.to_lowercase(),
                        &key.to_lowercase(),
                    )
                });
                let hint =
                    nearest.map_or(String::new(), |known| format!(" (did you mean {known}?)"));
                warnings.push(SettingsWarning {
                    key,
                    reason: format!("there is no such setting{hint}; the settings are listed in editors/settings.json and the README"),
                    kept: "the other settings".to_string(),
                });
                continue;
            }
            if origin == SettingsOrigin::Workspace && is_machine_setting(&key) {
                ignored_machine_keys.push(key);
                continue;
            }
            match self.set(&key, value) {
                Ok(()) => applied.push(key),
                Err(reason) => {
                    let kept = self.describe(&key);
                    warnings.push(SettingsWarning { key, reason, kept });
                }
            }
        }
        MergeOutcome {
            applied,
            warnings,
            ignored_machine_keys,
        }
    }

    /// Sets one key from the command line (`diagnostics.minMargin=6`): the value is read as JSON
    /// (a number, `true`, `["a", "b"]`), else taken as a string.
    pub fn set_from_text(&mut self, assignment: &str) -> Result<String, SettingsWarning> {
        let Some((key, text)) = assignment.split_once('=') else {
            return Err(SettingsWarning {
                key: assignment.to_string(),
                reason: "expected KEY=VALUE".to_string(),
                kept: "the other settings".to_string(),
            });
        };
        let key = key.trim().trim_start_matches("biomedLsp.");
        let value = serde_json::from_str::<Value>(text.trim())
            .unwrap_or_else(|_| Value::String(text.trim().to_string()));
        let mut object = serde_json::Map::new();
        object.insert(key.to_string(), value);
        let (applied, mut warnings) = self.merge_json_strict(&Value::Object(object));
        match warnings.pop() {
            Some(warning) => Err(warning),
            None => Ok(applied
                .into_iter()
                .next()
                .unwrap_or_else(|| key.to_string())),
        }
    }

    /// Whether documents must be checked again for `other` (the check's inputs changed).
    pub fn check_differs(&self, other: &Settings) -> bool {
        self.diagnostics_enabled != other.diagnostics_enabled
            || self.diagnostics_severity != other.diagnostics_severity
            || self.check != other.check
            || self.dictionary_user_file != other.dictionary_user_file
            || self.dictionary_words != other.dictionary_words
            || self.prose_options() != other.prose_options()
    }

    /// What completion is asked for (see `analysis::completion`).
    pub fn completion_settings(&self) -> crate::analysis::completion::CompletionSettings {
        crate::analysis::completion::CompletionSettings {
            top_k: self.completion_top_k,
            max_pieces: self.completion_max_pieces,
            min_probability: self.completion_min_probability,
        }
    }

    /// The LaTeX extraction options these settings add to the built-in lists.
    pub fn prose_options(&self) -> crate::prose::ProseOptions {
        crate::prose::ProseOptions {
            latex_prose_commands: self.latex_prose_commands.clone(),
            latex_skip_commands: self.latex_skip_commands.clone(),
            latex_skip_environments: self.latex_skip_environments.clone(),
        }
    }

    /// The check's thresholds, with the margin and severity these settings choose.
    pub fn check_settings(&self) -> crate::analysis::CheckSettings {
        use crate::analysis::Severity;
        let mut check = self.check.clone();
        let fixed = match self.diagnostics_severity.as_str() {
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "information" => Some(Severity::Information),
            "hint" => Some(Severity::Hint),
            _ => None,
        };
        if let Some(severity) = fixed {
            check.strong_severity = severity;
            check.weak_severity = severity;
            check.unknown_severity = severity;
        }
        check
    }

    /// The current value of a setting, as JSON.
    pub fn value_of(&self, key: &str) -> Option<Value> {
        Some(match key {
            "model" => Value::from(self.model.clone()),
            "revision" => Value::from(self.revision.clone()),
            "device" => Value::from(self.device.clone()),
            "precision" => Value::from(self.precision.clone()),
            "inference.url" => Value::from(self.inference_url.clone()),
            "inference.timeoutMs" => Value::from(self.inference_timeout_ms),
            "inference.token" => Value::from(self.inference_token.redacted()),
            "inference.caFile" => Value::from(self.inference_ca_file.clone()),
            "inference.allowHttp" => Value::from(self.inference_allow_http),
            "entities.model" => Value::from(self.entities_model.clone()),
            "offline" => Value::from(self.offline),
            "completion.topK" => Value::from(self.completion_top_k),
            "completion.minProbability" => Value::from(self.completion_min_probability),
            "completion.maxPieces" => Value::from(self.completion_max_pieces),
            "contextSentences" => Value::from(self.context_sentences),
            "diagnostics.enabled" => Value::from(self.diagnostics_enabled),
            "diagnostics.severity" => Value::from(self.diagnostics_severity.clone()),
            "diagnostics.maxEditDistance" => Value::from(self.check.max_edit_distance),
            "diagnostics.minWordLength" => Value::from(self.check.min_word_length),
            "diagnostics.unknownTerms" => Value::from(self.check.report_unknown),
            "diagnostics.debounceMs" => Value::from(self.diagnostics_debounce_ms),
            "diagnostics.evidence" => Value::from(evidence_name(self.check.evidence)),
            "hover.evidence" => Value::from(evidence_name(self.hover_evidence)),
            "abbreviations.enabled" => Value::from(self.check.abbreviations.enabled),
            "abbreviations.undefined" => Value::from(self.check.abbreviations.report_undefined),
            "termVariants.enabled" => Value::from(self.check.abbreviations.term_variants),
            "abbreviations.off" => Value::from(
                self.check
                    .abbreviations
                    .off
                    .iter()
                    .map(|issue| issue.as_str())
                    .collect::<Vec<_>>(),
            ),
            "termVariants.accepted" => Value::from(
                self.check
                    .abbreviations
                    .accepted_variants
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>(),
            ),
            "abbreviations.common" => Value::from(
                self.check
                    .abbreviations
                    .common
                    .difference(&crate::analysis::abbreviations::common_abbreviations())
                    .cloned()
                    .collect::<Vec<_>>(),
            ),
            "dictionary.userFile" => Value::from(self.dictionary_user_file.clone()),
            "dictionary.words" => Value::from(self.dictionary_words.clone()),
            "latex.proseCommands" => Value::from(self.latex_prose_commands.clone()),
            "latex.skipCommands" => Value::from(self.latex_skip_commands.clone()),
            "latex.skipEnvironments" => Value::from(self.latex_skip_environments.clone()),
            _ => {
                let mut check = self.check.clone();
                let (value, _) = threshold(&mut check, key)?;
                Value::from(*value)
            }
        })
    }

    fn describe(&self, key: &str) -> String {
        match self.value_of(key) {
            Some(Value::String(text)) => text,
            Some(value) => value.to_string(),
            None => String::new(),
        }
    }

    fn set(&mut self, key: &str, value: &Value) -> Result<(), String> {
        match key {
            "model" => self.model = non_empty_string(value)?,
            "revision" => self.revision = non_empty_string(value)?,
            "device" => {
                let device = non_empty_string(value)?;
                if !is_valid_device(&device) {
                    return Err(format!(
                        "device {device:?} is not one of auto, cpu, cuda, cuda:N, metal"
                    ));
                }
                self.device = device;
            }
            "precision" => {
                let precision = non_empty_string(value)?;
                precision
                    .parse::<crate::model::device::PrecisionChoice>()
                    .map_err(|error| error.to_string())?;
                self.precision = precision;
            }
            "inference.url" => {
                let url = value
                    .as_str()
                    .ok_or_else(|| format!("expected a string, got {value}"))?
                    .trim()
                    .to_string();
                if !url.is_empty() && !url.starts_with("http://") && !url.starts_with("https://") {
                    return Err(format!(
                        "{url:?} is not an http:// or https:// URL (like http://gpu-box:8000/v2/models/biomedbert)"
                    ));
                }
                self.inference_url = url;
            }
            "inference.timeoutMs" => {
                self.inference_timeout_ms = integer_in(value, 100, 600_000)? as u64
            }
            "inference.token" => {
                // Never echo the value: a mistake names only the key.
                let token = value
                    .as_str()
                    .ok_or_else(|| "expected a string".to_string())?
                    .trim();
                if token.chars().any(|c| c.is_control() || c == ' ') {
                    return Err("a token holds no spaces or control characters".to_string());
                }
                self.inference_token = crate::secret::Secret::new(token);
            }
            "inference.caFile" => {
                self.inference_ca_file = value
                    .as_str()
                    .ok_or_else(|| format!("expected a path, got {value}"))?
                    .trim()
                    .to_string()
            }
            "entities.model" => self.entities_model = non_empty_string(value)?,
            "inference.allowHttp" => {
                self.inference_allow_http = value
                    .as_bool()
                    .ok_or_else(|| format!("expected true or false, got {value}"))?
            }
            "offline" => {
                self.offline = value
                    .as_bool()
                    .ok_or_else(|| format!("expected true or false, got {value}"))?
            }
            "completion.topK" => self.completion_top_k = integer_in(value, 1, 100)?,
            "completion.maxPieces" => self.completion_max_pieces = integer_in(value, 1, 8)?,
            "contextSentences" => self.context_sentences = integer_in(value, 0, 50)?,
            "completion.minProbability" => {
                let probability = value
                    .as_f64()
                    .ok_or_else(|| format!("expected a number, got {value}"))?;
                if !(0.0..=1.0).contains(&probability) {
                    return Err(format!("probability {probability} is not between 0 and 1"));
                }
                self.completion_min_probability = probability as f32;
            }
            "diagnostics.enabled" => {
                self.diagnostics_enabled = value
                    .as_bool()
                    .ok_or_else(|| format!("expected true or false, got {value}"))?
            }
            "diagnostics.severity" => {
                let severity = non_empty_string(value)?;
                if !["auto", "error", "warning", "information", "hint"].contains(&severity.as_str())
                {
                    return Err(format!(
                        "{severity:?} is not one of auto, error, warning, information, hint"
                    ));
                }
                self.diagnostics_severity = severity;
            }
            "diagnostics.maxEditDistance" => {
                // The lexicon's index reaches two edits.
                self.check.max_edit_distance = integer_in(value, 1, 2)?
            }
            "diagnostics.minWordLength" => self.check.min_word_length = integer_in(value, 1, 30)?,
            "diagnostics.unknownTerms" => {
                self.check.report_unknown = value
                    .as_bool()
                    .ok_or_else(|| format!("expected true or false, got {value}"))?
            }
            "diagnostics.debounceMs" => {
                self.diagnostics_debounce_ms = integer_in(value, 0, 60_000)? as u64
            }
            "diagnostics.evidence" => self.check.evidence = evidence_method(value)?,
            "hover.evidence" => self.hover_evidence = evidence_method(value)?,
            "abbreviations.enabled" => {
                self.check.abbreviations.enabled = value
                    .as_bool()
                    .ok_or_else(|| format!("expected true or false, got {value}"))?
            }
            "abbreviations.undefined" => {
                self.check.abbreviations.report_undefined = value
                    .as_bool()
                    .ok_or_else(|| format!("expected true or false, got {value}"))?
            }
            "termVariants.enabled" => {
                self.check.abbreviations.term_variants = value
                    .as_bool()
                    .ok_or_else(|| format!("expected true or false, got {value}"))?
            }
            "abbreviations.off" => {
                use crate::analysis::abbreviations::AbbreviationIssue;
                let mut off = std::collections::BTreeSet::new();
                for code in string_list(value)? {
                    let issue = AbbreviationIssue::from_code(&code).ok_or_else(|| {
                        let known: Vec<&str> = AbbreviationIssue::ALL
                            .iter()
                            .map(|issue| issue.as_str())
                            .collect();
                        format!(
                            "unknown finding {code:?}; expected one of {}",
                            known.join(", ")
                        )
                    })?;
                    off.insert(issue);
                }
                self.check.abbreviations.off = off;
            }
            "termVariants.accepted" => {
                self.check.abbreviations.accepted_variants = string_list(value)?
                    .into_iter()
                    .map(|form| form.to_lowercase())
                    .collect();
            }
            "abbreviations.common" => {
                let mut common = crate::analysis::abbreviations::common_abbreviations();
                common.extend(string_list(value)?);
                self.check.abbreviations.common = common;
            }
            "dictionary.userFile" => {
                self.dictionary_user_file = value
                    .as_str()
                    .ok_or_else(|| format!("expected a path, got {value}"))?
                    .trim()
                    .to_string()
            }
            "dictionary.words" => self.dictionary_words = string_list(value)?,
            "latex.proseCommands" => self.latex_prose_commands = string_list(value)?,
            "latex.skipCommands" => self.latex_skip_commands = string_list(value)?,
            "latex.skipEnvironments" => self.latex_skip_environments = string_list(value)?,
            _ => {
                if let Some((field, range)) = threshold(&mut self.check, key) {
                    let number = value
                        .as_f64()
                        .ok_or_else(|| format!("expected a number, got {value}"))?;
                    if !range.contains(&number) {
                        return Err(format!(
                            "{number} is not between {} and {}",
                            range.start(),
                            range.end()
                        ));
                    }
                    *field = number as f32;
                }
                // Other keys may belong to newer versions of the client extension.
            }
        }
        Ok(())
    }
}

/// The check's numeric thresholds a user may set: the field a key names and its allowed range.
fn threshold<'a>(
    check: &'a mut crate::analysis::CheckSettings,
    key: &str,
) -> Option<(&'a mut f32, std::ops::RangeInclusive<f64>)> {
    Some(match key {
        "diagnostics.minMargin" => (&mut check.min_margin, 0.0..=50.0),
        "diagnostics.confusableMinMargin" => (&mut check.confusable_min_margin, 0.0..=50.0),
        "diagnostics.marginPerExtraEdit" => (&mut check.margin_per_extra_edit, 0.0..=20.0),
        "diagnostics.frequencyWeight" => (&mut check.frequency_weight, 0.0..=1.0),
        "diagnostics.minAlternativeLogProbability" => {
            (&mut check.min_alternative_log_probability, -30.0..=0.0)
        }
        "diagnostics.strongMargin" => (&mut check.strong_margin, 0.0..=50.0),
        "diagnostics.screenMaxLogProbability" => {
            (&mut check.screen_max_log_probability, -50.0..=0.0)
        }
        "diagnostics.unknownMaxLogProbability" => {
            (&mut check.unknown_max_log_probability, -100.0..=0.0)
        }
        _ => return None,
    })
}

fn flatten<'a>(prefix: &str, value: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, inner, out);
            }
        }
        // A null value means "not set": keep the current value silently.
        Value::Null => {}
        _ => out.push((prefix.to_string(), value)),
    }
}

fn string_list(value: &Value) -> Result<Vec<String>, String> {
    let items = value
        .as_array()
        .ok_or_else(|| format!("expected a list of strings, got {value}"))?;
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(|text| text.trim().to_string())
                .ok_or_else(|| format!("expected a string, got {item}"))
        })
        .collect()
}

fn non_empty_string(value: &Value) -> Result<String, String> {
    match value.as_str() {
        Some(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        _ => Err(format!("expected a non-empty string, got {value}")),
    }
}

fn integer_in(value: &Value, low: u64, high: u64) -> Result<usize, String> {
    let number = value
        .as_u64()
        .ok_or_else(|| format!("expected a whole number, got {value}"))?;
    if number < low || number > high {
        return Err(format!("{number} is not between {low} and {high}"));
    }
    usize::try_from(number).map_err(|_| format!("{number} is too large"))
}

fn is_valid_device(device: &str) -> bool {
    match device {
        "auto" | "cpu" | "cuda" | "metal" => true,
        _ => device
            .strip_prefix("cuda:")
            .or_else(|| device.strip_prefix("metal:"))
            .is_some_and(|index| !index.is_empty() && index.chars().all(|c| c.is_ascii_digit())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The editors contribute exactly the settings the server reads, with the server's defaults.
    #[test]
    fn editor_settings_file_matches_the_server() {
        let file: Value = serde_json::from_str(include_str!("../editors/settings.json")).unwrap();
        let entries = file["settings"].as_array().unwrap();
        let mut documented: Vec<&str> = entries
            .iter()
            .map(|entry| entry["key"].as_str().unwrap())
            .collect();
        documented.sort_unstable();
        let mut read: Vec<&str> = SETTING_KEYS.to_vec();
        read.sort_unstable();
        assert_eq!(documented, read);
        let defaults = Settings::default();
        for entry in entries {
            let key = entry["key"].as_str().unwrap();
            assert_eq!(
                entry["scope"] == "machine",
                is_machine_setting(key),
                "{key}: editors/settings.json's scope and the server's machine settings differ"
            );
            let ours = defaults.value_of(key).unwrap();
            let theirs = &entry["default"];
            let same = match (ours.as_f64(), theirs.as_f64()) {
                (Some(a), Some(b)) => (a - b).abs() < 1e-6,
                _ => &ours == theirs,
            };
            assert!(
                same,
                "default of {key}: server {ours}, editors/settings.json {theirs}"
            );
        }
    }

    #[test]
    fn lists_and_diagnostic_settings_apply() {
        let mut settings = Settings::default();
        let warnings = settings.merge_json(&json!({"dictionary": {"words": ["phyloseq"]}, "latex.skipCommands": ["gls"], "diagnostics": {"severity": "hint", "minMargin": 6}}));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(settings.dictionary_words, ["phyloseq"]);
        assert_eq!(settings.prose_options().latex_skip_commands, ["gls"]);
        let check = settings.check_settings();
        assert_eq!(check.min_margin, 6.0);
        let warnings = settings.merge_json(&json!({"diagnostics": {"frequencyWeight": 0.5, "maxEditDistance": 1, "unknownTerms": false, "screenMaxLogProbability": -6}}));
        assert!(warnings.is_empty(), "{warnings:?}");
        let check = settings.check_settings();
        assert_eq!(check.frequency_weight, 0.5);
        assert_eq!(check.max_edit_distance, 1);
        assert!(!check.report_unknown);
        assert_eq!(check.screen_max_log_probability, -6.0);
        let warnings = settings.merge_json(
            &json!({"diagnostics": {"frequencyWeight": 2, "maxEditDistance": 3, "minMargin": "big"}}),
        );
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings[0].to_string().contains("keeping"),
            "{}",
            warnings[0]
        );
        assert_eq!(settings.check_settings().frequency_weight, 0.5);
        assert_eq!(check.strong_severity, crate::analysis::Severity::Hint);
        let warnings = settings
            .merge_json(&json!({"dictionary.words": "phyloseq", "diagnostics.severity": "loud"}));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }

    #[test]
    fn nested_and_dotted_keys_apply() {
        let mut settings = Settings::default();
        let warnings = settings.merge_json(&json!({"biomedLsp": {"completion": {"topK": 5}, "completion.maxPieces": 2, "device": "cuda:1"}}));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(settings.completion_top_k, 5);
        assert_eq!(settings.completion_max_pieces, 2);
        assert_eq!(settings.device, "cuda:1");
    }

    #[test]
    fn invalid_values_keep_previous_and_name_the_key() {
        let mut settings = Settings::default();
        let warnings = settings.merge_json(
            &json!({"completion": {"topK": "many", "minProbability": 3}, "device": "tpu"}),
        );
        let keys: Vec<&str> = warnings
            .iter()
            .map(|warning| warning.key.as_str())
            .collect();
        assert_eq!(
            keys,
            vec!["completion.minProbability", "completion.topK", "device"]
        );
        assert_eq!(settings, Settings::default());
        assert!(warnings[1]
            .to_string()
            .contains("biomedLsp.completion.topK"));
    }

    #[test]
    fn the_token_never_shows() {
        let mut settings = Settings::default();
        let warnings = settings.merge_json(&json!({"inference": {"token": "t0k3n-secret"}}));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(settings.inference_token.expose(), "t0k3n-secret");
        assert!(!format!("{settings:?}").contains("t0k3n"));
        assert_eq!(
            settings.value_of("inference.token"),
            Some(json!("(set, hidden)"))
        );
        let warnings = settings.merge_json(&json!({"inference.token": "two words"}));
        assert_eq!(warnings.len(), 1);
        let shown = warnings[0].to_string();
        assert!(
            !shown.contains("two words") && !shown.contains("t0k3n"),
            "{shown}"
        );
        assert_eq!(
            settings.model_options().inference_token.expose(),
            "t0k3n-secret"
        );
    }
}
