//! Diagnostics of improbable terminology ("myocardial infraction" → "infarction") and unknown
//! non-words, from the masked-language model: a cheap unmasked screen per sentence, then masked
//! PLL scoring of the suspicious words against their near-spelling alternatives.
//!
//! Pipeline for a group of sentences (see [`GROUP_BYTES`]; each step is one batch for the whole
//! group, so sentences share forward passes):
//! 1. Split each sentence into the tokenizer's words; keep the checkable ones (letters only, long
//!    enough, not an abbreviation or gene symbol, not in the dictionary, not in a skipped range).
//! 2. Screen: one unmasked forward pass gives every visible token's log-probability and the most
//!    probable tokens at its position. A word goes on when it fits badly, when a near-spelling
//!    alternative's first piece is nearly as probable as the word at the word's position, or when
//!    it is an unknown multi-piece word.
//! 3. Score with bounds: PLL-word-l2r of each suspicious word (k masked copies for k pieces), and
//!    for its alternatives only the first piece with all pieces masked, an upper bound of their
//!    PLL-word-l2r that costs one row per piece count, shared by all alternatives.
//! 4. Score exactly the alternatives whose bound shows they could change the outcome, for the
//!    words where one could (usually few).
//! 5. Decide, one module per finding: a known word is flagged when an alternative's margin clears
//!    the bar (`improbable_term`), a word no dictionary knows is reported with its corrections
//!    ranked in context (`unknown_word`). What the whole document says (a word written in many
//!    sentences) is weighed afterwards, in `document`.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::ops::Range;

use super::lexicon::{Dictionary, Lexicon};
use super::morphology;
use super::spelling::SpellingDictionaries;
use super::{improbable_term, unknown_word};
use crate::model::embedding::EmbedRequest;
use crate::model::engine::EngineHandle;
use crate::model::entities::{EntityMention, EntityRequest};
use crate::model::fill::ModelRunner;
use crate::model::{
    BatchAnswers, CancelFlag, EngineError, EvidenceMethod, EvidenceWord, ExplainRequest,
    Explanation, ModelError, ScoreRequest, TokenProbability, TokenProbabilityRequest,
    TokenizedWord, WordScore, WordToScore,
};

/// Every threshold of the check. Log-probabilities are natural logs.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckSettings {
    /// Words with fewer characters are not checked (short words have too many neighbours: of/or).
    pub min_word_length: usize,
    /// Largest edit distance (optimal string alignment) of a near-spelling alternative.
    pub max_edit_distance: usize,
    /// Words shorter than this get alternatives within one edit only.
    pub min_length_for_two_edits: usize,
    /// At most this many alternatives are considered per word (nearest, then most frequent, first).
    pub max_candidates: usize,
    /// Of those, this many are always scored; the others only when their first piece is among the
    /// screen's `screen_top_k` tokens at the word's position.
    pub always_score_nearest: usize,
    /// Screen: a word whose visible pieces' summed log-probability is below this goes on to masked
    /// scoring.
    pub screen_max_log_probability: f32,
    /// Screen: a word goes on when an alternative's first piece, at the word's own visible
    /// position, is within this many nats of the observed first piece.
    pub screen_margin: f32,
    /// Screen: how many of the most probable tokens per position the screen looks at.
    pub screen_top_k: usize,
    /// Masked scoring sees this many tokens around the word (the word included): each scoring
    /// row costs in proportion to its length.
    pub score_context_tokens: usize,
    /// Flag when the corrected margin log P(alt) − log P(word) exceeds this (one edit apart).
    pub min_margin: f32,
    /// `min_margin` for a known confusable pair (prostate/prostrate, ileum/ilium, the homophones
    /// cell/sell: see `improbable_term::are_known_confusables`).
    pub confusable_min_margin: f32,
    /// Extra margin demanded per edit beyond the first.
    pub margin_per_extra_edit: f32,
    /// Weight of the frequency correction: the margin is reduced by this times
    /// (log unigram(alt) − log unigram(word)), so that a rare but right term is not overruled by a
    /// frequent neighbour (1 = full SLOR-style normalisation, 0 = none).
    pub frequency_weight: f32,
    /// The alternative itself must reach at least this log-probability in the slot.
    pub min_alternative_log_probability: f32,
    /// A finding whose corrected margin exceeds the threshold by this much is strong evidence.
    pub strong_margin: f32,
    pub strong_severity: Severity,
    pub weak_severity: Severity,
    /// Extra margin an `improbable-term` finding needs per unit of ln(sentences of the document
    /// that write the word), when it is written in two or more.
    pub manuscript_weight: f32,
    /// Whether unknown non-words are reported at all (`unknown-term`).
    pub report_unknown: bool,
    /// Words no dictionary knows are reported when their log-probability in context is at most
    /// this (0: every one).
    pub unknown_max_log_probability: f32,
    /// Unknown words need at least this many pieces (one-piece words are in the vocabulary).
    pub unknown_min_pieces: usize,
    /// Whether capitalised words inside a sentence (mostly names) may be flagged as unknown.
    pub unknown_check_capitalized: bool,
    /// A word no dictionary knows is reported when its best correction, less
    /// `unknown_edit_penalty` per edit beyond the first, is at least this many nats more probable
    /// in the slot than the word (a likely typo); `-inf` reports every one.
    pub unknown_min_margin: f32,
    /// A non-word whose best correction has at least this log-probability in the slot (the model
    /// expects that word here) is reported from `unknown_supported_margin` instead: `metod` in
    /// "one metod was superior" (method: −5.6, margin 13.9). Technical words rarely have a
    /// correction the context supports that well.
    pub unknown_supported_log_probability: f32,
    /// The margin a non-word needs when its best correction is supported (see above).
    pub unknown_supported_margin: f32,
    /// The channel: nats a correction loses for each edit beyond the first.
    pub unknown_edit_penalty: f32,
    pub unknown_severity: Severity,
    /// A non-word written in at least this many sentences of a document is its own term: one
    /// finding (a hint) for all its uses.
    pub own_term_min_sentences: usize,
    /// Most suggestions per finding.
    pub max_suggestions: usize,
    /// How each finding's evidence is found (the context words that support its first
    /// suggestion), or `None` for no evidence.
    pub evidence: Option<EvidenceMethod>,
    /// Most evidence words per finding.
    pub evidence_words: usize,
    /// The abbreviation findings (no model: definitions and uses in the document).
    pub abbreviations: super::abbreviations::AbbreviationSettings,
}

