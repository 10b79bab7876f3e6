//! Source maps between extracted prose and the source text, and the builder the extractors use to
//! produce them.

use std::ops::Range;

use serde::Serialize;

/// How a piece of prose relates to the source bytes it was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SegmentKind {
    /// The prose text is byte-for-byte the source text.
    Verbatim,
    /// The prose text renders an escape or markup in the source (`\%` -> `%`, `~` -> space,
    /// `--` -> en dash, `\"o` -> ö, a newline inside a paragraph -> space).
    Escape,
    /// The prose text replaces a skipped construct (math, citation, reference...). Never flag or
    /// complete inside a stand-in: the text is invented.
    StandIn,
}

/// One piece of a chunk's source map.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Segment {
    pub prose_range: Range<usize>,
    pub source_range: Range<usize>,
    pub kind: SegmentKind,
}

/// One unit of prose: a paragraph, heading, list item, table cell, caption or footnote.
///
/// Invariants: `segments` are ordered, cover `text` without gaps (empty stand-ins are allowed),
/// their source ranges are increasing and do not overlap, and every `Verbatim` segment's prose
/// equals its source text. Source bytes between segments (comments, skipped arguments) are gaps.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ProseChunk {
    pub text: String,
    pub segments: Vec<Segment>,
    /// From the first segment's source start to the last segment's source end.
    pub source_range: Range<usize>,
}

impl ProseChunk {
    /// The source range covering `prose_range` of this chunk's text. A range that starts or ends
    /// inside a non-verbatim segment is widened to that whole segment, so the result always
    /// covers the source of every prose byte asked for.
    pub fn source_range_of(&self, prose_range: Range<usize>) -> Range<usize> {
        let text_len = self.text.len();
        let start = prose_range.start.min(text_len);
        let end = prose_range.end.min(text_len).max(start);
        let source_start = self.source_offset_for_start(start);
        if end == start {
            return source_start..source_start;
        }
        let source_end = self.source_offset_for_end(end);
        source_start..source_end.max(source_start)
    }

    fn source_offset_for_start(&self, prose_offset: usize) -> usize {
        // The first non-empty segment that contains the offset (segments are ordered by prose).
        let index = self
            .segments
            .partition_point(|segment| segment.prose_range.end <= prose_offset);
        match self.segments[index..]
            .iter()
            .find(|segment| !segment.prose_range.is_empty())
        {
            Some(segment) if segment.prose_range.start <= prose_offset => match segment.kind {
                SegmentKind::Verbatim => {
                    segment.source_range.start + (prose_offset - segment.prose_range.start)
                }
                _ => segment.source_range.start,
            },
            Some(segment) => segment.source_range.start,
            None => self.source_range.end,
        }
    }

    fn source_offset_for_end(&self, prose_offset: usize) -> usize {
        // The last non-empty segment that contains the offset as an end.
        let index = self
            .segments
            .partition_point(|segment| segment.prose_range.start < prose_offset);
        match self.segments[..index]
            .iter()
            .rev()
            .find(|segment| !segment.prose_range.is_empty())
        {
            Some(segment) if segment.prose_range.end >= prose_offset => match segment.kind {
                SegmentKind::Verbatim => {
                    segment.source_range.start + (prose_offset - segment.prose_range.start)
                }
                _ => segment.source_range.end,
            },
            Some(segment) => segment.source_range.end,
            None => self.source_range.start,
        }
    }

    /// False when `prose_range` overlaps a stand-in (or, for an empty stand-in such as a dropped
    /// citation, contains its position strictly inside). A word right next to a dropped citation
    /// stays checkable; a range spanning it does not.
    pub fn is_checkable(&self, prose_range: Range<usize>) -> bool {
        !self.segments.iter().any(|segment| {
            if segment.kind != SegmentKind::StandIn {
                return false;
            }
            let stand_in = &segment.prose_range;
            if stand_in.is_empty() {
                prose_range.start < stand_in.start && stand_in.start < prose_range.end
            } else if prose_range.is_empty() {
                stand_in.start < prose_range.start && prose_range.start < stand_in.end
            } else {
                prose_range.start < stand_in.end && stand_in.start < prose_range.end
            }
        })
    }

    /// The prose offset for a cursor at `source_offset`, or `None` when the offset is outside the
    /// chunk. Inside a non-verbatim segment the cursor snaps to the segment's prose start; in a gap
    /// (a comment, a skipped argument) it snaps to the next segment's prose start.
    pub fn prose_offset_of(&self, source_offset: usize) -> Option<usize> {
        if source_offset < self.source_range.start || source_offset > self.source_range.end {
            return None;
        }
        let index = self
            .segments
            .partition_point(|segment| segment.source_range.end <= source_offset);
        match self.segments.get(index) {
            Some(segment) if segment.source_range.start <= source_offset => match segment.kind {
                SegmentKind::Verbatim => {
                    Some(segment.prose_range.start + (source_offset - segment.source_range.start))
                }
                _ => Some(segment.prose_range.start),
            },
            Some(segment) => Some(segment.prose_range.start),
            None => Some(self.text.len()),
        }
    }

    /// Shifts every source range by `delta` (used by incremental re-extraction).
    pub(crate) fn shift_source(&mut self, delta: isize) {
        let shift = |offset: usize| (offset as isize + delta) as usize;
        self.source_range = shift(self.source_range.start)..shift(self.source_range.end);
        for segment in &mut self.segments {
            segment.source_range =
                shift(segment.source_range.start)..shift(segment.source_range.end);
        }
    }
}

