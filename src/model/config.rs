//! The parts of a BERT `config.json` the masked-language model and an entity tagger's encoder need,
//! with transformers' defaults.

use std::path::Path;

use serde::Deserialize;

use super::ModelError;

/// Activation of the feed-forward block, as named in `config.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HiddenActivation {
    /// The exact erf GELU (`"gelu"` in transformers).
    GeluErf,
    /// The tanh approximation (`"gelu_new"`, `"gelu_pytorch_tanh"`).
    GeluTanh,
    Relu,
}

/// A BERT configuration. Fields that real checkpoints omit (BiomedBERT has no `layer_norm_eps`
/// and no `pad_token_id`) take the defaults of transformers' `BertConfig`.
#[derive(Clone, Debug, PartialEq)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_activation: HiddenActivation,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
}

#[derive(Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    architectures: Option<Vec<String>>,
    vocab_size: Option<usize>,
    hidden_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    intermediate_size: Option<usize>,
    hidden_act: Option<String>,
    max_position_embeddings: Option<usize>,
    type_vocab_size: Option<usize>,
    layer_norm_eps: Option<f64>,
    position_embedding_type: Option<String>,
}

impl BertConfig {
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text).map_err(|problem| ModelError::BadFile {
            path: path.to_path_buf(),
            problem,
        })
    }

    /// Parses and checks a configuration; the error says which field is wrong.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let raw: RawConfig = serde_json::from_str(text)
            .map_err(|error| format!("not a valid config.json: {error}"))?;
        if let Some(model_type) = &raw.model_type {
            if model_type != "bert" {
                return Err(format!(
                    "model_type is \"{model_type}\", only \"bert\" is supported"
                ));
            }
        }
        if let Some(architectures) = &raw.architectures {
            let known = [
                "BertForMaskedLM",
                "BertForPreTraining",
                "BertModel",
                "BertLMHeadModel",
                // An entity tagger's encoder; the fill-mask model refuses one without the
                // masked-language-model head when its weights load.
                "BertForTokenClassification",
            ];
            if !architectures
                .iter()
                .any(|name| known.contains(&name.as_str()))
            {
                return Err(format!(
                    "architectures {architectures:?} is not a BERT model this server runs (expected BertForMaskedLM, or BertForTokenClassification for entities.model)"
                ));
            }
        }
        if raw.model_type.is_none() && raw.architectures.is_none() {
            return Err(
                "neither model_type nor architectures is given: cannot tell it is a BERT model"
                    .into(),
            );
        }
        if let Some(kind) = &raw.position_embedding_type {
            if kind != "absolute" {
                return Err(format!(
                    "position_embedding_type \"{kind}\" is not supported (only \"absolute\")"
                ));
            }
        }
        // transformers' BertConfig defaults, for fields a config may omit.
        let hidden_activation = match raw.hidden_act.as_deref().unwrap_or("gelu") {
            "gelu" => HiddenActivation::GeluErf,
            "gelu_new" | "gelu_pytorch_tanh" => HiddenActivation::GeluTanh,
            "relu" => HiddenActivation::Relu,
            other => {
                return Err(format!(
                    "hidden_act \"{other}\" is not supported (gelu, gelu_new, relu)"
                ))
            }
        };
        let config = BertConfig {
            vocab_size: raw.vocab_size.unwrap_or(30522),
            hidden_size: raw.hidden_size.unwrap_or(768),
            num_hidden_layers: raw.num_hidden_layers.unwrap_or(12),
            num_attention_heads: raw.num_attention_heads.unwrap_or(12),
            intermediate_size: raw.intermediate_size.unwrap_or(3072),
            hidden_activation,
            max_position_embeddings: raw.max_position_embeddings.unwrap_or(512),
            type_vocab_size: raw.type_vocab_size.unwrap_or(2),
            layer_norm_eps: raw.layer_norm_eps.unwrap_or(1e-12),
        };
        for (name, value) in [
            ("vocab_size", config.vocab_size),
            ("hidden_size", config.hidden_size),
            ("num_hidden_layers", config.num_hidden_layers),
            ("num_attention_heads", config.num_attention_heads),
            ("intermediate_size", config.intermediate_size),
            ("max_position_embeddings", config.max_position_embeddings),
            ("type_vocab_size", config.type_vocab_size),
        ] {
            if value == 0 {
                return Err(format!("{name} is 0"));
            }
        }
        if config.hidden_size % config.num_attention_heads != 0 {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            ));
        }
        Ok(config)
    }

    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn biomedbert_config_without_eps_and_pad_parses_with_defaults() {
        let text = r#"{"architectures":["BertForMaskedLM"],"attention_probs_dropout_prob":0.1,"hidden_act":"gelu",
            "hidden_dropout_prob":0.1,"hidden_size":768,"initializer_range":0.02,"intermediate_size":3072,
            "max_position_embeddings":512,"model_type":"bert","num_attention_heads":12,"num_hidden_layers":12,
            "type_vocab_size":2,"vocab_size":30522}"#;
        let config = BertConfig::from_json(text).unwrap();
        assert_eq!(config.layer_norm_eps, 1e-12);
        assert_eq!(config.vocab_size, 30522);
        assert_eq!(config.head_size(), 64);
    }

    #[test]
    fn non_bert_architectures_are_refused_with_the_reason() {
        let error =
            BertConfig::from_json(r#"{"model_type":"gpt2","architectures":["GPT2LMHeadModel"]}"#)
                .unwrap_err();
        assert!(error.contains("gpt2"), "{error}");
        let error =
            BertConfig::from_json(r#"{"architectures":["RobertaForMaskedLM"]}"#).unwrap_err();
        assert!(error.contains("RobertaForMaskedLM"), "{error}");
        let error = BertConfig::from_json(
            r#"{"model_type":"bert","hidden_size":100,"num_attention_heads":12}"#,
        )
        .unwrap_err();
        assert!(error.contains("multiple"), "{error}");
        assert!(BertConfig::from_json("{not json")
            .unwrap_err()
            .contains("not a valid config.json"));
    }
}