impl Default for CheckSettings {
    fn default() -> Self {
        Self {
            min_word_length: 4,
            max_edit_distance: 2,
            min_length_for_two_edits: 7,
            max_candidates: 8,
            always_score_nearest: 8,
            // -8 rather than -4: 40 % fewer words scored on the develop split, precision up,
            // recall down 3 points (BENCHMARKS.md).
            screen_max_log_probability: -8.0,
            screen_margin: 4.0,
            screen_top_k: 50,
            // 16 to 64 tokens scored alike on the develop split (BENCHMARKS.md); each token of a
            // row costs, so the cheaper end.
            score_context_tokens: 24,
            // Fitted by `eval_findings --split develop --fit` (BENCHMARKS.md, "Findings a writer
            // trusts"), as are `manuscript_weight` and the unknown-word margin and penalty.
            min_margin: 17.0,
            // Fitted with `min_margin` (the sweep runs 0 to 12): a known confusable pair is
            // flagged whenever the model prefers the other word after the corrections.
            confusable_min_margin: 0.0,
            margin_per_extra_edit: 2.0,
            frequency_weight: 0.3,
            min_alternative_log_probability: -8.0,
            strong_margin: 3.0,
            strong_severity: Severity::Warning,
            weak_severity: Severity::Information,
            manuscript_weight: 0.0,
            report_unknown: true,
            unknown_max_log_probability: 0.0,
            unknown_min_pieces: 2,
            unknown_check_capitalized: false,
            unknown_min_margin: 19.0,
            unknown_supported_log_probability: -12.0,
            unknown_supported_margin: 4.0,
            unknown_edit_penalty: 12.0,
            unknown_severity: Severity::Information,
            own_term_min_sentences: 2,
            max_suggestions: 3,
            evidence: Some(DEFAULT_EVIDENCE),
            evidence_words: 3,
            abbreviations: super::abbreviations::AbbreviationSettings::default(),
        }
    }
}

/// The evidence method of findings unless the settings say otherwise (BENCHMARKS.md,
/// "Evidence").
pub const DEFAULT_EVIDENCE: EvidenceMethod = EvidenceMethod::Occlusion;

/// Evidence is sought among this many content words nearest the slot: occlusion pays a row per
/// word, and on the deletion test the nearest four keep most of what all words give (BENCHMARKS.md,
/// "Evidence"). The same for findings, hovers and `fill --explain`, so a word in a place shows one
/// evidence everywhere.
pub const EVIDENCE_NEAREST_WORDS: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Information,
    Hint,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
            Severity::Hint => "hint",
        }
    }

    /// Whether this severity is at least as serious as `threshold` (Error is the most serious).
    pub fn at_least(self, threshold: Severity) -> bool {
        self <= threshold
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FindingCode {
    ImprobableTerm,
    UnknownTerm,
    Abbreviation(super::abbreviations::AbbreviationIssue),
    /// One term written several ways in the manuscript.
    TermVariant,
}

impl FindingCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::ImprobableTerm => "improbable-term",
            FindingCode::UnknownTerm => "unknown-term",
            FindingCode::Abbreviation(issue) => issue.as_str(),
            FindingCode::TermVariant => "term-variant",
        }
    }
}

/// One diagnostic, as plain data.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// Byte range of the word in the checked sentence text.
    pub range: Range<usize>,
    pub code: FindingCode,
    pub severity: Severity,
    pub word: String,
    pub message: String,
    /// Replacements, best first (capitalised like the word).
    pub suggestions: Vec<String>,
    /// Evidence strength: the corrected log-probability margin of the best alternative
    /// (improbable-term) or minus the word's log-probability (unknown-term), in nats.
    pub score: f32,
    /// How far an improbable-term's margin clears the bar its edit distance sets, in nats (0 for
    /// unknown-term).
    pub margin_over_threshold: f32,
    /// The word's own log-probability in its place, as the message gives it: the hover of the
    /// word shows this one, never a second computation of it.
    pub log_probability: f32,
    /// The context words that make the model expect the first suggestion, strongest first
    /// (ranges like `range`); empty without suggestions or with evidence off.
    pub evidence: Vec<EvidenceWord>,
    /// Other places the finding is about (an abbreviation's definition), ranges like `range`.
    pub related: Vec<RelatedPlace>,
}

/// A place a finding points to, and what it is.
#[derive(Clone, Debug, PartialEq)]
pub struct RelatedPlace {
    /// Which document of the manuscript it is in (0 when the finding's own is the only one).
    pub document: usize,
    pub range: Range<usize>,
    pub message: String,
    /// Whether the finding's fix is made here too (another place of the same variant form, the
    /// long form written out again): the quick fix then edits every such place at once.
    pub same_fix: bool,
}

impl FindingCode {
    /// Whether the finding is about a word a dictionary could accept (the dictionary fixes).
    pub fn is_about_a_word(self) -> bool {
        matches!(self, FindingCode::ImprobableTerm | FindingCode::UnknownTerm)
    }
}

/// A sentence to check and the byte ranges of it that are not prose (citation stand-ins, code).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SentenceToCheck {
    pub text: String,
    pub skip: Vec<Range<usize>>,
}

impl SentenceToCheck {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            skip: Vec::new(),
        }
    }
}

/// Counts of the work done, for benchmarks (rows = sequences through the encoder).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckStatistics {
    pub sentences: usize,
    pub words: usize,
    pub checked_words: usize,
    pub scored_words: usize,
    pub screening_rows: usize,
    pub scoring_rows: usize,
    /// Rows run to find the evidence of findings.
    pub evidence_rows: usize,
}

