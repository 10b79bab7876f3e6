//! Data-driven fixtures for prose extraction: each case gives a source text and, written by hand,
//! the expected chunks and sentences with the source text each maps back to.
//!
//! Expected format, one line per chunk and per sentence:
//! `¶ <chunk text> <= <source of the chunk>` and `· <sentence text> <= <source of the sentence>`.
//! In chunk text, stand-ins are shown as `⟨...⟩` (an empty `⟨⟩` is a dropped citation or
//! footnote). Newlines in source excerpts are shown as `↵`. A sentence line is omitted when the
//! chunk is a single sentence with the same text and source.

use biomed_lsp::prose::{
    extract, render_report, sentences, split_sentences, Language, ProseChunk, ProseOptions,
    SegmentKind,
};

fn excerpt(source: &str, range: std::ops::Range<usize>) -> String {
    source[range].replace('\n', "↵")
}

fn marked_text(chunk: &ProseChunk) -> String {
    let mut marked = String::new();
    for segment in &chunk.segments {
        let text = &chunk.text[segment.prose_range.clone()];
        if segment.kind == SegmentKind::StandIn {
            marked.push('⟨');
            marked.push_str(text);
            marked.push('⟩');
        } else {
            marked.push_str(text);
        }
    }
    marked
}

fn render(source: &str, language: Language, options: &ProseOptions) -> String {
    let mut lines = Vec::new();
    for (index, chunk) in extract(source, language, options).iter().enumerate() {
        // The source-map invariant holds for every fixture.
        for segment in &chunk.segments {
            if segment.kind == SegmentKind::Verbatim {
                assert_eq!(
                    &chunk.text[segment.prose_range.clone()],
                    &source[segment.source_range.clone()]
                );
            }
        }
        lines.push(format!(
            "¶ {} <= {}",
            marked_text(chunk),
            excerpt(source, chunk.source_range.clone())
        ));
        let sentences = split_sentences(chunk, index);
        let single = sentences.len() == 1
            && sentences[0].text == chunk.text
            && sentences[0].source_range == chunk.source_range;
        if !single {
            for sentence in sentences {
                lines.push(format!(
                    "· {} <= {}",
                    sentence.text,
                    excerpt(source, sentence.source_range.clone())
                ));
            }
        }
    }
    lines.join("\n")
}

fn check_with(language: Language, options: &ProseOptions, input: &str, expected: &str) {
    let expected: Vec<&str> = expected
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let actual = render(input, language, options);
    assert_eq!(
        actual,
        expected.join("\n"),
        "\ninput: {input:?}\nactual:\n{actual}\n"
    );
}

fn check(language: Language, input: &str, expected: &str) {
    check_with(language, &ProseOptions::default(), input, expected);
}

use Language::{Latex, Markdown, PlainText};

// ---------------------------------------------------------------- LaTeX

#[test]
fn latex_skips_preamble_and_after_end_document() {
    check(
        Latex,
        "\\documentclass{article}\n\\title{T}\n\\begin{document}\nHello world.\n\\end{document}\nafter",
        "¶ Hello world. <= Hello world.",
    );
}

#[test]
fn latex_without_begin_document_is_all_body() {
    check(Latex, "Just text.", "¶ Just text. <= Just text.");
}

#[test]
fn latex_section_heading_is_its_own_chunk_and_label_is_dropped() {
    check(
        Latex,
        "\\section{Results}\\label{sec:r}\nWe saw it.",
        "¶ Results <= Results
         ¶ We saw it. <= We saw it.",
    );
}

#[test]
fn latex_comments_are_skipped_but_escaped_percent_is_kept() {
    check(
        Latex,
        "Keep this % drop this\nand 50\\% of that.",
        "¶ Keep this and 50% of that. <= Keep this % drop this↵and 50\\% of that.",
    );
}

#[test]
fn latex_comment_line_then_blank_line_ends_the_paragraph() {
    check(
        Latex,
        "One.\n% note\n\nTwo.",
        "¶ One. <= One.
         ¶ Two. <= Two.",
    );
}

