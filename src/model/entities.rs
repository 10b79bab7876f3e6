//! Named entities from a token-classification checkpoint (transformers'
//! `BertForTokenClassification`): the encoder's last layer at each word's first piece, a linear
//! layer to one score per label, BIO or BIOES labels decoded into mentions.
//!
//! A checkpoint is a directory in transformers' layout: `config.json` with `id2label`, a tokenizer,
//! and `model.safetensors` or `pytorch_model.bin` holding the encoder (`bert.*`) and
//! `classifier.weight` (`[labels, hidden]`) and `classifier.bias`. When its encoder is the
//! fill-mask model's, tensor for tensor, the tagger runs on that encoder; otherwise on its own.
//! `scripts/train_entity_model.py` makes the bundled one (the mini model fine-tuned on
//! NCBI-disease).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, IndexOp};

use super::api::{all_cancelled, BatchAnswers, CancelFlag, EngineCounters};
use super::bert::BertModel;
use super::config::BertConfig;
use super::encoder::Encoder;
use super::fill::{compute_error, padded_batch, ModelRunner};
use super::remote::RemoteError;
use super::tokenizer::WordTokenizer;
use super::weights::WeightFile;
use super::ModelError;

/// Rows of one forward pass at most.
const ROWS_PER_PASS: usize = 16;

/// How a head's labels mark a mention's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelScheme {
    /// `B-X` begins, `I-X` continues, `O` is outside.
    Bio,
    /// BIO with `S-X` for a one-word mention and `E-X` for the last word of a longer one.
    Bioes,
}

/// A linear token-classification head (`classifier`).
#[derive(Debug)]
pub struct EntityHead {
    labels: Vec<String>,
    scheme: LabelScheme,
    hidden_size: usize,
    /// `[labels][hidden]`, row-major.
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// Why a token-classification checkpoint cannot be used.
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
}

impl EntityHead {
    fn new(labels: Vec<String>, weight: Vec<f32>, bias: Vec<f32>) -> Result<Self, String> {
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

    /// The head of a checkpoint: the labels of its `config.json` (`config_text`, read from
    /// `config_path`) and the `classifier` tensors of its weights.
    pub fn from_checkpoint(
        config_text: &str,
        config_path: &Path,
        weights: &WeightFile,
        hidden_size: usize,
    ) -> Result<Self, EntityHeadError> {
        let file_error = |path: &Path, message: String| EntityHeadError::File {
            path: path.display().to_string(),
            message,
        };
        let config: serde_json::Value = serde_json::from_str(config_text)
            .map_err(|error| file_error(config_path, error.to_string()))?;
        let id2label = config["id2label"].as_object().ok_or_else(|| {
            file_error(
                config_path,
                "no `id2label`: not a token-classification checkpoint (its config names its labels)"
                    .into(),
            )
        })?;
        let mut by_id = BTreeMap::new();
        for (id, label) in id2label {
            let id: usize = id.parse().map_err(|_| {
                file_error(
                    config_path,
                    format!("`id2label` key {id:?} is not a number"),
                )
            })?;
            let label = label
                .as_str()
                .ok_or_else(|| file_error(config_path, format!("label {id} is not a string")))?;
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
        let weights_path = weights.path();
        let tensor = |name: &str, shape: &[usize]| {
            weights
                .load(name, shape, DType::F32, &Device::Cpu)
                .map_err(|error| file_error(&weights_path, error.to_string()))?
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|error| file_error(&weights_path, error.to_string()))
        };
        let weight = tensor("classifier.weight", &[labels.len(), hidden_size])?;
        let bias = tensor("classifier.bias", &[labels.len()])?;
        Self::new(labels, weight, bias).map_err(|message| file_error(&weights_path, message))
    }

    /// The entity types the head tells apart (`Disease`, `Chemical`), in label order.
    pub fn entity_types(&self) -> Vec<String> {
        let mut types: Vec<String> = Vec::new();
        for label in &self.labels {
            if let Some((_, kind)) = label.split_once('-') {
                if !types.iter().any(|known| known == kind) {
                    types.push(kind.to_string());
                }
            }
        }
        types
    }

    /// The score of each label for one hidden state.
    pub fn scores(&self, state: &[f32]) -> Vec<f32> {
        self.weight
            .chunks_exact(self.hidden_size)
            .zip(&self.bias)
            .map(|(row, bias)| row.iter().zip(state).map(|(w, x)| w * x).sum::<f32>() + bias)
            .collect()
    }

    /// The mentions in words (byte ranges of a text) labelled `labels` (indices into
    /// [`Self::labels`]).
    pub fn mentions(&self, words: &[Range<usize>], labels: &[usize]) -> Vec<EntityMention> {
        let tags: Vec<(Range<usize>, &str)> = words
            .iter()
            .zip(labels)
            .map(|(word, &label)| (word.clone(), self.labels[label].as_str()))
            .collect();
        decode_mentions(&tags, self.scheme)
    }
}

/// A token-classification checkpoint ready to tag text.
pub struct EntityTagger {
    /// What the checkpoint is, for status reports (`bundled disease tagger`, a repo id).
    pub name: String,
    /// `None`: the checkpoint's encoder is the fill-mask model's, and the tagger runs on it.
    own_encoder: Option<BertModel>,
    tokenizer: Arc<WordTokenizer>,
    head: EntityHead,
}

/// The fill-mask model's files, for telling whether a checkpoint's encoder is the same.
pub struct SharedEncoderCandidate<'a> {
    pub weights: &'a WeightFile,
    pub config: &'a BertConfig,
    pub tokenizer: &'a Arc<WordTokenizer>,
}

