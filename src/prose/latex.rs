//! LaTeX extraction: a small recursive scanner over the document body that keeps prose, renders
//! escapes and accents, and replaces math, citations and references with stand-ins.
//!
//! It is not a TeX interpreter: macros are classified by name (built-in lists plus the user's
//! `ProseOptions`), never expanded. Every forward search is bounded so malformed input (unclosed
//! braces, environments or `$`) degrades locally instead of swallowing the document.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::source_map::{ChunkBuilder, ProseChunk, RegionOutput};
use super::ProseOptions;

/// Commands whose braced argument is a separate chunk (headings, captions, footnotes).
const CHUNK_COMMANDS: &[&str] = &[
    "part",
    "chapter",
    "section",
    "subsection",
    "subsubsection",
    "paragraph",
    "subparagraph",
    "title",
    "subtitle",
    "caption",
    "subcaption",
    "captionof",
    "footnote",
    "footnotetext",
    "thanks",
];
/// Commands whose braced argument is prose that continues the current sentence.
const INLINE_PROSE_COMMANDS: &[&str] = &[
    "emph",
    "textbf",
    "textit",
    "textsc",
    "textsl",
    "textup",
    "textmd",
    "textrm",
    "textsf",
    "texttt",
    "textnormal",
    "underline",
    "uline",
    "text",
    "mbox",
    "hbox",
    "fbox",
    "makebox",
    "framebox",
    "enquote",
    "textsuperscript",
    "textsubscript",
    "sout",
    "hl",
    "MakeUppercase",
    "MakeLowercase",
    "uppercase",
    "lowercase",
    "mathrm",
    "intertext",
    "shortintertext",
    // The acronym and acro packages: the argument is the abbreviation (its first use is expanded
    // by the package), which the sentence needs as its word.
    "ac",
    "Ac",
    "acs",
    "acp",
    "Acp",
    "acsp",
    "acf",
    "Acf",
    "acfp",
    "acl",
    "Acl",
    "aclp",
];
/// Commands whose first argument is skipped and whose second argument is prose.
const SECOND_ARGUMENT_PROSE_COMMANDS: &[&str] = &[
    "href",
    "textcolor",
    "colorbox",
    "foreignlanguage",
    "texorpdfstring",
];
/// Citation commands: their arguments never reach the prose.
const CITE_COMMANDS: &[&str] = &[
    "cite",
    "citep",
    "citet",
    "citealp",
    "citealt",
    "citeauthor",
    "citeyear",
    "citeyearpar",
    "citenum",
    "citetext",
    "parencite",
    "textcite",
    "autocite",
    "footcite",
    "nocite",
    "supercite",
    "smartcite",
    "Citet",
    "Citep",
    "Cite",
    "Textcite",
    "Parencite",
    "Autocite",
    "fullcite",
];
/// Cross-reference commands, replaced by a number-like stand-in.
const REF_COMMANDS: &[&str] = &[
    "ref",
    "pageref",
    "eqref",
    "autoref",
    "cref",
    "Cref",
    "vref",
    "nameref",
    "labelcref",
];
/// siunitx-style quantity commands, replaced by their number (and plain unit when there is one).
const QUANTITY_COMMANDS: &[&str] = &[
    "SI", "qty", "num", "si", "unit", "SIrange", "qtyrange", "numrange", "ang", "SIlist", "numlist",
];
/// Environments rendered as displayed math: one stand-in for the whole environment.
const MATH_ENVIRONMENTS: &[&str] = &[
    "equation",
    "align",
    "gather",
    "multline",
    "eqnarray",
    "math",
    "displaymath",
    "flalign",
    "alignat",
    "split",
    "dmath",
    "subequations",
];
/// Environments whose content is never prose.
const SKIP_ENVIRONMENTS: &[&str] = &[
    "verbatim",
    "Verbatim",
    "lstlisting",
    "minted",
    "comment",
    "tikzpicture",
    "pgfpicture",
    "thebibliography",
    "filecontents",
    "alltt",
    "algorithmic",
    "algorithm2e",
    "code",
    "Sinput",
    "Soutput",
    "Schunk",
    "knitrout",
    "kframe",
];
/// Environments whose `&` separates cells and `\\` ends rows.
const TABLE_ENVIRONMENTS: &[&str] = &[
    "tabular",
    "tabularx",
    "tabulary",
    "longtable",
    "tabu",
    "supertabular",
    "xtabular",
    "tabularew",
];
/// Commands that end the current chunk (they start a new paragraph or list item).
const BREAK_COMMANDS: &[&str] = &[
    "par",
    "item",
    "newpage",
    "clearpage",
    "cleardoublepage",
    "maketitle",
    "bigskip",
    "medskip",
    "smallskip",
    "bibitem",
    "tableofcontents",
    "appendix",
    "noindent",
];
/// Commands rendered as a space.
const SPACE_COMMANDS: &[&str] = &[
    "quad",
    "qquad",
    "enspace",
    "enskip",
    "thinspace",
    "space",
    "nobreakspace",
    "newline",
    "linebreak",
    "hspace",
    "hfill",
    "hskip",
    "nolinebreak",
];
/// Maximum group nesting followed: deeper braces are dropped so recursion stays bounded.
const MAX_DEPTH: usize = 64;