#[test]
fn latex_inline_math_stands_in_as_x_or_the_number() {
    check(
        Latex,
        "The value $p < 0.05$ was $3$ here.",
        "¶ The value ⟨X⟩ was ⟨3⟩ here. <= The value $p < 0.05$ was $3$ here.",
    );
}

#[test]
fn latex_display_math_delimiters() {
    check(
        Latex,
        "We have $$a=b$$ and \\[c\\] and \\(d\\) done.",
        "¶ We have ⟨X⟩ and ⟨X⟩ and ⟨X⟩ done. <= We have $$a=b$$ and \\[c\\] and \\(d\\) done.",
    );
}

#[test]
fn latex_equation_environment_inside_a_paragraph() {
    check(
        Latex,
        "Thus\n\\begin{equation*}\nx = 1\n\\end{equation*}\nholds.",
        "¶ Thus ⟨X⟩ holds. <= Thus↵\\begin{equation*}↵x = 1↵\\end{equation*}↵holds.",
    );
}

#[test]
fn latex_all_math_environments() {
    let input = "A \\begin{align}a\\end{align} B \\begin{gather*}b\\end{gather*} C \\begin{multline}c\\end{multline} \
                 D \\begin{eqnarray}d\\end{eqnarray} E \\begin{math}e\\end{math} F \\begin{displaymath}f\\end{displaymath} G.";
    check(
        Latex,
        input,
        &format!("¶ A ⟨X⟩ B ⟨X⟩ C ⟨X⟩ D ⟨X⟩ E ⟨X⟩ F ⟨X⟩ G. <= {input}"),
    );
}

#[test]
fn latex_citations_vanish_or_name_an_author() {
    check(
        Latex,
        "As shown \\cite{a,b}, \\citep[p.~3]{c} and \\citet{d} found it~\\cite*{e}.",
        "¶ As shown⟨⟩,⟨⟩ and ⟨Smith and Jones⟩ found it⟨⟩. <= As shown \\cite{a,b}, \\citep[p.~3]{c} and \\citet{d} found it~\\cite*{e}.",
    );
}

#[test]
fn latex_references_read_as_numbers() {
    check(
        Latex,
        "See Fig.~\\ref{fig:a}, Eq.~\\eqref{eq:b}, \\autoref{tab:c} and \\cref{sec:d}.",
        "¶ See Fig. ⟨1⟩, Eq. ⟨(1)⟩, ⟨Table 1⟩ and ⟨Section 1⟩. <= See Fig.~\\ref{fig:a}, Eq.~\\eqref{eq:b}, \\autoref{tab:c} and \\cref{sec:d}.",
    );
}

#[test]
fn latex_urls_links_labels_and_graphics() {
    check(
        Latex,
        "Data at \\url{http://x.org} and \\href{http://y.org}{our site}.\\label{l} \\includegraphics[width=2cm]{f.png}",
        "¶ Data at ⟨URL⟩ and our site. <= Data at \\url{http://x.org} and \\href{http://y.org}{our site}.",
    );
}

#[test]
fn latex_formatting_commands_keep_their_text() {
    check(
        Latex,
        "An \\emph{important}, \\textbf{bold}, \\textit{it}, \\textsc{Sc} and \\underline{u} \\text{t} \\mbox{m} word.",
        "¶ An important, bold, it, Sc and u t m word. <= An \\emph{important}, \\textbf{bold}, \\textit{it}, \\textsc{Sc} and \\underline{u} \\text{t} \\mbox{m} word.",
    );
}

#[test]
fn latex_footnote_is_a_separate_chunk() {
    check(
        Latex,
        "Main text\\footnote{A note.} continues.",
        "¶ Main text⟨⟩ continues. <= Main text\\footnote{A note.} continues.
         ¶ A note. <= A note.",
    );
}

#[test]
fn latex_caption_in_figure() {
    check(
        Latex,
        "\\begin{figure}[ht]\\centering\\includegraphics{a}\\caption[short]{The caption text.}\\label{f}\\end{figure}",
        "¶ The caption text. <= The caption text.",
    );
}

