//! A fill in two halves: the model's distributions at a slot's masks (one forward pass, cached per
//! slot) and the whole words chosen from them for a typed prefix (no model). While a writer types
//! a word only the prefix changes, so every keystroke after the first is answered from the cache.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::api::{CancelFlag, EngineError, FillRequest, WordPrediction};
use super::fill::{slot_row, slot_window};
use super::tokenizer::WordTokenizer;
use super::ModelError;

/// How many of each length's multi-piece words are proposed (and, for `fill`, rescored).
const MULTI_PIECE_CANDIDATES: usize = 16;

/// Slots whose distributions are kept: the slots of the last few words typed or hovered, in every
/// open document. One slot of up to three pieces holds six distributions (about 0.7 MB).
pub const SLOT_CACHE_CAPACITY: usize = 32;

/// What choosing whole words needs besides the model: the vocabulary and the words known to take
/// several pieces. Shared by the model thread and the engine handles.
pub struct FillVocabulary {
    pub(super) tokenizer: Arc<WordTokenizer>,
    /// Tokens of context kept around a slot (without `[CLS]`/`[SEP]`), at most the model's maximum.
    pub(super) max_context_tokens: usize,
    /// Word-start tokens that may stand as a word of their own, with their text. Left out: tokens
    /// that only ever begin longer words in the word list (`glyc` of `glycemic`), which a
    /// vocabulary alone cannot tell from `gly` or `cell`.
    single_words: Vec<(u32, String)>,
    /// Words of several pieces from the word list, with their pieces: the multi-piece words fill
    /// proposes. Combining pieces freely also finds strings like `mellitus ##q` that no one writes.
    multi_piece_words: Vec<(String, Vec<u32>)>,
    /// The pieces of extra words already tokenized (see [`FillRequest::extra_words`]).
    word_pieces: Mutex<HashMap<String, Vec<u32>>>,
}

/// Extra words whose pieces are kept; the cache starts over when full.
const WORD_PIECE_CACHE_CAPACITY: usize = 50_000;

/// The rows of a fill (the slot as 1..=max_pieces masks, one row each) and where the masks are.
/// Equal rows mean an equal model input: the key of the slot cache.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SlotRows {
    pub rows: Vec<Vec<u32>>,
    /// `(row, token_idx)` of each mask, the 1-mask row's first.
    pub positions: Vec<(usize, usize)>,
}

/// Log-probabilities over the vocabulary at each mask of [`SlotRows::positions`], in that order.
pub type SlotDistributions = Arc<Vec<Vec<f32>>>;

/// A word proposed for a slot: its pieces and log-probability.
#[derive(Clone, Debug, PartialEq)]
pub struct Proposal {
    pub pieces: Vec<u32>,
    pub log_probability: f32,
    /// The written form of one of the request's extra words (kept whatever its rank).
    pub written: Option<String>,
}

impl FillVocabulary {
    /// `word_list`: `word<TAB>count` lines (`#` comments), the words that tell whole-word tokens
    /// from word beginnings and that multi-piece proposals come from.
    pub fn new(
        tokenizer: Arc<WordTokenizer>,
        max_context_tokens: usize,
        word_list: &str,
    ) -> Result<Self, ModelError> {
        let mut whole_words = HashSet::new();
        let mut word_beginnings = HashSet::new();
        let mut multi_piece_words = Vec::new();
        for line in word_list.lines().filter(|line| !line.starts_with('#')) {
            let word = line.split('\t').next().unwrap_or_default().trim();
            if word.is_empty() {
                continue;
            }
            match tokenizer.word_pieces(word)?.as_slice() {
                [single] => {
                    whole_words.insert(*single);
                }
                pieces @ [first, _, ..] => {
                    word_beginnings.insert(*first);
                    multi_piece_words.push((word.to_string(), pieces.to_vec()));
                }
                [] => {}
            }
        }
        let single_words = (0..tokenizer.vocab_len() as u32)
            .filter(|&id| {
                is_word_start(&tokenizer, id)
                    && (whole_words.contains(&id) || !word_beginnings.contains(&id))
            })
            .map(|id| (id, tokenizer.token(id).unwrap_or_default().to_string()))
            .collect();
        Ok(Self {
            tokenizer,
            max_context_tokens,
            single_words,
            multi_piece_words,
            word_pieces: Mutex::new(HashMap::new()),
        })
    }

