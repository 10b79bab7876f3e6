//! The `improbable-term` finding: a real word where the model, in this context, is far surer of a
//! near spelling ("myocardial infraction" → "infarction"), decided as a noisy channel: the margin
//! of the alternative's log-probability over the word's, corrected for how common each is, must
//! clear a bar that grows with the edits between them and with how often the manuscript writes
//! the word in other sentences (an author who writes "privacy" in ten sentences means it). Known
//! confusable pairs (medical pairs, homophones: the likeliest slips) need a lower bar.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use super::lexicon::Lexicon;
use super::terminology::{Candidate, CheckSettings, Finding, FindingCode, WordPlan};
use super::wording::{format_probability, match_case};
use crate::model::WordScore;

/// Words of grammar (pronouns, determiners, auxiliaries, conjunctions, prepositions): the model
/// prefers one over another for reasons of style, never because a term is wrong, so they are not
/// real-word candidates (`They` → `The`, `from` → `form`).
const FUNCTION_WORDS: &[&str] = &[
    "about",
    "above",
    "across",
    "after",
    "again",
    "against",
    "also",
    "although",
    "among",
    "amongst",
    "another",
    "around",
    "because",
    "been",
    "before",
    "behind",
    "being",
    "below",
    "beneath",
    "beside",
    "besides",
    "between",
    "beyond",
    "both",
    "cannot",
    "could",
    "does",
    "doing",
    "done",
    "down",
    "during",
    "each",
    "either",
    "else",
    "enough",
    "even",
    "ever",
    "every",
    "from",
    "further",
    "furthermore",
    "had",
    "has",
    "have",
    "having",
    "hence",
    "here",
    "herein",
    "hers",
    "herself",
    "himself",
    "however",
    "into",
    "itself",
    "just",
    "less",
    "many",
    "might",
    "more",
    "moreover",
    "most",
    "much",
    "must",
    "near",
    "neither",
    "never",
    "nevertheless",
    "none",
    "nonetheless",
    "nor",
    "not",
    "now",
    "once",
    "only",
    "onto",
    "other",
    "others",
    "otherwise",
    "ours",
    "ourselves",
    "over",
    "rather",
    "same",
    "several",
    "shall",
    "should",
    "since",
    "some",
    "such",
    "than",
    "that",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "thence",
    "there",
    "thereby",
    "therefore",
    "therein",
    "these",
    "they",
    "this",
    "those",
    "though",
    "through",
    "throughout",
    "thus",
    "till",
    "together",
    "too",
    "toward",
    "towards",
    "under",
    "unless",
    "until",
    "upon",
    "very",
    "were",
    "what",
    "whatever",
    "when",
    "whenever",
    "where",
    "whereas",
    "whereby",
    "wherein",
    "whether",
    "which",
    "while",
    "whilst",
    "whom",
    "whose",
    "will",
    "with",
    "within",
    "without",
    "would",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// Pairs of real words biomedical writers confuse (`data/confusables/medical_pairs.txt`).
const MEDICAL_PAIRS: &str = include_str!("../../data/confusables/medical_pairs.txt");

/// English homophones within two edits (`data/confusables/homophones.txt`, made from the CMU
/// Pronouncing Dictionary by `scripts/make_homophones.py`): `cell`/`sell`, `presence`/`presents`.
const HOMOPHONES: &str = include_str!("../../data/confusables/homophones.txt");

/// The known confusable pairs, each stored in alphabetical order.
fn known_confusable_pairs() -> &'static HashSet<(&'static str, &'static str)> {
    static PAIRS: OnceLock<HashSet<(&'static str, &'static str)>> = OnceLock::new();
    PAIRS.get_or_init(|| {
        [MEDICAL_PAIRS, HOMOPHONES]
            .iter()
            .flat_map(|list| list.lines())
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once(' '))
            .map(|(first, second)| (first.min(second), first.max(second)))
            .collect()
    })
}

/// Whether two words (lowercase) are a known confusable pair, in either order: one of the medical
/// pairs or two homophones. The channel of the noisy-channel decision: such a slip is likelier
/// than any other near spelling, so it needs a lower margin.
pub fn are_known_confusables(a: &str, b: &str) -> bool {
    known_confusable_pairs().contains(&(a.min(b), a.max(b)))
}

/// Whether a word is a function word (compared in lowercase), never a real-word candidate.
pub fn is_function_word(lower: &str) -> bool {
    FUNCTION_WORDS.binary_search(&lower).is_ok()
}

/// Whether an alternative with this log-probability would be flagged over the observed word:
/// more probable than the word, probable enough itself, and ahead by the margin its edit distance
/// demands after the frequency correction. Returns by how much it clears that margin and the
/// corrected margin itself.
pub(super) fn margin_excess(
    observed_word: &str,
    candidate: &Candidate,
    log_probability: f32,
    observed: f32,
    observed_unigram: f32,
    lexicon: &Lexicon,
    settings: &CheckSettings,
) -> Option<(f32, f32)> {
    if log_probability < settings.min_alternative_log_probability || log_probability <= observed {
        return None;
    }
    let corrected = (log_probability - observed)
        - settings.frequency_weight * (lexicon.log_unigram(&candidate.word) - observed_unigram);
    // The channel: a known confusable pair is a likelier slip than any other near spelling.
    let base = if are_known_confusables(&observed_word.to_lowercase(), &candidate.word) {
        settings.confusable_min_margin
    } else {
        settings.min_margin
    };
    let required = base + settings.margin_per_extra_edit * (candidate.distance as f32 - 1.0);
    let excess = corrected - required;
    (excess > 0.0).then_some((excess, corrected))
}

