//! Fill-mask and word scoring on a loaded model: whole words from one or several WordPiece pieces.
//!
//! Scoring, documented here once:
//! - A word of one piece gets its softmax probability at a single `[MASK]`.
//! - A word of k pieces s_1..s_k gets PLL-word-l2r (Kauf & Ivanova, 2023):
//!   log P(word) = Σ_i log P(s_i | context, s_1..s_{i-1} written, s_i..s_k masked),
//!   i.e. k masked copies of the sentence, run as one batch. This is the chain rule for the pieces
//!   given that the word has k pieces; it is comparable with one-piece probabilities in practice.
//! - Fill proposes multi-piece words from a word list (words of k pieces, ranked on the k-mask
//!   copy by the sum of each piece's log-probability at its own position) and, when the request
//!   asks for it, rescores the best with PLL-word-l2r; otherwise that independent-pieces sum is
//!   the word's score (one forward pass in all, for interactive completion).
//! - Softmax is taken over the ids that have a token (the embedding matrix may be larger than the
//!   vocabulary, as BiomedBERT's is); ids without a token are never proposed.

use std::ops::Range;

use candle_core::{DType, Tensor};

use super::api::{
    all_cancelled, BatchAnswers, FillRequest, ScoreRequest, TokenProbability,
    TokenProbabilityRequest, WordPrediction, WordScore, WordToScore,
};
use super::encoder::Encoder;
use super::slot_fill::{is_word_start, piece_text, FillVocabulary, SlotDistributions};
use super::tokenizer::WordTokenizer;
use super::{EngineCounters, ModelError};

/// How many rows one forward pass takes at most (bounds memory on long requests).
const MAX_BATCH_ROWS: usize = 64;
/// Default for [`ModelRunner::max_batch_tokens`]. On a CPU a forward pass has a fixed cost (the
/// weights stream through the cache once per pass), so batching rows pays: BERT-base on 2 cores
/// takes ~2 ms per token for one 32-token row and ~1.2 ms per token for 256 tokens, while 256
/// tokens still take only ~0.3 s, the longest an interactive request waits behind a check.
const DEFAULT_MAX_BATCH_TOKENS: usize = 256;
/// [`ModelRunner::max_batch_tokens`] where no interactive request can wait (the `check` command):
/// ~1.0 ms per token for BERT-base on 2 cores.
pub const BATCH_TOKENS_WITHOUT_INTERACTIVE_WORK: usize = 512;

/// A loaded model with its tokenizer, ready to answer fill and score requests.
pub struct ModelRunner {
    /// Unique in the process: tells results of this model from those of a model loaded later.
    pub id: u64,
    pub model: Encoder,
    pub tokenizer: std::sync::Arc<WordTokenizer>,
    /// Tokens of context kept around the slot (without `[CLS]`/`[SEP]`), at most the model's maximum.
    pub max_context_tokens: usize,
    /// What choosing whole words from a slot's distributions needs (shared with the engine
    /// handles, which answer cached slots off the model thread).
    pub vocabulary: std::sync::Arc<FillVocabulary>,
    /// Forward passes run and the like, for tests and benchmarks.
    pub counters: std::sync::Arc<EngineCounters>,
    /// Tokens (rows × padded length) of one forward pass at most; longer batches are split, rows
    /// of similar length together.
    pub max_batch_tokens: usize,
    /// Called between the layers of each forward pass while [`Self::allow_yield`] is on: the
    /// engine runs waiting interactive requests there, so that they do not wait for the whole of
    /// a long background request, nor for the whole of one of its passes.
    yield_point: Option<YieldPoint>,
    yield_allowed: std::sync::atomic::AtomicBool,
    /// The token-classification checkpoint that finds entity mentions, when one is loaded.
    pub entity_tagger: Option<super::entities::EntityTagger>,
}

/// What [`ModelRunner::for_each_pass`] calls with each pass's held positions and logits.
type PassHandler<'a> = dyn FnMut(&[usize], Tensor) -> Result<(), ModelError> + 'a;

/// See [`ModelRunner::set_yield_point`].
pub type YieldPoint = Box<dyn Fn(&ModelRunner) + Send + Sync>;

/// Lowercase word frequencies of the mini model's training text (PubMedQA abstracts and the NCBI
/// disease *train* split), made by `scripts/build_lexicon.py`; `word<TAB>count` per line. Fill uses
/// them to tell whole-word tokens from word beginnings, the terminology check's lexicon for word
/// frequencies.
pub const BUNDLED_CORPUS_WORDS: &str = include_str!("../../data/lexicon/corpus_words.tsv");

