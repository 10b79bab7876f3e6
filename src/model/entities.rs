//! Named entities from a token-classification head on the encoder: the hidden state of each
//! word's first piece (the last layer, as transformers' `BertForTokenClassification` reads it),
//! a linear layer to one score per label, BIO or BIOES labels decoded into mentions.
//!
//! A head is a directory in transformers' layout: `config.json` with `id2label`, and
//! `model.safetensors` holding `classifier.weight` (`[labels, hidden]`) and `classifier.bias`.
//! `examples/train_entity_head.rs` trains such a head on the bundled mini model's encoder, left
//! as it is; that is not good enough to ship (entity F1 0.28 on the NCBI-disease test split,
//! see the example), so nothing here is wired into the server or `check` yet.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use candle_core::{DType, Device, IndexOp, Tensor};

use super::api::TokenizedWord;
use super::encoder::Encoder;
use super::fill::{compute_error, ModelRunner};
use super::remote::RemoteError;
use super::ModelError;

/// Pieces of one row besides `[CLS]` and `[SEP]`; a longer text is read in several rows, cut
/// between words.
const PIECES_PER_ROW: usize = 254;

/// A word of a text with the encoder's hidden state at its first piece.
#[derive(Clone, Debug)]
pub struct WordState {
    pub word: TokenizedWord,
    pub state: Vec<f32>,
}

impl ModelRunner {
    /// Every word of `text` (BERT's pre-tokenizer: whitespace and punctuation) with the last
    /// layer's hidden state at its first piece. The model must run in this process: an inference
    /// server returns no hidden states.
    pub fn word_states(&self, text: &str) -> Result<Vec<WordState>, ModelError> {
        let model = match &self.model {
            Encoder::Local(model) => model,
            Encoder::Remote(server) => {
                return Err(RemoteError::NoHiddenStates(server.url().into()).into())
            }
        };
        let words = self.tokenizer.words(text)?;
        let mut states = Vec::with_capacity(words.len());
        let mut start = 0;
        while start < words.len() {
            // As many whole words as the row holds (a single over-long word is cut).
            let mut end = start;
            let mut pieces = 0;
            while end < words.len()
                && (end == start || pieces + words[end].ids.len() <= PIECES_PER_ROW)
            {
                pieces += words[end].ids.len();
                end += 1;
            }
            let mut row = vec![self.tokenizer.special.cls];
            let mut first_pieces = Vec::with_capacity(end - start);
            for word in &words[start..end] {
                first_pieces.push(row.len().min(PIECES_PER_ROW));
                row.extend(word.ids.iter().copied());
            }
            row.truncate(PIECES_PER_ROW + 1);
            row.push(self.tokenizer.special.sep);
            let device = model.device();
            let length = row.len();
            let input_ids = Tensor::from_vec(row, (1, length), device).map_err(compute_error)?;
            let attention_mask =
                Tensor::ones((1, length), DType::U32, device).map_err(compute_error)?;
            super::api::EngineCounters::add(&self.counters.forward_passes);
            let hidden = model
                .encode(&input_ids, &attention_mask)
                .and_then(|hidden| hidden.i(0))
                .and_then(|hidden| hidden.to_dtype(DType::F32))
                .and_then(|hidden| hidden.to_vec2::<f32>())
                .map_err(compute_error)?;
            for (word, position) in words[start..end].iter().zip(first_pieces) {
                states.push(WordState {
                    word: word.clone(),
                    state: hidden[position].clone(),
                });
            }
            start = end;
        }
        Ok(states)
    }
}

/// How a head's labels mark a mention's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelScheme {
    /// `B-X` begins, `I-X` continues, `O` is outside.
    Bio,
    /// BIO with `S-X` for a one-word mention and `E-X` for the last word of a longer one.
    Bioes,
}

/// A linear token-classification head.
#[derive(Debug)]
pub struct EntityHead {
    labels: Vec<String>,
    scheme: LabelScheme,
    hidden_size: usize,
    /// `[labels][hidden]`, row-major.
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// Why a head cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EntityHeadError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{path}: `id2label` must name labels 0..{count} (O, B-…, I-…, and for BIOES S-…, E-…), not {labels:?}")]
    Labels {
        path: String,
        count: usize,
        labels: Vec<String>,
    },
    #[error("{path}: the head reads hidden states of {head} values, the encoder gives {encoder}")]
    HiddenSize {
        path: String,
        head: usize,
        encoder: usize,
    },
}

