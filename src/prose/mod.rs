//! Prose extraction: turns LaTeX, Markdown (Quarto, R Markdown) and plain-text manuscripts into
//! chunks of checkable prose with exact byte-level source maps, splits them into sentences, and
//! keeps them up to date incrementally as a document is edited.
//!
//! Everything here is plain functions over plain data; nothing reads files.

mod latex;
mod markdown;
mod plain;
mod sentences;
mod source_map;

use std::fmt::Write as _;
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use sentences::{sentence_starts, split_sentences, Sentence};
pub use source_map::{ProseChunk, Segment, SegmentKind};

use source_map::RegionOutput;

/// The markup language of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Language {
    PlainText,
    Markdown,
    Latex,
}

/// Errors of this module.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProseError {
    #[error("unknown document language: {0:?}")]
    UnknownLanguage(String),
}

impl Language {
    /// The language for a file name by its extension: `.tex`, `.md`, `.qmd`, `.Rmd`/`.rmd`,
    /// `.txt` (and a few close relatives such as `.markdown`, `.ltx`, `.text`).
    pub fn from_path(path: &str) -> Option<Language> {
        let file_name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        let (_, extension) = file_name.rsplit_once('.')?;
        match extension.to_ascii_lowercase().as_str() {
            "tex" | "ltx" | "latex" => Some(Language::Latex),
            "md" | "markdown" | "qmd" | "rmd" => Some(Language::Markdown),
            "txt" | "text" => Some(Language::PlainText),
            _ => None,
        }
    }

    /// The language for an LSP `languageId`.
    pub fn from_language_id(id: &str) -> Option<Language> {
        match id.to_ascii_lowercase().as_str() {
            "plaintext" | "text" => Some(Language::PlainText),
            "markdown" | "quarto" | "rmd" | "rmarkdown" => Some(Language::Markdown),
            "latex" | "tex" => Some(Language::Latex),
            _ => None,
        }
    }
}

impl FromStr for Language {
    type Err = ProseError;

    /// Accepts LSP language ids and the names `plain`, `md`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Language::from_language_id(name)
            .or(match name.to_ascii_lowercase().as_str() {
                "plain" | "txt" => Some(Language::PlainText),
                "md" | "qmd" => Some(Language::Markdown),
                _ => None,
            })
            .ok_or_else(|| ProseError::UnknownLanguage(name.to_string()))
    }
}

/// User configuration of the extraction. The lists ADD to the built-in lists in `latex.rs`
/// (section, caption, footnote, emph, textbf... as prose; cite, ref, label, url... skipped);
/// names may be written with or without the backslash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProseOptions {
    /// Extra commands whose braced argument is prose (e.g. `"highlight"`).
    pub latex_prose_commands: Vec<String>,
    /// Extra commands skipped with all their arguments; they stand in as "X" (e.g. `"gls"`).
    pub latex_skip_commands: Vec<String>,
    /// Extra environments whose content is skipped (e.g. `"algorithm"`).
    pub latex_skip_environments: Vec<String>,
}

/// Extracts the prose chunks of a document, in source order.
pub fn extract(source: &str, language: Language, options: &ProseOptions) -> Vec<ProseChunk> {
    extract_full(source, language, options).0.chunks
}

/// Full extraction; also returns the LaTeX body range (the whole source for other languages).
fn extract_full(
    source: &str,
    language: Language,
    options: &ProseOptions,
) -> (RegionOutput, Range<usize>) {
    match language {
        Language::PlainText => (
            plain::extract_region(source, 0, source.len()),
            0..source.len(),
        ),
        Language::Markdown => (
            markdown::extract_region(source, 0, source.len()),
            0..source.len(),
        ),
        Language::Latex => {
            let body = latex::body_range(source);
            let preamble = source.get(..body.start).unwrap_or("");
            let tables = latex::LatexTables::new(options, preamble);
            (
                latex::extract_region(source, body.start, body.end, &tables),
                body,
            )
        }
    }
}

/// Extracts and splits a whole document into sentences.
pub fn sentences(source: &str, language: Language, options: &ProseOptions) -> Vec<Sentence> {
    extract(source, language, options)
        .iter()
        .enumerate()
        .flat_map(|(index, chunk)| split_sentences(chunk, index))
        .collect()
}

/// The chunks of one document, kept up to date across edits.
///
/// After an edit only the region between the sync points around it (top-level paragraph starts
/// after a blank line, where every extractor is back in its initial state) is re-extracted; the
/// chunks after it are shifted. The result always equals a fresh `extract` of the new source.
///
/// The region is re-extracted one block past the next sync point, and it is only accepted when
/// the extractor is clean again exactly there. Otherwise, or when a local re-extraction is unsafe
/// by construction, the whole document is re-extracted:
/// - LaTeX: the edit touches the preamble, `\begin{document}` or `\end{document}`; a construct
///   in the region (an unclosed environment, `\begin{verbatim}`, a group) searched for its end
///   past the region; an environment or group opened in the region is still open at its end.
/// - Markdown: a code fence or HTML block opened in the region swallows the next block; the
///   region holds a `---` line (a metadata block may open or close there); the edit is in or
///   near the front matter; the document has link reference or footnote definitions.
/// - Plain text: the blank line before the next paragraph was removed (the region just grows).
#[derive(Debug, Clone)]
pub struct ProseDocument {
    source: String,
    language: Language,
    options: ProseOptions,
    chunks: Vec<ProseChunk>,
    sync_points: Vec<usize>,
    body: Range<usize>,
    front_matter_end: usize,
    /// LaTeX name tables (options + preamble macros); the preamble cannot change in a local edit.
    latex_tables: latex::LatexTables,
    full_extractions: usize,
}

