//! Abbreviations of a manuscript: where each is defined in the prose (`long form (SHORT)` or
//! `SHORT (long form)`, found by the Schwartz–Hearst letter match), and what a journal's editor
//! sends back about them: used before its definition, defined twice, defined and never used,
//! the long form still written after the definition, used and never defined. Plain functions over
//! the document's sentences; no model.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;

use super::document::DocumentSentence;

/// What is wrong with an abbreviation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AbbreviationIssue {
    /// Used before the sentence that defines it.
    BeforeDefinition,
    /// Defined a second time.
    Redefined,
    /// Defined and never used again.
    Unused,
    /// The long form written again after the definition.
    LongFormAfterDefinition,
    /// Used and never defined (and not a common abbreviation).
    Undefined,
}

impl AbbreviationIssue {
    pub const ALL: [AbbreviationIssue; 5] = [
        AbbreviationIssue::BeforeDefinition,
        AbbreviationIssue::Redefined,
        AbbreviationIssue::Unused,
        AbbreviationIssue::LongFormAfterDefinition,
        AbbreviationIssue::Undefined,
    ];

    /// The issue of a finding code (`abbreviation-unused`).
    pub fn from_code(code: &str) -> Option<AbbreviationIssue> {
        Self::ALL.into_iter().find(|issue| issue.as_str() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AbbreviationIssue::BeforeDefinition => "abbreviation-before-definition",
            AbbreviationIssue::Redefined => "abbreviation-redefined",
            AbbreviationIssue::Unused => "abbreviation-unused",
            AbbreviationIssue::LongFormAfterDefinition => "abbreviation-long-form",
            AbbreviationIssue::Undefined => "abbreviation-undefined",
        }
    }
}

/// A definition found in the prose; ranges are byte ranges in the sentence's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    pub short: String,
    pub long: String,
    pub sentence: usize,
    pub short_range: Range<usize>,
    pub long_range: Range<usize>,
    /// The whole definition: long form, parentheses and short form.
    pub whole_range: Range<usize>,
    /// Whether the short form is the one in parentheses (`long form (SHORT)`).
    pub short_in_parentheses: bool,
}

/// One abbreviation finding; ranges are `(sentence index, byte range in its text)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbbreviationFinding {
    pub issue: AbbreviationIssue,
    pub short: String,
    pub sentence: usize,
    pub range: Range<usize>,
    pub message: String,
    /// What the range should read instead (the fix), if there is one.
    pub replacement: Option<String>,
    /// Where the definition (or the first definition) is, with a label.
    pub related: Vec<(usize, Range<usize>, String)>,
    /// Other places where the same fix is made (the long form written out again), with a label.
    pub same_fix_at: Vec<(usize, Range<usize>, String)>,
}

/// What the abbreviation check reports.
#[derive(Clone, Debug, PartialEq)]
pub struct AbbreviationSettings {
    pub enabled: bool,
    /// Reported when used and never defined (`abbreviation-undefined`).
    pub report_undefined: bool,
    /// Abbreviations every reader knows (`DNA`, `PCR`): never reported as undefined.
    pub common: BTreeSet<String>,
    /// Report one term written several ways (`term-variant`; `analysis::term_variants`).
    pub term_variants: bool,
    /// Abbreviation findings switched off one by one.
    pub off: BTreeSet<AbbreviationIssue>,
    /// Lowercase forms the writer accepts as they are: never a `term-variant` finding.
    pub accepted_variants: BTreeSet<String>,
}

impl Default for AbbreviationSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            // Off by default: a manuscript in several files defines in one what it uses in the
            // next, and each field has acronyms its readers know (BENCHMARKS.md).
            report_undefined: false,
            common: common_abbreviations(),
            term_variants: true,
            off: BTreeSet::new(),
            accepted_variants: BTreeSet::new(),
        }
    }
}

