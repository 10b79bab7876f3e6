//! One concept written several ways in one manuscript: British and American spellings
//! (`tumour`/`tumor`, `haemoglobin`/`hemoglobin`), a hyphen or none (`non-linear`/`nonlinear`) and,
//! for names with a letter or a number for one part, a hyphen or a space (`T-cell`/`T cell`), and a
//! Greek letter written as the letter or spelled out (`TNF-α`/`TNF-alpha`).
//! Candidate pairs come from normalised forms; a spelling pair counts only when the bundled
//! dictionaries put its forms in different conventions (so `four`/`for` or `ileum`/`ilium` are
//! never merged), and each minority form only when the judge (the model's contextual embeddings,
//! `same_term.rs`) reads it as the majority form's term in this manuscript.

use std::collections::HashMap;
use std::ops::Range;

use super::abbreviations::words;
use super::document::DocumentSentence;
use super::lexicon::osa_distance;
use super::same_term::SameTermJudge;
use super::spelling::spelling_convention;

/// A form that differs from the manuscript's majority form of the same term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariantFinding {
    /// The minority form, its first place (sentence index, byte range in its text).
    pub form: String,
    pub sentence: usize,
    pub range: Range<usize>,
    /// The minority form's other places, written the same way: the fix is made there too.
    pub other_places: Vec<(usize, Range<usize>)>,
    /// The majority form, as the manuscript writes it, and its first place.
    pub majority: String,
    pub majority_place: (usize, Range<usize>),
    pub message: String,
}

/// A form's occurrences: (sentence, range, surface text).
type Occurrences = Vec<(usize, Range<usize>, String)>;

/// The spelling key: British spellings turned American (only a key: the dictionaries decide).
fn spelling_key(lower: &str) -> String {
    let mut key = lower
        .replace("our", "or")
        .replace("ae", "e")
        .replace("oe", "e")
        .replace("isation", "ization")
        .replace("ising", "izing")
        .replace("ise", "ize")
        .replace("elling", "eling")
        .replace("elled", "eled")
        .replace("yse", "yze");
    for (british, american) in [("tre", "ter"), ("tres", "ters"), ("tred", "tered")] {
        if let Some(stem) = key.strip_suffix(british) {
            key = format!("{stem}{american}");
            break;
        }
    }
    key
}

/// The variant findings of a manuscript's sentences; `judge` decides whether each minority form
/// of a candidate group is the majority form's term.
pub fn term_variant_findings(
    sentences: &[DocumentSentence],
    judge: &mut dyn SameTermJudge,
) -> Vec<VariantFinding> {
    let mut spelling_groups: HashMap<String, HashMap<String, Occurrences>> = HashMap::new();
    let mut hyphenated: HashMap<String, (usize, HashMap<String, Occurrences>)> = HashMap::new();
    let mut greek: HashMap<String, HashMap<String, Occurrences>> = HashMap::new();
    let tokenized: Vec<Vec<(Range<usize>, &str)>> = sentences
        .iter()
        .map(|sentence| words(&sentence.check.text))
        .collect();
    for (sentence_index, sentence_words) in tokenized.iter().enumerate() {
        for (range, word) in sentence_words {
            let lower = word.to_lowercase();
            if let Some(key) = greek_key(&lower) {
                greek
                    .entry(key)
                    .or_default()
                    .entry(lower.clone())
                    .or_default()
                    .push((sentence_index, range.clone(), word.to_string()));
            } else if let Some(split) = lower.find('-') {
                if lower.matches('-').count() == 1 {
                    let key = lower.replace('-', "");
                    let entry = hyphenated
                        .entry(key)
                        .or_insert_with(|| (split, HashMap::new()));
                    entry.1.entry(lower.clone()).or_default().push((
                        sentence_index,
                        range.clone(),
                        word.to_string(),
                    ));
                }
            } else if lower.chars().all(char::is_alphabetic) && lower.len() >= 4 {
                let key = spelling_key(&lower);
                spelling_groups
                    .entry(key)
                    .or_default()
                    .entry(lower.clone())
                    .or_default()
                    .push((sentence_index, range.clone(), word.to_string()));
            }
        }
    }
    // The same hyphenated terms written with a space (`T cell`) or closed up (`Tcell`).
    for (sentence_index, sentence_words) in tokenized.iter().enumerate() {
        let text = &sentences[sentence_index].check.text;
        for (index, (range, word)) in sentence_words.iter().enumerate() {
            let lower = word.to_lowercase();
            if let Some((_, forms)) = hyphenated.get_mut(&lower) {
                forms.entry(lower.clone()).or_default().push((
                    sentence_index,
                    range.clone(),
                    word.to_string(),
                ));
            }
            let Some((next_range, next)) = sentence_words.get(index + 1) else {
                continue;
            };
            if &text[range.end..next_range.start] != " " {
                continue;
            }
            let joined = format!("{}{}", lower, next.to_lowercase());
            if let Some((split, forms)) = hyphenated.get_mut(&joined) {
                // A space where a hyphen was is usually grammar (`a high-level view`, `at a
                // high level`); it is a variant of a name only when one part is a letter or a
                // number (`T cell`/`T-cell`, `IL 6`/`IL-6`).
                let name_like =
                    lower.chars().count() == 1 || next.chars().all(|c| c.is_ascii_digit());
                if *split == lower.len() && name_like {
                    forms
                        .entry(format!("{} {}", lower, next.to_lowercase()))
                        .or_default()
                        .push((
                            sentence_index,
                            range.start..next_range.end,
                            text[range.start..next_range.end].to_string(),
                        ));
                }
            }
        }
    }
    let mut findings = Vec::new();
    for forms in spelling_groups.into_values() {
        if forms.len() < 2 {
            continue;
        }
        // Only forms of different conventions are one term written two ways.
        let conventions: Vec<Option<&str>> =
            forms.keys().map(|form| spelling_convention(form)).collect();
        let different =
            conventions.contains(&Some("en_US")) && conventions.contains(&Some("en_GB"));
        if different && conventions.iter().all(Option::is_some) {
            findings.extend(report(forms, judge));
        }
    }
    for (_, forms) in hyphenated.into_values() {
        if forms.len() >= 2 {
            findings.extend(report(forms, judge));
        }
    }
    for forms in greek.into_values() {
        if forms.len() >= 2 {
            findings.extend(report(forms, judge));
        }
    }
    findings.sort_by_key(|finding| (finding.sentence, finding.range.start));
    findings
}

