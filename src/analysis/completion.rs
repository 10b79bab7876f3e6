//! Completion and fill, decided here for the server and the command line: what the model is asked
//! to fill in a slot, and how its answers become the words proposed.

use std::collections::HashMap;
use std::ops::Range;

pub use super::completion_weights::FITTED_WEIGHTS;
use super::document::DefinedAbbreviation;
use super::frequency_list::{corpus_words, english_words};
use super::manuscript_words::{starts_sentence, ManuscriptWords};
use super::wording::match_case;
use crate::context::{CompletionSlot, SlotKind};
use crate::model::api::{CancelFlag, FillRequest, WordPrediction};

/// Tokens of context around a completion slot: half the engine's window, so that a keystroke's
/// forward pass stays near 100 ms on a CPU with BERT-base.
pub const COMPLETION_CONTEXT_TOKENS: usize = 32;

/// What the user's settings say about completion.
#[derive(Clone, Debug, PartialEq)]
pub struct CompletionSettings {
    pub top_k: usize,
    pub max_pieces: usize,
    /// Proposals whose probability among the words starting with the typed prefix is below this
    /// are left out.
    pub min_probability: f32,
}

/// Words of the vocabulary the model proposes for the ranking (more than are shown: the
/// manuscript and the lexicon may lift one of them above the model's first choices).
pub const MODEL_CANDIDATES: usize = 32;

/// Manuscript words scored in one slot at most (before any letter is typed, the most used).
pub const MANUSCRIPT_CANDIDATES: usize = 64;

/// A word proposed at the slot, in the order of `rank`.
#[derive(Clone, Debug, PartialEq)]
pub struct CompletionProposal {
    /// The word, capitalised like the prefix typed (or as the manuscript writes it).
    pub word: String,
    /// Its probability among the candidates that start with the typed prefix.
    pub probability: f32,
    pub rank: usize,
    /// What clients filter on: the text between the slot's start and the cursor, followed by
    /// the word (for a placeholder, the placeholder itself must not hide every item).
    pub filter_text: String,
    /// Uses of the word in this document (other than at the slot itself).
    pub uses_in_document: u32,
}

/// What the manuscript says about a slot: the words of its document and where the slot is, and
/// the words of the other open documents and the dictionaries.
pub struct ManuscriptContext<'a> {
    pub this_document: &'a ManuscriptWords,
    pub others: Vec<&'a ManuscriptWords>,
    /// Where the slot starts in this document's source (its own word is not evidence for itself).
    pub slot_source_start: usize,
    /// The lowercase term right before the slot (see [`super::manuscript_words::previous_term`]), if any.
    pub previous_word: Option<String>,
    /// In a hyphenated compound, the parts typed before the slot's part (`data-` in `data-i`, as
    /// typed; see [`compound_part`]); empty elsewhere. The manuscript's words are looked up whole.
    pub compound_head: String,
}