/// How many sync points past the edit a local re-extraction may grow to before giving up.
const MAX_REGION_GROWTH: usize = 4;

impl ProseDocument {
    pub fn new(source: &str, language: Language, options: ProseOptions) -> Self {
        let mut document = ProseDocument {
            source: String::new(),
            language,
            options,
            chunks: Vec::new(),
            sync_points: Vec::new(),
            body: 0..0,
            front_matter_end: 0,
            latex_tables: latex::LatexTables::default(),
            full_extractions: 0,
        };
        document.extract_all(source);
        document
    }

    pub fn chunks(&self) -> &[ProseChunk] {
        &self.chunks
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn language(&self) -> Language {
        self.language
    }

    /// How many full extractions this document has done (1 for `new`); for tests and tuning.
    pub fn full_extractions(&self) -> usize {
        self.full_extractions
    }

    fn extract_all(&mut self, source: &str) {
        let (output, body) = extract_full(source, self.language, &self.options);
        self.source = source.to_string();
        self.chunks = output.chunks;
        self.sync_points = output.sync_points;
        self.body = body;
        self.front_matter_end = output.front_matter_end;
        if self.language == Language::Latex {
            let preamble = source.get(..self.body.start).unwrap_or("");
            self.latex_tables = latex::LatexTables::new(&self.options, preamble);
        }
        self.full_extractions += 1;
    }

    /// Applies an edit: `edited` (a byte range of the old source) was replaced by `inserted_len`
    /// bytes, giving `new_source`. Inconsistent arguments cause a full re-extraction.
    pub fn apply_edit(&mut self, new_source: &str, edited: Range<usize>, inserted_len: usize) {
        if !self.try_local_edit(new_source, edited, inserted_len) {
            self.extract_all(new_source);
        }
    }

    fn try_local_edit(
        &mut self,
        new_source: &str,
        edited: Range<usize>,
        inserted_len: usize,
    ) -> bool {
        let old_len = self.source.len();
        if edited.start > edited.end
            || edited.end > old_len
            || old_len - edited.len() + inserted_len != new_source.len()
            || !new_source.is_char_boundary(edited.start)
            || !new_source.is_char_boundary(edited.start + inserted_len)
        {
            return false;
        }
        let delta = inserted_len as isize - edited.len() as isize;
        let shift = |offset: usize| (offset as isize + delta) as usize;

        // The region must start where the extractor state is initial and known to be unchanged.
        let (region_start_default, new_body) = match self.language {
            Language::Latex => {
                // An edit that touches the preamble, `\begin{document}` or `\end{document}`
                // changes what the body is: full re-extraction.
                let new_body = latex::body_range(new_source);
                if edited.start <= self.body.start
                    || edited.end >= self.body.end
                    || new_body.start != self.body.start
                    || new_body.end != shift(self.body.end)
                {
                    return false;
                }
                (self.body.start, new_body)
            }
            Language::Markdown => {
                // Reference and footnote definitions act at a distance: full re-extraction.
                if markdown::has_definitions(&self.source) || markdown::has_definitions(new_source)
                {
                    return false;
                }
                // Front matter runs from the first line to its closing `---`, across blank lines:
                // an edit in or near it, or a document that opens like one without closing it,
                // is re-extracted in full.
                let opens_front_matter =
                    |text: &str| text.starts_with("---") || text.starts_with("+++");
                if edited.start <= self.front_matter_end.max(4)
                    || (opens_front_matter(&self.source) && self.front_matter_end == 0)
                    || (opens_front_matter(new_source) != opens_front_matter(&self.source))
                {
                    return false;
                }
                (0, 0..new_source.len())
            }
            Language::PlainText => (0, 0..new_source.len()),
        };
        let first_after = self
            .sync_points
            .partition_point(|&point| point <= edited.end);
        let before = self
            .sync_points
            .partition_point(|&point| point < edited.start);
        let region_start = if before == 0 {
            region_start_default
        } else {
            self.sync_points[before - 1]
        };

        for growth in 0..MAX_REGION_GROWTH {
            // `resume` is the old sync point where the old chunks are reused again; the region
            // runs one more block past it so we can see that the new parse is clean there.
            let resume = self.sync_points.get(first_after + growth).copied();
            let region_end = match self.sync_points.get(first_after + growth + 1) {
                Some(&point) => shift(point),
                None => new_body.end,
            };
            if self.language == Language::Markdown {
                let old_region_end = (region_end as isize - delta) as usize;
                let new_region = new_source.get(region_start..region_end).unwrap_or("");
                let old_region = self.source.get(region_start..old_region_end).unwrap_or("");
                if markdown::has_metadata_fence(new_region)
                    || markdown::has_metadata_fence(old_region)
                {
                    return false;
                }
            }
            let output = match self.language {
                Language::PlainText => plain::extract_region(new_source, region_start, region_end),
                Language::Markdown => {
                    markdown::extract_region(new_source, region_start, region_end)
                }
                // The preamble is unchanged (edits touching it re-extract fully), so are its macros.
                Language::Latex => {
                    latex::extract_region(new_source, region_start, region_end, &self.latex_tables)
                }
            };
            let Some(resume) = resume else {
                // The region reaches the true end of the document: nothing to validate.
                self.splice(output, region_start, None, delta, new_source);
                return true;
            };
            let new_resume = shift(resume);
            // The search limit only matters when the region ends before the document does.
            let region_is_true_end = region_end == new_body.end;
            if (!output.hit_limit || region_is_true_end)
                && output.sync_points.binary_search(&new_resume).is_ok()
            {
                self.splice(output, region_start, Some(resume), delta, new_source);
                return true;
            }
        }
        false
    }

    /// Replaces the chunks and sync points of `[region_start, resume)` (old offsets) with the
    /// region's output cut at `resume`, shifting what follows by `delta`.
    fn splice(
        &mut self,
        output: RegionOutput,
        region_start: usize,
        resume: Option<usize>,
        delta: isize,
        new_source: &str,
    ) {
        let shift = |offset: usize| (offset as isize + delta) as usize;
        let new_resume = resume.map(shift);
        let keep_before = self
            .chunks
            .partition_point(|chunk| chunk.source_range.start < region_start);
        let reuse_from = match resume {
            Some(resume) => self
                .chunks
                .partition_point(|chunk| chunk.source_range.start < resume),
            None => self.chunks.len(),
        };
        let mut chunks: Vec<ProseChunk> =
            Vec::with_capacity(self.chunks.len() + output.chunks.len());
        chunks.extend(self.chunks.drain(..keep_before));
        let reused: Vec<ProseChunk> = self.chunks.drain(reuse_from - keep_before..).collect();
        chunks.extend(
            output
                .chunks
                .into_iter()
                .filter(|chunk| new_resume.is_none_or(|resume| chunk.source_range.start < resume)),
        );
        for mut chunk in reused {
            chunk.shift_source(delta);
            chunks.push(chunk);
        }
        self.chunks = chunks;

        let mut sync_points: Vec<usize> = self
            .sync_points
            .iter()
            .copied()
            .filter(|&point| point <= region_start)
            .collect();
        sync_points.extend(output.sync_points.iter().copied().filter(|&point| {
            point > region_start && new_resume.is_none_or(|resume| point < resume)
        }));
        if let Some(resume) = resume {
            sync_points.extend(
                self.sync_points
                    .iter()
                    .copied()
                    .filter(|&point| point >= resume)
                    .map(shift),
            );
        }
        self.sync_points = sync_points;
        if self.language == Language::Latex {
            self.body = self.body.start..shift(self.body.end);
        } else {
            self.body = 0..new_source.len();
        }
        self.source = new_source.to_string();
    }
}

/// The report printed by `biomed-lsp prose FILE`: JSON `{"sentences":[{"text","start","end"}]}`
/// with byte offsets of each sentence's source range, or one line per sentence as
/// `line:col-line:col<TAB>text` (1-based; columns count characters).
pub fn render_report(source: &str, sentences: &[Sentence], json: bool) -> String {
    if json {
        #[derive(Serialize)]
        struct JsonSentence<'s> {
            text: &'s str,
            start: usize,
            end: usize,
        }
        #[derive(Serialize)]
        struct JsonReport<'s> {
            sentences: Vec<JsonSentence<'s>>,
        }
        let report = JsonReport {
            sentences: sentences
                .iter()
                .map(|sentence| JsonSentence {
                    text: &sentence.text,
                    start: sentence.source_range.start,
                    end: sentence.source_range.end,
                })
                .collect(),
        };
        // Serialising strings and integers cannot fail; an empty report is the safe fallback.
        return serde_json::to_string(&report).unwrap_or_else(|_| "{\"sentences\":[]}".to_string());
    }
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(source.match_indices('\n').map(|(index, _)| index + 1))
        .collect();
    let position = |offset: usize| -> (usize, usize) {
        let offset = offset.min(source.len());
        let line = line_starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1);
        let line_start = line_starts.get(line).copied().unwrap_or(0);
        let column = source
            .get(line_start..offset)
            .map_or(0, |text| text.chars().count());
        (line + 1, column + 1)
    };
    let mut report = String::new();
    for sentence in sentences {
        let (start_line, start_column) = position(sentence.source_range.start);
        let (end_line, end_column) = position(sentence.source_range.end);
        let _ = writeln!(
            report,
            "{start_line}:{start_column}-{end_line}:{end_column}\t{}",
            sentence.text
        );
    }
    report
}