/// A string-only likeness of two forms, 0 to 1: one less their edit distance (lowercase,
/// transpositions counted once) over the longer's length. The baseline the embedding decision is
/// measured against.
pub fn string_similarity(a: &str, b: &str) -> f32 {
    let (a, b) = (a.to_lowercase(), b.to_lowercase());
    let longer = a.chars().count().max(b.chars().count()).max(1);
    1.0 - osa_distance(&a, &b) as f32 / longer as f32
}

/// One finding per minority form: the majority is the form written most (the first written on
/// a tie).
fn report(
    forms: HashMap<String, Occurrences>,
    judge: &mut dyn SameTermJudge,
) -> Vec<VariantFinding> {
    let mut forms: Vec<(String, Occurrences)> = forms.into_iter().collect();
    forms.sort_by_key(|(_, places)| {
        (
            std::cmp::Reverse(places.len()),
            places
                .first()
                .map(|(sentence, range, _)| (*sentence, range.start)),
        )
    });
    // A minority form the judge reads as another term is no variant of this one.
    let places_of = |occurrences: &Occurrences| -> Vec<(usize, Range<usize>)> {
        occurrences
            .iter()
            .map(|(sentence, range, _)| (*sentence, range.clone()))
            .collect()
    };
    let majority = places_of(&forms[0].1);
    let mut kept = vec![forms[0].clone()];
    for form in &forms[1..] {
        if judge.same_term(&majority, &places_of(&form.1)) {
            kept.push(form.clone());
        }
    }
    let forms = kept;
    if forms.len() < 2 {
        return Vec::new();
    }
    let (_, majority_places) = &forms[0];
    let (majority_sentence, majority_range, majority_surface) = majority_places[0].clone();
    let counts: Vec<String> = forms
        .iter()
        .map(|(_, places)| format!("\"{}\" ×{}", places[0].2, places.len()))
        .collect();
    forms[1..]
        .iter()
        .map(|(_, places)| {
            let (sentence, range, surface) = places[0].clone();
            let majority_surface = with_first_letter_case_of(&majority_surface, &surface);
            // The same fix fits only where the form is written the same way (a capital at a
            // sentence's start takes its own).
            let other_places = places[1..]
                .iter()
                .filter(|(_, _, other)| *other == surface)
                .map(|(sentence, range, _)| (*sentence, range.clone()))
                .collect();
            VariantFinding {
                message: format!(
                    "one term written {} ways in this manuscript ({}): write \"{}\"",
                    forms.len(),
                    counts.join(", "),
                    majority_surface
                ),
                form: surface,
                sentence,
                range,
                other_places,
                majority: majority_surface.clone(),
                majority_place: (majority_sentence, majority_range.clone()),
            }
        })
        .collect()
}