pub(super) fn compute_error(error: candle_core::Error) -> ModelError {
    ModelError::Compute(error.to_string())
}

/// The tokens of a text left and right of a byte range; tokens overlapping the range are dropped.
pub(super) struct SlotContext {
    pub(super) left: Vec<u32>,
    pub(super) right: Vec<u32>,
    /// Where `left` and `right` start among the text's tokens (indices into its encoding).
    pub(super) left_from: usize,
    pub(super) right_from: usize,
}

/// The window of a slot among a text's tokens: the tokens left and right of the byte range `slot`
/// (tokens overlapping it dropped), cut to `context_tokens` (at most `max_context_tokens`) less
/// the `slot_tokens` the slot will take, split evenly where both sides have enough.
pub(super) fn slot_window(
    ids: &[u32],
    offsets: &[(usize, usize)],
    slot: &Range<usize>,
    slot_tokens: usize,
    context_tokens: usize,
    max_context_tokens: usize,
) -> SlotContext {
    let mut left = Vec::new();
    let mut right = Vec::new();
    for (&id, &(start, end)) in ids.iter().zip(offsets) {
        if end <= slot.start {
            left.push(id);
        } else if start >= slot.end {
            right.push(id);
        }
    }
    // Keep a window around the slot: long texts only lend their neighbourhood.
    let budget = context_tokens
        .min(max_context_tokens)
        .saturating_sub(slot_tokens);
    let mut left_budget = budget / 2;
    let mut right_budget = budget - left_budget;
    if left.len() < left_budget {
        right_budget += left_budget - left.len();
        left_budget = left.len();
    } else if right.len() < right_budget {
        left_budget += right_budget - right.len();
    }
    let left_from = left.len().saturating_sub(left_budget);
    let right_from = ids.len() - right.len();
    let left = left[left_from..].to_vec();
    right.truncate(right_budget);
    SlotContext {
        left,
        right,
        left_from,
        right_from,
    }
}

/// One row: `[CLS] left middle right [SEP]`; returns the row and the index where `middle` starts.
pub(super) fn slot_row(
    context: &SlotContext,
    middle: &[u32],
    cls: u32,
    sep: u32,
) -> (Vec<u32>, usize) {
    let mut row = Vec::with_capacity(context.left.len() + middle.len() + context.right.len() + 2);
    row.push(cls);
    row.extend_from_slice(&context.left);
    let middle_start = row.len();
    row.extend_from_slice(middle);
    row.extend_from_slice(&context.right);
    row.push(sep);
    (row, middle_start)
}

/// A batch of rows for the encoder: `input_ids` padded with `pad` to the longest row and the
/// attention mask (1 for a row's tokens, 0 for padding), both `[rows, longest]`.
pub(super) fn padded_batch<'a>(
    rows: impl ExactSizeIterator<Item = &'a [u32]> + Clone,
    pad: u32,
    device: &candle_core::Device,
) -> Result<(Tensor, Tensor), ModelError> {
    let count = rows.len();
    let max_len = rows.clone().map(<[u32]>::len).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(count * max_len);
    let mut mask = Vec::with_capacity(count * max_len);
    for row in rows {
        let padding = max_len - row.len();
        ids.extend_from_slice(row);
        ids.extend(std::iter::repeat_n(pad, padding));
        mask.extend(std::iter::repeat_n(1u32, row.len()));
        mask.extend(std::iter::repeat_n(0u32, padding));
    }
    let input_ids = Tensor::from_vec(ids, (count, max_len), device).map_err(compute_error)?;
    let attention_mask = Tensor::from_vec(mask, (count, max_len), device).map_err(compute_error)?;
    Ok((input_ids, attention_mask))
}

impl ModelRunner {
    pub fn new(
        model: impl Into<Encoder>,
        tokenizer: std::sync::Arc<WordTokenizer>,
    ) -> Result<Self, ModelError> {
        let model = model.into();
        let embedding_rows = model.config().vocab_size;
        if tokenizer.vocab_len() > embedding_rows {
            return Err(ModelError::VocabularyMismatch {
                model: "the model".into(),
                problem: format!(
                    "the vocabulary has {} tokens but the embedding matrix only {embedding_rows} rows",
                    tokenizer.vocab_len()
                ),
            });
        }
        // The neighbourhood of a word decides what fits there; 64 tokens keep a BERT-base forward
        // pass on a CPU near 100 ms.
        let max_context_tokens = 64.min(model.config().max_position_embeddings.saturating_sub(2));
        static NEXT_MODEL_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let vocabulary =
            FillVocabulary::new(tokenizer.clone(), max_context_tokens, BUNDLED_CORPUS_WORDS)?;
        Ok(Self {
            id: NEXT_MODEL_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            model,
            tokenizer,
            max_context_tokens,
            vocabulary: std::sync::Arc::new(vocabulary),
            counters: Default::default(),
            max_batch_tokens: DEFAULT_MAX_BATCH_TOKENS,
            yield_point: None,
            yield_allowed: std::sync::atomic::AtomicBool::new(false),
            entity_tagger: None,
        })
    }