/// The bundled list of abbreviations that need no definition.
pub fn common_abbreviations() -> BTreeSet<String> {
    include_str!("../../data/abbreviations/common.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(String::from)
        .collect()
}

/// Whether a token has the shape of an abbreviation: 2–10 characters of letters, digits and inner
/// hyphens, starting with a letter, with at least two capitals (`CRP`, `LVEF`, `IL-6`, `mRNA`,
/// `SARS-CoV-2`) — or one capital and a digit (`T2`…).
pub fn is_abbreviation_shape(token: &str) -> bool {
    let length = token.chars().count();
    if !(2..=10).contains(&length) {
        return false;
    }
    let Some(first) = token.chars().next() else {
        return false;
    };
    if !first.is_alphabetic()
        || token.ends_with('-')
        || !token.chars().all(|c| c.is_alphanumeric() || c == '-')
    {
        return false;
    }
    let capitals = token.chars().filter(|c| c.is_uppercase()).count();
    let digits = token.chars().filter(|c| c.is_ascii_digit()).count();
    capitals >= 2 || (capitals == 1 && digits >= 1 && first.is_uppercase())
}

/// Whether `short` or its plural (`CRPs`) is written as a word in `text`.
pub fn is_written_in(short: &str, text: &str) -> bool {
    words(text)
        .iter()
        .any(|(_, word)| *word == short || word.strip_suffix('s') == Some(short))
}

/// The words of a text with their byte ranges (letters, digits, inner hyphens).
pub(super) fn words(text: &str) -> Vec<(Range<usize>, &str)> {
    let mut found = Vec::new();
    let mut start = None;
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    for (index, &(offset, character)) in bytes.iter().enumerate() {
        let inner_hyphen = character == '-'
            && start.is_some()
            && bytes
                .get(index + 1)
                .is_some_and(|(_, next)| next.is_alphanumeric());
        if character.is_alphanumeric() || inner_hyphen {
            start.get_or_insert(offset);
        } else if let Some(begin) = start.take() {
            found.push((begin..offset, &text[begin..offset]));
        }
    }
    if let Some(begin) = start {
        found.push((begin..text.len(), &text[begin..]));
    }
    found
}

/// The Schwartz–Hearst match: the shortest end of `candidate` (words before the parenthesis)
/// whose letters spell `short` from right to left, the short form's first letter starting a
/// word. Returns the byte offset in `candidate` where the long form starts.
fn long_form_start(short: &str, candidate: &str) -> Option<usize> {
    let short: Vec<char> = short
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    let long: Vec<(usize, char)> = candidate
        .char_indices()
        .flat_map(|(offset, c)| c.to_lowercase().map(move |lower| (offset, lower)))
        .collect();
    let mut long_index = long.len();
    for (short_index, &wanted) in short.iter().enumerate().rev() {
        loop {
            if long_index == 0 {
                return None;
            }
            long_index -= 1;
            let (_, letter) = long[long_index];
            if letter != wanted {
                continue;
            }
            if short_index == 0 {
                // The first letter must start a word.
                let starts_word = long_index == 0 || !long[long_index - 1].1.is_alphanumeric();
                if !starts_word {
                    continue;
                }
            }
            break;
        }
    }
    Some(long[long_index].0)
}

/// The definitions written in the sentences, in order.
pub fn find_definitions(sentences: &[&str]) -> Vec<Definition> {
    let mut definitions = Vec::new();
    for (sentence_index, text) in sentences.iter().enumerate() {
        let mut search = 0;
        while let Some(open) = text[search..].find('(').map(|at| at + search) {
            search = open + 1;
            let Some(close) = text[open..].find(')').map(|at| at + open) else {
                break;
            };
            let inside = text[open + 1..close].trim();
            let inside_start = open + 1 + text[open + 1..close].find(inside).unwrap_or(0);
            let inside_range = inside_start..inside_start + inside.len();
            let before = &text[..open];
            let inside_words = inside.split_whitespace().count();
            if inside_words == 1 && is_abbreviation_shape(inside) {
                // `long form (SHORT)`: at most min(|A| + 5, 2|A|) words before the parenthesis.
                let limit = (inside.len() + 5).min(inside.len() * 2);
                let before_words = words(before);
                let first = before_words.len().saturating_sub(limit);
                let Some(window_start) = before_words.get(first).map(|(range, _)| range.start)
                else {
                    continue;
                };
                let candidate = before[window_start..].trim_end();
                if let Some(offset) = long_form_start(inside, candidate) {
                    let long_start = window_start + offset;
                    let long = before[long_start..].trim_end();
                    let long_words = long.split_whitespace().count();
                    if long_words >= 2 || long.len() > inside.len() + 2 {
                        definitions.push(Definition {
                            short: inside.to_string(),
                            long: long.to_string(),
                            sentence: sentence_index,
                            short_range: inside_range.clone(),
                            long_range: long_start..long_start + long.len(),
                            whole_range: long_start..close + 1,
                            short_in_parentheses: true,
                        });
                    }
                }
            } else if inside_words >= 2 && !inside.contains([';', '=']) {
                // `SHORT (long form)`.
                let before_words = words(before);
                let Some((short_range, short)) = before_words.last().cloned() else {
                    continue;
                };
                if before[short_range.end..].trim().is_empty()
                    && is_abbreviation_shape(short)
                    && long_form_start(short, inside) == Some(0)
                {
                    definitions.push(Definition {
                        short: short.to_string(),
                        long: inside.to_string(),
                        sentence: sentence_index,
                        short_range: short_range.clone(),
                        long_range: inside_range.clone(),
                        whole_range: short_range.start..close + 1,
                        short_in_parentheses: false,
                    });
                }
            }
        }
    }
    definitions
}

/// The abbreviation findings of a document's sentences.
/// Abbreviations in `declared` (by a LaTeX package, before the prose) are defined everywhere and
/// expanded by the package: none of their uses, definitions or long forms is reported.
pub fn abbreviation_findings(
    sentences: &[DocumentSentence],
    settings: &AbbreviationSettings,
    declared: &HashSet<String>,
) -> Vec<AbbreviationFinding> {
    let texts: Vec<&str> = sentences
        .iter()
        .map(|sentence| sentence.check.text.as_str())
        .collect();
    let mut definitions = find_definitions(&texts);
    // A plural definition (`electronic health records (EHRs)`) defines the singular.
    for definition in &mut definitions {
        if let Some(singular) = definition.short.strip_suffix('s') {
            if is_abbreviation_shape(singular) {
                definition.short = singular.to_string();
            }
        }
    }
    // Every use of an abbreviation-shaped word (its plural `CRPs` counts), outside definitions.
    let mut uses: HashMap<&str, Vec<(usize, Range<usize>)>> = HashMap::new();
    for (sentence_index, text) in texts.iter().enumerate() {
        let skip = &sentences[sentence_index].check.skip;
        for (range, word) in words(text) {
            if skip
                .iter()
                .any(|skipped| skipped.start < range.end && range.start < skipped.end)
            {
                continue;
            }
            let in_definition = definitions.iter().any(|definition| {
                definition.sentence == sentence_index && definition.short_range == range
            });
            if in_definition {
                continue;
            }
            // `CRPs` is a use of `CRP`.
            let word = match word.strip_suffix('s') {
                Some(singular) if is_abbreviation_shape(singular) => singular,
                _ => word,
            };
            if is_abbreviation_shape(word) {
                uses.entry(word).or_default().push((sentence_index, range));
            }
        }
    }
    let position = |sentence: usize, range: &Range<usize>| (sentence, range.start);
    // Each sentence lowercased once, for the long forms of every definition; `None` where
    // lowercasing moved the offsets (a rare letter): no range there to trust.
    let lowered: Vec<Option<String>> = texts
        .iter()
        .map(|text| Some(text.to_lowercase()).filter(|lower| lower.len() == text.len()))
        .collect();
    let mut findings = Vec::new();
    let mut first_definition: HashMap<&str, &Definition> = HashMap::new();
    for definition in &definitions {
        let short = definition.short.as_str();
        let Some(first) = first_definition.get(short) else {
            first_definition.insert(short, definition);
            continue;
        };
        findings.push(AbbreviationFinding {
            issue: AbbreviationIssue::Redefined,
            short: short.to_string(),
            sentence: definition.sentence,
            range: definition.whole_range.clone(),
            message: format!(
                "{short} is defined again here; it was defined before as \"{}\"",
                first.long
            ),
            replacement: Some(short.to_string()),
            related: vec![(
                first.sentence,
                first.whole_range.clone(),
                format!("{short} is first defined here"),
            )],
            same_fix_at: Vec::new(),
        });
    }
    for (short, definition) in &first_definition {
        if declared.contains(*short) {
            continue;
        }
        let defined_at = position(definition.sentence, &definition.whole_range);
        let short_uses = uses.get(short).map(Vec::as_slice).unwrap_or_default();
        let definition_place = (
            definition.sentence,
            definition.whole_range.clone(),
            format!("{short} is defined here"),
        );
        if let Some((sentence, range)) = short_uses
            .iter()
            .find(|(sentence, range)| position(*sentence, range) < defined_at)
        {
            findings.push(AbbreviationFinding {
                issue: AbbreviationIssue::BeforeDefinition,
                short: short.to_string(),
                sentence: *sentence,
                range: range.clone(),
                message: format!("{short} is used before its definition"),
                replacement: None,
                related: vec![definition_place.clone()],
                same_fix_at: Vec::new(),
            });
        }
        let used_after = short_uses
            .iter()
            .any(|(sentence, range)| position(*sentence, range) > defined_at);
        if !used_after && short_uses.is_empty() {
            let keep = if definition.short_in_parentheses {
                definition.long.clone()
            } else {
                definition.short.clone()
            };
            findings.push(AbbreviationFinding {
                issue: AbbreviationIssue::Unused,
                short: short.to_string(),
                sentence: definition.sentence,
                range: definition.whole_range.clone(),
                message: format!("{short} is defined but never used again"),
                replacement: Some(keep),
                related: Vec::new(),
                same_fix_at: Vec::new(),
            });
        }
        // The long form written again after the definition: the abbreviation was made for it.
        // One finding, at the first such place, with the count and the others as related places.
        let mut long_forms: Vec<(usize, Range<usize>)> = Vec::new();
        let long_lower = definition.long.to_lowercase();
        for (sentence_index, text) in texts.iter().enumerate().skip(definition.sentence) {
            let Some(lower) = &lowered[sentence_index] else {
                continue;
            };
            let mut from = 0;
            while let Some(at) = lower[from..].find(&long_lower).map(|at| at + from) {
                from = at + long_lower.len();
                let range = at..at + long_lower.len();
                let whole_word = !lower[..at].ends_with(char::is_alphanumeric)
                    && !lower[range.end..].starts_with(char::is_alphanumeric);
                let inside_definition = definitions.iter().any(|other| {
                    other.sentence == sentence_index
                        && range.start < other.whole_range.end
                        && other.whole_range.start < range.end
                });
                let after = (sentence_index, range.start) > defined_at;
                // Only where the abbreviation could stand: at the start of a noun phrase, not
                // inside a longer name (`deep neural network` is no `deep NN`).
                let previous = lower[..range.start]
                    .split(|c: char| !c.is_alphanumeric() && c != '-')
                    .rfind(|word| !word.is_empty());
                let phrase_start = previous.is_none_or(|word| PHRASE_OPENERS.contains(&word));
                if whole_word
                    && after
                    && phrase_start
                    && !inside_definition
                    && text.is_char_boundary(range.start)
                    && text.is_char_boundary(range.end)
                {
                    long_forms.push((sentence_index, range));
                }
            }
        }
        if let Some((sentence, range)) = long_forms.first().cloned() {
            let times = match long_forms.len() {
                1 => String::new(),
                count => format!(" ({count} times)"),
            };
            let related = vec![definition_place.clone()];
            let same_fix_at = long_forms
                .iter()
                .skip(1)
                .map(|(sentence, range)| {
                    (
                        *sentence,
                        range.clone(),
                        format!("\"{}\" again", definition.long),
                    )
                })
                .collect();
            findings.push(AbbreviationFinding {
                issue: AbbreviationIssue::LongFormAfterDefinition,
                short: short.to_string(),
                sentence,
                range,
                message: format!(
                    "\"{}\" was abbreviated as {short} before, yet is written out again{times}: write {short}",
                    definition.long
                ),
                replacement: Some(short.to_string()),
                related,
                same_fix_at,
            });
        }
    }
    if settings.report_undefined {
        let mut undefined: Vec<(&str, &(usize, Range<usize>))> = uses
            .iter()
            .filter(|(short, _)| {
                !first_definition.contains_key(*short)
                    && !declared.contains(**short)
                    && !settings.common.contains(**short)
                    && looks_like_an_acronym(short)
            })
            .filter_map(|(short, places)| places.first().map(|first| (*short, first)))
            .collect();
        undefined.sort_by_key(|(_, (sentence, range))| (*sentence, range.start));
        for (short, (sentence, range)) in undefined {
            findings.push(AbbreviationFinding {
                issue: AbbreviationIssue::Undefined,
                short: short.to_string(),
                sentence: *sentence,
                range: range.clone(),
                message: format!(
                    "{short} is used but never defined: write its long form with {short} in parentheses at its first use"
                ),
                replacement: None,
                related: Vec::new(),
                same_fix_at: Vec::new(),
            });
        }
    }
    findings.sort_by_key(|finding| (finding.sentence, finding.range.start));
    findings
}

/// Words after which a noun phrase starts: the long form there could be its abbreviation.
const PHRASE_OPENERS: &[&str] = &[
    "the", "a", "an", "of", "in", "and", "or", "by", "with", "for", "to", "on", "from", "at", "as",
    "that", "this", "these", "those", "its", "their", "our", "than", "between", "into", "both",
    "whereas", "while", "but", "nor", "after", "before", "during", "without", "via",
];

/// An acronym a reader must be told: all capitals (2–6 letters, no digits). Gene and protein
/// symbols with digits (`BRCA1`, `IL-6`) and mixed case (`mRNA`) are names more than
/// abbreviations: they are not asked for a definition.
fn looks_like_an_acronym(token: &str) -> bool {
    let length = token.chars().count();
    (2..=6).contains(&length) && token.chars().all(|c| c.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::document::prepare_document;
    use crate::prose::{Language, ProseOptions};

    fn findings(text: &str) -> Vec<(AbbreviationIssue, String, String)> {
        let document = prepare_document(text, Language::PlainText, None, &ProseOptions::default());
        let settings = AbbreviationSettings {
            report_undefined: true,
            ..AbbreviationSettings::default()
        };
        abbreviation_findings(&document.sentences, &settings, &HashSet::new())
            .into_iter()
            .map(|finding| {
                let sentence = &document.sentences[finding.sentence].check.text;
                (
                    finding.issue,
                    finding.short,
                    sentence[finding.range].to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn definitions_are_found_both_ways_round() {
        let sentences = [
            "Serum C-reactive protein (CRP) was raised.",
            "The left ventricular ejection fraction (LVEF) fell.",
            "LVEF (left ventricular ejection fraction) fell.",
            "We used polymerase chain reaction (PCR) and IL-6 (interleukin 6).",
            "Patients (n = 12) were seen in the morning (AM).",
        ];
        let found: Vec<(String, String)> = find_definitions(&sentences)
            .into_iter()
            .map(|definition| (definition.short, definition.long))
            .collect();
        assert_eq!(
            found,
            [
                ("CRP", "C-reactive protein"),
                ("LVEF", "left ventricular ejection fraction"),
                ("LVEF", "left ventricular ejection fraction"),
                ("PCR", "polymerase chain reaction"),
                ("IL-6", "interleukin 6"),
            ]
            .map(|(short, long)| (short.to_string(), long.to_string()))
        );
    }

    #[test]
    fn an_inconsistent_manuscript_is_reported_and_a_consistent_one_is_not() {
        let inconsistent = "Serum CRP was measured at admission.\n\n\
            Echocardiography measured the left ventricular ejection fraction (LVEF).\n\n\
            C-reactive protein (CRP) rose in 40 patients.\n\n\
            A low left ventricular ejection fraction (LVEF) predicted death.\n\n\
            Brain natriuretic peptide (BNP) was not measured again.\n\n\
            The C-reactive protein fell after treatment, and so did LVEF.\n\n\
            Results were confirmed by PCR and anxiety by the HADS.";
        let found = findings(inconsistent);
        let expected = [
            (AbbreviationIssue::BeforeDefinition, "CRP", "CRP"),
            (
                AbbreviationIssue::Redefined,
                "LVEF",
                "left ventricular ejection fraction (LVEF)",
            ),
            (
                AbbreviationIssue::Unused,
                "BNP",
                "Brain natriuretic peptide (BNP)",
            ),
            (
                AbbreviationIssue::LongFormAfterDefinition,
                "CRP",
                "C-reactive protein",
            ),
            (AbbreviationIssue::Undefined, "HADS", "HADS"),
        ];
        for (issue, short, text) in expected {
            assert!(
                found.contains(&(issue, short.to_string(), text.to_string())),
                "{issue:?} {short} {text:?} not in {found:#?}"
            );
        }
        assert_eq!(found.len(), expected.len(), "{found:#?}");

        let consistent = "Serum C-reactive protein (CRP) was measured at admission.\n\n\
            Echocardiography measured the left ventricular ejection fraction (LVEF).\n\n\
            CRP rose in 40 patients.\n\n\
            A low LVEF predicted death.\n\n\
            CRP fell after treatment, and so did LVEF.\n\n\
            Results were confirmed by PCR and anxiety by the Hospital Anxiety and Depression Scale (HADS), and the HADS again a week later.";
        assert_eq!(findings(consistent), []);
    }

    #[test]
    fn names_with_digits_or_lower_case_are_not_asked_for_a_definition() {
        let text = "BRCA1 and TP53 carriers had mRNA levels of IL-6 measured by PCR.";
        assert_eq!(findings(text), []);
        // A plural definition defines the singular, and a plural use is a use.
        let text = "We read electronic health records (EHRs).\n\nEach EHR was coded, and the EHRs were kept.";
        assert_eq!(findings(text), []);
        // The long form inside a longer name is no place for the abbreviation.
        let text =
            "A neural network (NN) was trained.\n\nA deep neural network and an NN were compared.";
        assert_eq!(findings(text), []);
    }

    #[test]
    fn abbreviation_shapes() {
        for yes in [
            "CRP",
            "LVEF",
            "IL-6",
            "mRNA",
            "SARS-CoV-2",
            "TNF-α",
            "COVID-19",
            "T2",
        ] {
            assert!(is_abbreviation_shape(yes), "{yes}");
        }
        for no in ["The", "A", "cell", "-CRP", "CRP-", "X", "Ab"] {
            assert!(!is_abbreviation_shape(no), "{no}");
        }
    }
}