impl CheckStatistics {
    pub fn add(&mut self, other: &CheckStatistics) {
        self.sentences += other.sentences;
        self.words += other.words;
        self.checked_words += other.checked_words;
        self.scored_words += other.scored_words;
        self.screening_rows += other.screening_rows;
        self.scoring_rows += other.scoring_rows;
        self.evidence_rows += other.evidence_rows;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Model(#[from] ModelError),
}

/// What the check needs from a model: words, the unmasked screen and masked scoring. The screen
/// and the scoring take the requests of several sentences at once, so that they share forward
/// passes.
pub trait TermScorer {
    /// Which loaded model this is, unique in the process: cached findings belong to one model.
    fn model_id(&self) -> u64;
    fn words(&self, text: &str) -> Result<Vec<TokenizedWord>, CheckError>;
    fn token_probabilities(
        &self,
        requests: Vec<TokenProbabilityRequest>,
    ) -> Result<BatchAnswers<Vec<TokenProbability>>, CheckError>;
    fn score(
        &self,
        requests: Vec<ScoreRequest>,
    ) -> Result<BatchAnswers<Vec<WordScore>>, CheckError>;
    /// Evidence for findings. A scorer without a model (a test's stand-in) gives none.
    fn explain(
        &self,
        requests: Vec<ExplainRequest>,
    ) -> Result<BatchAnswers<Explanation>, CheckError> {
        let answers = requests
            .iter()
            .map(|_| Explanation {
                words: Vec::new(),
                candidate_log_probability: f32::NAN,
            })
            .collect();
        Ok(BatchAnswers { answers, rows: 0 })
    }
    /// Contextual embeddings of spans (the term-variant decision); `None` where the scorer has
    /// none (a model on an inference server, a test's stand-in).
    fn embed(
        &self,
        _requests: Vec<EmbedRequest>,
    ) -> Result<Option<BatchAnswers<Vec<f32>>>, CheckError> {
        Ok(None)
    }
    /// Entity mentions in texts; `None` where no entity model is loaded.
    fn entities(
        &self,
        _requests: Vec<EntityRequest>,
        _urgency: Urgency,
    ) -> Result<Option<BatchAnswers<Vec<EntityMention>>>, CheckError> {
        Ok(None)
    }
}

/// Who waits for an answer of the model: a check in the background (after the checks queued
/// before, never before a completion), or a reader now (a hover).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urgency {
    Background,
    ReaderWaits,
}

impl TermScorer for ModelRunner {
    fn model_id(&self) -> u64 {
        self.id
    }
    fn words(&self, text: &str) -> Result<Vec<TokenizedWord>, CheckError> {
        Ok(self.tokenizer.words(text)?)
    }
    fn token_probabilities(
        &self,
        requests: Vec<TokenProbabilityRequest>,
    ) -> Result<BatchAnswers<Vec<TokenProbability>>, CheckError> {
        Ok(self.token_probabilities_batch(&requests)?)
    }
    fn score(
        &self,
        requests: Vec<ScoreRequest>,
    ) -> Result<BatchAnswers<Vec<WordScore>>, CheckError> {
        Ok(self.score_batch(&requests)?)
    }
    fn explain(
        &self,
        requests: Vec<ExplainRequest>,
    ) -> Result<BatchAnswers<Explanation>, CheckError> {
        Ok(self.explain_batch(&requests)?)
    }
    fn embed(
        &self,
        requests: Vec<EmbedRequest>,
    ) -> Result<Option<BatchAnswers<Vec<f32>>>, CheckError> {
        if matches!(self.model, crate::model::encoder::Encoder::Remote(_)) {
            return Ok(None);
        }
        Ok(Some(self.embed_batch(&requests)?))
    }
    fn entities(
        &self,
        requests: Vec<EntityRequest>,
        _urgency: Urgency,
    ) -> Result<Option<BatchAnswers<Vec<EntityMention>>>, CheckError> {
        if self.entity_tagger.is_none() {
            return Ok(None);
        }
        Ok(Some(ModelRunner::entities(self, &requests)?))
    }
}

/// Blocking use of the engine at background priority, but for entities a reader waits for (call
/// from a blocking thread).
impl TermScorer for EngineHandle {
    fn model_id(&self) -> u64 {
        EngineHandle::model_id(self)
    }
    fn words(&self, text: &str) -> Result<Vec<TokenizedWord>, CheckError> {
        Ok(self.tokenizer().words(text)?)
    }
    fn token_probabilities(
        &self,
        requests: Vec<TokenProbabilityRequest>,
    ) -> Result<BatchAnswers<Vec<TokenProbability>>, CheckError> {
        Ok(self.token_probabilities_batch_blocking(requests)?)
    }
    fn score(
        &self,
        requests: Vec<ScoreRequest>,
    ) -> Result<BatchAnswers<Vec<WordScore>>, CheckError> {
        Ok(self.score_batch_blocking(requests)?)
    }
    fn explain(
        &self,
        requests: Vec<ExplainRequest>,
    ) -> Result<BatchAnswers<Explanation>, CheckError> {
        Ok(self.explain_batch_blocking(requests)?)
    }
    fn embed(
        &self,
        requests: Vec<EmbedRequest>,
    ) -> Result<Option<BatchAnswers<Vec<f32>>>, CheckError> {
        if self.info().sent_to.is_some() {
            return Ok(None);
        }
        Ok(Some(self.embed_batch_blocking(requests)?))
    }
    fn entities(
        &self,
        requests: Vec<EntityRequest>,
        urgency: Urgency,
    ) -> Result<Option<BatchAnswers<Vec<EntityMention>>>, CheckError> {
        if self.info().entities.is_none() {
            return Ok(None);
        }
        let interactive = urgency == Urgency::ReaderWaits;
        Ok(Some(self.entities_batch_blocking(requests, interactive)?))
    }
}

/// Builds the lexicon for a tokenizer's vocabulary: the bundled corpus counts plus every
/// whole-word token.
pub fn lexicon_for_tokenizer(
    tokenizer: &crate::model::tokenizer::WordTokenizer,
    settings: &CheckSettings,
) -> Result<Lexicon, super::lexicon::LexiconError> {
    let tokens: Vec<&str> = (0..tokenizer.vocab_len() as u32)
        .filter(|&id| !tokenizer.is_special(id))
        .filter_map(|id| tokenizer.token(id))
        .collect();
    Lexicon::bundled_with_vocabulary(tokens, settings.max_edit_distance)
}

/// Sentences are checked in groups of about this many bytes of text: a group's screening rows
/// and its scoring rows share forward passes, which costs far less per row on a CPU than one short
/// pass per sentence. A group is also the unit of cancellation and of progress.
pub const GROUP_BYTES: usize = 1500;

/// Checks sentences; one list of findings per sentence, ranges relative to the sentence text.
pub fn check_sentences(
    scorer: &dyn TermScorer,
    sentences: &[SentenceToCheck],
    lexicon: &Lexicon,
    dictionary: &Dictionary,
    settings: &CheckSettings,
) -> Result<Vec<Vec<Finding>>, CheckError> {
    check_sentence_list(scorer, sentences, lexicon, dictionary, settings, None)
}

/// [`check_sentences_with`] for a plain list, without cancellation or progress.
fn check_sentence_list(
    scorer: &dyn TermScorer,
    sentences: &[SentenceToCheck],
    lexicon: &Lexicon,
    dictionary: &Dictionary,
    settings: &CheckSettings,
    cache: Option<&SentenceCache>,
) -> Result<Vec<Vec<Finding>>, CheckError> {
    let sentences: Vec<&SentenceToCheck> = sentences.iter().collect();
    let inputs = SentenceCheckInputs {
        lexicon,
        dictionary,
        spelling: SpellingDictionaries::default(),
        settings,
    };
    check_sentences_with(
        scorer,
        &sentences,
        &inputs,
        cache,
        None,
        &mut CheckStatistics::default(),
        &mut |_, _| {},
    )
}

/// Everything a check needs besides the model and the text.
pub struct SentenceCheckInputs<'a> {
    pub lexicon: &'a Lexicon,
    pub dictionary: &'a Dictionary,
    pub spelling: SpellingDictionaries<'a>,
    pub settings: &'a CheckSettings,
}

