//! The words a manuscript already uses, for completion: each term as written (`IL-6`,
//! `SARS-CoV-2`, `angiotensin-converting`, `Wilson`), how often and where, found by prefix.

use std::collections::HashMap;
use std::ops::Range;

use crate::document::Document;

/// One term of a manuscript, however it was capitalised.
#[derive(Clone, Debug, PartialEq)]
pub struct ManuscriptWord {
    /// The lowercase form: how the index is searched.
    pub key: String,
    /// The form written most often where the case is the writer's choice (not at a sentence's
    /// start); the most frequent form when every use starts a sentence.
    pub written: String,
    pub count: u32,
    /// Where it occurs (byte offsets into the source), in increasing order.
    pub offsets: Vec<usize>,
}

/// One term written right after another (only white space between, in one paragraph): `deep
/// learning`, `neural networks`. A writer who wrote a pair once tends to write it again.
#[derive(Clone, Debug, PartialEq)]
pub struct WordPair {
    /// The lowercase form of the first term.
    pub previous: String,
    /// The lowercase form of the second term.
    pub next: String,
    /// Where the second term starts in the source.
    pub offset: usize,
}

/// The terms of one document (or of a dictionary: no offsets), sorted by their lowercase form,
/// and the pairs of terms written one after the other, sorted by their first term.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManuscriptWords {
    words: Vec<ManuscriptWord>,
    pairs: Vec<WordPair>,
}

/// Per-form counts while an index is built.
#[derive(Default)]
struct FormCounts {
    /// `(form, uses inside a sentence, uses at a sentence's start)`.
    forms: Vec<(String, u32, u32)>,
    offsets: Vec<usize>,
}

/// Collects the terms of texts into a [`ManuscriptWords`].
#[derive(Default)]
pub struct ManuscriptWordsBuilder {
    terms: HashMap<String, FormCounts>,
    pairs: Vec<WordPair>,
}

impl ManuscriptWordsBuilder {
    /// Adds every term of `text`; `source_of` gives where a term's range of `text` starts in the
    /// source, or `None` to leave it out (citations, formulas: not the writer's words).
    pub fn add_text(&mut self, text: &str, source_of: impl Fn(Range<usize>) -> Option<usize>) {
        // The term before, while nothing but white space within a paragraph followed it.
        let mut previous: Option<(String, usize)> = None;
        for range in manuscript_terms(text) {
            let Some(source_start) = source_of(range.clone()) else {
                previous = None;
                continue;
            };
            let key = text[range.clone()].to_lowercase();
            if let Some((previous_key, previous_end)) = previous.take() {
                if only_space_between(&text[previous_end..range.start]) {
                    self.pairs.push(WordPair {
                        previous: previous_key,
                        next: key.clone(),
                        offset: source_start,
                    });
                }
            }
            let starts_sentence = starts_sentence(text, range.start);
            self.add(&text[range.clone()], Some(source_start), starts_sentence);
            previous = Some((key, range.end));
        }
    }

    /// Adds a word of a dictionary (no place in the text).
    pub fn add_word(&mut self, word: &str) {
        let word = word.trim();
        if word.chars().count() >= MIN_TERM_CHARS {
            self.add(word, None, false);
        }
    }

    fn add(&mut self, form: &str, offset: Option<usize>, starts_sentence: bool) {
        let entry = self.terms.entry(form.to_lowercase()).or_default();
        match entry.forms.iter_mut().find(|(known, _, _)| known == form) {
            Some((_, inside, at_start)) => {
                if starts_sentence {
                    *at_start += 1;
                } else {
                    *inside += 1;
                }
            }
            None => entry.forms.push((
                form.to_string(),
                u32::from(!starts_sentence),
                u32::from(starts_sentence),
            )),
        }
        entry.offsets.extend(offset);
    }

