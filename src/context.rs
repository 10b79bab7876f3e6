//! What the model sees around a cursor: the prose window, the slot to fill, the unit to score.
//!
//! Plain text is read as it stands; Markdown and LaTeX through the document's extracted prose, so
//! the model sees what a reader reads (no markup, citations as stand-ins) and every offset maps
//! back through the chunk's source map. `ProseWindow` hides which of the two a window is.

use std::ops::Range;

use crate::document::Document;
use crate::prose::{sentence_starts, ProseChunk, SegmentKind};

/// At most this many bytes on each side of the cursor go into a window, before sentence cuts.
pub const WINDOW_LIMIT_BYTES: usize = 1000;

/// A stretch of prose around a cursor, and how its offsets map back to the document.
#[derive(Clone, Debug, PartialEq)]
pub struct ProseWindow {
    pub text: String,
    map: WindowMap,
}

#[derive(Clone, Debug, PartialEq)]
enum WindowMap {
    /// A verbatim slice of the document starting at this byte offset.
    Verbatim { source_start: usize },
    /// `text` is `chunk.text[prose_start..]` (a part of an extracted chunk).
    Chunk {
        chunk: ProseChunk,
        prose_start: usize,
    },
}

impl ProseWindow {
    pub fn verbatim(text: String, source_start: usize) -> Self {
        Self {
            text,
            map: WindowMap::Verbatim { source_start },
        }
    }

    /// A window on `chunk.text[range]`.
    pub fn in_chunk(chunk: &ProseChunk, range: Range<usize>) -> Self {
        Self {
            text: chunk.text[range.clone()].to_string(),
            map: WindowMap::Chunk {
                chunk: chunk.clone(),
                prose_start: range.start,
            },
        }
    }

    pub fn to_source(&self, text_offset: usize) -> usize {
        self.source_range(text_offset..text_offset).start
    }

    pub fn source_range(&self, text_range: Range<usize>) -> Range<usize> {
        let start = text_range.start.min(self.text.len());
        let end = text_range.end.min(self.text.len()).max(start);
        match &self.map {
            WindowMap::Verbatim { source_start } => source_start + start..source_start + end,
            WindowMap::Chunk { chunk, prose_start } => {
                chunk.source_range_of(prose_start + start..prose_start + end)
            }
        }
    }

    /// The window offset of a document offset, if the window covers it.
    pub fn to_text(&self, source_offset: usize) -> Option<usize> {
        match &self.map {
            WindowMap::Verbatim { source_start } => source_offset
                .checked_sub(*source_start)
                .filter(|offset| *offset <= self.text.len()),
            WindowMap::Chunk { chunk, prose_start } => chunk
                .prose_offset_of(source_offset)
                .and_then(|offset| offset.checked_sub(*prose_start))
                .filter(|offset| *offset <= self.text.len()),
        }
    }

    /// The window's stand-ins (citations, formulas), as window ranges: no evidence comes from
    /// them.
    pub fn stand_in_ranges(&self) -> Vec<Range<usize>> {
        let WindowMap::Chunk { chunk, prose_start } = &self.map else {
            return Vec::new();
        };
        chunk
            .segments
            .iter()
            .filter(|segment| segment.kind == crate::prose::SegmentKind::StandIn)
            .filter(|segment| segment.prose_range.end > *prose_start)
            .map(|segment| {
                segment.prose_range.start.saturating_sub(*prose_start)
                    ..segment.prose_range.end - prose_start
            })
            .filter(|range| range.start < self.text.len())
            .collect()
    }

    /// Whether a range of the window is real prose: never complete or score a stand-in for a
    /// citation, a formula or other skipped markup.
    pub fn is_checkable(&self, text_range: Range<usize>) -> bool {
        match &self.map {
            WindowMap::Verbatim { .. } => true,
            WindowMap::Chunk { chunk, prose_start } => {
                chunk.is_checkable(prose_start + text_range.start..prose_start + text_range.end)
            }
        }
    }
}