impl ManuscriptContext<'_> {
    /// No manuscript: the model and the lexicon alone.
    pub fn none() -> ManuscriptContext<'static> {
        static EMPTY: ManuscriptWords = ManuscriptWords::empty();
        ManuscriptContext {
            this_document: &EMPTY,
            others: Vec::new(),
            slot_source_start: 0,
            previous_word: None,
            compound_head: String::new(),
        }
    }

    /// How often this document writes `key` right after the slot's previous word, the slot's
    /// own word left out.
    fn uses_after_previous_word(&self, key: &str) -> u32 {
        let Some(previous) = &self.previous_word else {
            return 0;
        };
        self.this_document
            .pairs_after(previous)
            .iter()
            .filter(|pair| pair.next == key && pair.offset != self.slot_source_start)
            .count() as u32
    }

    /// The lowercase manuscript key of a candidate for the slot's part: the compound's head and
    /// the candidate (`data-intensive` for `intensive` after `data-`).
    fn manuscript_key(&self, key: &str) -> String {
        if self.compound_head.is_empty() {
            key.to_string()
        } else {
            format!("{}{key}", self.compound_head.to_lowercase())
        }
    }

    /// The part of a manuscript word after the compound's head, as the manuscript writes it.
    fn part_of(&self, written: &str) -> String {
        written
            .chars()
            .skip(self.compound_head.chars().count())
            .collect()
    }

    /// The manuscript's words that start with the prefix, for the model to score in the slot:
    /// those this document wrote after the slot's previous word first, then the most used, at
    /// most [`MANUSCRIPT_CANDIDATES`].
    pub fn candidates(&self, part_prefix: &str) -> Vec<String> {
        let part_prefix = part_prefix.to_lowercase();
        let prefix = self.manuscript_key(&part_prefix);
        let mut found: Vec<(&str, u32)> = Vec::new();
        if let Some(previous) = &self.previous_word {
            for pair in self.this_document.pairs_after(previous) {
                if pair.next.starts_with(&prefix) && pair.next != prefix {
                    if let Some(word) = self.this_document.get(&pair.next) {
                        // Ahead of every count: a pair outranks a frequent word.
                        found.push((word.written.as_str(), u32::MAX));
                    }
                }
            }
        }
        for words in std::iter::once(self.this_document).chain(self.others.iter().copied()) {
            for word in words.with_prefix(&prefix) {
                if word.key == prefix || word.count == 0 {
                    continue;
                }
                found.push((word.written.as_str(), word.count));
            }
        }
        found.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let mut seen = std::collections::HashSet::new();
        let mut candidates: Vec<String> = found
            .into_iter()
            .filter(|(written, _)| seen.insert(written.to_lowercase()))
            .take(MANUSCRIPT_CANDIDATES)
            .map(|(written, _)| self.part_of(written))
            .collect();
        let prefix = part_prefix;
        // Once a letter is typed, the corpus's and general English's frequent words that start
        // with it are candidates too, whatever their number of pieces (the vocabulary's own proposals stop at the
        // longest row).
        if !prefix.is_empty() {
            candidates.extend(
                corpus_words()
                    .with_prefix(&prefix)
                    .filter(|word| seen.insert(word.to_string()))
                    .take(LEXICON_CANDIDATES)
                    .map(str::to_string),
            );
            candidates.extend(
                english_words()
                    .with_prefix(&prefix)
                    .filter(|word| seen.insert(word.to_string()))
                    .take(ENGLISH_CANDIDATES)
                    .map(str::to_string),
            );
        }
        candidates
    }
}

/// The fill of a completion slot: whole words of up to `max_pieces` pieces starting with the typed
/// prefix, and the manuscript's own words that do, scored in one forward pass (a keystroke cannot
/// wait for PLL rescoring's k−1 more rows per candidate on a CPU), in a narrow window.
pub fn completion_request(
    text: String,
    slot: &CompletionSlot,
    settings: &CompletionSettings,
    cancel: CancelFlag,
    manuscript_words: Vec<String>,
) -> FillRequest {
    FillRequest {
        text,
        slot: slot.range.clone(),
        top_k: settings.top_k.max(MODEL_CANDIDATES),
        prefix: slot.prefix.clone(),
        min_pieces: 1,
        max_pieces: settings.max_pieces,
        pll_rescoring: false,
        context_tokens: COMPLETION_CONTEXT_TOKENS,
        cancel: Some(cancel),
        extra_words: manuscript_words,
    }
}

/// What the ranking knows of a candidate besides the model.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RankingFeatures {
    /// The model's log-probability of the word in the slot.
    pub model: f32,
    /// ln(1 + uses in this document).
    pub this_document: f32,
    /// ln(1 + uses in the other open documents and the dictionaries).
    pub other_documents: f32,
    /// exp(−bytes to its nearest use in this document / [`RECENCY_SCALE_BYTES`]); 0 if unused.
    pub recency: f32,
    /// ln(1 + count in the bundled corpus word list).
    pub lexicon: f32,
    /// ln(1 + count in the general English list / 1000).
    pub english: f32,
    /// How many WordPiece pieces the word has: the model's log-probability sums one term a piece
    /// (and stops at the longest row), which the ranking may make up for.
    pub pieces: f32,
    /// ln(1 + times this document writes the word right after the slot's previous word).
    pub after_previous_word: f32,
}

