//! The `unknown-term` finding: a word that no dictionary knows (Hunspell, the model's vocabulary,
//! the corpus word list, the user's and the workspace's words), reported with its spelling
//! corrections ranked by the model in its context; a non-word the manuscript writes in several
//! sentences is its own term (a tool, gene or drug name) and gets one finding for all its uses.

use std::collections::HashMap;

use super::lexicon::Lexicon;
use super::morphology;
use super::spelling::SpellingDictionaries;
use super::terminology::{CheckSettings, Finding, FindingCode, Severity, WordPlan};
use super::wording::{format_probability, match_case};
use crate::model::WordScore;

/// Whether a word exists: a Hunspell dictionary knows it as written, the corpus word list or the
/// vocabulary (as one whole token) knows it, or it is a regular derivative (`-ly`, `-ness`, `re-`
/// …) of a word one of them knows. The user's and the workspace's words are left out before.
pub fn is_known_word(
    word: &str,
    in_vocabulary: bool,
    lexicon: &Lexicon,
    spelling: &SpellingDictionaries,
) -> bool {
    let lower = word.to_lowercase();
    in_vocabulary
        || spelling.knows(word)
        || lexicon.contains(&lower)
        || morphology::is_regular_derivative(&lower, &|known| {
            lexicon.contains(known) || spelling.knows(known)
        })
}

/// Latin phrases of scientific English whose second word is no word alone (`de facto`, `in
/// silico`); the dictionaries know single words only.
const LATIN_PHRASES: &[(&str, &str)] = &[
    ("de", "facto"),
    ("de", "novo"),
    ("in", "vivo"),
    ("in", "vitro"),
    ("in", "situ"),
    ("in", "silico"),
    ("in", "utero"),
    ("in", "toto"),
    ("ex", "vivo"),
    ("ex", "situ"),
    ("a", "priori"),
    ("a", "posteriori"),
    ("ad", "hoc"),
    ("post", "hoc"),
    ("ad", "libitum"),
    ("ad", "infinitum"),
    ("per", "se"),
    ("vice", "versa"),
    ("bona", "fide"),
    ("inter", "alia"),
    ("sine", "qua"),
    ("status", "quo"),
    ("ipso", "facto"),
    ("mutatis", "mutandis"),
];

/// Whether `word` (lowercase) completes a Latin phrase after `previous` (`de facto`).
pub fn is_latin_phrase(previous: &str, word: &str) -> bool {
    let previous = previous.to_lowercase();
    LATIN_PHRASES
        .iter()
        .any(|&(first, second)| first == previous && second == word)
}

/// Corrections of a non-word worth scoring in context, nearest first: Hunspell's suggestions (a
/// lowercase word gets no capitalised name), then the near spellings of the corpus word list
/// (within `max_edit_distance`); each with its edit distance from the word.
pub fn correction_candidates(
    word: &str,
    lexicon: &Lexicon,
    spelling: &SpellingDictionaries,
    settings: &CheckSettings,
) -> Vec<(String, usize)> {
    let lower = word.to_lowercase();
    let starts_lowercase = word.chars().next().is_some_and(char::is_lowercase);
    let mut found: Vec<(String, usize)> = Vec::new();
    for suggestion in spelling.suggest(word) {
        if starts_lowercase && suggestion.chars().next().is_some_and(char::is_uppercase) {
            continue;
        }
        let suggestion_lower = suggestion.to_lowercase();
        if suggestion_lower == lower || !suggestion.chars().all(char::is_alphabetic) {
            continue;
        }
        let distance = super::lexicon::osa_distance(&lower, &suggestion_lower);
        if !found.iter().any(|(known, _)| *known == suggestion_lower) {
            found.push((suggestion_lower, distance));
        }
    }
    for near in lexicon.near(&lower, settings.max_edit_distance) {
        if near.word.chars().count() >= 3 && !found.iter().any(|(known, _)| *known == near.word) {
            found.push((near.word, near.distance));
        }
    }
    // Hunspell's order within one distance, nearest first.
    found.sort_by_key(|(_, distance)| *distance);
    found.truncate(MAX_CORRECTIONS);
    found
}

/// Corrections of a non-word scored at most: Hunspell often has a dozen at one edit (`cary`:
/// cray, cry, car, scary, carry …) and the model must see the right one to rank it first.
pub const MAX_CORRECTIONS: usize = 16;