    /// The rows a fill request runs: the slot replaced by 1..=max_pieces masks in its window.
    pub fn slot_rows(&self, request: &FillRequest) -> Result<SlotRows, ModelError> {
        let text = &request.text;
        if request.slot.start > request.slot.end
            || request.slot.end > text.len()
            || !text.is_char_boundary(request.slot.start)
            || !text.is_char_boundary(request.slot.end)
        {
            return Err(ModelError::Compute(format!(
                "slot {:?} is not a range of whole characters in a text of {} bytes",
                request.slot,
                text.len()
            )));
        }
        let (max_pieces, _) = piece_counts(request);
        let window = if request.context_tokens == 0 {
            self.max_context_tokens
        } else {
            request.context_tokens
        };
        let (ids, offsets) = self.tokenizer.encode_with_offsets(text)?;
        let special = &self.tokenizer.special;
        let mut rows = Vec::with_capacity(max_pieces);
        let mut positions = Vec::new();
        for n_pieces in 1..=max_pieces {
            let context = slot_window(
                &ids,
                &offsets,
                &request.slot,
                n_pieces,
                window,
                self.max_context_tokens,
            );
            let (row, start) = slot_row(
                &context,
                &vec![special.mask; n_pieces],
                special.cls,
                special.sep,
            );
            positions.extend((0..n_pieces).map(|piece_idx| (rows.len(), start + piece_idx)));
            rows.push(row);
        }
        Ok(SlotRows { rows, positions })
    }

    /// The words starting with the request's prefix that fit the slot, from the distributions at
    /// its masks: single vocabulary tokens at the 1-mask row, and known words of k pieces on the
    /// k-mask row, each piece read at its own position (the sum of their log-probabilities).
    pub fn proposals(&self, distributions: &[Vec<f32>], request: &FillRequest) -> Vec<Proposal> {
        let prefix = request.prefix.to_lowercase();
        let (max_pieces, min_pieces) = piece_counts(request);
        let mut proposals = Vec::new();
        if min_pieces == 1 {
            if let Some(single) = distributions.first() {
                let mut matching: Vec<(u32, f32)> = self
                    .single_words
                    .iter()
                    .filter(|(_, text)| text.starts_with(&prefix))
                    .filter_map(|&(id, _)| Some((id, *single.get(id as usize)?)))
                    .collect();
                matching.sort_by(|a, b| b.1.total_cmp(&a.1));
                proposals.extend(matching.into_iter().take(request.top_k.max(1) * 2).map(
                    |(id, log_probability)| Proposal {
                        pieces: vec![id],
                        log_probability,
                        written: None,
                    },
                ));
            }
        }
        let mut first_position = 1; // the 2-mask row's first position
        for n_pieces in 2..=max_pieces {
            let Some(at_masks) = distributions.get(first_position..first_position + n_pieces)
            else {
                break;
            };
            first_position += n_pieces;
            if n_pieces < min_pieces {
                continue;
            }
            let mut ranked: Vec<Proposal> = self
                .multi_piece_words
                .iter()
                .filter(|(word, pieces)| pieces.len() == n_pieces && word.starts_with(&prefix))
                .map(|(_, pieces)| Proposal {
                    log_probability: pieces_log_probability(pieces, at_masks),
                    pieces: pieces.clone(),
                    written: None,
                })
                .collect();
            ranked.sort_by(|a, b| b.log_probability.total_cmp(&a.log_probability));
            ranked.truncate(MULTI_PIECE_CANDIDATES);
            proposals.extend(ranked);
        }
        if min_pieces == 1 {
            proposals.extend(self.extra_word_proposals(distributions, request, &prefix));
        }
        proposals
    }