impl EntityTagger {
    /// The tagger of a checkpoint, its encoder loaded like the fill-mask model's (`dtype` on
    /// `device`, at `precision`) unless `fill_mask`'s encoder is the same, tensor for tensor, with
    /// the same vocabulary.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        name: String,
        config_text: &str,
        config_path: &Path,
        weights: &WeightFile,
        tokenizer: WordTokenizer,
        fill_mask: Option<SharedEncoderCandidate>,
        dtype: DType,
        device: &Device,
        precision: super::device::Precision,
    ) -> Result<Self, ModelError> {
        let config = BertConfig::from_json(config_text).map_err(|problem| ModelError::BadFile {
            path: config_path.to_path_buf(),
            problem,
        })?;
        let head =
            EntityHead::from_checkpoint(config_text, config_path, weights, config.hidden_size)?;
        let shared = match &fill_mask {
            Some(candidate) => {
                candidate.tokenizer.vocab_len() == tokenizer.vocab_len()
                    && same_encoder(candidate.weights, candidate.config, weights, &config)?
            }
            None => false,
        };
        let (own_encoder, tokenizer) = match fill_mask {
            Some(candidate) if shared => (None, candidate.tokenizer.clone()),
            _ => (
                Some(BertModel::load(weights, &config, dtype, device, precision)?),
                Arc::new(tokenizer),
            ),
        };
        Ok(Self {
            name,
            own_encoder,
            tokenizer,
            head,
        })
    }

    /// Whether the tagger runs on the fill-mask model's encoder.
    pub fn shares_encoder(&self) -> bool {
        self.own_encoder.is_none()
    }

    pub fn head(&self) -> &EntityHead {
        &self.head
    }
}

