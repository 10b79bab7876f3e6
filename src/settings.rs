//! User settings of the server (section `biomedLsp`), parsed from JSON with defaults.
//!
//! Settings arrive from `initializationOptions`, `workspace/didChangeConfiguration` and
//! `workspace/configuration`. Each accepts nested objects (`{"completion": {"topK": 5}}`) and
//! dotted keys (`{"completion.topK": 5}`). An invalid value keeps the previous value and yields a
//! warning naming the key.

use serde_json::Value;

pub const SETTINGS_SECTION: &str = "biomedLsp";

#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub model: String,
    pub revision: String,
    /// `auto`, `cpu`, `cuda`, `cuda:N` or `metal`.
    pub device: String,
    pub offline: bool,
    pub completion_top_k: usize,
    pub completion_min_probability: f32,
    pub completion_max_pieces: usize,
    /// How many whole sentences on each side of the cursor's sentence go to the model.
    pub context_sentences: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: crate::model::resolve::DEFAULT_MODEL.to_string(),
            revision: "main".to_string(),
            device: "auto".to_string(),
            offline: false,
            completion_top_k: 10,
            completion_min_probability: 0.001,
            completion_max_pieces: 3,
            context_sentences: 2,
        }
    }
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
            || self.offline != other.offline
    }

    /// Applies the keys present in `value` (the `biomedLsp` object, or an object holding it under
    /// `biomedLsp`) on top of `self`. Unknown keys are ignored; invalid values are reported.
    pub fn merge_json(&mut self, value: &Value) -> Vec<SettingsWarning> {
        let mut warnings = Vec::new();
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
            return warnings;
        };
        let mut flat = Vec::new();
        flatten("", section, &mut flat);
        for (key, value) in flat {
            if let Err(reason) = self.set(&key, value) {
                let kept = self.describe(&key);
                warnings.push(SettingsWarning { key, reason, kept });
            }
        }
        warnings
    }

    fn describe(&self, key: &str) -> String {
        match key {
            "model" => self.model.clone(),
            "revision" => self.revision.clone(),
            "device" => self.device.clone(),
            "offline" => self.offline.to_string(),
            "completion.topK" => self.completion_top_k.to_string(),
            "completion.minProbability" => self.completion_min_probability.to_string(),
            "completion.maxPieces" => self.completion_max_pieces.to_string(),
            "contextSentences" => self.context_sentences.to_string(),
            _ => String::new(),
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
            // Unknown keys may belong to newer versions of the client extension.
            _ => {}
        }
        Ok(())
    }
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
}