    pub fn build(self) -> ManuscriptWords {
        let mut words: Vec<ManuscriptWord> = self
            .terms
            .into_iter()
            .map(|(key, counts)| {
                let count = counts
                    .forms
                    .iter()
                    .map(|(_, inside, at_start)| inside + at_start)
                    .sum();
                // A form used inside sentences says how the writer spells the term; one only
                // seen at sentence starts may be capitalised for that reason alone.
                let written = counts
                    .forms
                    .iter()
                    .max_by_key(|(_, inside, at_start)| (*inside, *at_start))
                    .map(|(form, inside, _)| {
                        if *inside == 0 {
                            key.clone()
                        } else {
                            form.clone()
                        }
                    })
                    .unwrap_or_else(|| key.clone());
                let mut offsets = counts.offsets;
                offsets.sort_unstable();
                ManuscriptWord {
                    key,
                    written,
                    count,
                    offsets,
                }
            })
            .collect();
        words.sort_by(|a, b| a.key.cmp(&b.key));
        let mut pairs = self.pairs;
        pairs.sort_by(|a, b| {
            (&a.previous, &a.next, a.offset).cmp(&(&b.previous, &b.next, b.offset))
        });
        ManuscriptWords { words, pairs }
    }
}

impl ManuscriptWords {
    pub const fn empty() -> Self {
        Self {
            words: Vec::new(),
            pairs: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The terms whose lowercase form starts with `lowercase_prefix`.
    pub fn with_prefix(&self, lowercase_prefix: &str) -> &[ManuscriptWord] {
        let start = self
            .words
            .partition_point(|word| word.key.as_str() < lowercase_prefix);
        let end = start
            + self.words[start..].partition_point(|word| word.key.starts_with(lowercase_prefix));
        &self.words[start..end]
    }

    /// The pairs whose first term is `previous` (lowercase), sorted by their second term.
    pub fn pairs_after(&self, previous: &str) -> &[WordPair] {
        let start = self
            .pairs
            .partition_point(|pair| pair.previous.as_str() < previous);
        let end = start + self.pairs[start..].partition_point(|pair| pair.previous == previous);
        &self.pairs[start..end]
    }

    /// The term of a lowercase form.
    pub fn get(&self, lowercase: &str) -> Option<&ManuscriptWord> {
        self.words
            .binary_search_by(|word| word.key.as_str().cmp(lowercase))
            .ok()
            .map(|idx| &self.words[idx])
    }
}

/// The terms of a document: its prose for Markdown and LaTeX (citations and other stand-ins left
/// out), its text for plain text.
pub fn document_words(document: &Document) -> ManuscriptWords {
    let mut builder = ManuscriptWordsBuilder::default();
    match document.prose() {
        Some(prose) => {
            for chunk in prose.chunks() {
                builder.add_text(&chunk.text, |range| {
                    chunk
                        .is_checkable(range.clone())
                        .then(|| chunk.source_range_of(range).start)
                });
            }
        }
        None => builder.add_text(&document.text(), |range| Some(range.start)),
    }
    builder.build()
}

/// Whether the text between two terms keeps them one phrase: white space only, within a paragraph.
fn only_space_between(between: &str) -> bool {
    between.chars().all(char::is_whitespace) && between.matches('\n').count() < 2
}

/// The lowercase form of the term that ends right before `at` in `text`, with only white space
/// (within a paragraph) between: the term a word typed at `at` would follow.
pub fn previous_term(text: &str, at: usize) -> Option<String> {
    let before = &text[..at];
    let end = before.trim_end().len();
    if end == 0 || !only_space_between(&before[end..]) {
        return None;
    }
    // A term is far shorter than this; start the scan at a character boundary.
    let mut scan_start = end.saturating_sub(256);
    while !before.is_char_boundary(scan_start) {
        scan_start -= 1;
    }
    let term = manuscript_terms(&before[scan_start..end]).pop()?;
    (scan_start + term.end == end).then(|| before[scan_start + term.start..end].to_lowercase())
}

/// Terms shorter than this are not worth completing.
const MIN_TERM_CHARS: usize = 3;

/// Characters that join the parts of one term: `T-cell`, `SARS-CoV-2`, `Crohn's`.
fn is_term_joiner(character: char) -> bool {
    matches!(character, '-' | '\u{2010}' | '\u{2011}' | '\'' | '’')
}

fn is_term_char(character: char) -> bool {
    character.is_alphanumeric()
}

/// The terms of a text a writer might type again: runs of letters and digits, joined by inner
/// hyphens and apostrophes, with at least one letter and three characters (`IL-6`, `COVID-19`,
/// `angiotensin-converting`; not `2`, `10.5` or `of`). The same unit completion replaces.
pub fn manuscript_terms(text: &str) -> Vec<Range<usize>> {
    let mut terms = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, character)) = chars.next() {
        if !is_term_char(character) {
            continue;
        }
        let mut end = start + character.len_utf8();
        while let Some(&(at, next)) = chars.peek() {
            if is_term_char(next) {
                end = at + next.len_utf8();
                chars.next();
                continue;
            }
            // A joiner belongs to the term only between two term characters.
            let after = at + next.len_utf8();
            if is_term_joiner(next) && text[after..].chars().next().is_some_and(is_term_char) {
                chars.next();
                continue;
            }
            break;
        }
        let term = &text[start..end];
        if term.chars().count() >= MIN_TERM_CHARS && term.chars().any(char::is_alphabetic) {
            terms.push(start..end);
        }
    }
    terms
}