    fn slot_context(
        &self,
        text: &str,
        slot: &Range<usize>,
        slot_tokens: usize,
    ) -> Result<SlotContext, ModelError> {
        self.slot_context_within(text, slot, slot_tokens, self.max_context_tokens)
    }

    /// The context window a score request asks for (0: the default).
    fn score_window(&self, request: &ScoreRequest) -> usize {
        if request.context_tokens == 0 {
            self.max_context_tokens
        } else {
            request.context_tokens
        }
    }

    fn slot_context_within(
        &self,
        text: &str,
        slot: &Range<usize>,
        slot_tokens: usize,
        context_tokens: usize,
    ) -> Result<SlotContext, ModelError> {
        let (ids, offsets) = self.tokenizer.encode_with_offsets(text)?;
        Ok(self.slot_context_in(&ids, &offsets, slot, slot_tokens, context_tokens))
    }

    /// [`Self::slot_context_within`] on a text already encoded.
    pub(super) fn slot_context_in(
        &self,
        ids: &[u32],
        offsets: &[(usize, usize)],
        slot: &Range<usize>,
        slot_tokens: usize,
        context_tokens: usize,
    ) -> SlotContext {
        slot_window(
            ids,
            offsets,
            slot,
            slot_tokens,
            context_tokens,
            self.max_context_tokens,
        )
    }

    /// One row: `[CLS] left middle right [SEP]`; returns the row and the index where `middle` starts.
    pub(super) fn row(&self, context: &SlotContext, middle: &[u32]) -> (Vec<u32>, usize) {
        let special = &self.tokenizer.special;
        slot_row(context, middle, special.cls, special.sep)
    }

    /// Sets the function run between the forward passes of a split batch (see
    /// [`Self::allow_yield`]). It is never re-entered: forward passes it starts do not yield.
    pub fn set_yield_point(&mut self, yield_point: YieldPoint) {
        self.yield_point = Some(yield_point);
    }

    /// Turns the yield point on (for a background request) or off.
    pub fn allow_yield(&self, allowed: bool) {
        self.yield_allowed
            .store(allowed, std::sync::atomic::Ordering::Relaxed);
    }

