//! Markdown / Quarto / R Markdown extraction on top of pulldown-cmark's offset iterator, plus the
//! pandoc constructs CommonMark does not know (citations, cross-references, attribute blocks,
//! bare URLs, `:::` div fences), which are recognised in the text events.

use std::ops::Range;

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};

use super::latex::math_stand_in;
use super::source_map::{ChunkBuilder, ProseChunk, RegionOutput};

fn parser_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_MATH
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
        | Options::ENABLE_HEADING_ATTRIBUTES
}

/// True when the source has a line that looks like a link reference or footnote definition
/// (`[x]: ...`, `[^1]: ...`). Those change how text anywhere else parses, so incremental
/// re-extraction falls back to a full parse for such documents.
pub(crate) fn has_definitions(source: &str) -> bool {
    // Line by line (a lone `\r` also ends a line in CommonMark), so the scan stays linear. The
    // label's `[` may follow block quote and list markers ("> [x]: url", "- [^1]: note").
    // Fast path: most manuscripts have no "]:" at all.
    if !source.contains("]:") {
        return false;
    }
    source.split(['\n', '\r']).any(|line| {
        let rest = line.trim_start_matches([
            ' ', '\t', '>', '-', '*', '+', '.', ')', '0', '1', '2', '3', '4', '5', '6', '7', '8',
            '9',
        ]);
        rest.starts_with('[') && rest.contains("]:")
    })
}

/// True when `text` has a line that can open or close a YAML metadata block (`---`, `+++`,
/// `...`). pulldown-cmark (like pandoc) accepts metadata blocks anywhere in the document, and
/// whether such a line opens one depends on a closing line that may lie far away, so incremental
/// re-extraction falls back to a full parse when the re-extracted region holds one.
pub(crate) fn has_metadata_fence(text: &str) -> bool {
    text.split(['\n', '\r'])
        .any(|line| matches!(line.trim(), "---" | "+++" | "..."))
}

struct Extractor<'a> {
    source: &'a str,
    bytes: &'a [u8],
    builder: ChunkBuilder<'a>,
    chunks: Vec<ProseChunk>,
    /// Inline content before this offset was consumed by a stand-in (a citation found by looking
    /// ahead in the source, an autolink): later events inside it are ignored.
    skip_until: usize,
    /// End of the current paragraph / heading / cell: lookahead never crosses it.
    block_end: usize,
}

/// Extracts `source[start..end]`; `start` must be the document start or a sync point.
pub(crate) fn extract_region(source: &str, start: usize, end: usize) -> RegionOutput {
    let region = source.get(start..end).unwrap_or("");
    let mut extractor = Extractor {
        source,
        bytes: source.as_bytes(),
        builder: ChunkBuilder::new(source),
        chunks: Vec::new(),
        skip_until: 0,
        block_end: end,
    };
    let mut sync_points = Vec::new();
    // Code blocks, metadata and HTML blocks: nothing inside is prose.
    let mut skip_depth = 0usize;
    // Lists, block quotes, footnote definitions, tables: paragraphs inside are not sync points.
    let mut container_depth = 0usize;
    let mut front_matter_end = 0;
    for (event, relative) in Parser::new_ext(region, parser_options()).into_offset_iter() {
        let range = relative.start + start..relative.end + start;
        match event {
            Event::Start(tag) => match tag {
                Tag::CodeBlock(_) | Tag::MetadataBlock(_) | Tag::HtmlBlock => {
                    extractor.break_chunk();
                    skip_depth += 1;
                }
                Tag::Paragraph | Tag::Heading { .. } | Tag::TableCell => {
                    extractor.break_chunk();
                    extractor.block_end = range.end;
                    if skip_depth == 0
                        && container_depth == 0
                        && is_sync_point(source, range.start, start)
                    {
                        sync_points.push(range.start);
                    }
                }
                Tag::Item | Tag::DefinitionListTitle | Tag::DefinitionListDefinition => {
                    extractor.break_chunk();
                    extractor.block_end = range.end;
                    container_depth += 1;
                }
                Tag::List(_)
                | Tag::BlockQuote(_)
                | Tag::FootnoteDefinition(_)
                | Tag::Table(_)
                | Tag::TableHead
                | Tag::TableRow
                | Tag::DefinitionList => {
                    extractor.break_chunk();
                    container_depth += 1;
                }
                Tag::Link {
                    link_type: LinkType::Autolink | LinkType::Email,
                    ..
                } if skip_depth == 0 => {
                    extractor.stand_in("URL", range.clone());
                }
                _ => {}
            },
            Event::End(tag_end) => match tag_end {
                TagEnd::CodeBlock | TagEnd::MetadataBlock(_) | TagEnd::HtmlBlock => {
                    if matches!(tag_end, TagEnd::MetadataBlock(_)) {
                        front_matter_end = range.end;
                    }
                    skip_depth = skip_depth.saturating_sub(1);
                    extractor.break_chunk();
                }
                TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::TableCell => {
                    extractor.break_chunk()
                }
                TagEnd::Item
                | TagEnd::DefinitionListTitle
                | TagEnd::DefinitionListDefinition
                | TagEnd::List(_)
                | TagEnd::BlockQuote(_)
                | TagEnd::FootnoteDefinition
                | TagEnd::Table
                | TagEnd::TableHead
                | TagEnd::TableRow
                | TagEnd::DefinitionList => {
                    container_depth = container_depth.saturating_sub(1);
                    extractor.break_chunk();
                }
                _ => {}
            },
            _ if skip_depth > 0 => {}
            Event::Text(text) => extractor.text(&text, range),
            // Inline code is usually a function or package name: a neutral noun keeps the
            // sentence grammatical ("the `phyloseq` package" -> "the X package").
            Event::Code(_) => extractor.stand_in("X", range),
            Event::InlineMath(math) | Event::DisplayMath(math) => {
                let stand_in = math_stand_in(&math);
                extractor.stand_in(&stand_in, range);
            }
            // A footnote marker leaves nothing in the sentence; the note is its own chunk.
            Event::FootnoteReference(_) => extractor.stand_in("", range),
            Event::SoftBreak | Event::HardBreak => {
                if range.start >= extractor.skip_until {
                    extractor.builder.push_space(range);
                }
            }
            Event::Rule => extractor.break_chunk(),
            // Raw HTML and HTML comments are not prose; task markers carry no text.
            Event::Html(_) | Event::InlineHtml(_) | Event::TaskListMarker(_) => {}
        }
    }
    extractor.break_chunk();
    let mut chunks = extractor.chunks;
    chunks.sort_by_key(|chunk| chunk.source_range.start);
    RegionOutput {
        chunks,
        sync_points,
        hit_limit: false,
        front_matter_end,
    }
}