/// The prose window around document byte `offset`: the paragraph around it, at most
/// `WINDOW_LIMIT_BYTES` each side, cut at sentence boundaries, with at most `context_sentences`
/// sentences before and after the cursor's sentence.
pub fn context_for_position(
    document: &Document,
    offset: usize,
    context_sentences: usize,
) -> Option<ProseWindow> {
    let Some(prose) = document.prose() else {
        return Some(plain_text_window(document, offset, context_sentences));
    };
    // The chunk (paragraph, heading, caption, cell…) whose source covers the offset; a cursor in
    // markup that is not prose (math, code, the preamble) has no context.
    let chunks = prose.chunks();
    let index = chunks.partition_point(|chunk| chunk.source_range.end < offset);
    let chunk = chunks
        .get(index)
        .filter(|chunk| chunk.source_range.start <= offset)?;
    // The cursor must touch real prose: inside a citation key, a formula or a comment there is
    // nothing to complete or explain.
    let touches_prose = chunk.segments.iter().any(|segment| {
        segment.kind != SegmentKind::StandIn
            && segment.source_range.start <= offset
            && offset <= segment.source_range.end
    });
    if !touches_prose {
        return None;
    }
    let cursor = chunk.prose_offset_of(offset)?;
    let window = sentence_window(&chunk.text, cursor, context_sentences, false, false);
    Some(ProseWindow::in_chunk(chunk, window))
}

fn plain_text_window(document: &Document, offset: usize, context_sentences: usize) -> ProseWindow {
    let offset = document.floor_char_boundary(offset);
    let raw_start = document.floor_char_boundary(offset.saturating_sub(WINDOW_LIMIT_BYTES));
    let raw_end = document.floor_char_boundary(offset.saturating_add(WINDOW_LIMIT_BYTES));
    let text = document.text_in(raw_start..raw_end);
    let cursor = offset - raw_start;
    let truncated_start = raw_start > 0;
    let truncated_end = raw_end < document.len_bytes();
    let window = sentence_window(
        &text,
        cursor,
        context_sentences,
        truncated_start,
        truncated_end,
    );
    ProseWindow::verbatim(text[window.clone()].to_string(), raw_start + window.start)
}

/// The range of `text` to keep around `cursor`: its paragraph, then whole sentences.
pub fn sentence_window(
    text: &str,
    cursor: usize,
    context_sentences: usize,
    truncated_start: bool,
    truncated_end: bool,
) -> Range<usize> {
    let (paragraph_start, paragraph_end) = paragraph_bounds(text, cursor);
    // Only a paragraph that runs into the window edge has a sentence cut in half.
    let cut_at_start = truncated_start && paragraph_start == 0;
    let cut_at_end = truncated_end && paragraph_end == text.len();
    let mut bounds = vec![paragraph_start];
    bounds.extend(
        sentence_starts(&text[paragraph_start..paragraph_end])
            .into_iter()
            .map(|start| start + paragraph_start),
    );
    bounds.push(paragraph_end);
    let sentence_count = bounds.len() - 1;
    let cursor_sentence = bounds[1..sentence_count]
        .iter()
        .filter(|start| **start <= cursor)
        .count();
    let first = cursor_sentence.saturating_sub(context_sentences);
    let last = (cursor_sentence + context_sentences).min(sentence_count - 1);
    let mut start = bounds[first];
    let mut end = bounds[last + 1];
    if cut_at_start && first == 0 && cursor_sentence > 0 {
        start = bounds[1];
    }
    if cut_at_end && last == sentence_count - 1 && cursor_sentence < last {
        end = bounds[last];
    }
    start..end
}

/// The paragraph around `cursor`: between the nearest blank lines on each side.
fn paragraph_bounds(text: &str, cursor: usize) -> (usize, usize) {
    let newlines: Vec<usize> = text.match_indices('\n').map(|(index, _)| index).collect();
    let mut start = 0;
    let mut end = text.len();
    for pair in newlines.windows(2) {
        let (first, second) = (pair[0], pair[1]);
        let between_is_blank = text[first + 1..second]
            .chars()
            .all(|c| c == ' ' || c == '\t' || c == '\r');
        if !between_is_blank {
            continue;
        }
        if second < cursor {
            start = second + 1;
        } else if first >= cursor {
            end = first;
            break;
        }
    }
    (start, end.max(start))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// `[MASK]` or a run of three or more underscores.
    Placeholder,
    /// The word being typed (possibly empty, after a space).
    Word,
}

/// What completion asks the model to fill, in window offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletionSlot {
    /// The range the model fills and the completion replaces.
    pub range: Range<usize>,
    /// The part of the word before the cursor (empty for placeholders).
    pub prefix: String,
    pub kind: SlotKind,
}

const MASK_PLACEHOLDER: &str = "[MASK]";

fn is_word_char(character: char) -> bool {
    character.is_alphanumeric() || is_combining_mark(character)
}