/// How far (in bytes of text) the recency of a word's last use fades to 1/e: a paragraph or two.
pub const RECENCY_SCALE_BYTES: f32 = 2000.0;

/// The lowest model log-probability a feature takes (a word the model rules out entirely).
const MODEL_FLOOR: f32 = -40.0;

/// Weights of the features in a candidate's score (a conditional logit: the probability of a
/// candidate is the softmax of the scores of the candidates that start with the prefix).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RankingWeights {
    pub model: f32,
    pub this_document: f32,
    pub other_documents: f32,
    pub recency: f32,
    pub lexicon: f32,
    pub english: f32,
    pub pieces: f32,
    pub after_previous_word: f32,
}

impl RankingWeights {
    pub fn score(&self, features: &RankingFeatures) -> f32 {
        self.model * features.model
            + self.this_document * features.this_document
            + self.other_documents * features.other_documents
            + self.recency * features.recency
            + self.lexicon * features.lexicon
            + self.english * features.english
            + self.pieces * features.pieces
            + self.after_previous_word * features.after_previous_word
    }
}

/// One candidate of a slot, with what the ranking knows of it.
#[derive(Clone, Debug, PartialEq)]
pub struct RankedCandidate {
    /// The lowercase form: candidates are one per lowercase form.
    pub key: String,
    /// How the manuscript writes it, else the vocabulary's form.
    pub written: String,
    pub features: RankingFeatures,
    pub uses_in_document: u32,
    pub score: f32,
    /// The softmax of the scores over all candidates.
    pub probability: f32,
}

/// The fitted weights for a slot whose word starts with `prefix`: one set per number of letters
/// typed (0, 1, 2, 3 or more), since what predicts the word changes as letters narrow the
/// candidates (before the first letter the model and the word pairs decide, after three the
/// document's own words do).
pub fn weights_for_prefix(prefix: &str) -> &'static RankingWeights {
    &FITTED_WEIGHTS[prefix.chars().count().min(FITTED_WEIGHTS.len() - 1)]
}

/// Words of the bundled corpus list scored in one slot at most, the most frequent first.
pub const LEXICON_CANDIDATES: usize = 32;

/// Words of the general English list scored in one slot at most (besides the corpus's), the most
/// frequent first.
pub const ENGLISH_CANDIDATES: usize = 16;

/// Counts of the general English list are divided by this before their logarithm is taken: the
/// list counts words of a trillion-word collection.
const ENGLISH_COUNT_SCALE: f32 = 1000.0;

