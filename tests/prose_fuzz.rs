//! Property tests (fuzzing) of prose extraction: random LaTeX/Markdown-ish soup and random bytes
//! never panic, always give a valid source map, and incremental re-extraction after random edits
//! always equals a fresh extraction. Run longer with e.g. `PROPTEST_CASES=200000`.

use biomed_lsp::prose::{
    extract, render_report, sentences, split_sentences, Language, ProseChunk, ProseDocument,
    ProseOptions, SegmentKind,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

const TOKENS: &[&str] = &[
    "\\",
    "{",
    "}",
    "$",
    "$$",
    "%",
    "[",
    "]",
    "#",
    "*",
    "_",
    "`",
    "```",
    "```{r}\n",
    "@",
    "~",
    "-",
    "--",
    "---",
    "\n",
    "\n\n",
    "\n\n",
    " ",
    " ",
    "a",
    "word",
    "Word",
    "E. coli",
    ".",
    ". ",
    "et al. ",
    "3.5",
    "\\begin{equation}",
    "\\end{equation}",
    "\\begin{itemize}",
    "\\item ",
    "\\end{itemize}",
    "\\emph{",
    "\\cite{k}",
    "\\citet{k}",
    "\\ref{f}",
    "\\section{",
    "\\footnote{",
    "\\caption{",
    "\\begin{document}",
    "\\end{document}",
    "\\begin{verbatim}",
    "\\end{verbatim}",
    "\\begin{tabular}{ll}",
    "\\end{tabular}",
    "&",
    "\\\\",
    "\\%",
    "\\\"o",
    "{\\'e}",
    "\\ss ",
    "\\(",
    "\\)",
    "\\[",
    "\\]",
    "\\SI{5}{mg}",
    "\\gls{x}",
    "\\href{u}{t}",
    "\\url{http://x}",
    "[@key]",
    "[@a; @b]",
    "@fig:x",
    "@key",
    "{#fig:x}",
    "http://x.org/a",
    "<https://y.org>",
    "é",
    "ß",
    "日本",
    "|",
    "| a | b |\n|---|---|\n",
    "> ",
    "- ",
    "1. ",
    "# ",
    "<!--",
    "-->",
    "---\n",
    "[^1]",
    "[^1]: ",
    "[x]: http://u\n",
    ":::",
    "\t",
    "\r\n",
    "`code`",
    "![alt](p.png)",
    "[text](url)",
    "    ",
    "\\begin{comment}",
    "\\end{comment}",
    "\\newcommand{\\x}{y}",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|tokens| tokens.concat())
}

fn lossy_bytes() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 0..200)
        .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

fn document() -> impl Strategy<Value = String> {
    prop_oneof![4 => soup(), 1 => lossy_bytes()]
}

/// Several paragraphs of soup separated by blank lines: many sync points, so edits mostly take
/// the local re-extraction path.
fn paragraphs() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::collection::vec(prop::sample::select(TOKENS), 0..15),
        2..10,
    )
    .prop_map(|paragraphs| {
        paragraphs
            .iter()
            .map(|tokens| tokens.concat())
            .collect::<Vec<_>>()
            .join("\n\n")
    })
}

fn language() -> impl Strategy<Value = Language> {
    prop_oneof![
        Just(Language::Latex),
        Just(Language::Markdown),
        Just(Language::PlainText)
    ]
}

fn options() -> ProseOptions {
    ProseOptions {
        latex_skip_commands: vec!["gls".into()],
        latex_prose_commands: vec!["highlight".into()],
        ..Default::default()
    }
}

