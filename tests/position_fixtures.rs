//! Fixed cases of LSP position ↔ byte offset conversion in both encodings.

use biomed_lsp::lsp::position::PositionEncoding::{Utf16, Utf8};
use biomed_lsp::lsp::position::{offset_to_position, position_to_offset, PositionEncoding};
use ropey::Rope;
use tower_lsp::lsp_types::Position;

fn position(line: u32, character: u32) -> Position {
    Position { line, character }
}

/// Asserts that `position` maps to `offset` and back.
fn round_trip(text: &str, encoding: PositionEncoding, at: Position, offset: usize) {
    let rope = Rope::from_str(text);
    assert_eq!(
        position_to_offset(&rope, at, encoding),
        offset,
        "{encoding:?} {at:?} in {text:?}"
    );
    assert_eq!(
        offset_to_position(&rope, offset, encoding),
        at,
        "{encoding:?} offset {offset} in {text:?}"
    );
}

fn maps_to(text: &str, encoding: PositionEncoding, at: Position, offset: usize) {
    let rope = Rope::from_str(text);
    assert_eq!(
        position_to_offset(&rope, at, encoding),
        offset,
        "{encoding:?} {at:?} in {text:?}"
    );
}

#[test]
fn emoji_counts_two_utf16_units_and_four_bytes() {
    let text = "a😀b";
    round_trip(text, Utf16, position(0, 0), 0);
    round_trip(text, Utf16, position(0, 1), 1);
    round_trip(text, Utf16, position(0, 3), 5);
    round_trip(text, Utf16, position(0, 4), 6);
    round_trip(text, Utf8, position(0, 5), 5);
    round_trip(text, Utf8, position(0, 6), 6);
}

#[test]
fn math_alphanumerics_and_greek() {
    // 𝛼 is outside the BMP (4 bytes, 2 UTF-16 units); α is in it (2 bytes, 1 unit).
    let text = "𝛼α x";
    round_trip(text, Utf16, position(0, 2), 4);
    round_trip(text, Utf16, position(0, 3), 6);
    round_trip(text, Utf8, position(0, 4), 4);
    round_trip(text, Utf8, position(0, 6), 6);
}

#[test]
fn inside_a_surrogate_pair_rounds_down_to_the_char() {
    maps_to("a😀b", Utf16, position(0, 2), 1);
    maps_to("a😀b", Utf8, position(0, 3), 1);
    maps_to("αβ", Utf8, position(0, 1), 0);
}

#[test]
fn crlf_lines_and_tabs() {
    let text = "one\r\n\ttwo\rthree\nfour";
    round_trip(text, Utf16, position(1, 0), 5);
    round_trip(text, Utf16, position(1, 1), 6);
    round_trip(text, Utf16, position(2, 0), 10);
    round_trip(text, Utf16, position(3, 2), 18);
    // Past the content of a line clamps before its line break, not into it.
    maps_to(text, Utf16, position(0, 4), 3);
    maps_to(text, Utf8, position(0, 99), 3);
    maps_to(text, Utf16, position(1, 99), 9);
}

#[test]
fn combining_marks_are_their_own_chars() {
    let text = "e\u{301}x";
    round_trip(text, Utf16, position(0, 1), 1);
    round_trip(text, Utf16, position(0, 2), 3);
    round_trip(text, Utf8, position(0, 3), 3);
}

#[test]
fn out_of_range_clamps_without_panicking() {
    let text = "ab\ncd";
    maps_to(text, Utf16, position(7, 0), 5);
    maps_to(text, Utf16, position(u32::MAX, u32::MAX), 5);
    maps_to(text, Utf8, position(1, u32::MAX), 5);
    let rope = Rope::from_str(text);
    assert_eq!(offset_to_position(&rope, 999, Utf16), position(1, 2));
    maps_to("", Utf16, position(0, 5), 0);
    maps_to("", Utf8, position(3, 5), 0);
    maps_to("x\n", Utf16, position(1, 0), 2);
}

/// LSP lines end only at `\n`, `\r\n` and `\r`: Unicode separators and form feeds stay inside
/// a line (ropey must be built without its `unicode_lines` feature).
#[test]
fn only_lsp_line_breaks_end_lines() {
    let text = "a\u{2028}b\u{85}c\u{c}d\u{b}e";
    round_trip(text, Utf16, position(0, 2), 4);
    round_trip(text, Utf16, position(0, 8), 11);
    round_trip(text, Utf16, position(0, 9), 12);
    let rope = Rope::from_str(text);
    assert_eq!(rope.len_lines(), 1);
}