/// A top-level block at `offset` restarts parsing cleanly when it starts a line (no indentation:
/// it cannot continue a list item) and the line before it is blank (no lazy continuation).
fn is_sync_point(source: &str, offset: usize, region_start: usize) -> bool {
    let bytes = source.as_bytes();
    if offset <= region_start || offset == 0 || bytes[offset - 1] != b'\n' {
        return false;
    }
    let mut index = offset - 1;
    while index > 0 && matches!(bytes[index - 1], b' ' | b'\t' | b'\r') {
        index -= 1;
    }
    index > 0 && bytes[index - 1] == b'\n'
}

impl<'a> Extractor<'a> {
    fn break_chunk(&mut self) {
        let finished = std::mem::replace(&mut self.builder, ChunkBuilder::new(self.source));
        self.chunks.extend(finished.finish());
    }

    fn stand_in(&mut self, text: &str, range: Range<usize>) {
        if range.start < self.skip_until {
            return;
        }
        self.skip_until = range.end;
        self.builder.push_stand_in(text, range);
    }

    fn text(&mut self, text: &str, range: Range<usize>) {
        if range.end <= self.skip_until {
            return;
        }
        if self.source.get(range.clone()) != Some(text) {
            // pulldown-cmark rendered something (an entity, an escape): the whole piece maps
            // to its source range.
            if range.start >= self.skip_until {
                self.builder.push_escape(text, range);
            }
            return;
        }
        let start = range.start.max(self.skip_until);
        if !self.source.is_char_boundary(start) {
            return;
        }
        self.scan_verbatim(start, range.end);
    }

    /// Scans verbatim text for pandoc constructs, pushing plain runs as verbatim.
    fn scan_verbatim(&mut self, start: usize, end: usize) {
        // After a nested block (a list inside an item) the recorded block end can be stale:
        // lookahead may always reach the end of the current text.
        self.block_end = self.block_end.max(end);
        let mut run_start = start;
        let mut index = start;
        while index < end {
            let byte = self.bytes[index];
            let construct = match byte {
                b'[' => self.bracket_citation(index),
                b'@' => self.bare_citation(index, start),
                b'h' | b'w' | b'f' => self.bare_url(index, start),
                b'{' => self.attribute_block(index),
                b'!' | b']' => self.broken_link_markup(index),
                b':' => self.div_fence(index),
                b'-' => self.dashes(index, end),
                b' ' | b'\t' | b'\n' | b'\r' => {
                    let mut run_end = index;
                    while run_end < end
                        && matches!(self.bytes[run_end], b' ' | b'\t' | b'\n' | b'\r')
                    {
                        run_end += 1;
                    }
                    Some((run_end, None))
                }
                _ => None,
            };
            match construct {
                Some((construct_end, replacement)) => {
                    self.builder.push_verbatim(run_start..index);
                    match replacement {
                        Some(Replacement::StandIn(text)) => {
                            self.builder.push_stand_in(text, index..construct_end)
                        }
                        Some(Replacement::Escape(text)) => {
                            self.builder.push_escape(text, index..construct_end)
                        }
                        Some(Replacement::Skip) => {}
                        None => self.builder.push_space(index..construct_end),
                    }
                    if construct_end > end {
                        // The construct reaches into later events: skip them.
                        self.skip_until = construct_end;
                    }
                    index = construct_end.max(index + 1);
                    run_start = index.min(end);
                    if index >= end {
                        return;
                    }
                }
                None => index += 1,
            }
        }
        self.builder.push_verbatim(run_start..end);
    }