impl EntityHead {
    pub fn new(labels: Vec<String>, weight: Vec<f32>, bias: Vec<f32>) -> Result<Self, String> {
        let scheme = scheme_of(&labels).ok_or_else(|| format!("labels {labels:?}"))?;
        if labels.is_empty()
            || bias.len() != labels.len()
            || !weight.len().is_multiple_of(labels.len())
        {
            return Err(format!(
                "{} labels, {} biases and {} weights do not fit",
                labels.len(),
                bias.len(),
                weight.len()
            ));
        }
        Ok(Self {
            hidden_size: weight.len() / labels.len(),
            labels,
            scheme,
            weight,
            bias,
        })
    }

    /// Reads a head from a directory in transformers' layout (see the module's documentation).
    pub fn load(directory: &Path) -> Result<Self, EntityHeadError> {
        let config_path = directory.join("config.json");
        let file_error = |path: &Path, message: String| EntityHeadError::File {
            path: path.display().to_string(),
            message,
        };
        let config: serde_json::Value = std::fs::read_to_string(&config_path)
            .map_err(|error| file_error(&config_path, error.to_string()))
            .and_then(|text| {
                serde_json::from_str(&text)
                    .map_err(|error| file_error(&config_path, error.to_string()))
            })?;
        let id2label = config["id2label"].as_object().ok_or_else(|| {
            file_error(
                &config_path,
                "no `id2label` (a token-classification config names its labels)".into(),
            )
        })?;
        let mut by_id = BTreeMap::new();
        for (id, label) in id2label {
            let id: usize = id.parse().map_err(|_| {
                file_error(
                    &config_path,
                    format!("`id2label` key {id:?} is not a number"),
                )
            })?;
            let label = label
                .as_str()
                .ok_or_else(|| file_error(&config_path, format!("label {id} is not a string")))?;
            by_id.insert(id, label.to_string());
        }
        let labels: Vec<String> = by_id.values().cloned().collect();
        if by_id.keys().copied().ne(0..labels.len()) || scheme_of(&labels).is_none() {
            return Err(EntityHeadError::Labels {
                path: config_path.display().to_string(),
                count: labels.len(),
                labels,
            });
        }
        let weights_path = directory.join("model.safetensors");
        let tensors = candle_core::safetensors::load(&weights_path, &Device::Cpu)
            .map_err(|error| file_error(&weights_path, error.to_string()))?;
        let tensor = |name: &str| {
            tensors
                .get(name)
                .ok_or_else(|| file_error(&weights_path, format!("no tensor `{name}`")))?
                .to_dtype(DType::F32)
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|error| file_error(&weights_path, error.to_string()))
        };
        let (weight, bias) = (tensor("classifier.weight")?, tensor("classifier.bias")?);
        Self::new(labels, weight, bias).map_err(|message| file_error(&weights_path, message))
    }

    /// Writes the head in transformers' layout (`config.json` with `id2label`, `model.safetensors`).
    pub fn save(&self, directory: &Path) -> Result<(), EntityHeadError> {
        let file_error = |path: &Path, message: String| EntityHeadError::File {
            path: path.display().to_string(),
            message,
        };
        std::fs::create_dir_all(directory)
            .map_err(|error| file_error(directory, error.to_string()))?;
        let id2label: serde_json::Map<String, serde_json::Value> = self
            .labels
            .iter()
            .enumerate()
            .map(|(id, label)| (id.to_string(), serde_json::Value::from(label.as_str())))
            .collect();
        let label2id: serde_json::Map<String, serde_json::Value> = self
            .labels
            .iter()
            .enumerate()
            .map(|(id, label)| (label.clone(), serde_json::Value::from(id)))
            .collect();
        let config = serde_json::json!({
            "architectures": ["BertForTokenClassification"],
            "hidden_size": self.hidden_size,
            "id2label": id2label,
            "label2id": label2id,
        });
        let config_path = directory.join("config.json");
        std::fs::write(
            &config_path,
            serde_json::to_string_pretty(&config).unwrap_or_default() + "\n",
        )
        .map_err(|error| file_error(&config_path, error.to_string()))?;
        let weights_path = directory.join("model.safetensors");
        let tensors = [
            (
                "classifier.weight",
                Tensor::from_vec(
                    self.weight.clone(),
                    (self.labels.len(), self.hidden_size),
                    &Device::Cpu,
                ),
            ),
            (
                "classifier.bias",
                Tensor::from_vec(self.bias.clone(), self.labels.len(), &Device::Cpu),
            ),
        ];
        let tensors: std::collections::HashMap<String, Tensor> = tensors
            .into_iter()
            .map(|(name, tensor)| tensor.map(|tensor| (name.to_string(), tensor)))
            .collect::<Result<_, _>>()
            .map_err(|error| file_error(&weights_path, error.to_string()))?;
        candle_core::safetensors::save(&tensors, &weights_path)
            .map_err(|error| file_error(&weights_path, error.to_string()))
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    /// Checks that the head reads the hidden states `encoder_hidden_size` gives.
    pub fn check_encoder(
        &self,
        encoder_hidden_size: usize,
        path: &str,
    ) -> Result<(), EntityHeadError> {
        if encoder_hidden_size == self.hidden_size {
            Ok(())
        } else {
            Err(EntityHeadError::HiddenSize {
                path: path.to_string(),
                head: self.hidden_size,
                encoder: encoder_hidden_size,
            })
        }
    }

    /// The score of each label for one hidden state.
    pub fn scores(&self, state: &[f32]) -> Vec<f32> {
        self.weight
            .chunks_exact(self.hidden_size)
            .zip(&self.bias)
            .map(|(row, bias)| row.iter().zip(state).map(|(w, x)| w * x).sum::<f32>() + bias)
            .collect()
    }

    /// The most probable label of each word.
    pub fn label_words(&self, states: &[WordState]) -> Vec<usize> {
        states
            .iter()
            .map(|word| {
                self.scores(&word.state)
                    .iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (label, &score)| {
                        if score > best.1 {
                            (label, score)
                        } else {
                            best
                        }
                    })
                    .0
            })
            .collect()
    }

    /// The mentions in a text's words labelled `labels` (indices into [`Self::labels`]).
    pub fn mentions(&self, words: &[WordState], labels: &[usize]) -> Vec<EntityMention> {
        let tags: Vec<(Range<usize>, &str)> = words
            .iter()
            .zip(labels)
            .map(|(word, &label)| (word.word.start..word.word.end, self.labels[label].as_str()))
            .collect();
        decode_mentions(&tags, self.scheme)
    }
}

