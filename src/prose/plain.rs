//! Plain-text extraction: every paragraph (text between blank lines) is one chunk.

use super::source_map::{ChunkBuilder, RegionOutput};

/// Extracts `source[start..end]`, which must begin at a paragraph start (or the document start).
pub(crate) fn extract_region(source: &str, start: usize, end: usize) -> RegionOutput {
    let bytes = source.as_bytes();
    let mut output = RegionOutput::default();
    let mut builder = ChunkBuilder::new(source);
    let mut pos = start;
    while pos < end {
        if is_space(bytes[pos]) {
            let run_start = pos;
            let mut newlines = 0;
            while pos < end && is_space(bytes[pos]) {
                if bytes[pos] == b'\n' {
                    newlines += 1;
                }
                pos += 1;
            }
            let starts_line = run_start == 0 || bytes[run_start - 1] == b'\n';
            if newlines >= 2 || (newlines >= 1 && starts_line) {
                let finished = std::mem::replace(&mut builder, ChunkBuilder::new(source));
                output.chunks.extend(finished.finish());
                if pos < end {
                    output.sync_points.push(pos);
                }
            } else {
                builder.push_space(run_start..pos);
            }
        } else {
            let word_start = pos;
            while pos < end && !is_space(bytes[pos]) {
                pos += 1;
            }
            // Whitespace bytes are ASCII, so both ends are char boundaries.
            builder.push_verbatim(word_start..pos);
        }
    }
    output.chunks.extend(builder.finish());
    output
}

pub(crate) fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}
