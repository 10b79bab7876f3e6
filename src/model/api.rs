//! Plain request and reply types of the model engine, shared by the CLI, the analysis layer and the server.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A flag a caller sets when the answer is no longer wanted (a newer keystroke, a newer document
/// version, `$/cancelRequest`). The engine checks it before running a request and drops the request
/// with [`EngineError::Cancelled`] when it is set.
#[derive(Clone, Debug, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// Whether both are the same flag (clones of one), not merely in the same state.
    pub fn is_same_flag(&self, other: &CancelFlag) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Whether a batch's requests are all cancelled (an empty batch, or one with a request that
/// carries no flag, never is).
pub fn all_cancelled<'a>(flags: impl IntoIterator<Item = &'a Option<CancelFlag>>) -> bool {
    let mut any = false;
    for flag in flags {
        if !flag.as_ref().is_some_and(CancelFlag::is_cancelled) {
            return false;
        }
        any = true;
    }
    any
}

/// Fill one slot of a text with whole words.
///
/// `slot` is a byte range of `text` that the model must fill (an existing word, a placeholder such
/// as `[MASK]`, or an empty range where a new word would go). The engine replaces it with one, two
/// and three `[MASK]` pieces in one batch and combines the pieces into whole words (see
/// `model::fill` for the scoring).
#[derive(Clone, Debug)]
pub struct FillRequest {
    pub text: String,
    pub slot: Range<usize>,
    pub top_k: usize,
    /// Only words starting with this prefix (compared case-insensitively) are returned.
    pub prefix: String,
    /// The fewest and the most pieces a proposed word may have (1..=1: single vocabulary tokens).
    pub min_pieces: usize,
    pub max_pieces: usize,
    /// Rescore multi-piece proposals with PLL-word-l2r (k−1 more rows per candidate: exact but
    /// costly). Off for interactive completion, where the k-mask row's piece probabilities rank
    /// them in the same forward pass.
    pub pll_rescoring: bool,
    /// Tokens of context kept around the slot; 0 takes the engine's window (64). Completion
    /// uses a narrower one: each row's cost grows with its length.
    pub context_tokens: usize,
    pub cancel: Option<CancelFlag>,
    /// Words scored in the slot besides the vocabulary's (completion: the manuscript's own words,
    /// `IL-6`, `angiotensin-converting`), each returned in its written form whatever its rank
    /// (the caller ranks them with more than the model). Only those starting with `prefix` count.
    pub extra_words: Vec<String>,
}

/// One proposed whole word.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WordPrediction {
    pub word: String,
    pub probability: f32,
    /// The WordPiece pieces, continuation pieces with their `##` prefix.
    pub pieces: Vec<String>,
}

/// Score words of a text in their context, and (optionally) candidate replacements in the same slot.
#[derive(Clone, Debug)]
pub struct ScoreRequest {
    pub text: String,
    pub words: Vec<WordToScore>,
    /// How many single-token alternatives to return for each word.
    pub top_k_alternatives: usize,
    /// Score each candidate by its first piece only, with all of its pieces masked: an upper bound
    /// of its PLL-word-l2r (the other pieces only add log-probabilities ≤ 0) that costs one row per
    /// distinct piece count instead of one row per piece. A cheap first pass that rules candidates
    /// out; the survivors are scored exactly by a second request.
    pub candidate_bounds_only: bool,
    /// Tokens of context around each word (0: the model's default window).
    pub context_tokens: usize,
    pub cancel: Option<CancelFlag>,
}