/// A mention: a byte range of the text and its entity type (the label without `B-`/`I-`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityMention {
    pub span: Range<usize>,
    pub label: String,
}

fn scheme_of(labels: &[String]) -> Option<LabelScheme> {
    let mut bioes = false;
    for label in labels {
        match label.split_once('-') {
            None if label == "O" => {}
            Some(("B" | "I", kind)) if !kind.is_empty() => {}
            Some(("S" | "E", kind)) if !kind.is_empty() => bioes = true,
            _ => return None,
        }
    }
    Some(if bioes {
        LabelScheme::Bioes
    } else {
        LabelScheme::Bio
    })
}

/// Mentions from words tagged in BIO or BIOES (`tags`: each word's byte range and its label).
/// As seqeval reads tags: an `I-X` after `O` or after another type begins a mention of its own;
/// a mention runs over the words its type continues, whatever lies between them in the text.
pub fn decode_mentions(tags: &[(Range<usize>, &str)], scheme: LabelScheme) -> Vec<EntityMention> {
    let mut mentions: Vec<EntityMention> = Vec::new();
    let mut open: Option<EntityMention> = None;
    for (span, tag) in tags {
        let (prefix, kind) = tag.split_once('-').unwrap_or(("O", ""));
        let continues = matches!(prefix, "I" | "E")
            && open.as_ref().is_some_and(|mention| mention.label == kind);
        if continues {
            if let Some(mention) = open.as_mut() {
                mention.span.end = span.end;
            }
        } else {
            mentions.extend(open.take());
            if prefix != "O" {
                open = Some(EntityMention {
                    span: span.clone(),
                    label: kind.to_string(),
                });
            }
        }
        let closes = matches!(prefix, "S" | "E") && scheme == LabelScheme::Bioes;
        if closes {
            mentions.extend(open.take());
        }
    }
    mentions.extend(open);
    mentions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Range<usize>> {
        let mut spans = Vec::new();
        let mut start = None;
        for (at, c) in text.char_indices().chain([(text.len(), ' ')]) {
            match (start, c == ' ') {
                (None, false) => start = Some(at),
                (Some(begin), true) => {
                    spans.push(begin..at);
                    start = None;
                }
                _ => {}
            }
        }
        spans
    }

    fn mentions_of(text: &str, tags: &str, scheme: LabelScheme) -> Vec<(String, String)> {
        let spans = words(text);
        let tags: Vec<&str> = tags.split(' ').collect();
        assert_eq!(spans.len(), tags.len());
        let tagged: Vec<(Range<usize>, &str)> = spans.into_iter().zip(tags).collect();
        decode_mentions(&tagged, scheme)
            .into_iter()
            .map(|mention| (text[mention.span].to_string(), mention.label))
            .collect()
    }

    #[test]
    fn bio_and_bioes_tags_become_mentions() {
        // (text, tags, scheme, mentions as "text|label" joined by ";")
        let cases = [
            (
                "familial breast cancer in mice",
                "O B-Disease I-Disease O O",
                LabelScheme::Bio,
                "breast cancer|Disease",
            ),
            (
                "colon cancer and APC",
                "B-Disease I-Disease O B-Gene",
                LabelScheme::Bio,
                "colon cancer|Disease;APC|Gene",
            ),
            // I- after O, or after another type, begins a mention (as seqeval reads it).
            (
                "a tumour of skin",
                "O I-Disease O B-Disease",
                LabelScheme::Bio,
                "tumour|Disease;skin|Disease",
            ),
            (
                "BRCA1 breast cancer",
                "B-Gene I-Disease I-Disease",
                LabelScheme::Bio,
                "BRCA1|Gene;breast cancer|Disease",
            ),
            // Two B- in a row are two mentions.
            (
                "ataxia telangiectasia",
                "B-Disease B-Disease",
                LabelScheme::Bio,
                "ataxia|Disease;telangiectasia|Disease",
            ),
            (
                "gout and Wilms tumour",
                "S-Disease O B-Disease E-Disease",
                LabelScheme::Bioes,
                "gout|Disease;Wilms tumour|Disease",
            ),
            // An E- closes: the I- after it begins again.
            (
                "Wilms tumour recurrence",
                "B-Disease E-Disease I-Disease",
                LabelScheme::Bioes,
                "Wilms tumour|Disease;recurrence|Disease",
            ),
            ("nothing here", "O O", LabelScheme::Bio, ""),
            (
                "ends with cancer",
                "O O B-Disease",
                LabelScheme::Bio,
                "cancer|Disease",
            ),
        ];
        for (text, tags, scheme, expected) in cases {
            let got: Vec<String> = mentions_of(text, tags, scheme)
                .into_iter()
                .map(|(text, label)| format!("{text}|{label}"))
                .collect();
            assert_eq!(got.join(";"), expected, "{text} / {tags}");
        }
    }

    #[test]
    fn label_sets_name_their_scheme_or_are_refused() {
        let labels = |names: &[&str]| {
            names
                .iter()
                .map(|name| name.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            scheme_of(&labels(&["O", "B-Disease", "I-Disease"])),
            Some(LabelScheme::Bio)
        );
        assert_eq!(
            scheme_of(&labels(&["O", "B-X", "I-X", "E-X", "S-X"])),
            Some(LabelScheme::Bioes)
        );
        assert_eq!(scheme_of(&labels(&["O", "Disease"])), None);
        assert_eq!(scheme_of(&labels(&["O", "B-"])), None);
        assert_eq!(scheme_of(&labels(&["LABEL_0", "LABEL_1"])), None);
    }

    #[test]
    fn a_head_saved_loads_the_same_and_bad_heads_say_what_is_wrong() {
        let directory = tempfile::tempdir().unwrap();
        let labels = vec![
            "O".to_string(),
            "B-Disease".to_string(),
            "I-Disease".to_string(),
        ];
        let head = EntityHead::new(
            labels.clone(),
            (0..12).map(|v| v as f32 / 10.0).collect(),
            vec![0.1, 0.2, 0.3],
        )
        .unwrap();
        head.save(directory.path()).unwrap();
        let loaded = EntityHead::load(directory.path()).unwrap();
        assert_eq!(loaded.labels(), labels);
        assert_eq!(loaded.hidden_size(), 4);
        assert_eq!(
            loaded.scores(&[1.0, 0.0, 0.0, 1.0]),
            head.scores(&[1.0, 0.0, 0.0, 1.0])
        );
        assert!(loaded.check_encoder(4, "head").is_ok());
        assert!(loaded
            .check_encoder(128, "head")
            .unwrap_err()
            .to_string()
            .contains("hidden states of 4 values, the encoder gives 128"));

        let config = directory.path().join("config.json");
        std::fs::write(&config, r#"{"id2label": {"0": "O", "1": "Disease"}}"#).unwrap();
        let error = EntityHead::load(directory.path()).unwrap_err().to_string();
        assert!(
            error.contains("config.json") && error.contains("id2label"),
            "{error}"
        );
        std::fs::write(&config, r#"{"architectures": ["BertForMaskedLM"]}"#).unwrap();
        let error = EntityHead::load(directory.path()).unwrap_err().to_string();
        assert!(error.contains("no `id2label`"), "{error}");
        std::fs::remove_file(directory.path().join("model.safetensors")).unwrap();
        std::fs::write(
            &config,
            r#"{"id2label": {"0": "O", "1": "B-X", "2": "I-X"}}"#,
        )
        .unwrap();
        let error = EntityHead::load(directory.path()).unwrap_err().to_string();
        assert!(error.contains("model.safetensors"), "{error}");
    }
}