/// Builds one chunk: appends prose with its source map and collapses whitespace.
///
/// Whitespace is held back as a pending space and only written when more prose follows, so chunks
/// never start or end with a space and runs of whitespace become one space.
pub(crate) struct ChunkBuilder<'a> {
    source: &'a str,
    text: String,
    segments: Vec<Segment>,
    pending_space: Option<Range<usize>>,
}

impl<'a> ChunkBuilder<'a> {
    pub(crate) fn new(source: &'a str) -> Self {
        ChunkBuilder {
            source,
            text: String::new(),
            segments: Vec::new(),
            pending_space: None,
        }
    }

    /// Records whitespace (or anything rendered as a space: `~`, `\\`, a soft break).
    pub(crate) fn push_space(&mut self, source_range: Range<usize>) {
        self.pending_space = Some(match self.pending_space.take() {
            Some(pending) => {
                pending.start.min(source_range.start)..pending.end.max(source_range.end)
            }
            None => source_range,
        });
    }

    fn flush_space(&mut self) {
        let Some(range) = self.pending_space.take() else {
            return;
        };
        if self.text.is_empty() {
            // Leading whitespace of a chunk is dropped.
            return;
        }
        if self.source.get(range.clone()) == Some(" ") {
            self.push_segment(" ", range, SegmentKind::Verbatim);
        } else {
            self.push_segment(" ", range, SegmentKind::Escape);
        }
    }

    /// The end of the last segment's source range: later segments must not start before it.
    fn source_end(&self) -> usize {
        self.segments
            .last()
            .map_or(0, |segment| segment.source_range.end)
    }

    fn push_segment(&mut self, text: &str, source_range: Range<usize>, kind: SegmentKind) {
        if source_range.start < self.source_end() || source_range.end < source_range.start {
            // Defensive: an extractor bug must not break the map's ordering invariant.
            return;
        }
        let prose_start = self.text.len();
        self.text.push_str(text);
        let prose_end = self.text.len();
        if kind == SegmentKind::Verbatim {
            if let Some(last) = self.segments.last_mut() {
                if last.kind == SegmentKind::Verbatim
                    && last.source_range.end == source_range.start
                    && last.prose_range.end == prose_start
                {
                    last.source_range.end = source_range.end;
                    last.prose_range.end = prose_end;
                    return;
                }
            }
        }
        self.segments.push(Segment {
            prose_range: prose_start..prose_end,
            source_range,
            kind,
        });
    }

    /// Appends source text unchanged.
    pub(crate) fn push_verbatim(&mut self, source_range: Range<usize>) {
        if source_range.is_empty() {
            return;
        }
        let Some(text) = self.source.get(source_range.clone()) else {
            return;
        };
        self.flush_space();
        self.push_segment(text, source_range, SegmentKind::Verbatim);
    }

    /// Appends `text` rendering the markup at `source_range`. Empty text adds nothing.
    pub(crate) fn push_escape(&mut self, text: &str, source_range: Range<usize>) {
        if text.is_empty() {
            return;
        }
        self.flush_space();
        self.push_segment(text, source_range, SegmentKind::Escape);
    }

    /// Appends a stand-in for a skipped construct. An empty stand-in (a dropped citation) swallows
    /// the whitespace before it, so "word \cite{x}." reads "word." rather than "word .".
    pub(crate) fn push_stand_in(&mut self, text: &str, source_range: Range<usize>) {
        if text.is_empty() {
            let start = match self.pending_space.take() {
                Some(pending) if !self.text.is_empty() => pending.start.min(source_range.start),
                _ => source_range.start,
            };
            if start < self.source_end() {
                return;
            }
            let position = self.text.len();
            self.segments.push(Segment {
                prose_range: position..position,
                source_range: start..source_range.end,
                kind: SegmentKind::StandIn,
            });
        } else {
            self.flush_space();
            self.push_segment(text, source_range, SegmentKind::StandIn);
        }
    }

    /// True when nothing but whitespace or stand-ins has been added.
    pub(crate) fn has_real_prose(&self) -> bool {
        self.segments.iter().any(|segment| {
            segment.kind != SegmentKind::StandIn
                && self.text[segment.prose_range.clone()]
                    .chars()
                    .any(|c| !c.is_whitespace())
        })
    }

    /// The finished chunk, or `None` when it holds no real prose (only whitespace or stand-ins:
    /// a paragraph that is just an equation has nothing to check).
    pub(crate) fn finish(self) -> Option<ProseChunk> {
        if !self.has_real_prose() {
            return None;
        }
        let first = self.segments.first()?.source_range.start;
        let last = self.segments.last()?.source_range.end;
        Some(ProseChunk {
            text: self.text,
            segments: self.segments,
            source_range: first..last,
        })
    }
}

/// The shape every extractor returns for a region of a document.
#[derive(Debug, Default)]
pub(crate) struct RegionOutput {
    pub(crate) chunks: Vec<ProseChunk>,
    /// Offsets where the extractor's state is the initial state again (start of a top-level
    /// paragraph after a blank line): re-extraction may restart there.
    pub(crate) sync_points: Vec<usize>,
    /// True when some construct looked for its end and ran into the region's end: the result
    /// may depend on text beyond the region, so a partial re-extraction is not trustworthy.
    pub(crate) hit_limit: bool,
    /// Markdown: where the YAML front matter ends (0 when there is none).
    pub(crate) front_matter_end: usize,
}