/// Commands producing a fixed piece of text.
fn text_command(name: &str) -> Option<&'static str> {
    Some(match name {
        "ss" => "ß",
        "SS" => "SS",
        "ae" => "æ",
        "AE" => "Æ",
        "oe" => "œ",
        "OE" => "Œ",
        "o" => "ø",
        "O" => "Ø",
        "aa" => "å",
        "AA" => "Å",
        "l" => "ł",
        "L" => "Ł",
        "i" => "ı",
        "j" => "ȷ",
        "ldots" | "dots" | "textellipsis" => "…",
        "textendash" => "–",
        "textemdash" => "—",
        "S" => "§",
        "P" => "¶",
        "copyright" | "textcopyright" => "©",
        "textregistered" => "®",
        "texttrademark" => "™",
        "textdegree" | "degree" => "°",
        "textmu" => "µ",
        "textpm" | "pm" => "±",
        "times" | "texttimes" => "×",
        "textasciitilde" => "~",
        "textbar" => "|",
        "textless" => "<",
        "textgreater" => ">",
        "LaTeX" => "LaTeX",
        "TeX" => "TeX",
        "BibTeX" => "BibTeX",
        "textquoteleft" => "‘",
        "textquoteright" => "’",
        "textquotedblleft" => "“",
        "textquotedblright" => "”",
        "euro" => "€",
        "textperthousand" => "‰",
        "dag" => "†",
        "ddag" => "‡",
        "textunderscore" => "_",
        "textasciicircum" => "^",
        "slash" => "/",
        "textbullet" => "•",
        "checkmark" => "✓",
        _ => return None,
    })
}

/// Combines a TeX accent with a base letter; `None` when there is no precomposed character.
fn accented(accent: char, base: char) -> Option<char> {
    let (from, to): (&str, &str) = match accent {
        '\'' => ("aeiouyAEIOUYcnszCNSZ", "áéíóúýÁÉÍÓÚÝćńśźĆŃŚŹ"),
        '`' => ("aeiouAEIOU", "àèìòùÀÈÌÒÙ"),
        '^' => ("aeiouAEIOU", "âêîôûÂÊÎÔÛ"),
        '"' => ("aeiouyAEIOUY", "äëïöüÿÄËÏÖÜŸ"),
        '~' => ("anoANO", "ãñõÃÑÕ"),
        '=' => ("aeiouAEIOU", "āēīōūĀĒĪŌŪ"),
        '.' => ("zZeEI", "żŻėĖİ"),
        'c' => ("cCsStT", "çÇşŞţŢ"),
        'v' => ("scznrdetSCZNRDET", "šččňřďěťŠČČŇŘĎĚŤ"),
        'u' => ("gGaA", "ğĞăĂ"),
        'H' => ("ouOU", "őűŐŰ"),
        'k' => ("aeAE", "ąęĄĘ"),
        'r' => ("auAU", "åůÅŮ"),
        _ => return None,
    };
    let index = from.chars().position(|c| c == base)?;
    to.chars().nth(index)
}

/// Name lookups built once per extraction from the built-in lists, the user's options and the
/// simple macros the preamble defines.
#[derive(Debug, Clone, Default)]
pub(crate) struct LatexTables {
    user_skip_commands: HashSet<String>,
    user_prose_commands: HashSet<String>,
    user_skip_environments: HashSet<String>,
    /// Argument-less preamble macros that expand to plain text (`\newcommand{\R}{\textsf{R}}`).
    text_macros: HashMap<String, String>,
    /// One-argument preamble macros that only format their argument
    /// (`\newcommand{\code}[1]{\texttt{#1}}`): their argument is prose.
    prose_macros: HashSet<String>,
}

impl LatexTables {
    pub(crate) fn new(options: &ProseOptions, preamble: &str) -> Self {
        let clean = |list: &[String]| -> HashSet<String> {
            list.iter()
                .map(|name| name.trim().trim_start_matches('\\').to_string())
                .collect()
        };
        let (text_macros, prose_macros) = preamble_macros(preamble);
        LatexTables {
            user_skip_commands: clean(&options.latex_skip_commands),
            user_prose_commands: clean(&options.latex_prose_commands),
            user_skip_environments: clean(&options.latex_skip_environments),
            text_macros,
            prose_macros,
        }
    }
}

/// Finds `\newcommand{\name}[n]{body}` definitions whose body is plain text or only formats
/// `#1`. Anything more complex stays an unknown command: macros are never really expanded.
fn preamble_macros(preamble: &str) -> (HashMap<String, String>, HashSet<String>) {
    let mut text_macros = HashMap::new();
    let mut prose_macros = HashSet::new();
    for keyword in ["\\newcommand", "\\renewcommand", "\\providecommand"] {
        let mut search_from = 0;
        while let Some(found) = preamble
            .get(search_from..)
            .and_then(|rest| rest.find(keyword))
        {
            let mut rest = &preamble[search_from + found + keyword.len()..];
            search_from += found + keyword.len();
            rest = rest.trim_start_matches('*').trim_start();
            let braced_name = rest.starts_with('{');
            if braced_name {
                rest = &rest[1..];
            }
            let Some(name_rest) = rest.strip_prefix('\\') else {
                continue;
            };
            let name_length = name_rest
                .bytes()
                .take_while(u8::is_ascii_alphabetic)
                .count();
            if name_length == 0 {
                continue;
            }
            let name = &name_rest[..name_length];
            rest = &name_rest[name_length..];
            if braced_name {
                let Some(after) = rest.strip_prefix('}') else {
                    continue;
                };
                rest = after;
            }
            rest = rest.trim_start();
            let mut arguments = 0;
            if let Some(after) = rest.strip_prefix('[') {
                let Some(close) = after.find(']') else {
                    continue;
                };
                arguments = after[..close].trim().parse().unwrap_or(99);
                rest = after[close + 1..].trim_start();
            }
            let Some(body) = balanced_group(rest) else {
                continue;
            };
            let stripped = strip_formatting(body);
            if arguments == 0
                && !stripped.is_empty()
                && stripped
                    .chars()
                    .all(|c| c.is_alphanumeric() || " .-'".contains(c))
            {
                text_macros.insert(name.to_string(), stripped);
            } else if arguments == 1 && stripped == "#1" {
                prose_macros.insert(name.to_string());
            }
        }
    }
    (text_macros, prose_macros)
}