fn config() -> Config {
    // Honors PROPTEST_CASES; no regression files are written (no corpus in the repository).
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

/// The source-map invariants every chunk must satisfy.
fn check_chunk(source: &str, chunk: &ProseChunk) -> Result<(), TestCaseError> {
    prop_assert!(!chunk.segments.is_empty());
    let mut prose_end = 0;
    let mut source_end = 0;
    for segment in &chunk.segments {
        prop_assert_eq!(
            segment.prose_range.start,
            prose_end,
            "segments must cover the text without gaps"
        );
        prop_assert!(segment.prose_range.start <= segment.prose_range.end);
        prop_assert!(
            segment.source_range.start >= source_end,
            "source ranges must increase"
        );
        prop_assert!(segment.source_range.start <= segment.source_range.end);
        prop_assert!(segment.source_range.end <= source.len());
        prop_assert!(
            source.is_char_boundary(segment.source_range.start)
                && source.is_char_boundary(segment.source_range.end)
        );
        prop_assert!(
            chunk.text.is_char_boundary(segment.prose_range.start)
                && chunk.text.is_char_boundary(segment.prose_range.end)
        );
        if segment.kind == SegmentKind::Verbatim {
            prop_assert_eq!(
                &chunk.text[segment.prose_range.clone()],
                &source[segment.source_range.clone()]
            );
        }
        prose_end = segment.prose_range.end;
        source_end = segment.source_range.end;
    }
    prop_assert_eq!(prose_end, chunk.text.len());
    prop_assert_eq!(
        chunk.source_range.start,
        chunk.segments[0].source_range.start
    );
    prop_assert_eq!(chunk.source_range.end, source_end);
    prop_assert!(!chunk.text.starts_with(' ') && !chunk.text.ends_with(' '));
    Ok(())
}

fn check_document(source: &str, language: Language) -> Result<Vec<ProseChunk>, TestCaseError> {
    let chunks = extract(source, language, &options());
    let mut previous_start = 0;
    for (index, chunk) in chunks.iter().enumerate() {
        check_chunk(source, chunk)?;
        prop_assert!(
            chunk.source_range.start >= previous_start,
            "chunks are in source order"
        );
        previous_start = chunk.source_range.start;
        // The maps answer every query without panicking, and cursor positions round-trip into
        // the chunk's text.
        for prose_offset in
            (0..=chunk.text.len()).filter(|&offset| chunk.text.is_char_boundary(offset))
        {
            let range = chunk.source_range_of(prose_offset..chunk.text.len());
            prop_assert!(range.start <= range.end && range.end <= source.len());
            let _ = chunk.is_checkable(0..prose_offset);
        }
        for source_offset in chunk.source_range.clone() {
            if let Some(prose_offset) = chunk.prose_offset_of(source_offset) {
                prop_assert!(prose_offset <= chunk.text.len());
            }
        }
        for sentence in split_sentences(chunk, index) {
            prop_assert_eq!(&sentence.text, &chunk.text[sentence.prose_range.clone()]);
            prop_assert!(sentence.source_range.start >= chunk.source_range.start);
            prop_assert!(sentence.source_range.end <= chunk.source_range.end);
        }
    }
    let all = sentences(source, language, &options());
    let _ = render_report(source, &all, true);
    let _ = render_report(source, &all, false);
    Ok(chunks)
}

/// Snaps an offset down to a char boundary.
fn floor_boundary(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn extraction_never_panics_and_keeps_the_map(source in document(), language in language()) {
        check_document(&source, language)?;
    }

    #[test]
    fn incremental_edits_equal_fresh_extraction(
        source in prop_oneof![soup(), paragraphs()],
        language in language(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..12, soup()), 1..4),
    ) {
        let mut document = ProseDocument::new(&source, language, options());
        let mut current = source.clone();
        for (position, removed, inserted) in edits {
            let start = floor_boundary(&current, position.index(current.len() + 1));
            let end = floor_boundary(&current, start + removed).max(start);
            let inserted: String = inserted.chars().take(20).collect();
            let mut next = String::with_capacity(current.len() + inserted.len());
            next.push_str(&current[..start]);
            next.push_str(&inserted);
            next.push_str(&current[end..]);
            document.apply_edit(&next, start..end, inserted.len());
            let fresh = extract(&next, language, &options());
            prop_assert_eq!(document.chunks(), fresh.as_slice(), "edit {:?} -> {:?} of {:?}", start..end, inserted, current);
            current = next;
        }
    }
}