/// The candidates of a slot (the model's predictions, manuscript words among them), one per
/// lowercase form, with their features, scored by `weights`, most probable first.
pub fn ranked_candidates(
    predictions: &[WordPrediction],
    manuscript: &ManuscriptContext,
    weights: &RankingWeights,
) -> Vec<RankedCandidate> {
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut candidates: Vec<RankedCandidate> = Vec::new();
    for prediction in predictions {
        let key = prediction.word.to_lowercase();
        let manuscript_key = manuscript.manuscript_key(&key);
        let model = prediction.probability.ln().max(MODEL_FLOOR);
        if let Some(&idx) = by_key.get(&key) {
            let known = &mut candidates[idx];
            known.features.model = known.features.model.max(model);
            continue;
        }
        by_key.insert(key.clone(), candidates.len());
        let mut features = RankingFeatures {
            model,
            lexicon: (corpus_words().count(&key) as f32).ln_1p(),
            english: (english_words().count(&key) as f32 / ENGLISH_COUNT_SCALE).ln_1p(),
            pieces: prediction.pieces.len() as f32,
            ..RankingFeatures::default()
        };
        let mut written = prediction.word.clone();
        let mut uses_in_document = 0;
        if let Some(word) = manuscript.this_document.get(&manuscript_key) {
            let elsewhere: Vec<usize> = word
                .offsets
                .iter()
                .copied()
                .filter(|&offset| offset != manuscript.slot_source_start)
                .collect();
            uses_in_document = elsewhere.len() as u32;
            if let Some(distance) = elsewhere
                .iter()
                .map(|&offset| offset.abs_diff(manuscript.slot_source_start))
                .min()
            {
                features.recency = (-(distance as f32) / RECENCY_SCALE_BYTES).exp();
                written = manuscript.part_of(&word.written);
            }
            features.this_document = (uses_in_document as f32).ln_1p();
            features.after_previous_word =
                (manuscript.uses_after_previous_word(&manuscript_key) as f32).ln_1p();
        }
        let other_uses: u32 = manuscript
            .others
            .iter()
            .filter_map(|words| words.get(&manuscript_key))
            .map(|word| {
                if uses_in_document == 0 {
                    written = manuscript.part_of(&word.written);
                }
                word.count.max(1)
            })
            .sum();
        features.other_documents = (other_uses as f32).ln_1p();
        candidates.push(RankedCandidate {
            key,
            written,
            features,
            uses_in_document,
            score: 0.0,
            probability: 0.0,
        });
    }
    for candidate in &mut candidates {
        candidate.score = weights.score(&candidate.features);
    }
    let max_score = candidates
        .iter()
        .map(|candidate| candidate.score)
        .fold(f32::NEG_INFINITY, f32::max);
    let total: f32 = candidates
        .iter()
        .map(|candidate| (candidate.score - max_score).exp())
        .sum();
    for candidate in &mut candidates {
        candidate.probability = (candidate.score - max_score).exp() / total;
    }
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
    candidates
}

/// The proposals of a completion, from the model's predictions for the slot of `window_text` and
/// what the manuscript says: ranked by the fitted weights, with their probability among the
/// candidates that start with the prefix, the improbable ones left out.
pub fn completion_proposals(
    predictions: &[WordPrediction],
    window_text: &str,
    slot: &CompletionSlot,
    settings: &CompletionSettings,
    manuscript: &ManuscriptContext,
) -> Vec<CompletionProposal> {
    let placeholder_text = window_text.get(slot.range.clone()).unwrap_or_default();
    let head = &manuscript.compound_head;
    let capitalise =
        head.is_empty() && slot.prefix.is_empty() && starts_sentence(window_text, slot.range.start);
    let typed = slot.prefix.to_lowercase();
    let mut ranked = ranked_candidates(predictions, manuscript, weights_for_prefix(&slot.prefix));
    // Right after a compound's hyphen, only the manuscript's own compounds (`IL-` → `IL-6`), their
    // probabilities among themselves: the model's favourite word after any hyphen makes no term.
    if !head.is_empty() && typed.is_empty() {
        ranked.retain(|candidate| {
            candidate.features.this_document > 0.0 || candidate.features.other_documents > 0.0
        });
        let total: f32 = ranked.iter().map(|candidate| candidate.probability).sum();
        for candidate in &mut ranked {
            candidate.probability /= total;
        }
    }
    ranked
        .into_iter()
        .filter(|candidate| candidate.probability >= settings.min_probability)
        // The letters typed so far are no proposal (accepting them saves nothing, and editors put
        // an exact match first).
        .filter(|candidate| typed.is_empty() || candidate.key != typed)
        .take(settings.top_k)
        .enumerate()
        .map(|(rank, candidate)| {
            let part = written_like_the_prefix(&candidate.written, &slot.prefix, capitalise);
            let word = format!("{head}{part}");
            let filter_text = match slot.kind {
                SlotKind::Placeholder => format!("{placeholder_text}{word}"),
                SlotKind::Word => word.clone(),
            };
            CompletionProposal {
                word,
                probability: candidate.probability,
                rank,
                filter_text,
                uses_in_document: candidate.uses_in_document,
            }
        })
        .collect()
}