/// Greek letters and their names, as biomedical names write them (`TNF-α`, `TNF-alpha`).
const GREEK_LETTERS: &[(char, &str)] = &[
    ('α', "alpha"),
    ('β', "beta"),
    ('γ', "gamma"),
    ('δ', "delta"),
    ('ε', "epsilon"),
    ('ζ', "zeta"),
    ('η', "eta"),
    ('θ', "theta"),
    ('ι', "iota"),
    ('κ', "kappa"),
    ('λ', "lambda"),
    ('μ', "mu"),
    ('ν', "nu"),
    ('ξ', "xi"),
    ('π', "pi"),
    ('ρ', "rho"),
    ('σ', "sigma"),
    ('τ', "tau"),
    ('φ', "phi"),
    ('χ', "chi"),
    ('ψ', "psi"),
    ('ω', "omega"),
];

/// The key of a name with a Greek letter, written as the letter or spelled out, with or without
/// a hyphen (`tnf-α`, `tnf-alpha`, `tnfα` → `tnfalpha`); `None` for a word with no Greek letter
/// in it (a spelled-out name counts only as a hyphenated part: `alpha-helix`, not `alphabet`) or
/// for a Greek letter alone.
fn greek_key(lower: &str) -> Option<String> {
    let spelled_part = lower.contains('-')
        && lower
            .split('-')
            .any(|part| GREEK_LETTERS.iter().any(|(_, name)| *name == part));
    let has_letter = lower
        .chars()
        .any(|c| GREEK_LETTERS.iter().any(|(letter, _)| *letter == c));
    if !(spelled_part || has_letter) || lower.chars().count() < 2 {
        return None;
    }
    let mut key = String::new();
    for character in lower.chars().filter(|&c| c != '-') {
        match GREEK_LETTERS
            .iter()
            .find(|(letter, _)| *letter == character)
        {
            Some((_, name)) => key.push_str(name),
            None => key.push(character),
        }
    }
    Some(key)
}

/// `word` with its first letter upper or lower case as `model`'s (a sentence's first word).
fn with_first_letter_case_of(word: &str, model: &str) -> String {
    let upper = model.chars().next().is_some_and(char::is_uppercase);
    let mut characters = word.chars();
    match characters.next() {
        Some(first) if upper => first.to_uppercase().chain(characters).collect(),
        Some(first) => first.to_lowercase().chain(characters).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::document::prepare_document;
    use crate::prose::{Language, ProseOptions};

    fn variants(text: &str) -> Vec<(String, String)> {
        let document = prepare_document(text, Language::PlainText, None, &ProseOptions::default());
        term_variant_findings(
            &document.sentences,
            &mut crate::analysis::same_term::EveryCandidate,
        )
        .into_iter()
        .map(|finding| (finding.form, finding.majority))
        .collect()
    }

    #[test]
    fn spelling_and_hyphenation_variants_are_one_finding_each() {
        let text = "The tumor grew.\n\nThe tumor shrank after treatment.\n\n\
                    A second tumour appeared.\n\nT-cell counts rose, and T cell counts fell, \
                    while T-cell subsets were stable.";
        assert_eq!(
            variants(text),
            [
                ("tumour".to_string(), "tumor".to_string()),
                ("T cell".to_string(), "T-cell".to_string()),
            ]
        );
    }

    #[test]
    fn different_words_are_never_merged() {
        let text = "The ileum and the ilium differ.\n\nFour patients came for a visit.\n\n\
                    The source of the course was clear.";
        assert_eq!(variants(text), []);
        let grammar = "A high-level view helps.\n\nAt a high level the views agree.";
        assert_eq!(variants(grammar), []);
        // The fix keeps the case of the place it replaces.
        let text =
            "Feed-forward networks came first.\n\nThen feed-forward layers and feedforward ones.";
        assert_eq!(
            variants(text),
            [("feedforward".to_string(), "feed-forward".to_string())]
        );
        let endings = "Centers prioritizing care.\n\nTwo centers were prioritizing it.\n\n\
                       Centres prioritising it.";
        assert_eq!(
            variants(endings),
            [
                ("Centres".to_string(), "Centers".to_string()),
                ("prioritising".to_string(), "prioritizing".to_string())
            ]
        );
        let greek = "TNF-α rose.\n\nTNF-α and IFN-γ fell.\n\nTNF-alpha stayed high, as did \
                     IFN-gamma and IFN-gamma.\n\nThe α-helix and the alpha-helix.";
        let mut found = variants(greek);
        found.sort();
        assert_eq!(
            found,
            [
                ("IFN-γ", "IFN-gamma"),
                ("TNF-alpha", "TNF-α"),
                ("alpha-helix", "α-helix")
            ]
            .map(|(form, majority)| (form.to_string(), majority.to_string()))
        );
        let consistent = "The tumor grew.\n\nThe tumor shrank.\n\nT-cell counts rose; T-cell subsets were stable.";
        assert_eq!(variants(consistent), []);
    }
}