#[test]
fn latex_list_items_are_chunks() {
    check(
        Latex,
        "\\begin{itemize}\n  \\item First point\n  \\item[(b)] Second point.\n\\end{itemize}",
        "¶ First point <= First point
         ¶ Second point. <= Second point.",
    );
}

#[test]
fn latex_table_cells_are_chunks() {
    check(
        Latex,
        "\\begin{tabular}{|l|r|}\n\\hline\nName & Value \\\\\nAlpha & 1.5 \\\\ \\hline\n\\end{tabular}",
        "¶ Name <= Name
         ¶ Value <= Value
         ¶ Alpha <= Alpha
         ¶ 1.5 <= 1.5",
    );
}

#[test]
fn latex_verbatim_like_environments_are_skipped() {
    check(
        Latex,
        "Before.\n\\begin{verbatim}\n\\x $y$ %z\n\\end{verbatim}\n\\begin{lstlisting}[language=R]\ncode\n\\end{lstlisting}\n\
         \\begin{minted}{python}\npass\n\\end{minted}\n\\begin{comment}\nhidden\n\\end{comment}\nAfter.",
        "¶ Before. <= Before.
         ¶ After. <= After.",
    );
}

#[test]
fn latex_escapes_accents_dashes_and_quotes() {
    let input =
        "\\% \\& \\$ \\# \\_ a~b x--y x---y na\\\"ive {\\'e}t{\\'e} Stra\\ss e \\c{c}a ``q''";
    check(
        Latex,
        input,
        &format!("¶ % & $ # _ a b x–y x—y naïve été Straße ça “q” <= {input}"),
    );
}

#[test]
fn latex_line_breaks_and_spacing_commands_become_spaces() {
    check(
        Latex,
        "One\\\\two\\,three\\ four~five\\quad six",
        "¶ One two three four five six <= One\\\\two\\,three\\ four~five\\quad six",
    );
}

#[test]
fn latex_unknown_commands_drop_name_and_arguments() {
    check(
        Latex,
        "A \\foo{bar}[x] b \\baz c \\textcolor{red}{red text}.",
        "¶ A⟨⟩ b c red text. <= A \\foo{bar}[x] b \\baz c \\textcolor{red}{red text}.",
    );
}

#[test]
fn latex_inline_verbatim_stands_in_as_x() {
    check(
        Latex,
        "Call \\verb|f(x)| or \\lstinline{g()} now; \\verb broken.",
        "¶ Call ⟨X⟩ or ⟨X⟩ now; broken. <= Call \\verb|f(x)| or \\lstinline{g()} now; \\verb broken.",
    );
}

#[test]
fn latex_siunitx_quantities() {
    check(
        Latex,
        "Dose \\SI{5}{mg} and \\SI{2.5}{\\milli\\gram} and \\num{3}.",
        "¶ Dose ⟨5 mg⟩ and ⟨2.5 units⟩ and ⟨3⟩. <= Dose \\SI{5}{mg} and \\SI{2.5}{\\milli\\gram} and \\num{3}.",
    );
}

#[test]
fn latex_user_options_add_prose_and_skip_lists() {
    let options = ProseOptions {
        latex_prose_commands: vec!["highlight".into()],
        latex_skip_commands: vec!["gls".into(), "\\SIx".into()],
        latex_skip_environments: vec!["myalgo".into()],
    };
    check_with(
        Latex,
        &options,
        "The \\gls{dna} was \\highlight{very} high at \\SIx{5}{mg}.\n\\begin{myalgo}\nsecret\n\\end{myalgo}\nEnd.",
        "¶ The ⟨X⟩ was very high at ⟨X⟩. <= The \\gls{dna} was \\highlight{very} high at \\SIx{5}{mg}.
         ¶ End. <= End.",
    );
}

#[test]
fn latex_paragraphs_and_newlines() {
    check(
        Latex,
        "First para\nline two.\n\nSecond para.",
        "¶ First para line two. <= First para↵line two.
         ¶ Second para. <= Second para.",
    );
}

