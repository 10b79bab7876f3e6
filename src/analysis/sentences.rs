//! A simple plain-text sentence splitter with source offsets, used until the format-aware prose
//! extractor takes over; it marks citation stand-ins, URLs and inline code as not checkable.

use std::ops::Range;

use super::terminology::SentenceToCheck;

/// Abbreviations after which a period does not end a sentence (compared lowercase, without the
/// final period).
const NON_FINAL_ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "al", "fig", "figs", "eq", "eqs", "ref", "refs", "vs", "cf", "approx", "ca",
    "no", "dr", "mr", "mrs", "ms", "prof", "sp", "spp", "resp", "etc", "st", "vol", "pp", "tab",
    "sec", "suppl", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec",
];

/// A sentence of a larger text: the text to check and where it starts in the source.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSentence {
    pub sentence: SentenceToCheck,
    /// Byte offset of the sentence's first byte in the source text.
    pub source_offset: usize,
}

/// Byte ranges of the sentences of a plain text: paragraphs end at blank lines; inside a paragraph
/// a sentence ends at `.`, `?` or `!` (with closing quotes or brackets) followed by white space and
/// an uppercase letter, a digit or an opening bracket, unless the period ends a known abbreviation
/// or a single-letter initial.
pub fn split_sentences(text: &str) -> Vec<Range<usize>> {
    let mut sentences = Vec::new();
    for paragraph in paragraphs(text) {
        let mut start = paragraph.start;
        let chars: Vec<(usize, char)> = text[paragraph.clone()]
            .char_indices()
            .map(|(idx, c)| (idx + paragraph.start, c))
            .collect();
        let mut char_idx = 0;
        while char_idx < chars.len() {
            let (_, c) = chars[char_idx];
            if matches!(c, '.' | '?' | '!') {
                let mut end_idx = char_idx + 1;
                while end_idx < chars.len()
                    && matches!(chars[end_idx].1, ')' | ']' | '"' | '\'' | '’' | '”')
                {
                    end_idx += 1;
                }
                let mut next_idx = end_idx;
                while next_idx < chars.len() && chars[next_idx].1.is_whitespace() {
                    next_idx += 1;
                }
                let followed_by_space = next_idx > end_idx;
                let next_starts_sentence = next_idx < chars.len()
                    && (chars[next_idx].1.is_uppercase()
                        || chars[next_idx].1.is_ascii_digit()
                        || matches!(chars[next_idx].1, '(' | '['));
                if followed_by_space
                    && next_starts_sentence
                    && !(c == '.' && ends_with_abbreviation(text, start, chars[char_idx].0))
                {
                    let end_byte = chars
                        .get(end_idx)
                        .map(|&(idx, _)| idx)
                        .unwrap_or(paragraph.end);
                    push_trimmed(text, start..end_byte, &mut sentences);
                    start = chars[next_idx].0;
                    char_idx = next_idx;
                    continue;
                }
            }
            char_idx += 1;
        }
        push_trimmed(text, start..paragraph.end, &mut sentences);
    }
    sentences
}

/// Plain-text sentences with their source offsets; citation stand-ins (`[@key]`, `[12]`), URLs and
/// inline code are marked not checkable.
pub fn plain_text_sentences(text: &str) -> Vec<SourceSentence> {
    split_sentences(text)
        .into_iter()
        .map(|range| {
            let sentence_text = text[range.clone()].to_string();
            let skip = non_checkable_ranges(&sentence_text);
            SourceSentence {
                sentence: SentenceToCheck {
                    text: sentence_text,
                    skip,
                },
                source_offset: range.start,
            }
        })
        .collect()
}