    fn preceded_by_word_char(&self, index: usize, text_start: usize) -> bool {
        // Look at the source (not only this text event): "a@b" split across events is one word.
        let _ = text_start;
        index > 0 && {
            let previous = self.source[..index].chars().next_back().unwrap_or(' ');
            previous.is_alphanumeric() || previous == '_'
        }
    }

    /// `[@key]`, `[@a; @b]`, `[see @key, p. 3]`, `[-@key]`: a pandoc citation (or a
    /// pandoc-crossref reference when the first key is `fig:`, `tbl:`, `eq:`, `sec:`).
    fn bracket_citation(&self, open: usize) -> Option<(usize, Option<Replacement>)> {
        let limit = self.block_end.min(self.source.len()).min(open + 4000);
        let mut index = open + 1;
        let mut has_key = false;
        let mut first_key: Option<usize> = None;
        while index < limit {
            match self.bytes[index] {
                b']' => break,
                b'[' => return None,
                b'@' => {
                    let previous = self.bytes[index - 1];
                    let next = self.bytes.get(index + 1).copied().unwrap_or(b' ');
                    if matches!(previous, b'[' | b' ' | b'-' | b';' | b'\n' | b'\t')
                        && (next.is_ascii_alphanumeric() || next == b'_')
                    {
                        has_key = true;
                        first_key.get_or_insert(index + 1);
                    }
                }
                _ => {}
            }
            index += 1;
        }
        if index >= limit || !has_key {
            return None;
        }
        let close = index + 1;
        // A link would have been parsed by pulldown-cmark; `[...](` here is a broken link.
        let stand_in = first_key.map_or("", |key| {
            cross_reference(&self.source[key..close]).unwrap_or("")
        });
        Some((close, Some(Replacement::StandIn(stand_in))))
    }

    /// `@key` (author-in-text citation) or `@fig:x` (cross-reference).
    fn bare_citation(&self, at: usize, text_start: usize) -> Option<(usize, Option<Replacement>)> {
        if self.preceded_by_word_char(at, text_start) {
            return None;
        }
        let limit = self.block_end.min(self.source.len());
        let mut index = at + 1;
        if index >= limit
            || !(self.bytes[index].is_ascii_alphanumeric() || self.bytes[index] == b'_')
        {
            return None;
        }
        while index < limit
            && (self.bytes[index].is_ascii_alphanumeric()
                || b"_:.#$%&+?<>~/-".contains(&self.bytes[index]))
        {
            index += 1;
        }
        // Pandoc keys end with a letter, digit or underscore: trailing punctuation is the sentence's.
        while index > at + 1
            && !(self.bytes[index - 1].is_ascii_alphanumeric() || self.bytes[index - 1] == b'_')
        {
            index -= 1;
        }
        let key = &self.source[at + 1..index];
        // An author-in-text citation renders as the authors' names. A cross-reference renders
        // its name and number, or only the number when the text already names it
        // ("Figure @fig:x", the Manubot style).
        let stand_in = match cross_reference(key) {
            Some(_) if self.preceded_by_object_name(at) => "1",
            Some(named) => named,
            // No "et al.": its period would read as a sentence end before a final ".".
            None => "Smith and Jones",
        };
        Some((index, Some(Replacement::StandIn(stand_in))))
    }

    fn preceded_by_object_name(&self, at: usize) -> bool {
        let before = self.source[..at].trim_end_matches([' ', '\t', '~']);
        let word_start = before
            .rfind([' ', '\n', '(', '['])
            .map_or(0, |index| index + 1);
        let word = before[word_start..].to_ascii_lowercase();
        matches!(
            word.as_str(),
            "figure"
                | "figures"
                | "fig."
                | "figs."
                | "table"
                | "tables"
                | "tab."
                | "equation"
                | "eq."
                | "eqs."
                | "section"
                | "sections"
                | "sec."
                | "listing"
        )
    }