/// The part of a hyphenated compound that the model fills at `slot` of `text`: in `data-i|` the
/// word after the last hyphen (`i`, after `data-`), whose candidates are whole words (WordPiece
/// splits at hyphens, so the model sees `data - [MASK]`). Returns the head as typed and the part's
/// slot; `None` when the prefix has no hyphen.
pub fn compound_part(text: &str, slot: &CompletionSlot) -> Option<(String, CompletionSlot)> {
    if slot.kind != SlotKind::Word {
        return None;
    }
    let (at, hyphen) = slot
        .prefix
        .char_indices()
        .rfind(|&(_, character)| matches!(character, '-' | '\u{2010}' | '\u{2011}'))?;
    let head_len = at + hyphen.len_utf8();
    let part_start = slot.range.start + head_len;
    if !text.is_char_boundary(part_start) || part_start > slot.range.end {
        return None;
    }
    Some((
        slot.prefix[..head_len].to_string(),
        CompletionSlot {
            range: part_start..slot.range.end,
            prefix: slot.prefix[head_len..].to_string(),
            kind: SlotKind::Word,
        },
    ))
}

/// A candidate written for the slot: a lowercase word takes the typed prefix's case (`Trop` →
/// `Troponin`, `IL` → `IL-6`), a word the manuscript writes with capitals keeps them (`SARS-CoV-2`
/// after `sars`), and a word starting a sentence before any letter is typed is capitalised.
fn written_like_the_prefix(written: &str, prefix: &str, capitalise: bool) -> String {
    let has_capitals = written.chars().any(char::is_uppercase);
    let word = if has_capitals {
        match prefix.chars().next() {
            Some(first) if first.is_uppercase() => match_case(written, "X"),
            _ => written.to_string(),
        }
    } else {
        match_case(written, prefix)
    };
    if capitalise {
        match_case(&word, "X")
    } else {
        word
    }
}

/// A completion from the document's abbreviations: the text to insert for the word being typed
/// and what it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbbreviationCompletion {
    pub label: String,
    pub detail: String,
}

/// Completions from the document's abbreviations for the word being typed (`prefix`, whose slot
/// starts at source byte `slot_start`): where the abbreviation is defined before the slot, the
/// abbreviation itself when the prefix starts it or starts its long form (after the definition
/// the abbreviation is what to write: the long form again is a finding); where it is not, the
/// definition `long form (SHORT)` when the prefix starts the long form. From two letters, which
/// compare in any case; a capital typed first capitalises the long form.
pub fn abbreviation_completions(
    definitions: &[DefinedAbbreviation],
    prefix: &str,
    slot_start: usize,
) -> Vec<AbbreviationCompletion> {
    let typed = prefix.to_lowercase();
    // One letter says too little: every abbreviation and long form would follow it.
    if typed.chars().count() < 2 {
        return Vec::new();
    }
    let capital = prefix.chars().next().is_some_and(char::is_uppercase);
    let mut completions: Vec<AbbreviationCompletion> = Vec::new();
    for definition in definitions {
        let defined_before = definition.definition_range.end <= slot_start;
        let starts_short = definition.short.to_lowercase().starts_with(&typed)
            && definition.short.len() > prefix.len();
        let starts_long = definition.long.to_lowercase().starts_with(&typed);
        let completion = if defined_before && (starts_short || starts_long) {
            AbbreviationCompletion {
                label: definition.short.clone(),
                detail: format!("abbreviation of \"{}\", defined above", definition.long),
            }
        } else if !defined_before && starts_long {
            // The first letter as typed, unless the long form is a name (a capital inside it).
            let long = &definition.long;
            let sentence_case = !long.chars().skip(1).any(char::is_uppercase);
            let first: String = match long.chars().next() {
                Some(first) if capital => first.to_uppercase().collect(),
                Some(first) if sentence_case => first.to_lowercase().collect(),
                Some(first) => first.to_string(),
                None => String::new(),
            };
            let long = format!("{first}{}", long.chars().skip(1).collect::<String>());
            AbbreviationCompletion {
                label: format!("{long} ({})", definition.short),
                detail: format!("defines {}", definition.short),
            }
        } else {
            continue;
        };
        if !completions
            .iter()
            .any(|known| known.label == completion.label)
        {
            completions.push(completion);
        }
    }
    completions
}