    pub(super) fn yield_now(&self) {
        use std::sync::atomic::Ordering;
        if let Some(yield_point) = &self.yield_point {
            if self.yield_allowed.swap(false, Ordering::Relaxed) {
                yield_point(self);
                self.yield_allowed.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Log-probabilities over the tokens of the vocabulary at `(row, token_idx)` positions.
    pub fn log_probabilities_at(
        &self,
        rows: &[Vec<u32>],
        positions: &[(usize, usize)],
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        self.log_probabilities_until(rows, positions, &|| false)
    }

    /// [`Self::log_probabilities_at`], given up with [`ModelError::Cancelled`] when `stop()` says
    /// so between two forward passes.
    pub(super) fn log_probabilities_until(
        &self,
        rows: &[Vec<u32>],
        positions: &[(usize, usize)],
        stop: &dyn Fn() -> bool,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut result = vec![Vec::new(); positions.len()];
        let vocab_len = self.tokenizer.vocab_len();
        self.for_each_pass(rows, positions, stop, &mut |held, logits| {
            let values = logits
                .narrow(1, 0, vocab_len)
                .and_then(|logits| candle_nn::ops::log_softmax(&logits, 1))
                .and_then(|t| t.to_dtype(DType::F32))
                .and_then(|t| t.to_vec2::<f32>())
                .map_err(compute_error)?;
            for (&position, values) in held.iter().zip(values) {
                result[position] = values;
            }
            Ok(())
        })?;
        Ok(result)
    }

    /// Raw logits `[positions, vocab_size]` for a batch of rows, in the order of `positions`.
    /// Rows run in forward passes of at most [`Self::max_batch_tokens`] tokens, rows of similar
    /// length together (each pass pads its rows with `[PAD]` to its longest).
    pub fn logits(
        &self,
        rows: &[Vec<u32>],
        positions: &[(usize, usize)],
    ) -> Result<Tensor, ModelError> {
        let mut outputs = Vec::new();
        let mut output_order: Vec<u32> = Vec::with_capacity(positions.len());
        self.for_each_pass(rows, positions, &|| false, &mut |held, logits| {
            output_order.extend(held.iter().map(|&position| position as u32));
            outputs.push(logits);
            Ok(())
        })?;
        let logits = match outputs.len() {
            0 => {
                return Err(ModelError::Compute(
                    "a forward pass was asked for no position".into(),
                ))
            }
            1 => outputs.remove(0),
            _ => Tensor::cat(&outputs, 0).map_err(compute_error)?,
        };
        if output_order
            .iter()
            .enumerate()
            .all(|(idx, &at)| idx == at as usize)
        {
            return Ok(logits);
        }
        // Back to the order of `positions`.
        let mut inverse = vec![0u32; positions.len()];
        for (output_idx, &position_idx) in output_order.iter().enumerate() {
            inverse[position_idx as usize] = output_idx as u32;
        }
        let inverse = Tensor::new(inverse.as_slice(), logits.device()).map_err(compute_error)?;
        logits.index_select(&inverse, 0).map_err(compute_error)
    }

    /// Runs `rows` in forward passes of at most [`Self::max_batch_tokens`] tokens (rows sorted by
    /// length) and hands each pass's logits `[held positions, vocab_size]` to `each_pass`, with
    /// the indices into `positions` it holds. Work on the logits is done pass by pass, so memory
    /// stays bounded by one pass whatever the batch. Between passes
    /// `stop()` ends the work with [`ModelError::Cancelled`].
    fn for_each_pass(
        &self,
        rows: &[Vec<u32>],
        positions: &[(usize, usize)],
        stop: &dyn Fn() -> bool,
        each_pass: &mut PassHandler,
    ) -> Result<(), ModelError> {
        let limit = self.model.config().max_position_embeddings;
        if let Some(longest) = rows.iter().map(Vec::len).max().filter(|&len| len > limit) {
            return Err(ModelError::Compute(format!(
                "a sequence of {longest} tokens exceeds the model's {limit}"
            )));
        }
        if let Some(&(row, _)) = positions.iter().find(|(row, _)| *row >= rows.len()) {
            return Err(ModelError::Compute(format!(
                "a position names row {row} of a batch of {} rows",
                rows.len()
            )));
        }
        // Passes: rows sorted by length, cut where the padded size would exceed the budget.
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&row| rows[row].len());
        let mut passes: Vec<Vec<usize>> = Vec::new();
        let mut current: Vec<usize> = Vec::new();
        for row in order {
            let padded = (current.len() + 1) * rows[row].len();
            if !current.is_empty()
                && (padded > self.max_batch_tokens || current.len() == MAX_BATCH_ROWS)
            {
                passes.push(std::mem::take(&mut current));
            }
            current.push(row);
        }
        if !current.is_empty() {
            passes.push(current);
        }
        let mut row_place = vec![(0usize, 0usize); rows.len()]; // (pass, row within the pass)
        for (pass_idx, pass) in passes.iter().enumerate() {
            for (local, &row) in pass.iter().enumerate() {
                row_place[row] = (pass_idx, local);
            }
        }
        let mut held_by_pass: Vec<Vec<usize>> = vec![Vec::new(); passes.len()];
        for (position_idx, &(row, _)) in positions.iter().enumerate() {
            held_by_pass[row_place[row].0].push(position_idx);
        }
        let mut ran_a_pass = false;
        for (pass, held) in passes.iter().zip(&held_by_pass) {
            if held.is_empty() {
                continue;
            }
            if ran_a_pass && stop() {
                return Err(ModelError::Cancelled);
            }
            let pass_rows: Vec<&[u32]> = pass.iter().map(|&row| rows[row].as_slice()).collect();
            let pass_positions: Vec<(usize, usize)> = held
                .iter()
                .map(|&position| {
                    let (row, token_idx) = positions[position];
                    (row_place[row].1, token_idx)
                })
                .collect();
            each_pass(held, self.forward_pass(&pass_rows, &pass_positions)?)?;
            ran_a_pass = true;
        }
        Ok(())
    }

    /// One forward pass over rows padded with `[PAD]` to the longest.
    fn forward_pass(
        &self,
        rows: &[&[u32]],
        positions: &[(usize, usize)],
    ) -> Result<Tensor, ModelError> {
        self.forward_pass_capturing(rows, positions, None)
    }

    /// [`Self::forward_pass`], handing each layer's head-averaged attention `[rows, seq, seq]` to
    /// `attention` when given.
    pub(super) fn forward_pass_capturing(
        &self,
        rows: &[&[u32]],
        positions: &[(usize, usize)],
        attention: Option<&mut Vec<Tensor>>,
    ) -> Result<Tensor, ModelError> {
        let model = match &self.model {
            Encoder::Local(model) => model,
            Encoder::Remote(server) => {
                if attention.is_some() {
                    return Err(super::remote::RemoteError::NoAttention(server.url().into()).into());
                }
                // Waiting interactive requests go first: a pass on the server cannot be split.
                self.yield_now();
                EngineCounters::add(&self.counters.forward_passes);
                let values =
                    server.log_probabilities(rows, positions, self.tokenizer.special.pad)?;
                let vocab_size = server.config().vocab_size;
                return Tensor::from_vec(
                    values,
                    (positions.len(), vocab_size),
                    &candle_core::Device::Cpu,
                )
                .map_err(compute_error);
            }
        };
        let (input_ids, attention_mask) = padded_batch(
            rows.iter().copied(),
            self.tokenizer.special.pad,
            model.device(),
        )?;
        EngineCounters::add(&self.counters.forward_passes);
        // Between the layers of a background pass, waiting interactive requests run: a keystroke
        // waits for one layer of a long pass, not for the whole pass.
        model
            .logits_and_attention_at(&input_ids, &attention_mask, positions, attention, &|| {
                self.yield_now()
            })
            .map_err(compute_error)
    }

    fn is_word_start(&self, id: u32) -> bool {
        is_word_start(&self.tokenizer, id)
    }

    fn piece_text(&self, id: u32) -> &str {
        piece_text(&self.tokenizer, id)
    }

    /// Whole words for one slot. See the module documentation for the scoring.
    pub fn fill(&self, request: &FillRequest) -> Result<Vec<WordPrediction>, ModelError> {
        let distributions = self.slot_distributions(&self.vocabulary.slot_rows(request)?)?;
        let mut proposals = self.vocabulary.proposals(&distributions, request);
        if request.pll_rescoring {
            let multi_piece: Vec<usize> = (0..proposals.len())
                .filter(|&idx| proposals[idx].pieces.len() > 1)
                .collect();
            let pieces: Vec<Vec<u32>> = multi_piece
                .iter()
                .map(|&idx| proposals[idx].pieces.clone())
                .collect();
            let scores = self.score_pieces_l2r(&request.text, &request.slot, &pieces)?;
            for (idx, log_probability) in multi_piece.into_iter().zip(scores) {
                proposals[idx].log_probability = log_probability;
            }
        }
        Ok(self.vocabulary.predictions(proposals, request.top_k))
    }

    /// The distributions at the masks of a fill's rows (one forward pass).
    pub fn slot_distributions(
        &self,
        rows: &super::slot_fill::SlotRows,
    ) -> Result<SlotDistributions, ModelError> {
        Ok(std::sync::Arc::new(
            self.log_probabilities_at(&rows.rows, &rows.positions)?,
        ))
    }

    /// PLL-word-l2r of each piece sequence placed in the slot, all in one batch.
    fn score_pieces_l2r(
        &self,
        text: &str,
        slot: &Range<usize>,
        candidates: &[Vec<u32>],
    ) -> Result<Vec<f32>, ModelError> {
        let mut batch = L2rBatch::default();
        for pieces in candidates {
            let context = self.slot_context(text, slot, pieces.len())?;
            batch.add(self, &context, pieces, 0..pieces.len());
        }
        let (totals, _) = batch.run(self, &|| false)?;
        Ok(totals)
    }

    /// Scores words in their context, with single-token alternatives and optional candidates; all
    /// words of the request go through the model together.
    pub fn score(&self, request: &ScoreRequest) -> Result<Vec<WordScore>, ModelError> {
        let mut answers = self.score_batch(std::slice::from_ref(request))?.answers;
        Ok(answers.pop().unwrap_or_default())
    }

    /// [`Self::score`] for several requests (texts) through the model together.
    pub fn score_batch(
        &self,
        requests: &[ScoreRequest],
    ) -> Result<BatchAnswers<Vec<WordScore>>, ModelError> {
        struct Planned<'a> {
            word: &'a WordToScore,
            pieces: Vec<u32>,
            observed: usize,
            candidates: Vec<usize>,
            /// Where the single-token alternatives are read (when the request asks for them).
            alternatives_position: Option<usize>,
        }
        let mut batch = L2rBatch::default();
        let mut plans: Vec<Vec<Planned>> = Vec::with_capacity(requests.len());
        for request in requests {
            let (ids, offsets) = self.tokenizer.encode_with_offsets(&request.text)?;
            let window = self.score_window(request);
            let mut request_plans = Vec::with_capacity(request.words.len());
            for word in &request.words {
                let pieces: Vec<u32> = ids
                    .iter()
                    .zip(&offsets)
                    .filter(|(_, &(start, end))| start < word.range.end && end > word.range.start)
                    .map(|(&id, _)| id)
                    .collect();
                if pieces.is_empty() {
                    return Err(ModelError::Compute(format!(
                        "no token of the text lies in the word range {:?}",
                        word.range
                    )));
                }
                let observed = batch.add(
                    self,
                    &self.slot_context_in(&ids, &offsets, &word.range, pieces.len(), window),
                    &pieces,
                    0..pieces.len(),
                );
                let mut candidates = Vec::with_capacity(word.candidates.len());
                for candidate in &word.candidates {
                    let candidate_pieces = self.tokenizer.word_pieces(candidate)?;
                    if candidate_pieces.is_empty() {
                        return Err(ModelError::Compute(format!(
                            "the candidate \"{candidate}\" has no token"
                        )));
                    }
                    let context = self.slot_context_in(
                        &ids,
                        &offsets,
                        &word.range,
                        candidate_pieces.len(),
                        window,
                    );
                    let read = if request.candidate_bounds_only {
                        0..1
                    } else {
                        0..candidate_pieces.len()
                    };
                    candidates.push(batch.add(self, &context, &candidate_pieces, read));
                }
                // Alternatives come from the single-mask row; for a one-piece word that row is the
                // observed word's own row.
                let alternatives_position = if request.top_k_alternatives == 0 {
                    None
                } else if pieces.len() == 1 {
                    Some(batch.first_position_of(observed))
                } else {
                    let context = self.slot_context_in(&ids, &offsets, &word.range, 1, window);
                    Some(batch.add_alternatives_row(self, &context))
                };
                request_plans.push(Planned {
                    word,
                    pieces,
                    observed,
                    candidates,
                    alternatives_position,
                });
            }
            plans.push(request_plans);
        }
        let rows = batch.row_count();
        let (totals, distributions) =
            batch.run(self, &|| all_cancelled(requests.iter().map(|r| &r.cancel)))?;
        let mut answers = Vec::with_capacity(requests.len());
        for (request, request_plans) in requests.iter().zip(plans) {
            let mut scores = Vec::with_capacity(request_plans.len());
            for planned in request_plans {
                let alternatives = if let Some(position) = planned.alternatives_position {
                    let distribution = &distributions[position];
                    let mut alternative_ids: Vec<u32> = (0..distribution.len() as u32)
                        .filter(|&id| self.is_word_start(id))
                        .collect();
                    alternative_ids.sort_by(|&a, &b| {
                        distribution[b as usize].total_cmp(&distribution[a as usize])
                    });
                    alternative_ids
                        .into_iter()
                        .take(request.top_k_alternatives)
                        .map(|id| WordPrediction {
                            word: self.piece_text(id).to_string(),
                            probability: distribution[id as usize].exp(),
                            pieces: vec![self.tokenizer.token(id).unwrap_or("").to_string()],
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                scores.push(WordScore {
                    range: planned.word.range.clone(),
                    pieces: planned
                        .pieces
                        .iter()
                        .map(|&id| self.tokenizer.token(id).unwrap_or("[UNK]").to_string())
                        .collect(),
                    log_probability: totals[planned.observed],
                    alternatives,
                    candidates: planned
                        .word
                        .candidates
                        .iter()
                        .cloned()
                        .zip(planned.candidates.iter().map(|&entry| totals[entry]))
                        .collect(),
                });
            }
            answers.push(scores);
        }
        Ok(BatchAnswers { answers, rows })
    }
}

impl ModelRunner {
    /// The `k` most probable non-special tokens of a distribution, most probable first.
    fn top_tokens(&self, distribution: &[f32], k: usize) -> Vec<(u32, f32)> {
        let mut top: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
        let mut floor = f32::NEG_INFINITY;
        for (id, &value) in distribution.iter().enumerate() {
            if top.len() == k && value <= floor {
                continue;
            }
            if self.tokenizer.is_special(id as u32) {
                continue;
            }
            let at = top.partition_point(|&(_, kept)| kept >= value);
            top.insert(at, (id as u32, value));
            top.truncate(k);
            if top.len() == k {
                floor = top[k - 1].1;
            }
        }
        top
    }

    /// Every token's log-probability in one unmasked pass (windows of the model's maximum length for
    /// long texts), with the `top_k` most probable tokens at each position. See
    /// [`TokenProbabilityRequest`].
    pub fn token_probabilities(
        &self,
        request: &TokenProbabilityRequest,
    ) -> Result<Vec<TokenProbability>, ModelError> {
        let mut answers = self
            .token_probabilities_batch(std::slice::from_ref(request))?
            .answers;
        Ok(answers.pop().unwrap_or_default())
    }

    /// [`Self::token_probabilities`] for several texts through the model together.
    pub fn token_probabilities_batch(
        &self,
        requests: &[TokenProbabilityRequest],
    ) -> Result<BatchAnswers<Vec<TokenProbability>>, ModelError> {
        let window = self.max_context_tokens.max(1);
        let mut rows = Vec::new();
        let mut positions = Vec::new();
        // Per request: its tokens, offsets, first position and judged tokens; the judged tokens of
        // all requests, in order, are the positions of the batch.
        let mut encoded = Vec::with_capacity(requests.len());
        let mut all_ids: Vec<u32> = Vec::new();
        // How many top tokens each position asks for (0: none).
        let mut top_k_at: Vec<usize> = Vec::new();
        for request in requests {
            let (ids, offsets) = self.tokenizer.encode_with_offsets(&request.text)?;
            let starts_in = |ranges: &Option<Vec<Range<usize>>>, start: usize| {
                ranges
                    .as_ref()
                    .is_none_or(|ranges| ranges.iter().any(|range| range.contains(&start)))
            };
            let first = all_ids.len();
            let mut judged = Vec::new(); // indices of the request's tokens that are judged
            for (window_idx, window_ids) in ids.chunks(window).enumerate() {
                let mut row = Vec::with_capacity(window_ids.len() + 2);
                row.push(self.tokenizer.special.cls);
                row.extend_from_slice(window_ids);
                row.push(self.tokenizer.special.sep);
                let judged_before = judged.len();
                for (in_window, &id) in window_ids.iter().enumerate() {
                    let token_idx = window_idx * window + in_window;
                    let start = offsets[token_idx].0;
                    if !starts_in(&request.ranges, start) {
                        continue;
                    }
                    top_k_at.push(if starts_in(&request.top_k_ranges, start) {
                        request.top_k
                    } else {
                        0
                    });
                    positions.push((rows.len(), in_window + 1));
                    all_ids.push(id);
                    judged.push(token_idx);
                }
                // A window without a judged token is not run at all.
                if judged.len() > judged_before {
                    rows.push(row);
                }
            }
            encoded.push((ids, offsets, first, judged));
        }
        let mut top_lists: Vec<Vec<(u32, f32)>> = vec![Vec::new(); all_ids.len()];
        let mut observed: Vec<f32> = vec![f32::NEG_INFINITY; all_ids.len()];
        if !positions.is_empty() {
            let vocab_len = self.tokenizer.vocab_len();
            let stop = || all_cancelled(requests.iter().map(|request| &request.cancel));
            self.for_each_pass(&rows, &positions, &stop, &mut |held, logits| {
                // Softmax, the observed token and the top tokens are taken on the tensor, so that
                // only `top_k` numbers per position leave it.
                let log_probabilities = logits
                    .narrow(1, 0, vocab_len)
                    .and_then(|logits| candle_nn::ops::log_softmax(&logits, 1))
                    .and_then(|t| t.to_dtype(DType::F32))
                    .map_err(compute_error)?;
                let device = log_probabilities.device().clone();
                let held_ids: Vec<u32> = held.iter().map(|&position| all_ids[position]).collect();
                let held_observed = Tensor::new(held_ids.as_slice(), &device)
                    .and_then(|t| t.unsqueeze(1))
                    .and_then(|ids| log_probabilities.gather(&ids, 1))
                    .and_then(|t| t.squeeze(1))
                    .and_then(|t| t.to_vec1::<f32>())
                    .map_err(compute_error)?;
                for (&position, value) in held.iter().zip(held_observed) {
                    observed[position] = value;
                }
                // The top tokens only where asked: a linear selection per row (sorting every row
                // of the vocabulary costs more than the forward pass of a small model).
                let asked: Vec<u32> = (0..held.len() as u32)
                    .filter(|&local| top_k_at[held[local as usize]] > 0)
                    .collect();
                if !asked.is_empty() {
                    let distributions = Tensor::new(asked.as_slice(), &device)
                        .and_then(|indices| log_probabilities.index_select(&indices, 0))
                        .and_then(|t| t.to_vec2::<f32>())
                        .map_err(compute_error)?;
                    for (&local, distribution) in asked.iter().zip(&distributions) {
                        let position = held[local as usize];
                        top_lists[position] = self.top_tokens(distribution, top_k_at[position]);
                    }
                }
                Ok(())
            })?;
        }
        let mut answers = Vec::with_capacity(requests.len());
        for (ids, offsets, first, judged) in encoded {
            let mut tokens = Vec::with_capacity(judged.len());
            for (judged_idx, token_idx) in judged.into_iter().enumerate() {
                let position = first + judged_idx;
                let id = ids[token_idx];
                let (start, end) = offsets[token_idx];
                let top = top_lists[position]
                    .iter()
                    .map(|&(candidate, log_probability)| {
                        (
                            self.tokenizer.token(candidate).unwrap_or("").to_string(),
                            log_probability,
                        )
                    })
                    .collect();
                tokens.push(TokenProbability {
                    range: start..end,
                    piece: self.tokenizer.token(id).unwrap_or("[UNK]").to_string(),
                    id,
                    log_probability: observed.get(position).copied().unwrap_or(f32::NEG_INFINITY),
                    top,
                });
            }
            answers.push(tokens);
        }
        Ok(BatchAnswers {
            answers,
            rows: rows.len(),
        })
    }
}

/// Rows for PLL-word-l2r of several piece sequences (and single-mask rows for alternatives),
/// collected so that one request runs as one batch. Identical rows run once and a position read by
/// several entries is computed once: all one-piece candidates of a slot share the single-mask row,
/// and candidates with the same piece count share their first (all-masked) row.
#[derive(Default)]
struct L2rBatch {
    rows: Vec<Vec<u32>>,
    row_index: std::collections::HashMap<Vec<u32>, usize>,
    positions: Vec<(usize, usize)>,
    position_index: std::collections::HashMap<(usize, usize), usize>,
    /// Which entry each read adds to, the piece whose log-probability counts, and the position.
    reads: Vec<(usize, u32, usize)>,
    /// Index of each entry's first position.
    entry_first_position: Vec<usize>,
}

impl L2rBatch {
    /// The position index of `token_idx` in `row`, adding the row and the position when new.
    fn position(&mut self, row: Vec<u32>, token_idx: usize) -> usize {
        let next_row = self.rows.len();
        let row_idx = *self.row_index.entry(row.clone()).or_insert(next_row);
        if row_idx == next_row {
            self.rows.push(row);
        }
        let next_position = self.positions.len();
        let position = *self
            .position_index
            .entry((row_idx, token_idx))
            .or_insert(next_position);
        if position == next_position {
            self.positions.push((row_idx, token_idx));
        }
        position
    }

    /// Adds the masked copies for the pieces `read` of one piece sequence (`0..k` for its
    /// PLL-word-l2r, `0..1` for the first-piece bound); returns its entry index.
    fn add(
        &mut self,
        runner: &ModelRunner,
        context: &SlotContext,
        pieces: &[u32],
        read: Range<usize>,
    ) -> usize {
        let entry = self.entry_first_position.len();
        let mask = runner.tokenizer.special.mask;
        for piece_idx in read {
            let mut middle = pieces[..piece_idx].to_vec();
            middle.extend(std::iter::repeat_n(mask, pieces.len() - piece_idx));
            let (row, start) = runner.row(context, &middle);
            let position = self.position(row, start + piece_idx);
            if self.entry_first_position.len() == entry {
                self.entry_first_position.push(position);
            }
            self.reads.push((entry, pieces[piece_idx], position));
        }
        entry
    }

    /// Adds a single-mask row; returns its position index.
    fn add_alternatives_row(&mut self, runner: &ModelRunner, context: &SlotContext) -> usize {
        let (row, start) = runner.row(context, &[runner.tokenizer.special.mask]);
        self.position(row, start)
    }

    fn first_position_of(&self, entry: usize) -> usize {
        self.entry_first_position[entry]
    }

    fn row_count(&self) -> usize {
        self.rows.len()
    }

    /// Runs the batch: the total log-probability of each entry, and every position's distribution.
    fn run(
        self,
        runner: &ModelRunner,
        stop: &dyn Fn() -> bool,
    ) -> Result<(Vec<f32>, Vec<Vec<f32>>), ModelError> {
        let mut totals = vec![0.0f32; self.entry_first_position.len()];
        if self.rows.is_empty() {
            return Ok((totals, Vec::new()));
        }
        let distributions = runner.log_probabilities_until(&self.rows, &self.positions, stop)?;
        for &(entry, piece, position) in &self.reads {
            totals[entry] += distributions[position]
                .get(piece as usize)
                .copied()
                .unwrap_or(f32::NEG_INFINITY);
        }
        Ok((totals, distributions))
    }
}