/// Ranges of a sentence that are not prose: bracketed citations, URLs, inline code, and words
/// glued to markup characters.
pub fn non_checkable_ranges(sentence: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let bytes = sentence.as_bytes();
    let mut idx = 0;
    while idx < bytes.len() {
        match bytes[idx] {
            b'[' => {
                if let Some(close) = sentence[idx..].find(']') {
                    let inner = &sentence[idx + 1..idx + close];
                    if inner.starts_with('@')
                        || inner.starts_with('^')
                        || inner
                            .chars()
                            .all(|c| c.is_ascii_digit() || matches!(c, ',' | '-' | ' ' | '–'))
                    {
                        ranges.push(idx..idx + close + 1);
                        idx += close + 1;
                        continue;
                    }
                }
            }
            b'`' => {
                if let Some(close) = sentence[idx + 1..].find('`') {
                    ranges.push(idx..idx + close + 2);
                    idx += close + 2;
                    continue;
                }
            }
            b'h' | b'w'
                if sentence[idx..].starts_with("http") || sentence[idx..].starts_with("www.") =>
            {
                let end = sentence[idx..]
                    .find(|c: char| c.is_whitespace() || c == ')' || c == '>')
                    .map(|offset| idx + offset)
                    .unwrap_or(sentence.len());
                ranges.push(idx..end);
                idx = end;
                continue;
            }
            b'@' => {
                let end = sentence[idx..]
                    .find(|c: char| c.is_whitespace() || matches!(c, ']' | ';' | ','))
                    .map(|offset| idx + offset)
                    .unwrap_or(sentence.len());
                ranges.push(idx..end);
                idx = end;
                continue;
            }
            _ => {}
        }
        idx += 1;
    }
    ranges
}

/// Paragraphs: runs of lines separated by blank lines.
fn paragraphs(text: &str) -> Vec<Range<usize>> {
    let mut result = Vec::new();
    let mut start: Option<usize> = None;
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let line_end = line_start + line.len();
        if line.trim().is_empty() {
            if let Some(paragraph_start) = start.take() {
                result.push(paragraph_start..line_start);
            }
        } else if start.is_none() {
            start = Some(line_start);
        }
        line_start = line_end;
    }
    if let Some(paragraph_start) = start {
        result.push(paragraph_start..text.len());
    }
    result
}

fn push_trimmed(text: &str, range: Range<usize>, sentences: &mut Vec<Range<usize>>) {
    let slice = &text[range.clone()];
    let leading = slice.len() - slice.trim_start().len();
    let trailing = slice.len() - slice.trim_end().len();
    if leading + trailing < slice.len() {
        sentences.push(range.start + leading..range.end - trailing);
    }
}

/// Whether the period at `period` ends an abbreviation or an initial (e.g. "et al.", "J.").
fn ends_with_abbreviation(text: &str, sentence_start: usize, period: usize) -> bool {
    let before = &text[sentence_start..period];
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    let lower = word.to_lowercase();
    if word.chars().count() == 1 && word.chars().all(char::is_alphabetic) {
        return true;
    }
    NON_FINAL_ABBREVIATIONS.contains(&lower.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<&str> {
        split_sentences(text)
            .into_iter()
            .map(|range| &text[range])
            .collect()
    }

    #[test]
    fn splits_at_sentence_ends_but_not_abbreviations() {
        let text =
            "Mice were used (e.g. C57BL/6). Smith et al. found it. Was it? Yes!\n\nNew paragraph";
        assert_eq!(
            texts(text),
            vec![
                "Mice were used (e.g. C57BL/6).",
                "Smith et al. found it.",
                "Was it?",
                "Yes!",
                "New paragraph"
            ]
        );
    }

    #[test]
    fn decimals_and_lowercase_continuations_do_not_split() {
        assert_eq!(
            texts("The value was 3.5 mg. and then it rose."),
            vec!["The value was 3.5 mg. and then it rose."]
        );
    }

    #[test]
    fn citations_urls_and_code_are_not_checkable() {
        let sentence = "As shown [@doi:10.1/x] at https://x.org/a and `code` [12, 13].";
        let ranges = non_checkable_ranges(sentence);
        let skipped: Vec<&str> = ranges.iter().map(|r| &sentence[r.clone()]).collect();
        assert_eq!(
            skipped,
            vec!["[@doi:10.1/x]", "https://x.org/a", "`code`", "[12, 13]"]
        );
    }

    #[test]
    fn source_offsets_point_at_the_sentence() {
        let text = "First one here.  Second one here.";
        let sentences = plain_text_sentences(text);
        assert_eq!(sentences.len(), 2);
        let second = &sentences[1];
        assert_eq!(
            &text[second.source_offset..second.source_offset + second.sentence.text.len()],
            "Second one here."
        );
    }
}