    /// The request's extra words that start with the prefix, each scored on the row of its piece
    /// count: a word of more pieces than the rows is scored by its first pieces on the longest
    /// row (how probable it is that the word begins so), as no row has room for all of them.
    fn extra_word_proposals(
        &self,
        distributions: &[Vec<f32>],
        request: &FillRequest,
        lowercase_prefix: &str,
    ) -> Vec<Proposal> {
        let (max_pieces, _) = piece_counts(request);
        let mut proposals = Vec::new();
        for word in &request.extra_words {
            if !word.to_lowercase().starts_with(lowercase_prefix) {
                continue;
            }
            let Some(pieces) = self.cached_word_pieces(word) else {
                continue;
            };
            let n_rows = pieces.len().min(max_pieces);
            // The n-mask row's masks follow those of the rows of 1..n masks.
            let first_position = n_rows * (n_rows - 1) / 2;
            let Some(at_masks) = distributions.get(first_position..first_position + n_rows) else {
                continue;
            };
            let log_probability = pieces_log_probability(&pieces, at_masks);
            proposals.push(Proposal {
                pieces,
                log_probability,
                written: Some(word.clone()),
            });
        }
        proposals
    }

    /// A word's pieces, tokenized once: the same manuscript words are scored at every keystroke.
    fn cached_word_pieces(&self, word: &str) -> Option<Vec<u32>> {
        let mut cache = self
            .word_pieces
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(pieces) = cache.get(word) {
            return Some(pieces.clone());
        }
        let pieces = self.tokenizer.word_pieces(word).ok()?;
        if pieces.is_empty() {
            return None;
        }
        if cache.len() >= WORD_PIECE_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(word.to_string(), pieces.clone());
        Some(pieces)
    }

    /// The `top_k` most probable proposals of the vocabulary as words, each word once, and every
    /// extra word of the request (in its written form).
    pub fn predictions(&self, mut proposals: Vec<Proposal>, top_k: usize) -> Vec<WordPrediction> {
        proposals.sort_by(|a, b| b.log_probability.total_cmp(&a.log_probability));
        let mut seen = HashSet::new();
        let mut predictions = Vec::new();
        let mut vocabulary_words = 0;
        for proposal in proposals {
            let is_extra = proposal.written.is_some();
            if !is_extra && vocabulary_words == top_k {
                continue;
            }
            let word: String = match proposal.written {
                Some(written) => written,
                None => proposal
                    .pieces
                    .iter()
                    .map(|&id| piece_text(&self.tokenizer, id))
                    .collect(),
            };
            if !seen.insert(word.clone()) {
                continue;
            }
            if !is_extra {
                vocabulary_words += 1;
            }
            predictions.push(WordPrediction {
                word,
                probability: proposal.log_probability.exp(),
                pieces: proposal
                    .pieces
                    .iter()
                    .map(|&id| self.tokenizer.token(id).unwrap_or_default().to_string())
                    .collect(),
            });
        }
        predictions
    }
}

/// The sum of each piece's log-probability at its own mask (pieces beyond the masks are not read).
fn pieces_log_probability(pieces: &[u32], at_masks: &[Vec<f32>]) -> f32 {
    pieces
        .iter()
        .zip(at_masks)
        .map(|(&piece, distribution)| {
            distribution
                .get(piece as usize)
                .copied()
                .unwrap_or(f32::NEG_INFINITY)
        })
        .sum()
}

/// The most and the fewest pieces a request's words may have.
fn piece_counts(request: &FillRequest) -> (usize, usize) {
    let max_pieces = request.max_pieces.clamp(1, 4);
    (max_pieces, request.min_pieces.clamp(1, max_pieces))
}

