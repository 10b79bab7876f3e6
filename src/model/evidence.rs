//! Evidence for a prediction: which words of the context make the model expect a word in a slot,
//! by attention (read from the forward pass that scores the slot), attention rollout, or
//! occlusion (each context word masked in turn).
//!
//! The slot holds the candidate's k pieces as k `[MASK]`s; the candidate's score in a row is the
//! sum of its pieces' log-probabilities, each at its own masked position (exact for one piece,
//! the independent-pieces score of `fill` for several). Evidence is given for whole words, never
//! pieces, and only for content words: function words ("of", "the") carry syntax, not the
//! meaning a writer is asked to trust.

use std::ops::Range;

use candle_core::{IndexOp, Tensor};

use super::api::{BatchAnswers, EvidenceMethod, EvidenceWord, ExplainRequest, Explanation};
use super::fill::{compute_error, ModelRunner};
use super::ModelError;

/// Words never offered as evidence (lowercase).
const FUNCTION_WORDS: [&str; 48] = [
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "from", "by", "with", "without", "as",
    "and", "or", "but", "nor", "is", "are", "was", "were", "be", "been", "being", "has", "have",
    "had", "this", "that", "these", "those", "it", "its", "their", "which", "who", "whom", "than",
    "then", "there", "into", "onto", "not", "no", "we", "our", "via",
];

/// Rows of one attention pass at most (each row is one slot's base row).
const ATTENTION_ROWS_PER_PASS: usize = 16;

/// A context word: where it is in the request's text and in the slot's row.
struct ContextWord {
    range: Range<usize>,
    word: String,
    /// Positions of its pieces in the row.
    positions: Vec<usize>,
}

/// A slot ready for the model: its row with the candidate's pieces masked, and the context words
/// the row holds.
struct PreparedSlot {
    row: Vec<u32>,
    /// Row positions of the candidate's pieces (masked).
    slot_positions: Vec<usize>,
    pieces: Vec<u32>,
    words: Vec<ContextWord>,
}

fn is_content_word(word: &str) -> bool {
    word.chars().any(char::is_alphabetic) && !FUNCTION_WORDS.contains(&word.to_lowercase().as_str())
}

impl ModelRunner {
    fn prepare_slot(&self, request: &ExplainRequest) -> Result<PreparedSlot, ModelError> {
        let text = &request.text;
        if request.slot.start >= request.slot.end
            || request.slot.end > text.len()
            || !text.is_char_boundary(request.slot.start)
            || !text.is_char_boundary(request.slot.end)
        {
            return Err(ModelError::Compute(format!(
                "slot {:?} is not a non-empty range of whole characters in a text of {} bytes",
                request.slot,
                text.len()
            )));
        }
        let pieces = self.tokenizer.word_pieces(request.candidate.trim())?;
        if pieces.is_empty() || pieces.len() > 8 {
            return Err(ModelError::Compute(format!(
                "candidate {:?} has {} vocabulary pieces; evidence needs 1 to 8",
                request.candidate,
                pieces.len()
            )));
        }
        let (ids, offsets) = self.tokenizer.encode_with_offsets(text)?;
        let window = if request.context_tokens == 0 {
            self.max_context_tokens
        } else {
            request.context_tokens
        };
        let context = self.slot_context_in(&ids, &offsets, &request.slot, pieces.len(), window);
        let mask = self.tokenizer.special.mask;
        let (row, middle_start) = self.row(&context, &vec![mask; pieces.len()]);
        // Row position of each token of the text that the window kept.
        let left_end = context.left_from + context.left.len();
        let right_end = context.right_from + context.right.len();
        let row_position = |token: usize| {
            if (context.left_from..left_end).contains(&token) {
                Some(1 + token - context.left_from)
            } else if (context.right_from..right_end).contains(&token) {
                Some(middle_start + pieces.len() + token - context.right_from)
            } else {
                None
            }
        };
        let skipped = |range: &Range<usize>| {
            request
                .skip
                .iter()
                .any(|skip| skip.start < range.end && range.start < skip.end)
        };
        let mut words = Vec::new();
        for word in self.tokenizer.words(text)? {
            let range = word.start..word.end;
            let overlaps_slot = range.start < request.slot.end && request.slot.start < range.end;
            if overlaps_slot || skipped(&range) || !is_content_word(&word.text) {
                continue;
            }
            let tokens: Vec<usize> = offsets
                .iter()
                .enumerate()
                .filter(|(_, &(start, end))| start >= range.start && end <= range.end)
                .map(|(token, _)| token)
                .collect();
            let positions: Option<Vec<usize>> = tokens.iter().map(|&t| row_position(t)).collect();
            // A word cut by the window's edge is not in the context as a word.
            if let Some(positions) = positions.filter(|positions| !positions.is_empty()) {
                words.push(ContextWord {
                    range,
                    word: word.text,
                    positions,
                });
            }
        }
        if let Some(max_words) = request.max_words.filter(|&max| max < words.len()) {
            let distance = |word: &ContextWord| {
                if word.range.start >= request.slot.end {
                    word.range.start - request.slot.end
                } else {
                    request.slot.start.saturating_sub(word.range.end)
                }
            };
            let mut by_distance: Vec<usize> = (0..words.len()).collect();
            by_distance.sort_by_key(|&idx| distance(&words[idx]));
            let mut kept = vec![false; words.len()];
            for &idx in &by_distance[..max_words] {
                kept[idx] = true;
            }
            let mut kept = kept.into_iter();
            words.retain(|_| kept.next().unwrap_or(false));
        }
        Ok(PreparedSlot {
            slot_positions: (middle_start..middle_start + pieces.len()).collect(),
            row,
            pieces,
            words,
        })
    }