/// Edits inside one paragraph of a long document must not re-extract everything.
#[test]
fn local_edits_do_not_fall_back_to_full_extraction() {
    for (language, paragraph) in [
        (Language::PlainText, "Plain words in a paragraph.\n\n"),
        (Language::Markdown, "Some *markdown* text [@key].\n\n"),
        (Language::Latex, "Some \\emph{latex} text~\\cite{key}.\n\n"),
    ] {
        let source = paragraph.repeat(50);
        let mut document = ProseDocument::new(&source, language, options());
        let middle = paragraph.len() * 25 + 5;
        let mut next = source.clone();
        next.insert(middle, 'x');
        document.apply_edit(&next, middle..middle, 1);
        assert_eq!(
            document.full_extractions(),
            1,
            "{language:?} fell back to a full extraction"
        );
        assert_eq!(
            document.chunks(),
            extract(&next, language, &options()).as_slice()
        );
    }
}

/// Edits that make a local re-extraction unsafe (a fence or environment opened in one paragraph
/// swallows the following ones, `\begin{document}` moves, front matter appears) still give the
/// same result as a fresh extraction.
#[test]
fn unsafe_edits_equal_fresh_extraction() {
    let cases: &[(Language, &str, &str, &str)] = &[
        (
            Language::Markdown,
            "Intro para.\n\nSecond para.\n\nThird para.\n\nFourth.",
            "Second",
            "```\nSecond",
        ),
        (
            Language::Markdown,
            "Intro para.\n\nSecond para.\n\nThird para.\n\nFourth.",
            "Second",
            "<!-- Second",
        ),
        (
            Language::Markdown,
            "Intro para.\n\nSecond para.\n\nThird para.\n\nFourth.",
            "Intro",
            "---\ntitle: x\n\nIntro",
        ),
        (
            Language::Markdown,
            "---\ntitle: x\n---\n\nIntro para.\n\nSecond para.",
            "title",
            "title: y\n\nnot: prose",
        ),
        (
            Language::Markdown,
            "Intro [x] para.\n\nSecond para.\n\nThird.",
            "Third.",
            "Third.\n\n[x]: http://u",
        ),
        (
            Language::Latex,
            "\\begin{document}\nA para.\n\nB para.\n\nC para.\n\\end{document}",
            "B para.",
            "\\begin{itemize}\\item B para.",
        ),
        (
            Language::Latex,
            "\\begin{document}\nA para.\n\nB para.\n\nC para.\n\\end{document}",
            "B para.",
            "\\begin{verbatim} B para.",
        ),
        (
            Language::Latex,
            "\\begin{document}\nA para.\n\nB para.\n\nC para.\n\\end{document}",
            "B para.",
            "$B para.",
        ),
        (
            Language::Latex,
            "\\begin{document}\nA para.\n\nB para.\n\nC para.\n\\end{document}",
            "\\begin{document}",
            "\\begin{docu}",
        ),
        (
            Language::Latex,
            "A para.\n\nB para.\n\nC $x\n\nD para.",
            "C $x",
            "C $x$",
        ),
        (
            Language::Latex,
            "A para.\n\n\\begin{verbatim}\nB para.\n\nC para.",
            "C para.",
            "C para.\\end{verbatim}",
        ),
        (
            Language::PlainText,
            "A para.\n\nB para.\n\nC para.",
            "\n\nC",
            " C",
        ),
    ];
    for &(language, source, find, replacement) in cases {
        let Some(at) = source.find(find) else {
            panic!("{find:?} not in {source:?}")
        };
        let next = format!(
            "{}{}{}",
            &source[..at],
            replacement,
            &source[at + find.len()..]
        );
        let mut document = ProseDocument::new(source, language, options());
        document.apply_edit(&next, at..at + find.len(), replacement.len());
        assert_eq!(
            document.chunks(),
            extract(&next, language, &options()).as_slice(),
            "{language:?}: {find:?} -> {replacement:?}"
        );
        // And back again.
        document.apply_edit(source, at..at + replacement.len(), find.len());
        assert_eq!(
            document.chunks(),
            extract(source, language, &options()).as_slice(),
            "{language:?}: undo {replacement:?}"
        );
    }
}