/// Whether a word at `offset` of `text` starts a sentence: nothing but white space, quotes and
/// brackets since the text's start or since a full stop, question or exclamation mark.
pub fn starts_sentence(text: &str, offset: usize) -> bool {
    for character in text[..offset].chars().rev() {
        match character {
            '.' | '?' | '!' | ':' => return character != ':',
            c if c.is_whitespace() || matches!(c, '"' | '“' | '(' | '[' | '*' | '_' | '#') => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<&str> {
        manuscript_terms(text)
            .into_iter()
            .map(|range| &text[range])
            .collect()
    }

    #[test]
    fn terms_keep_hyphens_digits_and_capitals_and_skip_numbers_and_short_words() {
        assert_eq!(
            terms("IL-6 and SARS-CoV-2 in T-cell lines (COVID-19), 10.5 mg; angiotensin-converting enzyme's role - Crohn's."),
            [
                "IL-6",
                "and",
                "SARS-CoV-2",
                "T-cell",
                "lines",
                "COVID-19",
                "angiotensin-converting",
                "enzyme's",
                "role",
                "Crohn's"
            ]
        );
        assert_eq!(terms("α-synuclein β2"), ["α-synuclein"]);
    }

    #[test]
    fn the_index_finds_terms_by_prefix_with_the_writers_case() {
        let mut builder = ManuscriptWordsBuilder::default();
        let text =
            "Troponin rose. Serum troponin and TNF-α were high. The TNF-α level. Wilson disease.";
        builder.add_text(text, |range| Some(100 + range.start));
        builder.add_word("hsTnT");
        let words = builder.build();
        let troponin = words.get("troponin").unwrap();
        assert_eq!(
            (
                troponin.written.as_str(),
                troponin.count,
                troponin.offsets.as_slice()
            ),
            ("troponin", 2, [100, 121].as_slice())
        );
        let found: Vec<&str> = words
            .with_prefix("t")
            .iter()
            .map(|word| word.written.as_str())
            .collect();
        assert_eq!(found, ["the", "TNF-α", "troponin"]);
        // Only ever at a sentence start: written in lowercase.
        assert_eq!(words.get("wilson").unwrap().written, "wilson");
        assert_eq!(words.get("hstnt").unwrap().written, "hsTnT");
        assert!(words.with_prefix("x").is_empty());
    }

    #[test]
    fn a_documents_words_come_from_its_prose_at_their_source_offsets() {
        let source = "# Methods\n\nSerum *troponin* rose [@smith2020].\n\n```\nfoobar()\n```\n";
        let words = document_words(&Document::new(source, 1, "markdown"));
        let troponin = words.get("troponin").unwrap();
        assert_eq!(troponin.offsets, [source.find("troponin").unwrap()]);
        assert!(words.get("methods").is_some());
        assert!(
            words.get("smith2020").is_none(),
            "a citation key is not prose"
        );
        assert!(words.get("foobar").is_none(), "code is not prose");
    }

    #[test]
    fn excluded_ranges_are_not_the_writers_words() {
        let mut builder = ManuscriptWordsBuilder::default();
        builder.add_text("see smith2020 here", |range| {
            (range.start != 4).then_some(range.start)
        });
        let words = builder.build();
        assert!(words.get("smith2020").is_none());
        assert!(words.get("here").is_some());
    }
}