    /// The candidate's score in each of `rows` (variants of the slot's row): the sum of its
    /// pieces' log-probabilities at the slot's positions. Rows run together, in passes.
    fn candidate_scores(
        &self,
        slots: &[(&PreparedSlot, Vec<Vec<u32>>)],
        stop: &dyn Fn() -> bool,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut rows = Vec::new();
        let mut positions = Vec::new();
        for (slot, slot_rows) in slots {
            for row in slot_rows {
                let row_idx = rows.len();
                rows.push(row.clone());
                positions.extend(slot.slot_positions.iter().map(|&at| (row_idx, at)));
            }
        }
        let distributions = self.log_probabilities_until(&rows, &positions, stop)?;
        let mut scores = Vec::with_capacity(slots.len());
        let mut next = 0;
        for (slot, slot_rows) in slots {
            let mut slot_scores = Vec::with_capacity(slot_rows.len());
            for _ in slot_rows {
                let score = slot
                    .pieces
                    .iter()
                    .enumerate()
                    .map(|(piece_idx, &piece)| distributions[next + piece_idx][piece as usize])
                    .sum();
                next += slot.pieces.len();
                slot_scores.push(score);
            }
            scores.push(slot_scores);
        }
        Ok(scores)
    }

    /// Evidence for each request; requests run together (occlusion rows share passes, attention
    /// rows share passes).
    pub fn explain_batch(
        &self,
        requests: &[ExplainRequest],
    ) -> Result<BatchAnswers<Explanation>, ModelError> {
        let stop = || {
            !requests.is_empty()
                && requests
                    .iter()
                    .all(|request| request.cancel.as_ref().is_some_and(|c| c.is_cancelled()))
        };
        if stop() {
            return Err(ModelError::Cancelled);
        }
        let slots: Vec<PreparedSlot> = requests
            .iter()
            .map(|request| self.prepare_slot(request))
            .collect::<Result<_, _>>()?;
        // Occlusion: the slot's row, then one row per context word with that word masked.
        let mask = self.tokenizer.special.mask;
        let occlusion_rows: Vec<(&PreparedSlot, Vec<Vec<u32>>)> = slots
            .iter()
            .zip(requests)
            .filter(|(_, request)| request.method == EvidenceMethod::Occlusion)
            .map(|(slot, _)| {
                let mut rows = vec![slot.row.clone()];
                for word in &slot.words {
                    let mut row = slot.row.clone();
                    for &at in &word.positions {
                        row[at] = mask;
                    }
                    rows.push(row);
                }
                (slot, rows)
            })
            .collect();
        let mut occlusion_scores = self.candidate_scores(&occlusion_rows, &stop)?.into_iter();
        let attention_slots: Vec<&PreparedSlot> = slots
            .iter()
            .zip(requests)
            .filter(|(_, request)| request.method != EvidenceMethod::Occlusion)
            .map(|(slot, _)| slot)
            .collect();
        let mut attention = self.attention_rows(&attention_slots)?.into_iter();
        let mut rows = occlusion_rows.iter().map(|(_, rows)| rows.len()).sum();
        rows += attention_slots.len();

        let mut answers = Vec::with_capacity(requests.len());
        for (slot, request) in slots.iter().zip(requests) {
            let (base, raw): (f32, Vec<f32>) = match request.method {
                EvidenceMethod::Occlusion => {
                    let scores = occlusion_scores.next().unwrap_or_default();
                    let base = scores.first().copied().unwrap_or(f32::NEG_INFINITY);
                    (
                        base,
                        scores[1..].iter().map(|masked| base - masked).collect(),
                    )
                }
                method => {
                    let (base, layers) = attention.next().unwrap_or_default();
                    let weights = attention_weights(&layers, &slot.slot_positions, method);
                    let raw = slot
                        .words
                        .iter()
                        .map(|word| word.positions.iter().map(|&at| weights[at]).sum())
                        .collect();
                    (base, raw)
                }
            };
            answers.push(explanation(slot, base, raw));
        }
        Ok(BatchAnswers { answers, rows })
    }

