//! Conversion between LSP positions (line, character in the negotiated encoding) and byte offsets.
//!
//! Lines end at `\n`, `\r\n` or `\r`, as the LSP specification says (ropey is built with only
//! `cr_lines` for this reason). Positions past the end of a line clamp to the end of its content,
//! lines past the end of the document clamp to the end of the document, and a position inside a
//! multi-unit character (a UTF-16 surrogate pair, a UTF-8 sequence) rounds down to the start of
//! that character. Nothing here panics on client input.

use std::ops::Range;

use ropey::Rope;
use tower_lsp::lsp_types::{ClientCapabilities, Position, PositionEncodingKind, Range as LspRange};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PositionEncoding {
    Utf8,
    #[default]
    Utf16,
}

impl PositionEncoding {
    /// UTF-8 when the client offers it (LSP 3.17 `general.positionEncodings`), else UTF-16, which
    /// every client must support.
    pub fn negotiate(capabilities: &ClientCapabilities) -> Self {
        let offered = capabilities
            .general
            .as_ref()
            .and_then(|general| general.position_encodings.as_ref());
        match offered {
            Some(kinds) if kinds.contains(&PositionEncodingKind::UTF8) => Self::Utf8,
            _ => Self::Utf16,
        }
    }

    pub fn kind(self) -> PositionEncodingKind {
        match self {
            Self::Utf8 => PositionEncodingKind::UTF8,
            Self::Utf16 => PositionEncodingKind::UTF16,
        }
    }
}

/// The char index where the content of `line` ends, before its line break.
fn line_content_end_char(rope: &Rope, line: usize) -> usize {
    let next_line_start = if line + 1 < rope.len_lines() {
        rope.line_to_char(line + 1)
    } else {
        rope.len_chars()
    };
    let line_start = rope.line_to_char(line);
    let mut end = next_line_start;
    if end > line_start && rope.char(end - 1) == '\n' {
        end -= 1;
        if end > line_start && rope.char(end - 1) == '\r' {
            end -= 1;
        }
    } else if end > line_start && rope.char(end - 1) == '\r' {
        end -= 1;
    }
    end
}

/// The byte offset of `position`, clamped into the document and onto a char boundary.
pub fn position_to_offset(rope: &Rope, position: Position, encoding: PositionEncoding) -> usize {
    let line = position.line as usize;
    if line >= rope.len_lines() {
        return rope.len_bytes();
    }
    let line_start_char = rope.line_to_char(line);
    let content_end_char = line_content_end_char(rope, line);
    let character = position.character as usize;
    let char_index = match encoding {
        PositionEncoding::Utf8 => {
            let line_start_byte = rope.char_to_byte(line_start_char);
            let content_end_byte = rope.char_to_byte(content_end_char);
            let target_byte = line_start_byte
                .saturating_add(character)
                .min(content_end_byte);
            // byte_to_char gives the char containing the byte: rounds down inside a sequence.
            rope.byte_to_char(target_byte)
        }
        PositionEncoding::Utf16 => {
            let line_start_unit = rope.char_to_utf16_cu(line_start_char);
            let content_end_unit = rope.char_to_utf16_cu(content_end_char);
            let target_unit = line_start_unit
                .saturating_add(character)
                .min(content_end_unit);
            // utf16_cu_to_char rounds a unit inside a surrogate pair down to that char.
            rope.utf16_cu_to_char(target_unit)
        }
    };
    rope.char_to_byte(char_index)
}

/// The position of byte `offset`, after clamping it to the document and rounding it down to a
/// char boundary.
pub fn offset_to_position(rope: &Rope, offset: usize, encoding: PositionEncoding) -> Position {
    let offset = offset.min(rope.len_bytes());
    let char_index = rope.byte_to_char(offset);
    let line = rope.char_to_line(char_index);
    let line_start_char = rope.line_to_char(line);
    let character = match encoding {
        PositionEncoding::Utf8 => {
            rope.char_to_byte(char_index) - rope.char_to_byte(line_start_char)
        }
        PositionEncoding::Utf16 => {
            rope.char_to_utf16_cu(char_index) - rope.char_to_utf16_cu(line_start_char)
        }
    };
    Position {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        character: u32::try_from(character).unwrap_or(u32::MAX),
    }
}

/// The byte range of an LSP range. A reversed range is put in order rather than refused.
pub fn range_to_offsets(rope: &Rope, range: LspRange, encoding: PositionEncoding) -> Range<usize> {
    let start = position_to_offset(rope, range.start, encoding);
    let end = position_to_offset(rope, range.end, encoding);
    start.min(end)..start.max(end)
}

pub fn offsets_to_range(rope: &Rope, range: Range<usize>, encoding: PositionEncoding) -> LspRange {
    LspRange {
        start: offset_to_position(rope, range.start, encoding),
        end: offset_to_position(rope, range.end, encoding),
    }
}