/// Checks sentences in groups (see [`GROUP_BYTES`]); sentences found in `cache` are not checked
/// again and the others are added to it. The cache is locked only to look up and to store, never
/// while the model runs, so several checks (and a model reload) can share it. `cancel` is looked
/// at between groups and travels with the requests (the engine drops cancelled work and stops a
/// running batch between forward passes), so a newer version of a document stops the work within
/// one pass; `on_progress(done, total)` is called after each group, in sentences.
pub fn check_sentences_with(
    scorer: &dyn TermScorer,
    sentences: &[&SentenceToCheck],
    inputs: &SentenceCheckInputs,
    cache: Option<&SentenceCache>,
    cancel: Option<&CancelFlag>,
    statistics: &mut CheckStatistics,
    on_progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Vec<Finding>>, CheckError> {
    let cache_key = SentenceCache::key(scorer.model_id(), inputs);
    let mut results: Vec<Option<Vec<Finding>>> = match cache {
        Some(cache) => cache.get_all(cache_key, sentences),
        None => vec![None; sentences.len()],
    };
    let missing: Vec<usize> = (0..sentences.len())
        .filter(|&idx| results[idx].is_none())
        .collect();
    let mut done = sentences.len() - missing.len();
    let mut group_start = 0;
    while group_start < missing.len() {
        if cancel.is_some_and(CancelFlag::is_cancelled) {
            return Err(CheckError::Engine(EngineError::Cancelled));
        }
        let mut group_end = group_start;
        let mut group_bytes = 0;
        while group_end < missing.len() && (group_end == group_start || group_bytes < GROUP_BYTES) {
            group_bytes += sentences[missing[group_end]].text.len();
            group_end += 1;
        }
        let group_indices = &missing[group_start..group_end];
        let group: Vec<&SentenceToCheck> =
            group_indices.iter().map(|&idx| sentences[idx]).collect();
        let mut findings = check_sentence_group(scorer, &group, inputs, cancel, statistics)?;
        add_evidence(
            scorer,
            &group,
            &mut findings,
            inputs.settings,
            cancel,
            statistics,
        )?;
        if let Some(cache) = cache {
            cache.insert_all(cache_key, group.iter().copied().zip(&findings));
        }
        for (&idx, found) in group_indices.iter().zip(findings) {
            results[idx] = Some(found);
        }
        done += group_end - group_start;
        on_progress(done, sentences.len());
        group_start = group_end;
    }
    Ok(results.into_iter().map(Option::unwrap_or_default).collect())
}

/// Adds to each finding with a suggestion the context words that make the model expect that
/// suggestion (one batch for the group; see `model::evidence`).
fn add_evidence(
    scorer: &dyn TermScorer,
    sentences: &[&SentenceToCheck],
    findings: &mut [Vec<Finding>],
    settings: &CheckSettings,
    cancel: Option<&CancelFlag>,
    statistics: &mut CheckStatistics,
) -> Result<(), CheckError> {
    let Some(method) = settings.evidence else {
        return Ok(());
    };
    let mut requests = Vec::new();
    let mut owners = Vec::new();
    for (sentence_idx, (sentence, sentence_findings)) in
        sentences.iter().zip(&*findings).enumerate()
    {
        for (finding_idx, finding) in sentence_findings.iter().enumerate() {
            let Some(suggestion) = finding.suggestions.first() else {
                continue;
            };
            requests.push(ExplainRequest {
                text: sentence.text.clone(),
                slot: finding.range.clone(),
                candidate: suggestion.clone(),
                method,
                context_tokens: settings.score_context_tokens,
                skip: sentence.skip.clone(),
                max_words: Some(EVIDENCE_NEAREST_WORDS),
                cancel: cancel.cloned(),
            });
            owners.push((sentence_idx, finding_idx));
        }
    }
    if requests.is_empty() {
        return Ok(());
    }
    let explained = scorer.explain(requests)?;
    statistics.evidence_rows += explained.rows;
    for ((sentence_idx, finding_idx), explanation) in owners.into_iter().zip(explained.answers) {
        findings[sentence_idx][finding_idx].evidence = explanation
            .words
            .into_iter()
            .filter(|word| word.weight > 0.0)
            .take(settings.evidence_words)
            .collect();
    }
    Ok(())
}

/// Slot embeddings a [`SentenceCache`] keeps at most (about 6 MB with BERT-base).
const MAX_SLOT_EMBEDDINGS: usize = 2_000;

/// Findings per sentence, kept across checks so that after an edit only changed sentences are
/// scored. Entries belong to one combination of model, settings and dictionary (the cache key):
/// a check with another key empties the cache, and the findings of a check whose key is no longer
/// the cache's (a check that started on the previous model) are not stored. Safe to share between
/// threads; each call holds the lock briefly.
pub struct SentenceCache {
    state: std::sync::Mutex<CacheState>,
    /// The cache is emptied when it grows beyond this many sentences.
    max_entries: usize,
    /// Slot embeddings of the term-variant decision, by model, sentence text and span (emptied
    /// at `MAX_SLOT_EMBEDDINGS`: a BERT-base vector is 3 KB).
    slot_embeddings: std::sync::Mutex<HashMap<(u64, String, usize, usize), Vec<f32>>>,
    /// Entity mentions by model and sentence text (ranges in the text), emptied beyond
    /// `max_entries`.
    entities: std::sync::Mutex<HashMap<(u64, String), Vec<EntityMention>>>,
}

#[derive(Default)]
struct CacheState {
    entries: HashMap<SentenceToCheck, Vec<Finding>>,
    key: Option<u64>,
    hits: usize,
    misses: usize,
}

impl Default for SentenceCache {
    fn default() -> Self {
        Self::new()
    }
}

impl SentenceCache {
    /// A cache of at most 20,000 sentences (a long thesis), about 10 MB.
    pub fn new() -> Self {
        Self::with_max_entries(20_000)
    }

    pub fn with_max_entries(max_entries: usize) -> Self {
        Self {
            state: std::sync::Mutex::new(CacheState::default()),
            max_entries,
            slot_embeddings: std::sync::Mutex::new(HashMap::new()),
            entities: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The entity mentions found before in this sentence text by this model.
    pub fn entities(&self, model_id: u64, text: &str) -> Option<Vec<EntityMention>> {
        let entities = self
            .entities
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entities.get(&(model_id, text.to_string())).cloned()
    }

    pub fn store_entities(&self, model_id: u64, text: &str, mentions: &[EntityMention]) {
        let mut entities = self
            .entities
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entities.len() >= self.max_entries {
            entities.clear();
        }
        entities.insert((model_id, text.to_string()), mentions.to_vec());
    }

    /// A slot embedding computed before for this model, sentence and span.
    pub fn slot_embedding(
        &self,
        model_id: u64,
        text: &str,
        span: &Range<usize>,
    ) -> Option<Vec<f32>> {
        let embeddings = self
            .slot_embeddings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        embeddings
            .get(&(model_id, text.to_string(), span.start, span.end))
            .cloned()
    }

    pub fn store_slot_embedding(
        &self,
        model_id: u64,
        text: &str,
        span: &Range<usize>,
        vector: &[f32],
    ) {
        let mut embeddings = self
            .slot_embeddings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if embeddings.len() >= MAX_SLOT_EMBEDDINGS {
            embeddings.clear();
        }
        embeddings.insert(
            (model_id, text.to_string(), span.start, span.end),
            vector.to_vec(),
        );
    }

    fn state(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // Every critical section leaves the state consistent: poisoning carries no information.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key of the findings of `model_id` with these settings and dictionaries.
    pub fn key(model_id: u64, inputs: &SentenceCheckInputs) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        model_id.hash(&mut hasher);
        format!("{:?}", inputs.settings).hash(&mut hasher);
        inputs.dictionary.sorted_words().hash(&mut hasher);
        for (name, _) in inputs.spelling.installed {
            name.hash(&mut hasher);
        }
        hasher.finish()
    }

    pub fn len(&self) -> usize {
        self.state().entries.len()
    }

    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sentences found / not found by lookups so far.
    pub fn hits_and_misses(&self) -> (usize, usize) {
        let state = self.state();
        (state.hits, state.misses)
    }

    pub fn clear(&self) {
        self.state().entries.clear();
        self.slot_embeddings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// Looks the sentences up under `key`; the cache now belongs to `key` (emptied if it belonged
    /// to another) and is emptied when it has grown too large.
    fn get_all(&self, key: u64, sentences: &[&SentenceToCheck]) -> Vec<Option<Vec<Finding>>> {
        let mut state = self.state();
        if state.key != Some(key) || state.entries.len() > self.max_entries {
            state.entries.clear();
            state.key = Some(key);
        }
        let found: Vec<Option<Vec<Finding>>> = sentences
            .iter()
            .map(|sentence| state.entries.get(*sentence).cloned())
            .collect();
        let hits = found.iter().filter(|entry| entry.is_some()).count();
        state.hits += hits;
        state.misses += found.len() - hits;
        found
    }

    /// Stores findings under `key`, unless the cache belongs to another key by now.
    fn insert_all<'a>(
        &self,
        key: u64,
        found: impl Iterator<Item = (&'a SentenceToCheck, &'a Vec<Finding>)>,
    ) {
        let mut state = self.state();
        if state.key != Some(key) {
            return;
        }
        for (sentence, findings) in found {
            state.entries.insert(sentence.clone(), findings.clone());
        }
    }
}

/// [`check_sentences`] through a cache: only sentences not checked before reach the model.
pub fn check_sentences_cached(
    scorer: &dyn TermScorer,
    sentences: &[SentenceToCheck],
    lexicon: &Lexicon,
    dictionary: &Dictionary,
    settings: &CheckSettings,
    cache: &SentenceCache,
) -> Result<Vec<Vec<Finding>>, CheckError> {
    check_sentence_list(
        scorer,
        sentences,
        lexicon,
        dictionary,
        settings,
        Some(cache),
    )
}

/// One checkable word of a sentence and its near-spelling alternatives (for a word no dictionary
/// knows, its corrections).
pub(super) struct WordPlan {
    pub range: Range<usize>,
    pub text: String,
    pub unknown: bool,
    pub candidates: Vec<Candidate>,
}

/// A near-spelling alternative of a word, with how the vocabulary splits it.
pub(super) struct Candidate {
    pub word: String,
    pub distance: usize,
    pub first_piece: String,
}

/// Checks one sentence and adds the work done to `statistics`.
pub fn check_sentence(
    scorer: &dyn TermScorer,
    sentence: &SentenceToCheck,
    lexicon: &Lexicon,
    dictionary: &Dictionary,
    settings: &CheckSettings,
    statistics: &mut CheckStatistics,
) -> Result<Vec<Finding>, CheckError> {
    let inputs = SentenceCheckInputs {
        lexicon,
        dictionary,
        spelling: SpellingDictionaries::default(),
        settings,
    };
    let mut findings = check_sentence_group(scorer, &[sentence], &inputs, None, statistics)?;
    Ok(findings.pop().unwrap_or_default())
}

/// Checks a group of sentences with three batches in all: the screen, the scoring with bounds,
/// and the exact scoring of the alternatives that could matter (see the module documentation).
fn check_sentence_group(
    scorer: &dyn TermScorer,
    sentences: &[&SentenceToCheck],
    inputs: &SentenceCheckInputs,
    cancel: Option<&CancelFlag>,
    statistics: &mut CheckStatistics,
) -> Result<Vec<Vec<Finding>>, CheckError> {
    let settings = inputs.settings;
    statistics.sentences += sentences.len();
    let mut plans: Vec<Vec<WordPlan>> = Vec::with_capacity(sentences.len());
    for sentence in sentences {
        let words = scorer.words(&sentence.text)?;
        statistics.words += words
            .iter()
            .filter(|word| word.text.chars().any(char::is_alphabetic))
            .count();
        let sentence_plans = plan_words(scorer, &words, sentence, inputs);
        statistics.checked_words += sentence_plans.len();
        plans.push(sentence_plans);
    }
    let mut findings: Vec<Vec<Finding>> = vec![Vec::new(); sentences.len()];

    // Screen with one unmasked pass per sentence.
    let screened: Vec<usize> = (0..sentences.len())
        .filter(|&idx| !plans[idx].is_empty())
        .collect();
    if screened.is_empty() {
        return Ok(findings);
    }
    let screen = scorer.token_probabilities(
        screened
            .iter()
            .map(|&idx| TokenProbabilityRequest {
                text: sentences[idx].text.clone(),
                top_k: settings.screen_top_k,
                // Top tokens matter only where a word has near-spelling alternatives.
                top_k_ranges: Some(
                    plans[idx]
                        .iter()
                        .filter(|plan| !plan.candidates.is_empty())
                        .map(|plan| plan.range.clone())
                        .collect(),
                ),
                // Only the checked words are judged.
                ranges: Some(plans[idx].iter().map(|plan| plan.range.clone()).collect()),
                cancel: cancel.cloned(),
            })
            .collect(),
    )?;
    statistics.screening_rows += screen.rows;
    // (sentence, its suspicious words)
    let mut suspicious: Vec<(usize, Vec<WordPlan>)> = Vec::new();
    for (&idx, tokens) in screened.iter().zip(&screen.answers) {
        let sentence_suspicious: Vec<WordPlan> = std::mem::take(&mut plans[idx])
            .into_iter()
            .filter(|plan| is_suspicious(plan, tokens, settings))
            .map(|plan| prune_candidates(plan, tokens, settings))
            .collect();
        if !sentence_suspicious.is_empty() {
            statistics.scored_words += sentence_suspicious.len();
            suspicious.push((idx, sentence_suspicious));
        }
    }
    if suspicious.is_empty() {
        return Ok(findings);
    }

    // Score the suspicious words exactly and their alternatives by an upper bound (first piece);
    // then score exactly only the alternatives that could change the outcome, for the words where
    // one could.
    let request = |idx: usize, plans: &[&WordPlan], candidate_bounds_only: bool| ScoreRequest {
        text: sentences[idx].text.clone(),
        words: plans
            .iter()
            .map(|plan| WordToScore {
                range: plan.range.clone(),
                candidates: plan
                    .candidates
                    .iter()
                    .map(|candidate| candidate.word.clone())
                    .collect(),
            })
            .collect(),
        top_k_alternatives: 0,
        candidate_bounds_only,
        context_tokens: settings.score_context_tokens,
        cancel: cancel.cloned(),
    };
    let bounds = scorer.score(
        suspicious
            .iter()
            .map(|(idx, plans)| request(*idx, &plans.iter().collect::<Vec<_>>(), true))
            .collect(),
    )?;
    statistics.scoring_rows += bounds.rows;
    let mut narrowed: Vec<(usize, Vec<(WordPlan, WordScore)>)> = suspicious
        .into_iter()
        .zip(bounds.answers)
        .map(|((idx, plans), scores)| {
            let pairs = plans
                .into_iter()
                .zip(scores)
                .map(|(plan, bound)| {
                    keep_candidates_that_matter(plan, bound, inputs.lexicon, settings)
                })
                .collect();
            (idx, pairs)
        })
        .collect();
    // (entry of `narrowed`, its words that need exact scores)
    let exact_needed: Vec<(usize, Vec<usize>)> = narrowed
        .iter()
        .enumerate()
        .map(|(entry, (_, pairs))| {
            let words = (0..pairs.len())
                .filter(|&word| !pairs[word].0.candidates.is_empty())
                .collect::<Vec<_>>();
            (entry, words)
        })
        .filter(|(_, words)| !words.is_empty())
        .collect();
    if !exact_needed.is_empty() {
        let exact = scorer.score(
            exact_needed
                .iter()
                .map(|(entry, words)| {
                    let (idx, pairs) = &narrowed[*entry];
                    let plans: Vec<&WordPlan> = words.iter().map(|&word| &pairs[word].0).collect();
                    request(*idx, &plans, false)
                })
                .collect(),
        )?;
        statistics.scoring_rows += exact.rows;
        for ((entry, words), scores) in exact_needed.into_iter().zip(exact.answers) {
            for (word, score) in words.into_iter().zip(scores) {
                narrowed[entry].1[word].1 = score;
            }
        }
    }
    for (idx, pairs) in &narrowed {
        findings[*idx] = pairs
            .iter()
            .filter_map(|(plan, score)| {
                if plan.unknown {
                    unknown_word::decide(plan, score, settings)
                } else {
                    improbable_term::decide(plan, score, inputs.lexicon, settings)
                }
            })
            .collect();
    }
    Ok(findings)
}

/// The word joined by a hyphen (no spaces) to this one, after it or before it.
fn hyphen_neighbour<'a>(
    text: &'a str,
    words: &[TokenizedWord],
    word_idx: usize,
    after: bool,
) -> Option<&'a str> {
    let (hyphen_idx, other_idx) = if after {
        (word_idx + 1, word_idx + 2)
    } else {
        (word_idx.checked_sub(1)?, word_idx.checked_sub(2)?)
    };
    let (word, hyphen, other) = (
        &words[word_idx],
        words.get(hyphen_idx)?,
        words.get(other_idx)?,
    );
    let touching = if after {
        hyphen.start == word.end && other.start == hyphen.end
    } else {
        hyphen.end == word.start && other.end == hyphen.start
    };
    (touching && text.get(hyphen.start..hyphen.end) == Some("-"))
        .then(|| text.get(other.start..other.end))
        .flatten()
}

/// Whether the word is hyphenated to a symbol (an all-capitals abbreviation or a number:
/// `gkm-SVM`, `seq` in `RNA-seq`, `fold` in `2-fold`): the compound is a name, not prose.
fn hyphenated_to_symbol(text: &str, words: &[TokenizedWord], word_idx: usize) -> bool {
    let is_symbol = |other: &str| {
        other.chars().any(|c| c.is_ascii_digit())
            || (other.chars().filter(char::is_ascii_uppercase).count() >= 2
                && !other.chars().any(char::is_lowercase))
    };
    [false, true]
        .into_iter()
        .any(|after| hyphen_neighbour(text, words, word_idx, after).is_some_and(is_symbol))
}

/// Whether the word is a combining form before a hyphen (`hemato-oncology`, `neuro-imaging`):
/// a first part ending in `o` whose compound goes on with a word.
fn is_combining_form(text: &str, words: &[TokenizedWord], word_idx: usize) -> bool {
    let word = &words[word_idx];
    text.get(word.start..word.end)
        .is_some_and(|part| part.ends_with('o') && part.chars().count() >= 4)
        && hyphen_neighbour(text, words, word_idx, true)
            .is_some_and(|next| next.chars().all(char::is_alphabetic))
}

fn plan_words(
    scorer: &dyn TermScorer,
    words: &[TokenizedWord],
    sentence: &SentenceToCheck,
    inputs: &SentenceCheckInputs,
) -> Vec<WordPlan> {
    let SentenceCheckInputs {
        lexicon,
        dictionary,
        spelling,
        settings,
    } = *inputs;
    let text = &sentence.text;
    let mut plans = Vec::new();
    for (word_idx, word) in words.iter().enumerate() {
        let Some(word_text) = text.get(word.start..word.end) else {
            continue;
        };
        if !is_checkable_word(word_text, settings) || dictionary.contains(word_text) {
            continue;
        }
        if sentence
            .skip
            .iter()
            .any(|skip| skip.start < word.end && word.start < skip.end)
        {
            continue;
        }
        // A word glued to a neighbour that has digits or capitals inside (IL-6, BRCA1-associated,
        // p53-mediated) is part of a symbol, not prose.
        let glued = |neighbour: Option<&TokenizedWord>, before: bool| {
            neighbour.is_some_and(|other| {
                let touching = if before {
                    other.end == word.start
                } else {
                    other.start == word.end
                };
                touching
                    && text.get(other.start..other.end).is_some_and(|other_text| {
                        other_text.chars().any(|c| c.is_ascii_digit())
                            || other_text == "/"
                            || other_text == "_"
                    })
            })
        };
        let previous = word_idx.checked_sub(1).and_then(|idx| words.get(idx));
        if glued(previous, true)
            || glued(words.get(word_idx + 1), false)
            || hyphenated_to_symbol(text, words, word_idx)
        {
            continue;
        }
        let lower = word_text.to_lowercase();
        let is_sentence_start = words[..word_idx]
            .iter()
            .all(|earlier| !earlier.text.chars().any(char::is_alphanumeric));
        let capitalized = word_text.chars().next().is_some_and(char::is_uppercase);
        let in_latin_phrase = previous
            .and_then(|previous| text.get(previous.start..previous.end))
            .is_some_and(|previous| unknown_word::is_latin_phrase(previous, &lower));
        let known = in_latin_phrase
            || is_combining_form(text, words, word_idx)
            || unknown_word::is_known_word(word_text, word.in_vocabulary, lexicon, &spelling);
        let unknown = settings.report_unknown
            && !known
            && word.pieces.len() >= settings.unknown_min_pieces
            && (settings.unknown_check_capitalized || !capitalized || is_sentence_start);
        let candidates: Vec<Candidate> = if unknown {
            unknown_word::correction_candidates(word_text, lexicon, &spelling, settings)
                .into_iter()
                .filter_map(|(word, distance)| candidate(scorer, word, distance))
                .collect()
        } else if !known
            || word_text.chars().count() < settings.min_word_length
            || improbable_term::is_function_word(&lower)
            || (capitalized && !is_sentence_start)
        {
            // Names inside a sentence (Stanford) and words of grammar are not real-word errors.
            Vec::new()
        } else {
            let max_distance = if word_text.chars().count() >= settings.min_length_for_two_edits {
                settings.max_edit_distance
            } else {
                settings.max_edit_distance.min(1)
            };
            lexicon
                .near(&lower, max_distance)
                .into_iter()
                .filter(|near| near.word.chars().count() >= 3)
                // Another form of the same word (number, tense, spelling convention) or the word
                // with or without a prefix (infeasible/feasible) is the writer's choice, not a
                // wrong term.
                .filter(|near| {
                    !(morphology::are_inflections(&lower, &near.word)
                        || morphology::are_prefix_derivations(&lower, &near.word)
                        || morphology::are_spelling_variants(&lower, &near.word))
                })
                .take(settings.max_candidates)
                .filter_map(|near| candidate(scorer, near.word, near.distance))
                .collect()
        };
        if candidates.is_empty() && !unknown {
            continue;
        }
        plans.push(WordPlan {
            range: word.start..word.end,
            text: word_text.to_string(),
            unknown,
            candidates,
        });
    }
    plans
}

/// A candidate with the first piece of its split (the screen compares first pieces).
fn candidate(scorer: &dyn TermScorer, word: String, distance: usize) -> Option<Candidate> {
    let split = scorer.words(&word).ok()?;
    let first_piece = split.first()?.pieces.first()?.clone();
    Some(Candidate {
        word,
        distance,
        first_piece,
    })
}

/// Letters only, long enough, and not an abbreviation or symbol (no capital after the first
/// letter: BRCA, IL, mRNA, IgG).
/// Non-words written in lowercase are sought from this length (`wer`, `wih`, `hae`); real-word
/// errors only from `min_word_length`.
const MIN_NON_WORD_LENGTH: usize = 3;

fn is_checkable_word(word: &str, settings: &CheckSettings) -> bool {
    let length = word.chars().count();
    let short_lowercase = length >= MIN_NON_WORD_LENGTH && word.chars().all(char::is_lowercase);
    (length >= settings.min_word_length || short_lowercase)
        && word.chars().all(char::is_alphabetic)
        && !word.chars().skip(1).any(char::is_uppercase)
}

/// Keeps the alternatives worth masked scoring: the `always_score_nearest` nearest (then most
/// frequent) ones, and those whose first piece the unmasked pass ranks among its top tokens at the
/// word's first position. Each alternative costs one row per piece, so this bounds the cost.
fn prune_candidates(
    mut plan: WordPlan,
    tokens: &[TokenProbability],
    settings: &CheckSettings,
) -> WordPlan {
    let first = tokens
        .iter()
        .find(|token| token.range.start < plan.range.end && plan.range.start < token.range.end);
    let mut candidate_idx = 0;
    plan.candidates.retain(|candidate| {
        let keep = candidate_idx < settings.always_score_nearest
            || first.is_some_and(|first| {
                first
                    .top
                    .iter()
                    .any(|(piece, _)| *piece == candidate.first_piece)
            });
        candidate_idx += 1;
        keep
    });
    plan
}

fn is_suspicious(plan: &WordPlan, tokens: &[TokenProbability], settings: &CheckSettings) -> bool {
    // A word of a known confusable pair is always scored: the screen sees only its first piece
    // (`pro` of `prostrate`), which fits.
    let lower = plan.text.to_lowercase();
    if plan.unknown
        || plan
            .candidates
            .iter()
            .any(|candidate| improbable_term::are_known_confusables(&lower, &candidate.word))
    {
        return true;
    }
    let pieces: Vec<&TokenProbability> = tokens
        .iter()
        .filter(|token| token.range.start < plan.range.end && plan.range.start < token.range.end)
        .collect();
    let Some(first) = pieces.first() else {
        return false;
    };
    let observed: f32 = pieces.iter().map(|token| token.log_probability).sum();
    if observed < settings.screen_max_log_probability {
        return true;
    }
    // An alternative whose first piece the model nearly prefers even with the word visible.
    plan.candidates.iter().any(|candidate| {
        first.top.iter().any(|(piece, log_probability)| {
            *piece == candidate.first_piece
                && *piece != first.piece
                && *log_probability > first.log_probability - settings.screen_margin
        })
    })
}

/// Drops the alternatives whose upper bound (first-piece log-probability, see
/// [`ScoreRequest::candidate_bounds_only`]) shows that their exact score cannot change what
/// `improbable_term::decide` reports, so that only the others cost the rows of an exact score.
/// A word no dictionary knows keeps its corrections (they are ranked by their exact scores), or
/// none when no bound shows it could be reported. The word's own score in `bound` is exact.
fn keep_candidates_that_matter(
    mut plan: WordPlan,
    mut bound: WordScore,
    lexicon: &Lexicon,
    settings: &CheckSettings,
) -> (WordPlan, WordScore) {
    let observed = bound.log_probability;
    let bounds: Vec<f32> = bound.candidates.iter().map(|(_, bound)| *bound).collect();
    let keep: Vec<bool> = if plan.unknown {
        let reported = unknown_word::could_be_reported(
            observed,
            plan.candidates
                .iter()
                .zip(&bounds)
                .map(|(candidate, &bound)| (candidate.distance, bound)),
            settings,
        );
        bounds.iter().map(|_| reported).collect()
    } else {
        let observed_unigram = lexicon.log_unigram(&plan.text);
        let passes = |candidate: &Candidate, bound: f32| {
            improbable_term::margin_excess(
                &plan.text,
                candidate,
                bound,
                observed,
                observed_unigram,
                lexicon,
                settings,
            )
            .is_some()
        };
        let could_be_flagged = plan
            .candidates
            .iter()
            .zip(&bounds)
            .any(|(candidate, &bound)| passes(candidate, bound));
        // Suggestions are alternatives more probable than the word and probable enough.
        bounds
            .iter()
            .map(|&bound| {
                could_be_flagged
                    && bound > observed
                    && bound >= settings.min_alternative_log_probability
            })
            .collect()
    };
    let mut keep_iter = keep.iter();
    plan.candidates
        .retain(|_| *keep_iter.next().unwrap_or(&false));
    let mut keep_iter = keep.iter();
    bound
        .candidates
        .retain(|_| *keep_iter.next().unwrap_or(&false));
    (plan, bound)
}