/// Combining marks continue the word they attach to (decomposed accents, diacritics).
fn is_combining_mark(character: char) -> bool {
    matches!(character as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

fn char_before(text: &str, offset: usize) -> Option<char> {
    text.get(..offset)?.chars().next_back()
}

fn char_at(text: &str, offset: usize) -> Option<char> {
    text.get(offset..)?.chars().next()
}

/// The slot to fill at `cursor` (a char boundary of `text`; clamped and rounded down otherwise).
pub fn completion_slot(text: &str, cursor: usize) -> CompletionSlot {
    let mut cursor = cursor.min(text.len());
    while !text.is_char_boundary(cursor) {
        cursor -= 1;
    }
    if let Some(range) = placeholder_at(text, cursor) {
        return CompletionSlot {
            range,
            prefix: String::new(),
            kind: SlotKind::Placeholder,
        };
    }
    let is_inner_joiner = |c: char| c == '-' || c == '\'' || c == '’';
    let mut start = cursor;
    while let Some(character) = char_before(text, start) {
        let before = start - character.len_utf8();
        let include = is_word_char(character)
            || (is_inner_joiner(character) && char_before(text, before).is_some_and(is_word_char));
        if !include {
            break;
        }
        start = before;
    }
    let mut end = cursor;
    while let Some(character) = char_at(text, end) {
        let after = end + character.len_utf8();
        let include = is_word_char(character)
            || (is_inner_joiner(character)
                && end > start
                && char_before(text, end).is_some_and(is_word_char)
                && char_at(text, after).is_some_and(is_word_char));
        if !include {
            break;
        }
        end = after;
    }
    CompletionSlot {
        range: start..end,
        prefix: text[start..cursor].to_string(),
        kind: SlotKind::Word,
    }
}

fn placeholder_at(text: &str, cursor: usize) -> Option<Range<usize>> {
    let search_start = floor_boundary(text, cursor.saturating_sub(MASK_PLACEHOLDER.len()));
    let search_end = floor_boundary(text, (cursor + MASK_PLACEHOLDER.len()).min(text.len()));
    for (index, _) in text[search_start..search_end].match_indices(MASK_PLACEHOLDER) {
        let range = search_start + index..search_start + index + MASK_PLACEHOLDER.len();
        if range.start <= cursor && cursor <= range.end {
            return Some(range);
        }
    }
    let bytes = text.as_bytes();
    let mut start = cursor;
    while start > 0 && bytes[start - 1] == b'_' {
        start -= 1;
    }
    let mut end = cursor;
    while end < bytes.len() && bytes[end] == b'_' {
        end += 1;
    }
    (end - start >= 3).then_some(start..end)
}

fn floor_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Joiners that hold hyphenated and chemical names together (`IL-6`, `TNF-α`, `2,4-D`).
fn is_unit_joiner(character: char) -> bool {
    matches!(character, '-' | '\u{2010}' | '\u{2011}' | '\'' | '’' | ',')
}

/// The word or hyphenated/chemical name at `offset` (the char at it, or the one just before it),
/// as one unit for hover and scoring.
pub fn hover_unit(text: &str, offset: usize) -> Option<Range<usize>> {
    let offset = floor_boundary(text, offset);
    let anchor = match (char_at(text, offset), char_before(text, offset)) {
        (Some(character), _) if is_word_char(character) => offset,
        (_, Some(character)) if is_word_char(character) => offset - character.len_utf8(),
        _ => return None,
    };
    let joins = |joiner: char, before: Option<char>, after: Option<char>| {
        if joiner == ',' {
            // Commas join only locants such as `2,4-dinitrophenol`.
            before.is_some_and(|c| c.is_ascii_digit()) && after.is_some_and(|c| c.is_ascii_digit())
        } else {
            before.is_some_and(is_word_char) && after.is_some_and(is_word_char)
        }
    };
    let mut start = anchor;
    while let Some(character) = char_before(text, start) {
        let before = start - character.len_utf8();
        let include = is_word_char(character)
            || (is_unit_joiner(character)
                && joins(character, char_before(text, before), char_at(text, start)));
        if !include {
            break;
        }
        start = before;
    }
    let mut end = anchor;
    while let Some(character) = char_at(text, end) {
        let after = end + character.len_utf8();
        let include = is_word_char(character)
            || (is_unit_joiner(character)
                && end > start
                && joins(character, char_before(text, end), char_at(text, after)));
        if !include {
            break;
        }
        end = after;
    }
    (end > start).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(text: &str, offset: usize) -> Option<&str> {
        hover_unit(text, offset).map(|range| &text[range])
    }

    #[test]
    fn chemical_and_hyphenated_names_are_one_unit() {
        let text = "Levels of IL-6, TNF-α and 5-fluorouracil with N-acetyltransferase and 2,4-dinitrophenol.";
        assert_eq!(unit(text, 11), Some("IL-6"));
        assert_eq!(unit(text, text.find("TNF").unwrap() + 4), Some("TNF-α"));
        assert_eq!(
            unit(text, text.find("5-f").unwrap()),
            Some("5-fluorouracil")
        );
        assert_eq!(
            unit(text, text.find("acetyl").unwrap()),
            Some("N-acetyltransferase")
        );
        assert_eq!(
            unit(text, text.find("dinitro").unwrap()),
            Some("2,4-dinitrophenol")
        );
        assert_eq!(unit(text, text.find(" and").unwrap()), Some("TNF-α"));
        assert_eq!(unit(text, 6), Some("Levels"));
        assert_eq!(unit("a , b", 2), None);
    }

    #[test]
    fn completion_slot_finds_prefix_placeholder_and_empty_slot() {
        assert_eq!(
            completion_slot("the pati", 8),
            CompletionSlot {
                range: 4..8,
                prefix: "pati".into(),
                kind: SlotKind::Word
            }
        );
        assert_eq!(
            completion_slot("the ", 4),
            CompletionSlot {
                range: 4..4,
                prefix: "".into(),
                kind: SlotKind::Word
            }
        );
        assert_eq!(completion_slot("the [MASK] was", 7).range, 4..10);
        assert_eq!(
            completion_slot("the [MASK] was", 10).kind,
            SlotKind::Placeholder
        );
        assert_eq!(completion_slot("the ___ was", 5).range, 4..7);
        assert_eq!(completion_slot("levels of IL-", 13).prefix, "IL-");
        assert_eq!(completion_slot("levels of IL-6 rose", 12).range, 10..14);
        assert_eq!(completion_slot("ab😀", 5).range, 0..2);
    }

    #[test]
    fn windows_cut_at_paragraphs_and_sentences() {
        let text = "First para.\n\nOne. Two. Three here. Four. Five.\n\nLast.";
        let cursor = text.find("here").unwrap();
        let range = sentence_window(text, cursor, 1, false, false);
        assert_eq!(&text[range], "Two. Three here. Four. ");
        let range = sentence_window(text, cursor, 5, false, false);
        assert_eq!(&text[range], "One. Two. Three here. Four. Five.");
        let range = sentence_window("cut off. Whole one. Cursor here", 25, 5, true, false);
        assert_eq!(
            &"cut off. Whole one. Cursor here"[range],
            "Whole one. Cursor here"
        );
        assert_eq!(
            sentence_starts("See Fig. 2 and e.g. This. Next one"),
            vec![26]
        );
    }

    /// Random texts and cursors never make the context functions panic or return ranges that
    /// are not char boundaries of the text.
    #[test]
    fn random_texts_give_valid_ranges() {
        const PIECES: &[&str] = &[
            "a", "B", "7", " ", "\n", "\n\n", "\r\n", ".", ". ", "-", "'", ",", "_", "___",
            "[MASK]", "😀", "𝛼", "α", "e\u{301}", "e.g. ", "(", ")",
        ];
        let mut state: u64 = 0x1234_5678;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        for _ in 0..3_000 {
            let text: String = (0..next(40)).map(|_| PIECES[next(PIECES.len())]).collect();
            let cursor = next(text.len() + 2);
            let slot = completion_slot(&text, cursor);
            assert!(
                slot.range.start <= slot.range.end && slot.range.end <= text.len(),
                "{text:?} {cursor}"
            );
            assert!(
                text.is_char_boundary(slot.range.start) && text.is_char_boundary(slot.range.end),
                "{text:?} {cursor}"
            );
            if let Some(unit) = hover_unit(&text, cursor) {
                assert!(
                    unit.start < unit.end && text.get(unit.clone()).is_some(),
                    "{text:?} {cursor}"
                );
            }
            let boundary = floor_boundary(&text, cursor);
            let window = sentence_window(&text, boundary, next(3), next(2) == 0, next(2) == 0);
            assert!(
                window.start <= boundary
                    && boundary <= window.end
                    && text.get(window.clone()).is_some(),
                "{text:?} {cursor}"
            );
        }
    }
}