#[test]
fn latex_malformed_input_degrades_locally() {
    // `{` never closed, `$` never closed, `\begin{itemize}` never closed, `\emph{` never closed:
    // everything after still comes out as prose.
    check(
        Latex,
        "Good start.\n\nUnclosed {brace and $math here.\n\nNext \\begin{itemize} para.\n\n\\emph{open\n\nLast para.",
        "¶ Good start. <= Good start.
         ¶ Unclosed brace and math here. <= Unclosed {brace and $math here.
         ¶ Next <= Next
         ¶ para. <= para.
         ¶ open <= open
         ¶ Last para. <= Last para.",
    );
}

// ---------------------------------------------------------------- Markdown

#[test]
fn markdown_front_matter_heading_paragraph() {
    check(
        Markdown,
        "---\ntitle: x\n---\n\n# Title\n\nBody text.",
        "¶ Title <= Title
         ¶ Body text. <= Body text.",
    );
}

#[test]
fn markdown_pandoc_citations_and_cross_references() {
    check(
        Markdown,
        "Deep nets [@doi:10.1/x; @pmid:1] work [-@key]. @smith showed it in @fig:a and @tbl:b.",
        "¶ Deep nets⟨⟩ work⟨⟩. ⟨Smith and Jones⟩ showed it in ⟨Figure 1⟩ and ⟨Table 1⟩. <= Deep nets [@doi:10.1/x; @pmid:1] work [-@key]. @smith showed it in @fig:a and @tbl:b.
         · Deep nets work. <= Deep nets [@doi:10.1/x; @pmid:1] work [-@key].
         · Smith and Jones showed it in Figure 1 and Table 1. <= @smith showed it in @fig:a and @tbl:b.",
    );
}

#[test]
fn markdown_code_is_skipped() {
    check(
        Markdown,
        "Run `plot()` now.\n\n```python\nx = 1\n```\n\n    indented code\n\nAfter.",
        "¶ Run ⟨X⟩ now. <= Run `plot()` now.
         ¶ After. <= After.",
    );
}

#[test]
fn markdown_r_and_quarto_chunks_are_skipped() {
    check(
        Markdown,
        "Intro.\n\n```{r setup}\nlibrary(x)\n```\n\n::: {.callout-note}\nCallout body.\n:::\n\nOutro.",
        "¶ Intro. <= Intro.
         ¶ Callout body. <= Callout body.
         ¶ Outro. <= Outro.",
    );
}

#[test]
fn markdown_urls_links_and_images() {
    check(
        Markdown,
        "See <https://a.org>, https://b.org/x. and [the site](https://c.org) or ![a figure](f.png).",
        "¶ See ⟨URL⟩, ⟨URL⟩. and the site or a figure. <= See <https://a.org>, https://b.org/x. and [the site](https://c.org) or ![a figure](f.png).",
    );
}

#[test]
fn markdown_math() {
    check(
        Markdown,
        "Let $x$ be $$y$$ and $5$.",
        "¶ Let ⟨X⟩ be ⟨X⟩ and ⟨5⟩. <= Let $x$ be $$y$$ and $5$.",
    );
}

#[test]
fn markdown_blocks_lists_quotes_tables_and_attributes() {
    check(
        Markdown,
        "- First *item*\n- Second **item** <!-- hidden -->\n\n> Quote text.\n\n| A | B |\n|---|---|\n| c | d |\n\nTable: Caption. {#tbl:x}\n",
        "¶ First item <= First *item
         ¶ Second item <= Second **item
         ¶ Quote text. <= Quote text.
         ¶ A <= A
         ¶ B <= B
         ¶ c <= c
         ¶ d <= d
         ¶ Table: Caption. <= Table: Caption.",
    );
}

#[test]
fn markdown_heading_attributes_and_footnotes() {
    check(
        Markdown,
        "## Methods {#sec:methods}\n\nText[^n] here.\n\n[^n]: The note.",
        "¶ Methods <= Methods
         ¶ Text⟨⟩ here. <= Text[^n] here.
         ¶ The note. <= The note.",
    );
}

#[test]
fn markdown_escapes_entities_and_dashes() {
    check(
        Markdown,
        "Costs &amp; 5\\*3 A---B -- C.",
        "¶ Costs & 5*3 A—B – C. <= Costs &amp; 5\\*3 A---B -- C.",
    );
}

#[test]
fn markdown_unbalanced_dollar_is_text() {
    check(
        Markdown,
        "Costs $5 and more.\n\nNext.",
        "¶ Costs $5 and more. <= Costs $5 and more.
         ¶ Next. <= Next.",
    );
}

// ---------------------------------------------------------------- Plain text and sentences

#[test]
fn plain_paragraphs_and_whitespace() {
    check(
        PlainText,
        "First line\nsecond line.\n\n\nSecond paragraph.  Two  spaces.",
        "¶ First line second line. <= First line↵second line.
         ¶ Second paragraph. Two spaces. <= Second paragraph.  Two  spaces.
         · Second paragraph. <= Second paragraph.
         · Two spaces. <= Two  spaces.",
    );
}

#[test]
fn sentences_respect_scientific_abbreviations() {
    let input = "We used E. coli and S. cerevisiae strains (Smith et al. 2010). J. Smith did it, i.e. twice, e.g. here. \
                 The p < 0.05 threshold and 3.5 mg were used vs. controls. Done! Really? Yes.";
    check(
        PlainText,
        input,
        &format!(
            "¶ {input} <= {input}
             · We used E. coli and S. cerevisiae strains (Smith et al. 2010). <= We used E. coli and S. cerevisiae strains (Smith et al. 2010).
             · J. Smith did it, i.e. twice, e.g. here. <= J. Smith did it, i.e. twice, e.g. here.
             · The p < 0.05 threshold and 3.5 mg were used vs. controls. <= The p < 0.05 threshold and 3.5 mg were used vs. controls.
             · Done! <= Done!
             · Really? <= Really?
             · Yes. <= Yes."
        ),
    );
}

#[test]
fn sentences_after_figure_and_reference_abbreviations() {
    let input = "See Fig. 2 and Eqs. 3-4. Ref. 5 shows it. Dr. Who came. Approx. 5 mg.";
    check(
        PlainText,
        input,
        &format!(
            "¶ {input} <= {input}
             · See Fig. 2 and Eqs. 3-4. <= See Fig. 2 and Eqs. 3-4.
             · Ref. 5 shows it. <= Ref. 5 shows it.
             · Dr. Who came. <= Dr. Who came.
             · Approx. 5 mg. <= Approx. 5 mg."
        ),
    );
}

#[test]
fn sentences_more_abbreviations() {
    let input =
        "Figs. 2 and Tab. 3 in Sect. 4 show No. 5, cf. Ref. 6 and Mr. Smith resp. Dr. Jones. \
                 Values were ca. 5 mg vs. 6 mg. Smith et al. Reported it. Done.";
    // "et al." followed by a capital does not split: a known weakness traded for the common
    // "Smith et al. (2010)" and "Smith et al. Nature" cases.
    check(
        PlainText,
        input,
        &format!(
            "¶ {input} <= {input}
             · Figs. 2 and Tab. 3 in Sect. 4 show No. 5, cf. Ref. 6 and Mr. Smith resp. Dr. Jones. <= Figs. 2 and Tab. 3 in Sect. 4 show No. 5, cf. Ref. 6 and Mr. Smith resp. Dr. Jones.
             · Values were ca. 5 mg vs. 6 mg. <= Values were ca. 5 mg vs. 6 mg.
             · Smith et al. Reported it. <= Smith et al. Reported it.
             · Done. <= Done."
        ),
    );
}

#[test]
fn latex_environment_arguments_and_paragraph_headings() {
    check(
        Latex,
        "\\begin{minipage}[t]{0.5\\textwidth}\\paragraph{Setup.} We did it.\\end{minipage}",
        "¶ Setup. <= Setup.
         ¶ We did it. <= We did it.",
    );
}

#[test]
fn latex_preamble_macros_expand_when_simple() {
    check(
        Latex,
        "\\newcommand{\\R}{{\\textsf{R}}}\n\\newcommand{\\code}[1]{\\texttt{#1}}\n\\begin{document}\nIn \\R{} call \\code{plot}.\n\\end{document}",
        "¶ In R call plot. <= In \\R{} call \\code{plot}.",
    );
}

#[test]
fn markdown_bare_url_and_html_block() {
    check(
        Markdown,
        "Visit https://x.org/a_b today.\n\n<div>\nraw html\n</div>\n\nEnd.",
        "¶ Visit ⟨URL⟩ today. <= Visit https://x.org/a_b today.
         ¶ End. <= End.",
    );
}

// ---------------------------------------------------------------- Maps and API

#[test]
fn source_map_queries() {
    let source = "The value $x$ here \\emph{big} world";
    let chunks = extract(source, Latex, &ProseOptions::default());
    assert_eq!(chunks.len(), 1);
    let chunk = &chunks[0];
    assert_eq!(chunk.text, "The value X here big world");
    // The stand-in maps to the whole construct.
    assert_eq!(chunk.source_range_of(10..11), 10..13);
    assert_eq!(&source[chunk.source_range_of(0..9)], "The value");
    assert_eq!(&source[chunk.source_range_of(17..20)], "big");
    assert!(chunk.is_checkable(0..9));
    assert!(!chunk.is_checkable(4..11));
    assert!(chunk.is_checkable(11..16));
    // Cursor positions: inside verbatim text, inside a stand-in, inside `\emph{`.
    assert_eq!(chunk.prose_offset_of(4), Some(4));
    assert_eq!(chunk.prose_offset_of(11), Some(10));
    assert_eq!(chunk.prose_offset_of(22), Some(17));
    assert_eq!(chunk.prose_offset_of(source.len()), Some(chunk.text.len()));
    assert_eq!(chunk.prose_offset_of(source.len() + 1), None);
}

#[test]
fn empty_citation_is_checkable_next_to_it_but_not_across() {
    let chunks = extract("word \\cite{k}. More", Latex, &ProseOptions::default());
    let chunk = &chunks[0];
    assert_eq!(chunk.text, "word. More");
    assert!(chunk.is_checkable(0..4));
    assert!(chunk.is_checkable(4..5));
    assert!(!chunk.is_checkable(0..5));
}

#[test]
fn languages_from_paths_and_ids() {
    assert_eq!(Language::from_path("paper/main.tex"), Some(Latex));
    assert_eq!(Language::from_path("a.md"), Some(Markdown));
    assert_eq!(Language::from_path("a.qmd"), Some(Markdown));
    assert_eq!(Language::from_path("a.Rmd"), Some(Markdown));
    assert_eq!(Language::from_path("a.rmd"), Some(Markdown));
    assert_eq!(Language::from_path("notes.txt"), Some(PlainText));
    assert_eq!(Language::from_path("image.png"), None);
    assert_eq!(Language::from_path("Makefile"), None);
    for (id, language) in [
        ("plaintext", PlainText),
        ("markdown", Markdown),
        ("latex", Latex),
        ("quarto", Markdown),
        ("rmd", Markdown),
        ("tex", Latex),
    ] {
        assert_eq!(Language::from_language_id(id), Some(language));
    }
    assert_eq!(Language::from_language_id("rust"), None);
    assert!("rust".parse::<Language>().is_err());
}

#[test]
fn report_json_and_human_forms() {
    let source = "One. Two.\nThree.";
    let found = sentences(source, PlainText, &ProseOptions::default());
    assert_eq!(
        render_report(source, &found, true),
        r#"{"sentences":[{"text":"One.","start":0,"end":4},{"text":"Two.","start":5,"end":9},{"text":"Three.","start":10,"end":16}]}"#
    );
    assert_eq!(
        render_report(source, &found, false),
        "1:1-1:5\tOne.\n1:6-1:10\tTwo.\n2:1-2:7\tThree.\n"
    );
}

#[test]
fn binary_ish_input_still_extracts_the_rest() {
    let source = "\u{0}\u{1}\u{fffd}{{{$\\\n\nGood paragraph.";
    for language in [Latex, Markdown, PlainText] {
        let chunks = extract(source, language, &ProseOptions::default());
        assert!(
            chunks.iter().any(|chunk| chunk.text == "Good paragraph."),
            "{language:?}: {chunks:?}"
        );
    }
}