#[derive(Clone, Debug)]
pub struct WordToScore {
    /// Byte range of the word in the request's text.
    pub range: Range<usize>,
    /// Other words to score in the same slot (e.g. near-spelling alternatives).
    pub candidates: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WordScore {
    pub range: Range<usize>,
    pub pieces: Vec<String>,
    /// Natural log of the word's probability here (PLL-word-l2r for words of several pieces).
    pub log_probability: f32,
    /// The most probable whole words of a single vocabulary token in this slot.
    pub alternatives: Vec<WordPrediction>,
    /// The candidates of the request, in the same order, with their log-probabilities (upper
    /// bounds when the request asked for `candidate_bounds_only`).
    pub candidates: Vec<(String, f32)>,
}

/// The answers to several requests that went through the model together, and what they cost.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchAnswers<T> {
    /// One answer per request, in the order of the requests.
    pub answers: Vec<T>,
    /// Rows (sequences through the encoder) the batch ran; identical rows run once.
    pub rows: usize,
}

/// How the tokenizer splits a text into words and vocabulary pieces.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TokenizedWord {
    pub text: String,
    /// Byte offsets into the tokenized text.
    pub start: usize,
    pub end: usize,
    pub pieces: Vec<String>,
    pub ids: Vec<u32>,
    /// Whether the word is a single vocabulary token (the model knows it as a unit).
    pub in_vocabulary: bool,
}

/// What the loaded model is and where it runs, for status messages and hovers.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ModelInfo {
    /// What the user asked for (a Hub id or a directory).
    pub requested: String,
    /// What was loaded: the requested model, or the bundled mini model standing in for it.
    pub loaded: String,
    pub is_fallback: bool,
    /// `cpu`, `cuda:0`, `metal:0`.
    pub device: String,
    /// How the weights are held: `f32`, `f16` (GPUs) or `q8`.
    pub precision: String,
    /// Short display name, e.g. `BiomedBERT` or `mini model`.
    pub display_name: String,
    /// Where the text goes when it leaves this machine: the inference server's URL.
    pub sent_to: Option<String>,
    /// The entity tagger, when one is loaded: what it is and the entity types it finds.
    pub entities: Option<EntityModelInfo>,
}

/// What the loaded entity tagger is.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EntityModelInfo {
    /// `bundled disease tagger`, a repo id or a directory.
    pub name: String,
    /// The entity types its labels name (`Disease`), in label order.
    pub entity_types: Vec<String>,
    /// Whether it runs on the fill-mask model's encoder (the same tensors) or on its own.
    pub shares_encoder: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("request cancelled")]
    Cancelled,
    #[error("the model engine has stopped")]
    Stopped,
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("model error: {0}")]
    Model(String),
    /// The inference server failed the request (unreachable, a bad answer).
    #[error("{0}")]
    Remote(String),
}

/// Judge every token of a text while it stays visible: one unmasked forward pass, the MLM head over
/// every position. A cheap screen before masked scoring: MLM training leaves 10 % of the chosen
/// tokens unchanged and replaces 10 % with random ones, so the model does learn to doubt a visible
/// token that does not fit.
#[derive(Clone, Debug)]
pub struct TokenProbabilityRequest {
    pub text: String,
    /// How many of the most probable tokens to return at each position.
    pub top_k: usize,
    /// Return the top tokens only for tokens starting in these byte ranges (`None`: everywhere).
    pub top_k_ranges: Option<Vec<Range<usize>>>,
    /// Judge only the tokens starting in these byte ranges (`None`: every token); the others are
    /// left out of the answer. The whole text is still context; this saves the output layer's
    /// work at the positions nobody asks about.
    pub ranges: Option<Vec<Range<usize>>>,
    pub cancel: Option<CancelFlag>,
}

/// One token of a [`TokenProbabilityRequest`]'s text, judged in the unmasked pass.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TokenProbability {
    /// Byte range of the token in the request's text.
    pub range: Range<usize>,
    /// The vocabulary piece, continuation pieces with their `##` prefix.
    pub piece: String,
    pub id: u32,
    /// Natural log of the observed token's probability at its own (visible) position.
    pub log_probability: f32,
    /// The most probable tokens at this position (pieces with `##` where they continue a word).
    pub top: Vec<(String, f32)>,
}