/// The fill of a `[MASK]` group for the `fill` command, where exactness beats speed: a single mask
/// is any whole word of 1..=`max_pieces` pieces, a group of n masks a word of n pieces, rescored
/// with PLL-word-l2r in the engine's whole window.
pub fn mask_fill_request(
    text: String,
    slot: Range<usize>,
    n_masks: usize,
    top_k: usize,
    max_pieces: usize,
) -> FillRequest {
    FillRequest {
        text,
        slot,
        top_k,
        prefix: String::new(),
        min_pieces: n_masks,
        max_pieces: if n_masks == 1 { max_pieces } else { n_masks },
        pll_rescoring: true,
        context_tokens: 0,
        cancel: None,
        extra_words: Vec::new(),
    }
}

#[cfg(test)]
mod tests {

    fn lvef(defined_at: std::ops::Range<usize>) -> Vec<DefinedAbbreviation> {
        vec![DefinedAbbreviation {
            short: "LVEF".into(),
            long: "left ventricular ejection fraction".into(),
            short_range: defined_at.end - 5..defined_at.end - 1,
            definition_range: defined_at,
        }]
    }

    #[test]
    fn an_abbreviation_is_offered_after_its_definition_and_its_definition_before() {
        let labels =
            |definitions: &[DefinedAbbreviation], prefix: &str, at: usize| -> Vec<String> {
                abbreviation_completions(definitions, prefix, at)
                    .into_iter()
                    .map(|completion| completion.label)
                    .collect()
            };
        // Defined at 10..51: after it, "LV" and "le" (its long form) both give the abbreviation.
        let defined = lvef(10..51);
        assert_eq!(labels(&defined, "LV", 80), ["LVEF"]);
        assert_eq!(labels(&defined, "le", 80), ["LVEF"]);
        // Before it (or where it is defined later), the long form gives the definition.
        assert_eq!(
            labels(&defined, "Le", 5),
            ["Left ventricular ejection fraction (LVEF)"]
        );
        assert_eq!(labels(&defined, "LV", 5), Vec::<String>::new());
        let mut sentence_start = lvef(60..101);
        sentence_start[0].long = "Left ventricular ejection fraction".into();
        assert_eq!(
            labels(&sentence_start, "le", 5),
            ["left ventricular ejection fraction (LVEF)"]
        );
        // One letter is too little; a whole abbreviation typed needs nothing.
        assert_eq!(labels(&defined, "l", 80), Vec::<String>::new());
        assert_eq!(labels(&defined, "LVEF", 80), Vec::<String>::new());
        assert_eq!(labels(&defined, "", 80), Vec::<String>::new());
        assert!(abbreviation_completions(&defined, "LV", 80)[0]
            .detail
            .contains("left ventricular ejection fraction"));
    }

    use super::*;
    use crate::analysis::manuscript_words::{previous_term, ManuscriptWordsBuilder};

    fn prediction(word: &str, probability: f32) -> WordPrediction {
        WordPrediction {
            word: word.to_string(),
            probability,
            pieces: vec![word.to_string()],
        }
    }

