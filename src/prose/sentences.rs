//! Sentence segmentation for scientific prose: splits a chunk's text at sentence-final
//! punctuation, but not after abbreviations (`et al.`, `Fig.`, `e.g.`), initials (`J. Smith`),
//! genus abbreviations (`E. coli`) or inside decimals (`p < 0.05`, `3.5`).

use std::ops::Range;

use serde::Serialize;

use super::source_map::ProseChunk;

/// One sentence of a chunk, with its range in the chunk's prose and in the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sentence {
    pub text: String,
    pub chunk_index: usize,
    pub prose_range: Range<usize>,
    pub source_range: Range<usize>,
}

/// Words that end with a period without ending the sentence (compared lowercased, without the
/// final period).
const ABBREVIATIONS: &[&str] = &[
    "al", "i.e", "e.g", "fig", "figs", "eq", "eqs", "eqn", "eqns", "ref", "refs", "tab", "tabs",
    "sect", "sec", "secs", "no", "nos", "cf", "vs", "approx", "ca", "resp", "dr", "mr", "mrs",
    "ms", "prof", "st", "vol", "vols", "suppl", "pp", "viz", "incl", "ch", "chap", "jr", "sr",
    "inc", "ltd", "co", "corp", "dept", "univ", "spp", "sp", "subsp", "ssp", "var", "cv", "ed",
    "eds", "est", "et", "mol", "wt", "conc", "temp", "nat", "proc", "acad", "sci", "supp", "tbl",
    "n.b", "a.k.a", "p.o", "i.v", "s.c", "i.p", "b.i.d", "t.i.d", "q.d",
];

/// Characters that may follow the final punctuation and still belong to the sentence.
fn is_closing(c: char) -> bool {
    matches!(
        c,
        '.' | '!' | '?' | '…' | '"' | '\'' | '”' | '’' | ')' | ']' | '»'
    )
}

/// True when the word ending right before the period at `period` is an abbreviation.
fn is_abbreviation(text: &str, sentence_start: usize, period: usize) -> bool {
    let before = &text[sentence_start..period];
    let word_start = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(index, c)| index + c.len_utf8());
    let word = before[word_start..].trim_start_matches(['(', '[', '{', '"', '\'', '“', '‘']);
    if word.is_empty() {
        return false;
    }
    let mut chars = word.chars();
    let first = chars.next().unwrap_or(' ');
    // A single letter: an initial ("J. Smith"), a genus ("E. coli"), "p. 5".
    if chars.next().is_none() && first.is_alphabetic() {
        return true;
    }
    let lowercase = word.to_lowercase();
    if ABBREVIATIONS.contains(&lowercase.as_str()) {
        return true;
    }
    // Dotted abbreviations made of short letter groups: "U.S", "Ph.D", "e.g".
    word.contains('.')
        && word.split('.').all(|part| {
            !part.is_empty() && part.chars().count() <= 2 && part.chars().all(char::is_alphabetic)
        })
}

/// Where each sentence after the first starts in `text` (its first non-space character): what
/// the cursor context of completion and hover needs of the same rules.
pub fn sentence_starts(text: &str) -> Vec<usize> {
    sentence_bounds(text)
        .into_iter()
        .skip(1)
        .map(|range| range.start)
        .filter(|&start| start < text.len())
        .collect()
}

/// Splits one chunk into sentences. Headings and list items without final punctuation are a
/// sentence of their own because they are chunks of their own.
pub fn split_sentences(chunk: &ProseChunk, chunk_index: usize) -> Vec<Sentence> {
    let text = chunk.text.as_str();
    sentence_bounds(text)
        .into_iter()
        .filter_map(|range| {
            let slice = &text[range.clone()];
            let leading = slice.len() - slice.trim_start().len();
            let trailing = slice.len() - slice.trim_end().len();
            let prose_range = range.start + leading..range.end - trailing;
            if prose_range.is_empty() {
                return None;
            }
            Some(Sentence {
                text: text[prose_range.clone()].to_string(),
                chunk_index,
                source_range: chunk.source_range_of(prose_range.clone()),
                prose_range,
            })
        })
        .collect()
}

/// The ranges of the sentences of `text`, untrimmed, covering it from start to end but for the
/// spaces between sentences.
fn sentence_bounds(text: &str) -> Vec<Range<usize>> {
    let mut boundaries: Vec<Range<usize>> = Vec::new();
    let mut sentence_start = 0;
    let mut iter = text.char_indices().peekable();
    while let Some((index, c)) = iter.next() {
        if !matches!(c, '.' | '!' | '?' | '…') {
            continue;
        }
        let mut end = index + c.len_utf8();
        while let Some(&(next_index, next)) = iter.peek() {
            if is_closing(next) {
                end = next_index + next.len_utf8();
                iter.next();
            } else {
                break;
            }
        }
        let rest = &text[end..];
        let Some(first_after) = rest.chars().next() else {
            break;
        };
        if !first_after.is_whitespace() {
            continue;
        }
        let trimmed = rest.trim_start();
        let Some(next_word_char) = trimmed.chars().next() else {
            break;
        };
        if next_word_char.is_lowercase() {
            continue;
        }
        if c == '.' && is_abbreviation(text, sentence_start, index) {
            continue;
        }
        boundaries.push(sentence_start..end);
        sentence_start = text.len() - trimmed.len();
    }
    boundaries.push(sentence_start..text.len());
    boundaries
}