    /// For each slot: the candidate's score in its row, and each layer's head-averaged attention
    /// of the row (`[layer][from][to]`).
    #[allow(clippy::type_complexity)]
    fn attention_rows(
        &self,
        slots: &[&PreparedSlot],
    ) -> Result<Vec<(f32, Vec<Vec<Vec<f32>>>)>, ModelError> {
        let mut results = Vec::with_capacity(slots.len());
        for group in slots.chunks(ATTENTION_ROWS_PER_PASS) {
            let rows: Vec<&[u32]> = group.iter().map(|slot| slot.row.as_slice()).collect();
            let positions: Vec<(usize, usize)> = group
                .iter()
                .enumerate()
                .flat_map(|(row, slot)| slot.slot_positions.iter().map(move |&at| (row, at)))
                .collect();
            let mut layers: Vec<Tensor> = Vec::new();
            let logits = self.forward_pass_capturing(&rows, &positions, Some(&mut layers))?;
            let vocab_len = self.tokenizer.vocab_len();
            let log_probabilities = logits
                .narrow(1, 0, vocab_len)
                .and_then(|logits| candle_nn::ops::log_softmax(&logits, 1))
                .and_then(|t| t.to_vec2::<f32>())
                .map_err(compute_error)?;
            let mut next = 0;
            for (row_idx, slot) in group.iter().enumerate() {
                let score = slot
                    .pieces
                    .iter()
                    .enumerate()
                    .map(|(piece_idx, &piece)| log_probabilities[next + piece_idx][piece as usize])
                    .sum();
                next += slot.pieces.len();
                let len = slot.row.len();
                let row_layers = layers
                    .iter()
                    .map(|layer| {
                        layer
                            .i(row_idx)
                            .and_then(|matrix| matrix.narrow(0, 0, len))
                            .and_then(|matrix| matrix.narrow(1, 0, len))
                            .and_then(|matrix| matrix.to_vec2::<f32>())
                            .map_err(compute_error)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                results.push((score, row_layers));
            }
        }
        Ok(results)
    }

    /// Evidence for one request.
    pub fn explain(&self, request: &ExplainRequest) -> Result<Explanation, ModelError> {
        let mut batch = self.explain_batch(std::slice::from_ref(request))?;
        batch
            .answers
            .pop()
            .ok_or_else(|| ModelError::Compute("no explanation came back".into()))
    }

    /// The candidate's log-probability in the request's slot with each set of context words
    /// masked (an empty set: only the slot), for the deletion test of evidence. A range that is
    /// not one of the context words of the window is an error.
    pub fn candidate_log_probability_masked(
        &self,
        request: &ExplainRequest,
        masked_sets: &[Vec<Range<usize>>],
    ) -> Result<Vec<f32>, ModelError> {
        let slot = self.prepare_slot(request)?;
        let mask = self.tokenizer.special.mask;
        let mut rows = Vec::with_capacity(masked_sets.len());
        for set in masked_sets {
            let mut row = slot.row.clone();
            for range in set {
                let word = slot
                    .words
                    .iter()
                    .find(|word| word.range == *range)
                    .ok_or_else(|| {
                        ModelError::Compute(format!(
                            "{range:?} is not a context word of the slot {:?}",
                            request.slot
                        ))
                    })?;
                for &at in &word.positions {
                    row[at] = mask;
                }
            }
            rows.push(row);
        }
        let mut scores = self.candidate_scores(&[(&slot, rows)], &|| false)?;
        Ok(scores.pop().unwrap_or_default())
    }
}

/// Attention each row position receives from the slot's positions: in the last third of the
/// layers averaged (`Attention`), or through all layers by rollout (`Rollout`).
fn attention_weights(
    layers: &[Vec<Vec<f32>>],
    slot_positions: &[usize],
    method: EvidenceMethod,
) -> Vec<f32> {
    let len = layers.first().map_or(0, Vec::len);
    let mut weights = vec![0.0f32; len];
    if layers.is_empty() || slot_positions.is_empty() {
        return weights;
    }
    let from_slot = |matrix: &[Vec<f32>], weights: &mut Vec<f32>, share: f32| {
        for &from in slot_positions {
            for (to, value) in matrix[from].iter().enumerate() {
                weights[to] += value * share;
            }
        }
    };
    match method {
        EvidenceMethod::Rollout => {
            // R = Π (A_l + I) / 2, applied from the first layer up.
            let mut rollout: Vec<Vec<f32>> = (0..len)
                .map(|row| (0..len).map(|col| f32::from(row == col)).collect())
                .collect();
            for layer in layers {
                let mixed: Vec<Vec<f32>> = (0..len)
                    .map(|row| {
                        (0..len)
                            .map(|col| 0.5 * layer[row][col] + 0.5 * f32::from(row == col))
                            .collect()
                    })
                    .collect();
                rollout = (0..len)
                    .map(|row| {
                        (0..len)
                            .map(|col| (0..len).map(|k| mixed[row][k] * rollout[k][col]).sum())
                            .collect()
                    })
                    .collect();
            }
            from_slot(&rollout, &mut weights, 1.0 / slot_positions.len() as f32);
        }
        _ => {
            let last = layers.len().div_ceil(3);
            let share = 1.0 / (last * slot_positions.len()) as f32;
            for layer in &layers[layers.len() - last..] {
                from_slot(layer, &mut weights, share);
            }
        }
    }
    weights
}

/// The words with their raw support and their share of the positive support, strongest first.
fn explanation(slot: &PreparedSlot, base: f32, raw: Vec<f32>) -> Explanation {
    let total: f32 = raw.iter().map(|value| value.max(0.0)).sum();
    let mut words: Vec<EvidenceWord> = slot
        .words
        .iter()
        .zip(raw)
        .map(|(word, raw)| EvidenceWord {
            range: word.range.clone(),
            word: word.word.clone(),
            weight: if total > 0.0 {
                raw.max(0.0) / total
            } else {
                0.0
            },
            raw,
        })
        .collect();
    words.sort_by(|a, b| b.raw.total_cmp(&a.raw));
    Explanation {
        words,
        candidate_log_probability: base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_words_and_punctuation_are_no_evidence() {
        assert!(is_content_word("troponin"));
        assert!(is_content_word("IL"));
        assert!(!is_content_word("The"));
        assert!(!is_content_word(","));
        assert!(!is_content_word("12"));
    }

    #[test]
    fn attention_of_the_last_layers_is_averaged_from_the_slot() {
        // Two layers (the last third is the last one), three positions, the slot at 1.
        let first = vec![vec![1.0, 0.0, 0.0]; 3];
        let last = vec![
            vec![1.0, 0.0, 0.0],
            vec![0.25, 0.25, 0.5],
            vec![0.0, 0.0, 1.0],
        ];
        let weights = attention_weights(&[first, last], &[1], EvidenceMethod::Attention);
        assert_eq!(weights, vec![0.25, 0.25, 0.5]);
    }

    #[test]
    fn rollout_keeps_each_row_a_distribution() {
        let layer = vec![
            vec![0.5, 0.5, 0.0],
            vec![0.0, 0.0, 1.0],
            vec![1.0, 0.0, 0.0],
        ];
        let weights = attention_weights(&[layer.clone(), layer], &[1], EvidenceMethod::Rollout);
        let sum: f32 = weights.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "{weights:?}");
        // Layer 1 mixes slot 1 into itself and 2; layer 2 spreads 2 onto 0.
        assert!(weights[0] > 0.0 && weights[2] > 0.0, "{weights:?}");
    }
}