    /// What is left of a link or image pulldown-cmark could not parse (a very long figure
    /// caption): the `![` opener and the `](target)` part are markup, not prose.
    fn broken_link_markup(&self, at: usize) -> Option<(usize, Option<Replacement>)> {
        if self.bytes[at] == b'!' {
            return (self.bytes.get(at + 1) == Some(&b'['))
                .then_some((at + 2, Some(Replacement::Skip)));
        }
        if self.bytes.get(at + 1) != Some(&b'(') {
            return None;
        }
        let limit = self.block_end.min(self.source.len()).min(at + 2000);
        let mut index = at + 2;
        while index < limit && !matches!(self.bytes[index], b')' | b' ' | b'\n' | b'\t') {
            index += 1;
        }
        (index < limit && self.bytes[index] == b')').then_some((index + 1, Some(Replacement::Skip)))
    }

    fn bare_url(&self, at: usize, text_start: usize) -> Option<(usize, Option<Replacement>)> {
        let rest = self
            .bytes
            .get(at..self.block_end.min(self.bytes.len()))
            .unwrap_or(&[]);
        let is_url = rest.starts_with(b"http://")
            || rest.starts_with(b"https://")
            || rest.starts_with(b"ftp://")
            || rest.starts_with(b"www.");
        if !is_url || self.preceded_by_word_char(at, text_start) {
            return None;
        }
        let mut length = 0;
        while length < rest.len()
            && !matches!(
                rest[length],
                b' ' | b'\t' | b'\n' | b'\r' | b'<' | b'>' | b'"' | b')' | b']'
            )
        {
            length += 1;
        }
        while length > 0
            && matches!(
                rest[length - 1],
                b'.' | b',' | b';' | b':' | b'!' | b'?' | b'\''
            )
        {
            length -= 1;
        }
        let mut end = at + length;
        while !self.source.is_char_boundary(end) {
            end += 1;
        }
        Some((end, Some(Replacement::StandIn("URL"))))
    }

    /// Pandoc attribute blocks: `{#fig:x}`, `{.class}`, `{#tbl:y width=50%}`.
    fn attribute_block(&self, open: usize) -> Option<(usize, Option<Replacement>)> {
        let limit = self.block_end.min(self.source.len()).min(open + 500);
        let mut index = open + 1;
        while index < limit && self.bytes[index] == b' ' {
            index += 1;
        }
        let first = *self.bytes.get(index)?;
        // Manubot / Jinja templating: `{% ... %}` and `{{ ... }}` are not prose.
        if index == open + 1 && (first == b'%' || first == b'{') {
            let closing: &[u8] = if first == b'%' { b"%}" } else { b"}}" };
            let rest = self.bytes.get(index + 1..limit)?;
            let found = rest.windows(2).position(|window| window == closing)?;
            return Some((index + 1 + found + 2, Some(Replacement::Skip)));
        }
        if !(first == b'#' || first == b'.' || first == b'-') {
            return None;
        }
        while index < limit && !matches!(self.bytes[index], b'}' | b'\n' | b'{') {
            index += 1;
        }
        if index < limit && self.bytes[index] == b'}' {
            Some((index + 1, Some(Replacement::Skip)))
        } else {
            None
        }
    }

    /// Quarto / pandoc fenced divs: a line starting with `:::` is markup, not prose.
    fn div_fence(&self, at: usize) -> Option<(usize, Option<Replacement>)> {
        let starts_line = at == 0 || self.bytes[at - 1] == b'\n';
        if !starts_line || !self.bytes[at..].starts_with(b":::") {
            return None;
        }
        let limit = self.block_end.min(self.source.len());
        let mut index = at;
        while index < limit && self.bytes[index] != b'\n' {
            index += 1;
        }
        Some((index, Some(Replacement::Skip)))
    }

    /// Pandoc's smart punctuation: `--` is an en dash, `---` an em dash.
    fn dashes(&self, at: usize, end: usize) -> Option<(usize, Option<Replacement>)> {
        let mut index = at;
        while index < end && index - at < 3 && self.bytes[index] == b'-' {
            index += 1;
        }
        match index - at {
            3 => Some((index, Some(Replacement::Escape("—")))),
            2 => Some((index, Some(Replacement::Escape("–")))),
            _ => None,
        }
    }
}

enum Replacement {
    StandIn(&'static str),
    Escape(&'static str),
    Skip,
}

/// The rendered name of a pandoc-crossref reference, or `None` for an ordinary citation key.
fn cross_reference(key: &str) -> Option<&'static str> {
    let prefix = key.split(':').next().unwrap_or("");
    if prefix.len() == key.len() {
        return None;
    }
    match prefix {
        "fig" => Some("Figure 1"),
        "tbl" | "tab" => Some("Table 1"),
        "eq" => Some("Equation 1"),
        "sec" => Some("Section 1"),
        "lst" => Some("Listing 1"),
        _ => None,
    }
}
