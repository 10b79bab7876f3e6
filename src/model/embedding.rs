//! Contextual embeddings of spans of text: the mean of the encoder's last layers over a span's
//! tokens, read in a window of context around it. The term-variant decision compares the mean
//! embedding of one form's occurrences with another's (`tumour`/`tumor` alike, `ileum`/`ilium`
//! not).

use std::ops::Range;

use candle_core::IndexOp;

use super::api::{all_cancelled, BatchAnswers};
use super::encoder::Encoder;
use super::fill::{compute_error, padded_batch, ModelRunner};
use super::remote::RemoteError;
use super::{CancelFlag, ModelError};

/// Layers averaged, counted from the last (the most contextual ones).
pub const EMBEDDING_LAYERS: usize = 4;
/// Tokens of a row besides `[CLS]` and `[SEP]`: the span and its context on both sides.
const EMBEDDING_ROW_TOKENS: usize = 96;
/// Rows that share one forward pass.
const EMBEDDING_ROWS_PER_PASS: usize = 16;

/// One span to embed: `span` is a byte range of whole characters of `text`. With `mask_span` the
/// span's tokens are replaced by one `[MASK]` and its embedding is taken there: what the context
/// says belongs in the slot, whatever the span's spelling.
#[derive(Clone, Debug)]
pub struct EmbedRequest {
    pub text: String,
    pub span: Range<usize>,
    pub mask_span: bool,
    pub cancel: Option<CancelFlag>,
}

/// A request made ready: its row and where the span's tokens are in it.
struct PreparedSpan {
    row: Vec<u32>,
    span_positions: Range<usize>,
}

impl ModelRunner {
    /// The embedding of each request's span (`hidden_size` values), in the order of the requests.
    /// The model must run in this process: an inference server returns no hidden states.
    pub fn embed_batch(
        &self,
        requests: &[EmbedRequest],
    ) -> Result<BatchAnswers<Vec<f32>>, ModelError> {
        let model = match &self.model {
            Encoder::Local(model) => model,
            Encoder::Remote(server) => {
                return Err(RemoteError::NoHiddenStates(server.url().into()).into())
            }
        };
        let prepared: Vec<PreparedSpan> = requests
            .iter()
            .map(|request| self.prepare_span(request))
            .collect::<Result<_, _>>()?;
        let all_cancelled = || all_cancelled(requests.iter().map(|request| &request.cancel));
        let layers = EMBEDDING_LAYERS.min(model.config().num_hidden_layers);
        let mut answers = Vec::with_capacity(requests.len());
        for group in prepared.chunks(EMBEDDING_ROWS_PER_PASS) {
            if all_cancelled() {
                return Err(ModelError::Cancelled);
            }
            let (input_ids, attention_mask) = padded_batch(
                group.iter().map(|span| span.row.as_slice()),
                self.tokenizer.special.pad,
                model.device(),
            )?;
            super::api::EngineCounters::add(&self.counters.forward_passes);
            let hidden = model
                .encode_mean_of_last_layers(&input_ids, &attention_mask, layers, &|| {
                    self.yield_now()
                })
                .map_err(compute_error)?;
            for (row_idx, span) in group.iter().enumerate() {
                let vector = hidden
                    .i(row_idx)
                    .and_then(|row| {
                        row.narrow(0, span.span_positions.start, span.span_positions.len())
                    })
                    .and_then(|tokens| tokens.mean(0))
                    .and_then(|mean| mean.to_dtype(candle_core::DType::F32))
                    .and_then(|mean| mean.to_vec1::<f32>())
                    .map_err(compute_error)?;
                answers.push(vector);
            }
        }
        Ok(BatchAnswers {
            answers,
            rows: prepared.len(),
        })
    }

    /// The row for a span: `[CLS]`, the span's tokens with as much context on each side as the
    /// row holds (centred on the span), `[SEP]`.
    fn prepare_span(&self, request: &EmbedRequest) -> Result<PreparedSpan, ModelError> {
        let text = &request.text;
        let span = &request.span;
        if span.start >= span.end
            || span.end > text.len()
            || !text.is_char_boundary(span.start)
            || !text.is_char_boundary(span.end)
        {
            return Err(ModelError::Compute(format!(
                "span {span:?} is not a non-empty range of whole characters in a text of {} bytes",
                text.len()
            )));
        }
        let (ids, offsets) = self.tokenizer.encode_with_offsets(text)?;
        let covers = |(start, end): &(usize, usize)| *start < span.end && span.start < *end;
        let Some(first) = offsets.iter().position(covers) else {
            return Err(ModelError::Compute(format!(
                "span {span:?} ({:?}) holds no token of the model's vocabulary",
                &text[span.clone()]
            )));
        };
        let last = offsets.iter().rposition(covers).unwrap_or(first);
        let row_tokens = EMBEDDING_ROW_TOKENS.min(
            self.model
                .config()
                .max_position_embeddings
                .saturating_sub(2),
        );
        let span_len = (last + 1 - first).min(row_tokens);
        let context = row_tokens - span_len;
        // Centred on the span, shifted where the text ends on one side.
        let mut from = first.saturating_sub(context / 2);
        let to = (from + row_tokens).min(ids.len());
        from = to.saturating_sub(row_tokens).min(from);
        let mut row = Vec::with_capacity(to - from + 2);
        row.push(self.tokenizer.special.cls);
        let start = 1 + first - from;
        if request.mask_span {
            row.extend_from_slice(&ids[from..first]);
            row.push(self.tokenizer.special.mask);
            row.extend_from_slice(&ids[(first + span_len).min(to)..to]);
            row.push(self.tokenizer.special.sep);
            return Ok(PreparedSpan {
                row,
                span_positions: start..start + 1,
            });
        }
        row.extend_from_slice(&ids[from..to]);
        row.push(self.tokenizer.special.sep);
        Ok(PreparedSpan {
            row,
            span_positions: start..start + span_len,
        })
    }
}

/// The cosine similarity of two vectors (0 when either is all zeros).
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator > 0.0 {
        dot / denominator
    } else {
        0.0
    }
}

/// The mean of several vectors of one length (empty for none).
pub fn mean_vector(vectors: &[Vec<f32>]) -> Vec<f32> {
    let Some(first) = vectors.first() else {
        return Vec::new();
    };
    let mut sum = vec![0.0f32; first.len()];
    for vector in vectors {
        for (total, value) in sum.iter_mut().zip(vector) {
            *total += value;
        }
    }
    let count = vectors.len() as f32;
    sum.iter_mut().for_each(|total| *total /= count);
    sum
}