/// How evidence is found: which context words make the model expect a word in a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EvidenceMethod {
    /// Attention from the slot's positions in the last third of the layers, averaged over heads
    /// and layers: read from the one forward pass that scores the slot.
    Attention,
    /// Attention rollout (Abnar & Zuidema, 2020): every layer's head-averaged attention, with the
    /// residual connection as half of each, multiplied through the layers.
    Rollout,
    /// Each context word masked in turn (one row each, in one batch): the drop in the
    /// candidate's log-probability.
    Occlusion,
}

impl EvidenceMethod {
    pub const NAMES: [&'static str; 3] = ["attention", "rollout", "occlusion"];

    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceMethod::Attention => "attention",
            EvidenceMethod::Rollout => "rollout",
            EvidenceMethod::Occlusion => "occlusion",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "attention" => Some(EvidenceMethod::Attention),
            "rollout" => Some(EvidenceMethod::Rollout),
            "occlusion" => Some(EvidenceMethod::Occlusion),
            _ => None,
        }
    }
}

/// Which words of the context support `candidate` in the slot `slot` of `text`.
#[derive(Clone, Debug)]
pub struct ExplainRequest {
    pub text: String,
    /// Byte range of the slot in `text` (the word in question; it is masked).
    pub slot: Range<usize>,
    /// The word whose expectation is explained (the flagged word's suggestion, a proposed word,
    /// or the word itself).
    pub candidate: String,
    pub method: EvidenceMethod,
    /// Tokens of context around the slot (0: the model's default window).
    pub context_tokens: usize,
    /// Byte ranges of `text` that are no evidence (stand-ins for citations and formulas).
    pub skip: Vec<Range<usize>>,
    /// Only the this many content words nearest the slot are candidates for evidence (None: every
    /// content word in the window). Occlusion pays one row per candidate word.
    pub max_words: Option<usize>,
    pub cancel: Option<CancelFlag>,
}

/// One context word and how much it supports the candidate.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EvidenceWord {
    /// Byte range of the word in the request's text.
    pub range: Range<usize>,
    pub word: String,
    /// The word's share of the support, 0 to 1 over the context words (words that lower the
    /// candidate's probability get 0).
    pub weight: f32,
    /// The method's own measure: attention mass, or the drop in log-probability (nats) when the
    /// word is masked.
    pub raw: f32,
}

/// The evidence for a candidate in a slot.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Explanation {
    /// Every context word the window holds (content words only), the strongest support first.
    pub words: Vec<EvidenceWord>,
    /// The candidate's log-probability with nothing masked but the slot (its pieces summed, each
    /// at its own masked position).
    pub candidate_log_probability: f32,
}

/// What the engine has done since it started, counted as it happens: tests and benchmarks read it
/// to know whether a request ran the model (never a timing).
#[derive(Debug, Default)]
pub struct EngineCounters {
    /// Forward passes through the encoder.
    pub forward_passes: std::sync::atomic::AtomicU64,
    /// Completion fills answered from the slot cache, without the model thread.
    pub fills_from_cache: std::sync::atomic::AtomicU64,
    /// Completion fills that joined a computation already under way (a prefetch, an earlier
    /// keystroke).
    pub fills_joined: std::sync::atomic::AtomicU64,
    /// Slot computations started (by a keystroke or a prefetch).
    pub slot_computations: std::sync::atomic::AtomicU64,
    /// Prefetches asked for (a space or punctuation typed, or an empty slot asked about again).
    pub prefetches: std::sync::atomic::AtomicU64,
}

/// A reading of [`EngineCounters`].
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineCounts {
    pub forward_passes: u64,
    pub fills_from_cache: u64,
    pub fills_joined: u64,
    pub slot_computations: u64,
    pub prefetches: u64,
}

impl EngineCounters {
    pub fn read(&self) -> EngineCounts {
        let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        EngineCounts {
            forward_passes: read(&self.forward_passes),
            fills_from_cache: read(&self.fills_from_cache),
            fills_joined: read(&self.fills_joined),
            slot_computations: read(&self.slot_computations),
            prefetches: read(&self.prefetches),
        }
    }

    pub(crate) fn add(counter: &std::sync::atomic::AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