/// The finding for a known word, if an alternative clears the margin (see [`margin_excess`]).
pub(super) fn decide(
    plan: &WordPlan,
    score: &WordScore,
    lexicon: &Lexicon,
    settings: &CheckSettings,
) -> Option<Finding> {
    let observed = score.log_probability;
    let observed_unigram = lexicon.log_unigram(&plan.text);
    let mut best: Option<(f32, &str, f32, f32)> = None; // (excess, word, log p, corrected margin)
    for ((candidate, log_probability), planned) in score.candidates.iter().zip(&plan.candidates) {
        let Some((excess, corrected)) = margin_excess(
            &plan.text,
            planned,
            *log_probability,
            observed,
            observed_unigram,
            lexicon,
            settings,
        ) else {
            continue;
        };
        if best.is_none_or(|(best_excess, ..)| excess > best_excess) {
            best = Some((excess, candidate, *log_probability, corrected));
        }
    }
    let (excess, candidate, log_probability, corrected) = best?;
    let mut ranked: Vec<&(String, f32)> = score
        .candidates
        .iter()
        .filter(|(_, lp)| *lp > observed && *lp >= settings.min_alternative_log_probability)
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut suggestions = vec![match_case(candidate, &plan.text)];
    for (other, _) in ranked {
        let other = match_case(other, &plan.text);
        if !suggestions.contains(&other) && suggestions.len() < settings.max_suggestions {
            suggestions.push(other);
        }
    }
    Some(Finding {
        range: plan.range.clone(),
        code: FindingCode::ImprobableTerm,
        severity: if excess >= settings.strong_margin {
            settings.strong_severity
        } else {
            settings.weak_severity
        },
        word: plan.text.clone(),
        message: format!(
            "\"{}\" is improbable here (p = {}); \"{}\" fits (p = {})",
            plan.text,
            format_probability(observed.exp()),
            match_case(candidate, &plan.text),
            format_probability(log_probability.exp())
        ),
        suggestions,
        score: corrected,
        margin_over_threshold: excess,
        log_probability: observed,
        evidence: Vec::new(),
        related: Vec::new(),
    })
}

/// The manuscript as evidence: an `improbable-term` finding on a word the document writes in
/// `n` ≥ 2 sentences stays only when its margin clears the bar by `manuscript_weight × ln n` more
/// (an error repeated is still an error where the model's odds are overwhelming each time).
/// `sentences_using` counts, per lowercase word, the document's sentences that write it.
pub fn keep_despite_repetition(
    finding: &Finding,
    sentences_using: &HashMap<String, usize>,
    settings: &CheckSettings,
) -> bool {
    if finding.code != FindingCode::ImprobableTerm {
        return true;
    }
    let uses = sentences_using
        .get(&finding.word.to_lowercase())
        .copied()
        .unwrap_or(1);
    if uses < 2 {
        return true;
    }
    finding.margin_over_threshold > settings.manuscript_weight * (uses as f32).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_function_word_list_is_sorted_lowercase_and_searchable() {
        assert!(FUNCTION_WORDS.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(FUNCTION_WORDS
            .iter()
            .all(|word| word.chars().all(|c| c.is_ascii_lowercase())));
        assert!(is_function_word("they") && is_function_word("from"));
        assert!(!is_function_word("privacy") && !is_function_word("prostrate"));
    }

    #[test]
    fn known_confusables_are_pairs_in_either_order_and_nothing_else() {
        assert!(are_known_confusables("prostrate", "prostate"));
        assert!(are_known_confusables("ileum", "ilium"));
        assert!(are_known_confusables("sell", "cell") && are_known_confusables("cell", "sell"));
        assert!(are_known_confusables("presence", "presents"));
        assert!(are_known_confusables("patients", "patience"));
        // Two spelling conventions are the writer's choice, not a slip.
        assert!(!are_known_confusables("signalling", "signaling"));
        assert!(!are_known_confusables("judgement", "judgment"));
        assert!(!are_known_confusables("privacy", "primary"));
        for list in [MEDICAL_PAIRS, HOMOPHONES] {
            assert!(list
                .lines()
                .filter(|line| !line.starts_with('#'))
                .all(|line| line.split(' ').count() == 2 && line == line.to_lowercase()));
        }
    }

    fn finding(word: &str, margin_over_threshold: f32) -> Finding {
        Finding {
            range: 0..word.len(),
            code: FindingCode::ImprobableTerm,
            severity: super::super::terminology::Severity::Warning,
            word: word.into(),
            message: String::new(),
            suggestions: vec!["x".into()],
            score: 0.0,
            margin_over_threshold,
            log_probability: -10.0,
            evidence: Vec::new(),
            related: Vec::new(),
        }
    }

    #[test]
    fn a_word_written_in_many_sentences_needs_overwhelming_odds() {
        let settings = CheckSettings {
            manuscript_weight: 2.0,
            ..CheckSettings::default()
        };
        let mut uses = HashMap::new();
        uses.insert("privacy".to_string(), 10);
        uses.insert("prostrate".to_string(), 3);
        // Used once: the usual bar.
        assert!(keep_despite_repetition(
            &finding("infraction", 0.5),
            &uses,
            &settings
        ));
        // Ten sentences and a modest margin: the author means it.
        assert!(!keep_despite_repetition(
            &finding("privacy", 2.0),
            &uses,
            &settings
        ));
        // Three sentences, odds far beyond the bar each time: still an error.
        assert!(keep_despite_repetition(
            &finding("Prostrate", 10.0),
            &uses,
            &settings
        ));
    }
}