    #[test]
    fn proposals_keep_the_prefix_case_drop_improbable_words_and_filter_placeholders() {
        let settings = CompletionSettings {
            top_k: 10,
            max_pieces: 2,
            min_probability: 0.01,
        };
        let predictions = [
            prediction("infarction", 0.7),
            prediction("infection", 0.2),
            prediction("infusion", 1e-9),
        ];
        let typed = CompletionSlot {
            range: 6..9,
            prefix: "Inf".to_string(),
            kind: SlotKind::Word,
        };
        let none = ManuscriptContext::none();
        let proposals = completion_proposals(&predictions, "Acute Inf", &typed, &settings, &none);
        // (Their order is the fitted ranking's: the corpus knows infection far better.)
        let mut words: Vec<(&str, &str)> = proposals
            .iter()
            .map(|proposal| (proposal.word.as_str(), proposal.filter_text.as_str()))
            .collect();
        words.sort();
        assert_eq!(
            words,
            [("Infarction", "Infarction"), ("Infection", "Infection")]
        );
        let ranks: Vec<usize> = proposals.iter().map(|proposal| proposal.rank).collect();
        assert_eq!(ranks, [0, 1]);
        // Probabilities are among the candidates: they add up to one.
        let total: f32 = proposals.iter().map(|proposal| proposal.probability).sum();
        assert!(total > 0.99 && total <= 1.0001, "{total}");
        let placeholder = CompletionSlot {
            range: 6..12,
            prefix: String::new(),
            kind: SlotKind::Placeholder,
        };
        let proposals =
            completion_proposals(&predictions, "Acute [MASK]", &placeholder, &settings, &none);
        assert!(proposals
            .iter()
            .any(|proposal| proposal.filter_text == "[MASK]infarction"));
        let request = completion_request(
            "Acute Inf".to_string(),
            &typed,
            &settings,
            CancelFlag::new(),
            vec!["infliximab".into()],
        );
        assert_eq!(
            (
                request.context_tokens,
                request.pll_rescoring,
                request.prefix.as_str(),
                request.extra_words.as_slice()
            ),
            (
                COMPLETION_CONTEXT_TOKENS,
                false,
                "Inf",
                ["infliximab".to_string()].as_slice()
            )
        );
    }

    fn manuscript(text: &str) -> ManuscriptWords {
        let mut builder = ManuscriptWordsBuilder::default();
        builder.add_text(text, |range| Some(range.start));
        builder.build()
    }

    #[test]
    fn the_manuscripts_words_are_candidates_in_their_written_form() {
        let this_document = manuscript("SARS-CoV-2 and sepsis. Later, SARS-CoV-2 again.");
        let mut dictionary = ManuscriptWordsBuilder::default();
        dictionary.add_word("hsTnT");
        let dictionary = dictionary.build();
        let context = ManuscriptContext {
            this_document: &this_document,
            others: vec![&dictionary],
            slot_source_start: 60,
            previous_word: None,
            compound_head: String::new(),
        };
        let candidates = context.candidates("s");
        assert_eq!(candidates[..2], ["SARS-CoV-2", "sepsis"]);
        assert!(
            candidates.len() == 2 + LEXICON_CANDIDATES + ENGLISH_CANDIDATES,
            "{candidates:?}"
        );
        assert!(
            candidates.contains(&"study".to_string()),
            "a frequent corpus word"
        );
        assert_eq!(context.candidates("HS")[0], "hsTnT");
        // Before any letter: the manuscript's words alone, the most used first.
        assert_eq!(
            context.candidates(""),
            ["SARS-CoV-2", "again", "and", "hsTnT", "later", "sepsis"]
        );
        let predictions = [prediction("SARS-CoV-2", 0.01), prediction("sars", 0.2)];
        let ranked = ranked_candidates(&predictions, &context, weights_for_prefix(""));
        let sars = ranked.iter().find(|c| c.key == "sars-cov-2").unwrap();
        assert_eq!(
            (sars.written.as_str(), sars.uses_in_document),
            ("SARS-CoV-2", 2)
        );
        assert!(sars.features.recency > 0.9 && sars.features.this_document > 1.0);
        // The slot's own word is no evidence for itself.
        let at_slot = ManuscriptContext {
            slot_source_start: 0,
            ..context
        };
        let ranked = ranked_candidates(&predictions, &at_slot, weights_for_prefix(""));
        let sars = ranked.iter().find(|c| c.key == "sars-cov-2").unwrap();
        assert_eq!(sars.uses_in_document, 1);
    }