/// A token that begins a word: not special, not a `##` continuation, not punctuation.
pub(super) fn is_word_start(tokenizer: &WordTokenizer, id: u32) -> bool {
    !tokenizer.is_special(id)
        && tokenizer.token(id).is_some_and(|token| {
            !token.starts_with("##") && token.chars().any(char::is_alphanumeric)
        })
}

/// A piece's text without its `##` continuation mark.
pub(super) fn piece_text(tokenizer: &WordTokenizer, id: u32) -> &str {
    let token = tokenizer.token(id).unwrap_or("");
    token.strip_prefix("##").unwrap_or(token)
}

type Reply = oneshot::Sender<Result<SlotDistributions, EngineError>>;

/// Someone who wants a slot's distributions: a completion (with a reply) or a prefetch (none).
struct Waiter {
    cancel: Option<CancelFlag>,
    reply: Option<Reply>,
}

impl Waiter {
    fn still_wants(&self) -> bool {
        !self.cancel.as_ref().is_some_and(CancelFlag::is_cancelled)
            && !self.reply.as_ref().is_some_and(Reply::is_closed)
    }
}

enum Entry {
    Ready(SlotDistributions),
    /// Queued or running on the model thread.
    Pending(Vec<Waiter>),
}

#[derive(Default)]
struct CacheState {
    entries: HashMap<SlotRows, Entry>,
    /// Ready slots, least recently used first.
    recency: VecDeque<SlotRows>,
}

/// The distributions of recently filled slots, and the fills under way, so that a keystroke whose
/// slot is being computed waits for that computation instead of starting another.
pub struct SlotCache {
    state: Mutex<CacheState>,
    capacity: usize,
}

/// What [`SlotCache::look_up`] found.
pub enum Lookup {
    Ready(SlotDistributions),
    /// Computed already (queued or running): the reply comes when it is done (none for a prefetch).
    Joined(Option<oneshot::Receiver<Result<SlotDistributions, EngineError>>>),
    /// Nobody computes it yet: the caller must submit the computation.
    MustCompute(Option<oneshot::Receiver<Result<SlotDistributions, EngineError>>>),
}