/// The content of the `{...}` group at the start of `text`.
fn balanced_group(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('{')?;
    let mut depth = 1usize;
    for (index, byte) in inner.bytes().enumerate() {
        match byte {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&inner[..index]);
                }
            }
            _ => {}
        }
    }
    None
}

/// A macro body without formatting wrappers and braces: `{\textsf{R}}` -> `R`.
fn strip_formatting(body: &str) -> String {
    let mut text = body.to_string();
    for wrapper in [
        "\\textsf",
        "\\textit",
        "\\textbf",
        "\\texttt",
        "\\textrm",
        "\\textsc",
        "\\emph",
        "\\mbox",
        "\\text",
        "\\xspace",
        "\\sffamily",
        "\\ttfamily",
        "\\itshape",
        "\\bfseries",
    ] {
        text = text.replace(wrapper, "");
    }
    text.replace(['{', '}'], "").trim().to_string()
}

/// The body of a LaTeX document: after `\begin{document}` up to `\end{document}`, or the whole
/// source when there is no `\begin{document}` (a chapter file that is `\input` elsewhere).
pub(crate) fn body_range(source: &str) -> Range<usize> {
    const BEGIN: &str = "\\begin{document}";
    const END: &str = "\\end{document}";
    let Some(begin) = find_uncommented(source, BEGIN, 0) else {
        return 0..source.len();
    };
    let body_start = begin + BEGIN.len();
    let body_end = find_uncommented(source, END, body_start).unwrap_or(source.len());
    body_start..body_end
}

fn find_uncommented(source: &str, needle: &str, from: usize) -> Option<usize> {
    let mut search_from = from;
    while let Some(found) = source.get(search_from..)?.find(needle) {
        let at = search_from + found;
        let line_start = source[..at].rfind('\n').map_or(0, |newline| newline + 1);
        if !line_has_comment(&source.as_bytes()[line_start..at]) {
            return Some(at);
        }
        search_from = at + needle.len();
    }
    None
}

fn line_has_comment(line: &[u8]) -> bool {
    line.iter()
        .enumerate()
        .any(|(index, &byte)| byte == b'%' && (index == 0 || line[index - 1] != b'\\'))
}

/// Whether parsing must return to a caller frame.
enum Flow {
    Continue,
    Return(bool),
}

/// What ends the current parse frame.
#[derive(Clone, Copy)]
enum Stop<'s> {
    End,
    CloseBrace,
    EndEnvironment(&'s str),
}

struct Parser<'a> {
    source: &'a str,
    bytes: &'a [u8],
    pos: usize,
    end: usize,
    tables: &'a LatexTables,
    builders: Vec<ChunkBuilder<'a>>,
    chunks: Vec<ProseChunk>,
    sync_points: Vec<usize>,
    hit_limit: bool,
    /// Set once a search failed at the region end: the state after that search's start depends
    /// on text that may appear later, so no later position is a sync point.
    sync_disabled: bool,
    /// One past the furthest byte any lookahead has examined. A sync point is only recorded at
    /// or after it: otherwise the state there would depend on text after the sync point.
    lookahead_end: Cell<usize>,
    environments: Vec<&'a str>,
    depth: usize,
    table_depth: usize,
}

/// Extracts `source[start..end]` (inside the body), which must begin where the parser is in its
/// initial state: the body start or a sync point.
pub(crate) fn extract_region(
    source: &str,
    start: usize,
    end: usize,
    tables: &LatexTables,
) -> RegionOutput {
    let mut parser = Parser {
        source,
        bytes: source.as_bytes(),
        pos: start,
        end: end.min(source.len()),
        tables,
        builders: vec![ChunkBuilder::new(source)],
        chunks: Vec::new(),
        sync_points: Vec::new(),
        hit_limit: false,
        sync_disabled: false,
        lookahead_end: Cell::new(0),
        environments: Vec::new(),
        depth: 0,
        table_depth: 0,
    };
    parser.parse(Stop::End);
    while let Some(builder) = parser.builders.pop() {
        parser.chunks.extend(builder.finish());
    }
    // Footnotes and captions finish before the paragraph around them: order chunks by position.
    parser.chunks.sort_by_key(|chunk| chunk.source_range.start);
    RegionOutput {
        chunks: parser.chunks,
        sync_points: parser.sync_points,
        hit_limit: parser.hit_limit,
        front_matter_end: 0,
    }
}

fn is_special(byte: u8) -> bool {
    matches!(
        byte,
        b'{' | b'}'
            | b'%'
            | b'$'
            | b'~'
            | b'\\'
            | b'&'
            | b'-'
            | b'`'
            | b'\''
            | b' '
            | b'\t'
            | b'\n'
            | b'\r'
    )
}

