//! Property test: random incremental edits given as LSP ranges (UTF-16 and UTF-8) applied to a
//! `Document` through the protocol conversion agree with a plain `String` edited by a naive
//! reference conversion, and offset→position agrees with the reference too.

use biomed_lsp::document::Document;
use biomed_lsp::lsp::position::{offset_to_position, range_to_offsets, PositionEncoding};
use tower_lsp::lsp_types::{Position, Range};

/// splitmix64: small, deterministic, good enough to drive the edits.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

const FRAGMENTS: &[&str] = &[
    "a", "b", "Z", "7", " ", "\t", "\n", "\r\n", "\r", "😀", "𝛼", "e\u{301}", "\u{301}", "α", "中",
    "-", ".", "IL-6 ",
];

/// Lines of the reference: (start byte, end of content byte), breaking at `\n`, `\r\n`, `\r`.
fn reference_lines(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'\r' if index + 1 < bytes.len() && bytes[index + 1] == b'\n' => {
                lines.push((start, index));
                index += 2;
                start = index;
            }
            b'\r' | b'\n' => {
                lines.push((start, index));
                index += 1;
                start = index;
            }
            _ => index += 1,
        }
    }
    lines.push((start, bytes.len()));
    lines
}

fn units(character: char, encoding: PositionEncoding) -> usize {
    match encoding {
        PositionEncoding::Utf8 => character.len_utf8(),
        PositionEncoding::Utf16 => character.len_utf16(),
    }
}

fn reference_offset(text: &str, position: Position, encoding: PositionEncoding) -> usize {
    let lines = reference_lines(text);
    let Some(&(start, content_end)) = lines.get(position.line as usize) else {
        return text.len();
    };
    let mut counted = 0;
    for (index, character) in text[start..content_end].char_indices() {
        if counted + units(character, encoding) > position.character as usize {
            return start + index;
        }
        counted += units(character, encoding);
    }
    content_end
}

fn reference_position(text: &str, offset: usize, encoding: PositionEncoding) -> Position {
    let lines = reference_lines(text);
    let line = lines
        .iter()
        .rposition(|(start, _)| *start <= offset)
        .unwrap_or(0);
    let start = lines[line].0;
    let character: usize = text[start..offset]
        .chars()
        .map(|c| units(c, encoding))
        .sum();
    Position {
        line: line as u32,
        character: character as u32,
    }
}

fn random_position(text: &str, random: &mut SplitMix64, encoding: PositionEncoding) -> Position {
    let lines = reference_lines(text);
    let line = random.below(lines.len() + 1);
    let line_units = lines
        .get(line)
        .map(|(start, end)| {
            text[*start..*end]
                .chars()
                .map(|c| units(c, encoding))
                .sum::<usize>()
        })
        .unwrap_or(0);
    // Covers every unit (including the interior of surrogate pairs and UTF-8 sequences) and a
    // little past the end of the line.
    Position {
        line: line as u32,
        character: random.below(line_units + 3) as u32,
    }
}

fn random_text(random: &mut SplitMix64) -> String {
    let count = random.below(4);
    (0..count)
        .map(|_| FRAGMENTS[random.below(FRAGMENTS.len())])
        .collect()
}

fn run_seed(seed: u64, encoding: PositionEncoding, edits: usize) {
    let mut random = SplitMix64(seed);
    let mut reference = String::from("Serum IL-6 😀\r\nwas 𝛼\tlow\n");
    let mut document = Document::new(&reference, 0, "plaintext");
    for step in 0..edits {
        let start = random_position(&reference, &mut random, encoding);
        let mut end = random_position(&reference, &mut random, encoding);
        // Keep documents small (fast reference) by preferring deletions when long.
        if reference.len() > 400 && random.below(2) == 0 {
            end = Position {
                line: start.line + 3,
                character: 0,
            };
        }
        let new_text = random_text(&mut random);
        let range = Range { start, end };

        let offsets = range_to_offsets(document.rope(), range, encoding);
        document
            .apply_edit(offsets.clone(), &new_text)
            .unwrap_or_else(|error| panic!("seed {seed} step {step}: edit refused: {error}"));

        let reference_start = reference_offset(&reference, start, encoding);
        let reference_end = reference_offset(&reference, end, encoding);
        let reference_range =
            reference_start.min(reference_end)..reference_start.max(reference_end);
        assert_eq!(
            offsets, reference_range,
            "seed {seed} step {step}: offsets of {range:?} in {reference:?}"
        );
        reference.replace_range(reference_range, &new_text);
        assert!(
            document.rope() == reference.as_str(),
            "seed {seed} step {step}: texts differ\n{:?}\n{:?}",
            document.text(),
            reference
        );

        let probe = random.below(reference.len() + 1);
        if reference.is_char_boundary(probe) {
            let position = offset_to_position(document.rope(), probe, encoding);
            assert_eq!(
                position,
                reference_position(&reference, probe, encoding),
                "seed {seed} step {step}: position of {probe} in {reference:?}"
            );
        }
    }
}

const SEEDS: u64 = 20;
const EDITS_PER_SEED: usize = 2_600;

#[test]
fn random_utf16_edits_match_reference() {
    for seed in 0..SEEDS {
        run_seed(0x5EED_0000 + seed, PositionEncoding::Utf16, EDITS_PER_SEED);
    }
}

#[test]
fn random_utf8_edits_match_reference() {
    for seed in 0..SEEDS {
        run_seed(0x5EED_1000 + seed, PositionEncoding::Utf8, EDITS_PER_SEED);
    }
}

#[test]
fn stale_versions_are_refused() {
    let mut document = Document::new("abc", 3, "plaintext");
    assert!(document.advance_version(3).is_err());
    assert!(document.advance_version(2).is_err());
    assert!(document.advance_version(4).is_ok());
    assert_eq!(document.version(), 4);
}

#[test]
fn bad_byte_ranges_are_errors_not_panics() {
    let mut document = Document::new("a😀b", 0, "plaintext");
    assert!(document.apply_edit(2..3, "x").is_err());
    assert!(document.apply_edit(0..99, "x").is_err());
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = 3..1;
    assert!(document.apply_edit(reversed, "x").is_err());
    assert_eq!(document.text(), "a😀b");
}

#[test]
fn the_digest_follows_the_text_however_the_rope_is_cut() {
    // FNV-1a of "a" is a published test vector.
    assert_eq!(
        biomed_lsp::document::text_digest(["a"]),
        0xaf63_dc4c_8601_ec8c
    );
    let text = "Troponin 𝛼 rose.\n".repeat(2_000);
    let mut document = Document::new(&text, 1, "markdown");
    let whole = format!(
        "{:016x}",
        biomed_lsp::document::text_digest([text.as_str()])
    );
    assert_eq!(document.digest(), whole);
    document.apply_edit(0..0, "X").expect("an edit");
    assert_ne!(document.digest(), whole);
    document.apply_edit(0..1, "").expect("an edit");
    assert_eq!(document.digest(), whole);
}