/// The finding for a non-word: its corrections ranked by their log-probability in the slot, less
/// `unknown_edit_penalty` for each edit beyond the first (the channel: a far spelling needs the
/// context's support). It is reported when the best of them beats the word itself by
/// `unknown_min_margin`, or `unknown_supported_margin` when the context supports the correction
/// ([`unknown_bar`]), and the word's log-probability is at most `unknown_max_log_probability`; the
/// finding's score is that margin.
pub(super) fn decide(
    plan: &WordPlan,
    score: &WordScore,
    settings: &CheckSettings,
) -> Option<Finding> {
    let observed = score.log_probability;
    if observed > settings.unknown_max_log_probability {
        return None;
    }
    let mut ranked: Vec<(&str, f32)> = score
        .candidates
        .iter()
        .zip(&plan.candidates)
        .map(|((word, log_probability), planned)| {
            (
                word.as_str(),
                log_probability - channel_cost(planned.distance, settings),
            )
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let best = ranked.first().map_or(f32::NEG_INFINITY, |(_, best)| *best);
    let margin = best - observed;
    let bar = unknown_bar(best, settings);
    // A NaN margin (no finite score) is no evidence either.
    if margin.is_nan() || margin < bar {
        return None;
    }
    let suggestions: Vec<String> = ranked
        .into_iter()
        .take(settings.max_suggestions)
        .map(|(word, _)| match_case(word, &plan.text))
        .collect();
    let message = if suggestions.is_empty() {
        format!(
            "\"{}\" is in no dictionary (p = {} here)",
            plan.text,
            format_probability(observed.exp())
        )
    } else {
        format!(
            "\"{}\" is in no dictionary (p = {} here); did you mean {}?",
            plan.text,
            format_probability(observed.exp()),
            suggestions
                .iter()
                .map(|word| format!("\"{word}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Some(Finding {
        range: plan.range.clone(),
        code: FindingCode::UnknownTerm,
        severity: settings.unknown_severity,
        word: plan.text.clone(),
        message,
        suggestions,
        score: margin,
        margin_over_threshold: margin - bar,
        log_probability: observed,
        evidence: Vec::new(),
        related: Vec::new(),
    })
}

/// The channel: what a correction `distance` edits away loses, `unknown_edit_penalty` per edit
/// beyond the first.
pub(super) fn channel_cost(distance: usize, settings: &CheckSettings) -> f32 {
    settings.unknown_edit_penalty * (distance.max(1) - 1) as f32
}

/// Whether a non-word could be reported, from upper bounds of its corrections' log-probabilities
/// (`(distance, bound)`): a correction whose exact score clears the bar has a bound that clears
/// it too (the supported bar only falls as the correction's score rises), so a word none of whose
/// bounds clears it is not reported, and its corrections need no exact score.
pub(super) fn could_be_reported(
    observed: f32,
    bounds: impl Iterator<Item = (usize, f32)>,
    settings: &CheckSettings,
) -> bool {
    observed <= settings.unknown_max_log_probability
        && bounds.into_iter().any(|(distance, bound)| {
            let best = bound - channel_cost(distance, settings);
            best - observed >= unknown_bar(best, settings)
        })
}

/// The margin a non-word's best correction (log-probability `best`, after the channel) must clear:
/// `unknown_min_margin`, or the lower `unknown_supported_margin` when the context supports the
/// correction itself.
pub fn unknown_bar(best: f32, settings: &CheckSettings) -> f32 {
    if best >= settings.unknown_supported_log_probability {
        settings
            .unknown_min_margin
            .min(settings.unknown_supported_margin)
    } else {
        settings.unknown_min_margin
    }
}

/// A non-word written the same way in `own_term_min_sentences` or more sentences of a document is
/// the manuscript's own term: its first use keeps one finding (a hint that offers the dictionaries)
/// and the other uses none. `findings` are in document order.
pub fn merge_own_terms(
    findings: Vec<Finding>,
    sentences_using: &HashMap<String, usize>,
    settings: &CheckSettings,
) -> Vec<Finding> {
    let mut reported: HashMap<String, ()> = HashMap::new();
    let mut merged = Vec::with_capacity(findings.len());
    for mut finding in findings {
        if finding.code != FindingCode::UnknownTerm {
            merged.push(finding);
            continue;
        }
        let key = finding.word.to_lowercase();
        let uses = sentences_using.get(&key).copied().unwrap_or(1);
        if uses < settings.own_term_min_sentences {
            merged.push(finding);
            continue;
        }
        if reported.insert(key, ()).is_some() {
            continue;
        }
        finding.severity = Severity::Hint;
        finding.message = format!(
            "\"{}\" is in no dictionary; this document writes it in {uses} sentences: a term \
             of its own? Add it to the workspace dictionary, or correct it everywhere",
            finding.word
        );
        merged.push(finding);
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon() -> Lexicon {
        Lexicon::bundled_with_vocabulary(["carry", "out", "decrease"], 2).unwrap()
    }

    #[test]
    fn english_words_and_their_derivatives_are_known_non_words_are_not() {
        let lexicon = lexicon();
        let spelling = SpellingDictionaries::default();
        for word in [
            "anything",
            "infraction",
            "Introduction",
            "hurdles",
            "reusable",
        ] {
            assert!(is_known_word(word, false, &lexicon, &spelling), "{word}");
        }
        for word in ["vfar", "cary", "Sierological", "dicrease", "phyloseq"] {
            assert!(!is_known_word(word, false, &lexicon, &spelling), "{word}");
        }
        // One whole token of the vocabulary is a word.
        assert!(is_known_word("phyloseq", true, &lexicon, &spelling));
    }

    #[test]
    fn a_non_word_could_be_reported_only_when_a_bound_clears_the_bar_the_exact_score_would() {
        let settings = CheckSettings::default();
        let reported = |observed: f32, distance: usize, bound: f32| {
            could_be_reported(observed, [(distance, bound)].into_iter(), &settings)
        };
        // A correction the context does not support (under −12): the plain bar, 19.
        assert!(!reported(-40.0, 1, -22.0));
        assert!(reported(-40.0, 1, -20.5));
        // A correction the context supports (≥ −12) needs only the supported margin (4).
        assert!(reported(-15.0, 1, -11.0));
        assert!(!reported(-15.0, 1, -11.5));
        // The channel: a second edit costs `unknown_edit_penalty` (12).
        assert!(reported(-40.0, 1, -14.0));
        assert!(!reported(-40.0, 2, -14.0));
        // No correction: nothing to report.
        assert!(!could_be_reported(-25.0, std::iter::empty(), &settings));
        // Every exact score at or under its bound that would be reported has a bound that is.
        for observed in [-30.0f32, -20.0, -14.0, -9.0] {
            for exact in (-80..0).map(|half| half as f32 * 0.5) {
                for slack in [0.0f32, 0.5, 3.0, 9.0] {
                    let bound = (exact + slack).min(0.0);
                    if reported(observed, 1, exact) {
                        assert!(
                            reported(observed, 1, bound),
                            "observed {observed}, exact {exact}, bound {bound}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn latin_phrases_complete_only_after_their_first_word() {
        assert!(is_latin_phrase("de", "facto"));
        assert!(is_latin_phrase("In", "silico"));
        assert!(!is_latin_phrase("the", "facto"));
        assert!(!is_latin_phrase("de", "fakto"));
    }

    #[test]
    fn corrections_come_from_hunspell_and_the_corpus_list_nearest_first() {
        let lexicon = lexicon();
        let spelling = SpellingDictionaries::default();
        let settings = CheckSettings::default();
        let cary = correction_candidates("cary", &lexicon, &spelling, &settings);
        assert!(cary.iter().any(|(word, _)| word == "carry"), "{cary:?}");
        // No capitalised name for a lowercase word (Cary, Gary, Mary).
        assert!(cary.iter().all(|(word, _)| word != "gary"), "{cary:?}");
        assert!(cary.windows(2).all(|pair| pair[0].1 <= pair[1].1));
        let sierological = correction_candidates("Sierological", &lexicon, &spelling, &settings);
        assert!(
            sierological.iter().any(|(word, _)| word == "serological"),
            "{sierological:?}"
        );
    }

    fn unknown(word: &str) -> Finding {
        Finding {
            range: 0..word.len(),
            code: FindingCode::UnknownTerm,
            severity: Severity::Information,
            word: word.into(),
            message: String::new(),
            suggestions: Vec::new(),
            score: 0.0,
            margin_over_threshold: 0.0,
            log_probability: -10.0,
            evidence: Vec::new(),
            related: Vec::new(),
        }
    }

    #[test]
    fn a_non_word_written_in_several_sentences_is_one_hint_a_single_use_stays() {
        let settings = CheckSettings::default();
        let mut uses = HashMap::new();
        uses.insert("phyloseq".to_string(), 89);
        uses.insert("cary".to_string(), 1);
        let merged = merge_own_terms(
            vec![
                unknown("phyloseq"),
                unknown("cary"),
                unknown("phyloseq"),
                unknown("Phyloseq"),
            ],
            &uses,
            &settings,
        );
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].severity, Severity::Hint);
        assert!(
            merged[0].message.contains("89 sentences"),
            "{}",
            merged[0].message
        );
        assert_eq!(merged[1].word, "cary");
        assert_eq!(merged[1].severity, settings.unknown_severity);
    }
}