impl<'a> Parser<'a> {
    fn builder(&mut self) -> &mut ChunkBuilder<'a> {
        if self.builders.is_empty() {
            self.builders.push(ChunkBuilder::new(self.source));
        }
        let last = self.builders.len() - 1;
        &mut self.builders[last]
    }

    /// Ends the current chunk and starts a new one in the same place.
    fn break_chunk(&mut self) {
        let source = self.source;
        let finished = std::mem::replace(self.builder(), ChunkBuilder::new(source));
        self.chunks.extend(finished.finish());
    }

    /// A search that started at `from` ran into the region end.
    fn limit_reached(&mut self, from: usize) {
        self.hit_limit = true;
        self.sync_disabled = true;
        self.sync_points.retain(|&point| point <= from);
    }

    fn note_lookahead(&self, end: usize) {
        if end > self.lookahead_end.get() {
            self.lookahead_end.set(end.min(self.end));
        }
    }

    fn starts_with(&self, at: usize, needle: &str) -> bool {
        self.note_lookahead(at + needle.len());
        at <= self.end && self.bytes[at..self.end].starts_with(needle.as_bytes())
    }

    /// True when the line after the newline at `newline` is blank (a paragraph break).
    fn blank_line_after(&self, newline: usize) -> bool {
        let mut index = newline + 1;
        while index < self.end && matches!(self.bytes[index], b' ' | b'\t' | b'\r') {
            index += 1;
        }
        self.note_lookahead(index + 1);
        index < self.end && self.bytes[index] == b'\n'
    }

    /// Finds `terminator` from `from`, skipping backslash escapes. With `stop_at_blank_line`, a
    /// blank line ends the search (math cannot span paragraphs), which keeps an unbalanced `$`
    /// local. Running into the region end sets `hit_limit`.
    fn find_terminator(
        &mut self,
        from: usize,
        terminator: &str,
        stop_at_blank_line: bool,
    ) -> Option<usize> {
        let needle = terminator.as_bytes();
        let mut index = from;
        while index < self.end {
            let byte = self.bytes[index];
            if self.bytes[index..self.end].starts_with(needle) {
                self.note_lookahead(index + needle.len());
                return Some(index);
            }
            if byte == b'\\' {
                index += 2;
                continue;
            }
            if stop_at_blank_line && byte == b'\n' && self.blank_line_after(index) {
                return None;
            }
            index += 1;
        }
        self.note_lookahead(self.end);
        self.limit_reached(from);
        None
    }

    /// The range of a balanced `{...}` group starting at `at`, bounded by a blank line.
    fn group_at(&mut self, at: usize, open: u8, close: u8) -> Option<Range<usize>> {
        self.note_lookahead(at + 1);
        if at >= self.end || self.bytes[at] != open {
            return None;
        }
        let mut depth = 0usize;
        let mut index = at;
        while index < self.end {
            let byte = self.bytes[index];
            if byte == b'\\' {
                index += 2;
                continue;
            }
            if byte == b'%' {
                // A comment inside an argument: braces there do not count.
                while index < self.end && self.bytes[index] != b'\n' {
                    index += 1;
                }
                continue;
            }
            if byte == b'\n' && self.blank_line_after(index) {
                return None;
            }
            if byte == open || (open == b'[' && byte == b'{') {
                depth += 1;
            } else if byte == close || (open == b'[' && byte == b'}') {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    self.note_lookahead(index + 1);
                    if byte == close {
                        return Some(at..index + 1);
                    }
                    return None;
                }
            }
            index += 1;
        }
        self.note_lookahead(self.end);
        self.limit_reached(at);
        None
    }

    /// Skips spaces after a control word (TeX ignores them), including one newline that does not
    /// start a blank line.
    fn skip_spaces_after_word(&mut self) {
        while self.pos < self.end && matches!(self.bytes[self.pos], b' ' | b'\t' | b'\r') {
            self.pos += 1;
        }
        if self.pos < self.end && self.bytes[self.pos] == b'\n' && !self.blank_line_after(self.pos)
        {
            self.pos += 1;
            while self.pos < self.end && matches!(self.bytes[self.pos], b' ' | b'\t' | b'\r') {
                self.pos += 1;
            }
        }
    }

    /// Skips `*` and any `[...]` groups directly at the cursor.
    fn skip_star_and_options(&mut self) {
        if self.pos < self.end && self.bytes[self.pos] == b'*' {
            self.pos += 1;
        }
        while let Some(range) = self.group_at(self.pos, b'[', b']') {
            self.pos = range.end;
        }
    }

    /// Skips every `[...]` and `{...}` group directly at the cursor; returns how many braced ones.
    fn skip_all_arguments(&mut self) -> Vec<Range<usize>> {
        let mut braced = Vec::new();
        loop {
            if let Some(range) = self.group_at(self.pos, b'[', b']') {
                self.pos = range.end;
            } else if let Some(range) = self.group_at(self.pos, b'{', b'}') {
                self.pos = range.end;
                braced.push(range);
            } else {
                return braced;
            }
        }
    }

    /// Parses a braced group at the cursor as prose into the current builder.
    fn parse_group_inline(&mut self) -> bool {
        if self.pos >= self.end || self.bytes[self.pos] != b'{' {
            return false;
        }
        if self.depth >= MAX_DEPTH {
            if let Some(range) = self.group_at(self.pos, b'{', b'}') {
                self.pos = range.end;
            } else {
                self.pos += 1;
            }
            return true;
        }
        self.pos += 1;
        self.depth += 1;
        self.parse(Stop::CloseBrace);
        self.depth -= 1;
        true
    }

    fn is_clean(&self, stop: Stop) -> bool {
        matches!(stop, Stop::End)
            && self.builders.len() == 1
            && self.depth == 0
            && self.environments.is_empty()
            && self.table_depth == 0
    }

    /// The main loop; returns true when `stop` was found (and consumed).
    fn parse(&mut self, stop: Stop<'a>) -> bool {
        loop {
            if self.pos >= self.end {
                if !matches!(stop, Stop::End) {
                    self.hit_limit = true;
                }
                return false;
            }
            let byte = self.bytes[self.pos];
            match byte {
                b'}' => {
                    self.pos += 1;
                    if matches!(stop, Stop::CloseBrace) {
                        return true;
                    }
                    // A stray closing brace is dropped.
                }
                b'{' => {
                    self.parse_group_inline();
                }
                b'%' => self.skip_comment(),
                b'$' => self.dollar_math(),
                b'~' => {
                    // Non-breaking space renders as a space.
                    let at = self.pos;
                    self.builder().push_space(at..at + 1);
                    self.pos += 1;
                }
                b'\\' => {
                    if let Flow::Return(found) = self.command(stop) {
                        return found;
                    }
                }
                b'&' => {
                    self.pos += 1;
                    if self.table_depth > 0 {
                        self.break_chunk();
                    }
                }
                b'-' => self.dashes(),
                b'`' => {
                    let at = self.pos;
                    if self.starts_with(at, "``") {
                        self.builder().push_escape("“", at..at + 2);
                        self.pos += 2;
                    } else {
                        self.builder().push_escape("‘", at..at + 1);
                        self.pos += 1;
                    }
                }
                b'\'' => {
                    let at = self.pos;
                    if self.starts_with(at, "''") {
                        self.builder().push_escape("”", at..at + 2);
                        self.pos += 2;
                    } else {
                        self.builder().push_verbatim(at..at + 1);
                        self.pos += 1;
                    }
                }
                b' ' | b'\t' | b'\n' | b'\r' => self.whitespace(stop),
                _ => {
                    let start = self.pos;
                    while self.pos < self.end && !is_special(self.bytes[self.pos]) {
                        self.pos += 1;
                    }
                    // Special bytes are ASCII, so the run ends on a char boundary.
                    let end = self.pos;
                    self.builder().push_verbatim(start..end);
                }
            }
        }
    }

    fn whitespace(&mut self, stop: Stop) {
        let start = self.pos;
        let mut newlines = 0;
        while self.pos < self.end && matches!(self.bytes[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            if self.bytes[self.pos] == b'\n' {
                newlines += 1;
            }
            self.pos += 1;
        }
        // A blank line ends the paragraph; a run that starts a line after a comment line counts
        // too ("text\n% note\n\nmore" is two paragraphs, as in TeX).
        let starts_line = start == 0 || self.bytes[start - 1] == b'\n';
        if newlines >= 2 || (newlines >= 1 && starts_line) {
            self.break_chunk();
            if self.is_clean(stop)
                && self.pos < self.end
                && !self.sync_disabled
                && self.lookahead_end.get() <= self.pos
            {
                self.sync_points.push(self.pos);
            }
        } else {
            let end = self.pos;
            self.builder().push_space(start..end);
        }
    }

    fn skip_comment(&mut self) {
        while self.pos < self.end && self.bytes[self.pos] != b'\n' {
            self.pos += 1;
        }
        if self.pos < self.end {
            // The comment eats its newline and the next line's indentation, as in TeX; a
            // following blank line is still seen by `whitespace`.
            self.pos += 1;
            while self.pos < self.end && matches!(self.bytes[self.pos], b' ' | b'\t') {
                self.pos += 1;
            }
        }
    }

    fn dashes(&mut self) {
        let start = self.pos;
        let mut count = 0;
        while self.pos < self.end && self.bytes[self.pos] == b'-' && count < 3 {
            self.pos += 1;
            count += 1;
        }
        let range = start..self.pos;
        match count {
            3 => self.builder().push_escape("—", range),
            2 => self.builder().push_escape("–", range),
            _ => self.builder().push_verbatim(range),
        }
    }

    /// `$...$` and `$$...$$`. An unbalanced `$` is dropped and parsing goes on after it.
    fn dollar_math(&mut self) {
        let start = self.pos;
        let display = self.starts_with(start, "$$");
        let (open_len, terminator) = if display { (2, "$$") } else { (1, "$") };
        match self.find_terminator(start + open_len, terminator, true) {
            Some(close) => {
                let stand_in = math_stand_in(&self.source[start + open_len..close]);
                let end = close + terminator.len();
                self.builder().push_stand_in(&stand_in, start..end);
                self.pos = end;
            }
            None => self.pos = start + open_len,
        }
    }

    /// Reads `{name}` at the cursor (for `\begin`/`\end`), bounded to one short line.
    fn environment_name(&mut self) -> Option<&'a str> {
        let mut index = self.pos;
        while index < self.end && matches!(self.bytes[index], b' ' | b'\t') {
            index += 1;
        }
        if index >= self.end || self.bytes[index] != b'{' {
            return None;
        }
        let name_start = index + 1;
        let mut name_end = name_start;
        while name_end < self.end
            && name_end - name_start < 64
            && (self.bytes[name_end].is_ascii_alphanumeric()
                || matches!(self.bytes[name_end], b'*' | b'@' | b'_' | b'-'))
        {
            name_end += 1;
        }
        self.note_lookahead(name_end + 1);
        if name_end >= self.end || self.bytes[name_end] != b'}' || name_end == name_start {
            if name_end >= self.end {
                self.limit_reached(index);
            }
            return None;
        }
        self.pos = name_end + 1;
        Some(&self.source[name_start..name_end])
    }

    fn command(&mut self, stop: Stop<'a>) -> Flow {
        let start = self.pos;
        let name_start = start + 1;
        let mut name_end = name_start;
        while name_end < self.end && self.bytes[name_end].is_ascii_alphabetic() {
            name_end += 1;
        }
        if name_end == name_start {
            self.control_symbol(start);
            return Flow::Continue;
        }
        let name = &self.source[name_start..name_end];
        self.pos = name_end;
        match name {
            "begin" => {
                self.begin_environment(start);
                return Flow::Continue;
            }
            "end" => return self.end_environment(stop),
            _ => {}
        }
        let tables = self.tables;
        if tables.user_skip_commands.contains(name) {
            // A user's skipped command (`\gls{dna}`, `\SI{5}{mg}`) stands in as a neutral noun.
            self.skip_spaces_after_word();
            let braced = self.skip_all_arguments();
            let stand_in = if braced.is_empty() { "" } else { "X" };
            let end = self.pos;
            self.builder().push_stand_in(stand_in, start..end);
            return Flow::Continue;
        }
        if tables.user_prose_commands.contains(name)
            || tables.prose_macros.contains(name)
            || INLINE_PROSE_COMMANDS.contains(&name)
        {
            self.skip_spaces_after_word();
            self.skip_star_and_options();
            if name == "makebox" || name == "framebox" {
                self.skip_star_and_options();
            }
            self.parse_group_inline();
            return Flow::Continue;
        }
        if CHUNK_COMMANDS.contains(&name) {
            self.chunk_command(start, name);
            return Flow::Continue;
        }
        if SECOND_ARGUMENT_PROSE_COMMANDS.contains(&name) {
            self.skip_spaces_after_word();
            self.skip_star_and_options();
            let skipped = self.group_at(self.pos, b'{', b'}');
            if let Some(range) = skipped {
                self.pos = range.end;
                if name == "textcolor" || name == "colorbox" {
                    // `\textcolor[rgb]{...}{text}` has its model before the color.
                    self.skip_star_and_options();
                }
                if !self.parse_group_inline() && name == "href" {
                    let end = self.pos;
                    self.builder().push_stand_in("URL", start..end);
                }
            }
            return Flow::Continue;
        }
        if CITE_COMMANDS.contains(&name) {
            self.skip_spaces_after_word();
            self.skip_star_and_options();
            if let Some(range) = self.group_at(self.pos, b'{', b'}') {
                self.pos = range.end;
                // Parenthetical citations vanish (the sentence reads well without them); textual
                // ones name an author, so they stand in as an author phrase.
                let stand_in = match name {
                    // No "et al.": its period would read as a sentence end before a final ".".
                    "citet" | "Citet" | "textcite" | "Textcite" | "citealt" | "citeauthor" => {
                        "Smith and Jones"
                    }
                    "citeyear" | "citeyearpar" => "2000",
                    _ => "",
                };
                let end = self.pos;
                self.builder().push_stand_in(stand_in, start..end);
            }
            return Flow::Continue;
        }
        if REF_COMMANDS.contains(&name) {
            self.skip_spaces_after_word();
            self.skip_star_and_options();
            if let Some(range) = self.group_at(self.pos, b'{', b'}') {
                self.pos = range.end;
                let label = &self.source[range.start + 1..range.end - 1];
                // A reference reads as the number it renders to ("Figure \ref{x}" -> "Figure 1");
                // the `\autoref` family also renders the object's name.
                let stand_in = match name {
                    "eqref" => "(1)",
                    "autoref" | "cref" | "Cref" | "vref" | "nameref" | "labelcref" => {
                        named_reference(label)
                    }
                    _ => "1",
                };
                let end = self.pos;
                self.builder().push_stand_in(stand_in, start..end);
            }
            return Flow::Continue;
        }
        if QUANTITY_COMMANDS.contains(&name) {
            self.skip_spaces_after_word();
            let braced = self.skip_all_arguments();
            let stand_in = quantity_stand_in(self.source, name, &braced);
            let end = self.pos;
            self.builder().push_stand_in(&stand_in, start..end);
            return Flow::Continue;
        }
        match name {
            "verb" | "lstinline" => {
                self.inline_verbatim(start);
                return Flow::Continue;
            }
            "url" | "nolinkurl" | "doi" => {
                self.skip_spaces_after_word();
                if let Some(range) = self.group_at(self.pos, b'{', b'}') {
                    self.pos = range.end;
                    self.builder().push_stand_in("URL", start..range.end);
                }
                return Flow::Continue;
            }
            "label" | "includegraphics" | "input" | "include" | "bibliography"
            | "bibliographystyle" | "vspace" => {
                self.skip_spaces_after_word();
                self.skip_star_and_options();
                if let Some(range) = self.group_at(self.pos, b'{', b'}') {
                    self.pos = range.end;
                }
                return Flow::Continue;
            }
            "c" | "v" | "u" | "H" | "k" | "r" if self.letter_accent_follows() => {
                let accent = name.chars().next().unwrap_or('\'');
                self.accent(start, accent);
                return Flow::Continue;
            }
            _ => {}
        }
        if let Some(text) =
            text_command(name).or_else(|| tables.text_macros.get(name).map(String::as_str))
        {
            // `\ldots{}` is one construct; otherwise TeX eats the spaces after the word.
            let end = if self.starts_with(self.pos, "{}") {
                self.pos + 2
            } else {
                self.pos
            };
            self.pos = end;
            self.builder().push_escape(text, start..end);
            if end == name_end {
                self.skip_spaces_after_word();
            }
            return Flow::Continue;
        }
        if SPACE_COMMANDS.contains(&name) {
            self.skip_star_and_options();
            if name == "hspace" || name == "hskip" {
                if let Some(range) = self.group_at(self.pos, b'{', b'}') {
                    self.pos = range.end;
                }
            }
            let end = self.pos;
            self.builder().push_space(start..end);
            return Flow::Continue;
        }
        if BREAK_COMMANDS.contains(&name) {
            self.skip_spaces_after_word();
            if name == "item" || name == "bibitem" {
                self.skip_star_and_options();
                if name == "bibitem" {
                    if let Some(range) = self.group_at(self.pos, b'{', b'}') {
                        self.pos = range.end;
                    }
                }
            }
            self.break_chunk();
            return Flow::Continue;
        }
        // Unknown command: drop the name and any arguments directly after it.
        self.skip_spaces_after_word();
        let braced = self.skip_all_arguments();
        if !braced.is_empty() {
            let end = self.pos;
            self.builder().push_stand_in("", start..end);
        }
        Flow::Continue
    }

    /// `\verb|code|`, `\verb*+x+`, `\lstinline{code}`: inline code stands in as "X", like
    /// inline code in Markdown. The delimiter must close on the same line; if it does not, only
    /// the command is dropped.
    fn inline_verbatim(&mut self, start: usize) {
        if self.pos < self.end && self.bytes[self.pos] == b'*' {
            self.pos += 1;
        }
        let Some(delimiter) = self
            .source
            .get(self.pos..self.end)
            .and_then(|rest| rest.chars().next())
        else {
            return;
        };
        if delimiter.is_alphanumeric() || delimiter.is_whitespace() {
            return;
        }
        let closing = if delimiter == '{' { '}' } else { delimiter };
        let content_start = self.pos + delimiter.len_utf8();
        let rest = self.source.get(content_start..self.end).unwrap_or("");
        let line = rest.split('\n').next().unwrap_or("");
        self.note_lookahead(content_start + line.len() + 1);
        if let Some(close) = line.find(closing) {
            let end = content_start + close + closing.len_utf8();
            self.pos = end;
            self.builder().push_stand_in("X", start..end);
        }
    }

    fn letter_accent_follows(&self) -> bool {
        let mut index = self.pos;
        if index < self.end && self.bytes[index] == b'{' {
            index += 1;
        } else {
            while index < self.end && self.bytes[index] == b' ' {
                index += 1;
            }
        }
        self.note_lookahead(index + 1);
        index < self.end && self.bytes[index].is_ascii_alphabetic()
    }

    /// `\"o`, `\"{o}`, `\'{\i}`, `\c{c}`, `\v s`: the accent is at `self.pos` (after the accent
    /// character or name). Unknown combinations keep the base letter.
    fn accent(&mut self, start: usize, accent: char) {
        let mut index = self.pos;
        let braced = index < self.end && self.bytes[index] == b'{';
        if braced {
            index += 1;
        } else {
            while index < self.end && self.bytes[index] == b' ' && accent.is_ascii_alphabetic() {
                index += 1;
            }
        }
        let mut base = None;
        if self.starts_with(index, "\\i") || self.starts_with(index, "\\j") {
            base = Some(if self.bytes[index + 1] == b'i' {
                'i'
            } else {
                'j'
            });
            index += 2;
        } else if let Some(letter) = self
            .source
            .get(index..self.end)
            .and_then(|rest| rest.chars().next())
        {
            if letter.is_alphabetic() {
                base = Some(letter);
                index += letter.len_utf8();
            }
        }
        self.note_lookahead(index + 1);
        let Some(base) = base else {
            // Nothing to accent: drop the accent command.
            return;
        };
        if braced {
            if index < self.end && self.bytes[index] == b'}' {
                index += 1;
            } else {
                // `\"{ab}` or similar: keep it simple, drop the accent and parse the group.
                return;
            }
        }
        let rendered = accented(accent, base).unwrap_or(base);
        let mut buffer = [0u8; 4];
        self.pos = index;
        self.builder()
            .push_escape(rendered.encode_utf8(&mut buffer), start..index);
    }

    /// `\` followed by a non-letter.
    fn control_symbol(&mut self, start: usize) {
        let Some(symbol) = self
            .source
            .get(start + 1..self.end)
            .and_then(|rest| rest.chars().next())
        else {
            // A trailing backslash is dropped.
            self.pos = start + 1;
            return;
        };
        let after = start + 1 + symbol.len_utf8();
        self.pos = after;
        match symbol {
            '\\' => {
                // `\\[2pt]` ends a table row, elsewhere it is a line break rendered as a space.
                self.skip_star_and_options();
                if self.table_depth > 0 {
                    self.break_chunk();
                } else {
                    let end = self.pos;
                    self.builder().push_space(start..end);
                }
            }
            '%' | '&' | '$' | '#' | '_' | '{' | '}' => {
                let mut buffer = [0u8; 4];
                self.builder()
                    .push_escape(symbol.encode_utf8(&mut buffer), start..after);
            }
            ',' | ';' | ':' | '>' | ' ' | '\t' | '\n' | '\r' => {
                self.builder().push_space(start..after)
            }
            '\'' | '`' | '^' | '"' | '~' | '=' | '.' => self.accent(start, symbol),
            '(' => self.delimited_math(start, "\\)"),
            '[' => self.delimited_math(start, "\\]"),
            // `\!`, `\/`, `\-`, `\@` and anything else render as nothing.
            _ => {}
        }
    }

    fn delimited_math(&mut self, start: usize, terminator: &str) {
        if let Some(close) = self.find_terminator(start + 2, terminator, true) {
            let stand_in = math_stand_in(&self.source[start + 2..close]);
            let end = close + terminator.len();
            self.pos = end;
            self.builder().push_stand_in(&stand_in, start..end);
        }
        // Unclosed: the opening delimiter is dropped and parsing goes on.
    }

    fn chunk_command(&mut self, start: usize, name: &str) {
        let is_footnote = matches!(name, "footnote" | "footnotetext" | "thanks");
        self.skip_spaces_after_word();
        self.skip_star_and_options();
        if name == "captionof" {
            if let Some(range) = self.group_at(self.pos, b'{', b'}') {
                self.pos = range.end;
            }
        }
        if self.pos >= self.end || self.bytes[self.pos] != b'{' {
            return;
        }
        if !is_footnote {
            self.break_chunk();
        }
        self.builders.push(ChunkBuilder::new(self.source));
        self.parse_group_inline();
        if let Some(builder) = self.builders.pop() {
            self.chunks.extend(builder.finish());
        }
        if is_footnote {
            // The footnote is its own chunk; in the sentence it leaves nothing.
            let end = self.pos;
            self.builder().push_stand_in("", start..end);
        } else {
            self.break_chunk();
        }
    }

    fn begin_environment(&mut self, start: usize) {
        let Some(name) = self.environment_name() else {
            return;
        };
        let base_name = name.trim_end_matches('*');
        let tables = self.tables;
        if base_name == "document" {
            return;
        }
        if MATH_ENVIRONMENTS.contains(&base_name) {
            let terminator = format!("\\end{{{name}}}");
            if let Some(close) = self.find_terminator(self.pos, &terminator, false) {
                let end = close + terminator.len();
                self.pos = end;
                self.builder().push_stand_in("X", start..end);
            }
            return;
        }
        if SKIP_ENVIRONMENTS.contains(&base_name) || tables.user_skip_environments.contains(name) {
            let terminator = format!("\\end{{{name}}}");
            if let Some(close) = self.find_terminator(self.pos, &terminator, false) {
                self.pos = close + terminator.len();
                self.break_chunk();
            }
            return;
        }
        // Arguments and options of `\begin{...}` (column specs, widths, placement) are skipped.
        self.skip_all_arguments();
        let is_table = TABLE_ENVIRONMENTS.contains(&base_name);
        self.break_chunk();
        if self.depth >= MAX_DEPTH {
            return;
        }
        if is_table {
            self.table_depth += 1;
        }
        self.environments.push(name);
        self.depth += 1;
        self.parse(Stop::EndEnvironment(name));
        self.depth -= 1;
        self.environments.pop();
        if is_table {
            self.table_depth -= 1;
        }
        self.break_chunk();
    }

    fn end_environment(&mut self, stop: Stop<'a>) -> Flow {
        let before = self.pos;
        let Some(name) = self.environment_name() else {
            return Flow::Continue;
        };
        if let Stop::EndEnvironment(expected) = stop {
            if expected == name {
                return Flow::Return(true);
            }
        }
        if self.environments.contains(&name) {
            // An outer environment ends here: return to its frame without consuming the `\end`.
            self.pos = before - "\\end".len();
            return Flow::Return(false);
        }
        // A stray `\end{...}` is dropped.
        self.break_chunk();
        Flow::Continue
    }
}