impl SlotCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(CacheState::default()),
            capacity,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Finds a slot's distributions, or joins or starts their computation. `wants_reply` is
    /// false for a prefetch, which only makes sure the computation runs while `cancel` is not set.
    pub fn look_up(&self, key: &SlotRows, cancel: Option<CancelFlag>, wants_reply: bool) -> Lookup {
        let mut state = self.state();
        let (reply, receiver) = if wants_reply {
            let (sender, receiver) = oneshot::channel();
            (Some(sender), Some(receiver))
        } else {
            (None, None)
        };
        let waiter = Waiter { cancel, reply };
        match state.entries.get_mut(key) {
            Some(Entry::Ready(distributions)) => {
                let distributions = distributions.clone();
                if let Some(at) = state.recency.iter().position(|used| used == key) {
                    let used = state.recency.remove(at).expect("position is in range");
                    state.recency.push_back(used);
                }
                Lookup::Ready(distributions)
            }
            Some(Entry::Pending(waiters)) => {
                waiters.push(waiter);
                Lookup::Joined(receiver)
            }
            None => {
                state
                    .entries
                    .insert(key.clone(), Entry::Pending(vec![waiter]));
                Lookup::MustCompute(receiver)
            }
        }
    }

    /// Whether nobody waits for a pending computation any more (it can be dropped unrun).
    pub fn is_abandoned(&self, key: &SlotRows) -> bool {
        match self.state().entries.get(key) {
            Some(Entry::Pending(waiters)) => !waiters.iter().any(Waiter::still_wants),
            _ => true,
        }
    }

    /// Ends a computation: its result goes to every waiter and, when it succeeded, into the cache.
    pub fn complete(&self, key: &SlotRows, result: Result<SlotDistributions, EngineError>) {
        let mut state = self.state();
        let waiters = match state.entries.remove(key) {
            Some(Entry::Pending(waiters)) => waiters,
            Some(ready @ Entry::Ready(_)) => {
                state.entries.insert(key.clone(), ready);
                return;
            }
            None => Vec::new(),
        };
        if let Ok(distributions) = &result {
            state
                .entries
                .insert(key.clone(), Entry::Ready(distributions.clone()));
            state.recency.push_back(key.clone());
            while state.recency.len() > self.capacity {
                if let Some(oldest) = state.recency.pop_front() {
                    state.entries.remove(&oldest);
                }
            }
        }
        drop(state);
        for reply in waiters.into_iter().filter_map(|waiter| waiter.reply) {
            let answer = match &result {
                Ok(distributions) => Ok(distributions.clone()),
                Err(EngineError::Cancelled) => Err(EngineError::Cancelled),
                Err(EngineError::Remote(error)) => Err(EngineError::Remote(error.clone())),
                Err(error) => Err(EngineError::Model(error.to_string())),
            };
            drop(reply.send(answer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32) -> SlotRows {
        SlotRows {
            rows: vec![vec![2, id, 3]],
            positions: vec![(0, 1)],
        }
    }

    fn ready(value: f32) -> SlotDistributions {
        Arc::new(vec![vec![value]])
    }

    #[test]
    fn a_slot_is_computed_once_for_every_waiter_then_served_from_the_cache() {
        let cache = SlotCache::new(2);
        let Lookup::MustCompute(Some(mut first)) = cache.look_up(&key(7), None, true) else {
            panic!("the first look-up must compute");
        };
        let Lookup::Joined(Some(mut second)) = cache.look_up(&key(7), None, true) else {
            panic!("the second look-up must join the computation");
        };
        assert!(!cache.is_abandoned(&key(7)));
        cache.complete(&key(7), Ok(ready(1.0)));
        assert_eq!(first.try_recv().unwrap().unwrap(), ready(1.0));
        assert_eq!(second.try_recv().unwrap().unwrap(), ready(1.0));
        assert!(matches!(cache.look_up(&key(7), None, true), Lookup::Ready(d) if d == ready(1.0)));
    }

    #[test]
    fn a_computation_nobody_wants_is_abandoned_and_a_failed_one_is_not_kept() {
        let cache = SlotCache::new(2);
        let keystroke = CancelFlag::new();
        let prefetch = CancelFlag::new();
        let Lookup::MustCompute(None) = cache.look_up(&key(1), Some(prefetch.clone()), false)
        else {
            panic!("a prefetch starts the computation and wants no reply");
        };
        let Lookup::Joined(Some(_receiver)) = cache.look_up(&key(1), Some(keystroke.clone()), true)
        else {
            panic!("a keystroke joins the prefetch");
        };
        prefetch.cancel();
        assert!(!cache.is_abandoned(&key(1)), "the keystroke still waits");
        keystroke.cancel();
        assert!(cache.is_abandoned(&key(1)));
        cache.complete(&key(1), Err(EngineError::Cancelled));
        assert!(matches!(
            cache.look_up(&key(1), None, false),
            Lookup::MustCompute(None)
        ));
    }

    #[test]
    fn the_least_recently_used_slot_goes_first() {
        let cache = SlotCache::new(2);
        for id in [1, 2] {
            cache.look_up(&key(id), None, false);
            cache.complete(&key(id), Ok(ready(id as f32)));
        }
        // Slot 1 is used again, so slot 2 is the one a third slot pushes out.
        assert!(matches!(
            cache.look_up(&key(1), None, false),
            Lookup::Ready(_)
        ));
        cache.look_up(&key(3), None, false);
        cache.complete(&key(3), Ok(ready(3.0)));
        assert!(matches!(
            cache.look_up(&key(1), None, false),
            Lookup::Ready(_)
        ));
        assert!(matches!(
            cache.look_up(&key(2), None, false),
            Lookup::MustCompute(_)
        ));
    }
}