/// Whether two checkpoints hold the same encoder: the same configuration and every `bert.*`
/// tensor of the same shape and values (the fill-mask head and the classifier aside).
fn same_encoder(
    a: &WeightFile,
    a_config: &BertConfig,
    b: &WeightFile,
    b_config: &BertConfig,
) -> Result<bool, ModelError> {
    if a_config.hidden_size != b_config.hidden_size
        || a_config.num_hidden_layers != b_config.num_hidden_layers
        || a_config.intermediate_size != b_config.intermediate_size
        || a_config.vocab_size != b_config.vocab_size
        || a_config.num_attention_heads != b_config.num_attention_heads
    {
        return Ok(false);
    }
    let encoder_names = |weights: &WeightFile| {
        let mut names: Vec<String> = weights
            .tensor_names()
            .into_iter()
            .filter(|name| name.starts_with("bert.") && !name.ends_with("position_ids"))
            .collect();
        names.sort();
        names
    };
    let names = encoder_names(a);
    if names.is_empty() || names != encoder_names(b) {
        return Ok(false);
    }
    for name in &names {
        if a.values(name)? != b.values(name)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A text to find mentions in (a sentence, a paragraph).
#[derive(Clone, Debug)]
pub struct EntityRequest {
    pub text: String,
    pub cancel: Option<CancelFlag>,
}

/// One row of a forward pass: which request, its pieces, and each word's byte range and first
/// piece's position.
struct EntityRow {
    request: usize,
    ids: Vec<u32>,
    words: Vec<(Range<usize>, usize)>,
}

/// A word of a text and the head's score for each label at its first piece.
#[derive(Clone, Debug, PartialEq)]
pub struct WordLabelScores {
    /// Byte range of the word in the request's text.
    pub span: Range<usize>,
    pub scores: Vec<f32>,
}

impl ModelRunner {
    /// The mentions in each request's text, in the order of the requests; several texts share a
    /// forward pass. An error when no entity checkpoint is loaded.
    pub fn entities(
        &self,
        requests: &[EntityRequest],
    ) -> Result<BatchAnswers<Vec<EntityMention>>, ModelError> {
        let scored = self.entity_word_scores(requests)?;
        let Some(tagger) = &self.entity_tagger else {
            return Err(ModelError::Compute("no entity model is loaded".into()));
        };
        let head = &tagger.head;
        Ok(BatchAnswers {
            answers: scored
                .answers
                .iter()
                .map(|words| {
                    let spans: Vec<Range<usize>> =
                        words.iter().map(|word| word.span.clone()).collect();
                    let labels: Vec<usize> =
                        words.iter().map(|word| best_label(&word.scores)).collect();
                    head.mentions(&spans, &labels)
                })
                .collect(),
            rows: scored.rows,
        })
    }

    /// Every word of each request's text with the head's label scores at its first piece (what
    /// [`Self::entities`] decodes; the parity tests compare it with transformers).
    pub fn entity_word_scores(
        &self,
        requests: &[EntityRequest],
    ) -> Result<BatchAnswers<Vec<WordLabelScores>>, ModelError> {
        let Some(tagger) = &self.entity_tagger else {
            return Err(ModelError::Compute("no entity model is loaded".into()));
        };
        let model = match (&tagger.own_encoder, &self.model) {
            (Some(model), _) | (None, Encoder::Local(model)) => model,
            (None, Encoder::Remote(server)) => {
                return Err(RemoteError::NoHiddenStates(server.url().into()).into())
            }
        };
        let pieces_per_row = model
            .config()
            .max_position_embeddings
            .saturating_sub(2)
            .clamp(1, 254);
        let mut rows = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            rows.extend(entity_rows(
                &tagger.tokenizer,
                index,
                &request.text,
                pieces_per_row,
            )?);
        }
        let all_cancelled = || all_cancelled(requests.iter().map(|request| &request.cancel));
        // Rows of similar length share a pass (less padding).
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&row| rows[row].ids.len());
        let mut scores: Vec<Vec<Vec<f32>>> = vec![Vec::new(); rows.len()];
        let special = &tagger.tokenizer.special;
        for group in order.chunks(ROWS_PER_PASS) {
            if all_cancelled() {
                return Err(ModelError::Cancelled);
            }
            let (input_ids, attention_mask) = padded_batch(
                group.iter().map(|&row| rows[row].ids.as_slice()),
                special.pad,
                model.device(),
            )?;
            EngineCounters::add(&self.counters.forward_passes);
            let hidden = model
                .encode_capturing(&input_ids, &attention_mask, None, None, &|| {
                    self.yield_now()
                })
                .and_then(|hidden| hidden.to_dtype(DType::F32))
                .map_err(compute_error)?;
            for (slot, &row) in group.iter().enumerate() {
                let states = hidden
                    .i(slot)
                    .and_then(|states| states.to_vec2::<f32>())
                    .map_err(compute_error)?;
                scores[row] = rows[row]
                    .words
                    .iter()
                    .map(|(_, position)| tagger.head.scores(&states[*position]))
                    .collect();
            }
        }
        let mut answers: Vec<Vec<WordLabelScores>> = vec![Vec::new(); requests.len()];
        for (row, row_scores) in rows.iter().zip(scores) {
            answers[row.request].extend(row.words.iter().zip(row_scores).map(
                |((span, _), scores)| WordLabelScores {
                    span: span.clone(),
                    scores,
                },
            ));
        }
        Ok(BatchAnswers {
            answers,
            rows: rows.len(),
        })
    }
}

/// The index of the highest score (the first of equals).
fn best_label(scores: &[f32]) -> usize {
    scores
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
}

/// The rows of one text: as many whole words as a row holds (a single over-long word is cut),
/// `[CLS]` and `[SEP]` around them.
fn entity_rows(
    tokenizer: &WordTokenizer,
    request: usize,
    text: &str,
    pieces_per_row: usize,
) -> Result<Vec<EntityRow>, ModelError> {
    let words = tokenizer.words(text)?;
    let mut rows = Vec::new();
    let mut start = 0;
    while start < words.len() {
        let mut end = start;
        let mut pieces = 0;
        while end < words.len() && (end == start || pieces + words[end].ids.len() <= pieces_per_row)
        {
            pieces += words[end].ids.len();
            end += 1;
        }
        let mut ids = vec![tokenizer.special.cls];
        let mut row_words = Vec::with_capacity(end - start);
        for word in &words[start..end] {
            if word.ids.is_empty() {
                continue;
            }
            row_words.push((word.start..word.end, ids.len().min(pieces_per_row)));
            ids.extend(word.ids.iter().copied());
        }
        ids.truncate(pieces_per_row + 1);
        ids.push(tokenizer.special.sep);
        rows.push(EntityRow {
            request,
            ids,
            words: row_words,
        });
        start = end;
    }
    Ok(rows)
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
}