/// Stand-in for math: a plain number stays itself ("$5$" reads "5"); anything else becomes
/// "X", a neutral symbol-like token that keeps "where $x$ is the dose" grammatical.
pub(crate) fn math_stand_in(content: &str) -> String {
    let trimmed = content.trim();
    // A bare superscript or subscript (`$^{1}$`, `$^{a,*}$`) is an affiliation or footnote mark.
    if trimmed.starts_with('^') || trimmed.starts_with('_') {
        return String::new();
    }
    if !trimmed.is_empty()
        && trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    {
        trimmed.to_string()
    } else {
        "X".to_string()
    }
}

/// Stand-in for `\autoref`-like references: the rendered name from the label's prefix.
fn named_reference(label: &str) -> &'static str {
    let prefix = label
        .split(':')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match prefix.as_str() {
        "tab" | "tbl" | "table" => "Table 1",
        "eq" | "eqn" | "equation" => "Equation 1",
        "sec" | "section" | "chap" | "ch" => "Section 1",
        _ => "Figure 1",
    }
}

/// Stand-in for siunitx quantities: the number if it is plain, and the unit when it is plain
/// letters ("\SI{5}{mg}" -> "5 mg"), otherwise "units" ("\SI{5}{\milli\gram}" -> "5 units").
fn quantity_stand_in(source: &str, name: &str, braced: &[Range<usize>]) -> String {
    let inner = |index: usize| -> Option<&str> {
        let range = braced.get(index)?;
        source.get(range.start + 1..range.end - 1).map(str::trim)
    };
    let number = |index: usize| -> String {
        match inner(index) {
            Some(text)
                if !text.is_empty()
                    && text
                        .chars()
                        .all(|c| c.is_ascii_digit() || ".,-+e ".contains(c)) =>
            {
                text.to_string()
            }
            _ => "1".to_string(),
        }
    };
    let unit = |index: usize| -> String {
        match inner(index) {
            Some(text)
                if !text.is_empty()
                    && text.chars().all(|c| c.is_alphabetic() || "%/µ".contains(c)) =>
            {
                text.to_string()
            }
            _ => "units".to_string(),
        }
    };
    match name {
        "num" => number(0),
        "si" | "unit" => unit(0),
        "ang" => format!("{} degrees", number(0)),
        "numrange" => format!("{} to {}", number(0), number(1)),
        "SIrange" | "qtyrange" => format!("{} to {} {}", number(0), number(1), unit(2)),
        "SIlist" | "numlist" => number(0),
        _ => format!("{} {}", number(0), unit(1)),
    }
}