    #[test]
    fn a_word_written_after_the_previous_word_before_is_a_candidate_first_and_counts() {
        let text = "Deep learning helps. Deep learning and deep models. Many layers.";
        let this_document = manuscript(text);
        let slot = text.len() + 6;
        let context = ManuscriptContext {
            this_document: &this_document,
            others: Vec::new(),
            slot_source_start: slot,
            previous_word: previous_term(&format!("{text} Deep "), slot),
            compound_head: String::new(),
        };
        assert_eq!(context.previous_word.as_deref(), Some("deep"));
        assert_eq!(context.candidates("")[..2], ["learning", "models"]);
        let ranked = ranked_candidates(
            &[prediction("learning", 0.01), prediction("layers", 0.01)],
            &context,
            weights_for_prefix(""),
        );
        let after = |key: &str| {
            ranked
                .iter()
                .find(|c| c.key == key)
                .unwrap()
                .features
                .after_previous_word
        };
        assert_eq!((after("learning"), after("layers")), (3f32.ln(), 0.0));
        // A full stop or a paragraph break ends the phrase.
        assert_eq!(previous_term("Deep. ", 6), None);
        assert_eq!(previous_term("Deep\n\n", 6), None);
        assert_eq!(previous_term("T-cell ", 7).as_deref(), Some("t-cell"));
    }

    #[test]
    fn words_are_written_like_the_prefix_or_as_the_manuscript_writes_them() {
        let cases = [
            ("troponin", "Trop", false, "Troponin"),
            ("troponin", "trop", false, "troponin"),
            ("il-6", "IL", false, "IL-6"),
            ("SARS-CoV-2", "sars", false, "SARS-CoV-2"),
            ("hsTnT", "Hs", false, "HsTnT"),
            ("serum", "", true, "Serum"),
        ];
        for (written, prefix, capitalise, expected) in cases {
            assert_eq!(
                written_like_the_prefix(written, prefix, capitalise),
                expected,
                "{written} after {prefix:?}"
            );
        }
    }

    #[test]
    fn a_hyphenated_compound_is_completed_part_by_part() {
        let text = "Cells were treated with high-throughput screens.";
        let typed = format!("{text} High-th");
        let whole = crate::context::completion_slot(&typed, typed.len());
        let (head, part) = compound_part(&typed, &whole).expect("a compound");
        assert_eq!((head.as_str(), part.prefix.as_str()), ("High-", "th"));
        assert_eq!(&typed[part.range.clone()], "th");
        assert!(
            compound_part("the pati", &crate::context::completion_slot("the pati", 8)).is_none()
        );

        let this_document = manuscript(text);
        let context = ManuscriptContext {
            this_document: &this_document,
            others: Vec::new(),
            slot_source_start: text.len() + 1,
            previous_word: None,
            compound_head: head,
        };
        // The manuscript's compound comes back as its part after the head, first; then the
        // lexicon's and English words for the part.
        let candidates = context.candidates("th");
        assert_eq!(candidates[0], "throughput");
        assert!(
            candidates.contains(&"therapy".to_string()),
            "{candidates:?}"
        );
        let settings = CompletionSettings {
            top_k: 5,
            max_pieces: 3,
            min_probability: 0.0,
        };
        let predictions = [prediction("therapy", 0.3), prediction("throughput", 0.01)];
        let proposals = completion_proposals(&predictions, &typed, &part, &settings, &context);
        let throughput = proposals
            .iter()
            .find(|proposal| proposal.word == "High-throughput")
            .expect("the whole compound, as the writer typed its head");
        assert_eq!(throughput.uses_in_document, 1);
        assert_eq!(throughput.filter_text, "High-throughput");
        assert!(proposals
            .iter()
            .any(|proposal| proposal.word == "High-therapy"));

        // Right after the hyphen: the manuscript's compounds only.
        let typed = format!("{text} high-");
        let whole = crate::context::completion_slot(&typed, typed.len());
        let (head, part) = compound_part(&typed, &whole).expect("a compound");
        assert_eq!(part.prefix, "");
        let context = ManuscriptContext {
            compound_head: head,
            ..context
        };
        let proposals = completion_proposals(&predictions, &typed, &part, &settings, &context);
        let words: Vec<&str> = proposals.iter().map(|p| p.word.as_str()).collect();
        assert_eq!(words, ["high-throughput"]);
        assert!((proposals[0].probability - 1.0).abs() < 1e-6);
    }
}
