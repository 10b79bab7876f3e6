//! Extraction checks on real manuscripts from the shared data directory (the Deep Review in
//! Manubot Markdown and the phyloseq PLOS ONE paper in LaTeX): exact source maps, no markup or
//! citation keys leaking into prose, and a plausible number of sentences.
//!
//! The data directory is `$BIOMED_SHARED_DATA` if set, else `$CARGO_MANIFEST_DIR/../shared/data`.
//! When it or a manuscript is missing the tests fail, saying where they looked.

use std::path::PathBuf;

use biomed_lsp::prose::{
    extract, sentences, Language, ProseChunk, ProseDocument, ProseOptions, SegmentKind,
};

fn data_dir() -> PathBuf {
    let dir = match std::env::var_os("BIOMED_SHARED_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")),
    };
    assert!(
        dir.is_dir(),
        "the shared data directory {} does not exist: put the shared data beside the checkout \
         or set BIOMED_SHARED_DATA",
        dir.display()
    );
    dir
}

/// The eight article files of the Deep Review, concatenated in order (as Manubot does), with the
/// raw text of each file.
fn deep_review() -> (String, Vec<String>) {
    let dir = data_dir().join("manuscripts/deep-review");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dir.display()))
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| {
            name.ends_with(".md") && name.as_bytes().first().is_some_and(u8::is_ascii_digit)
        })
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        8,
        "expected the eight article files 01..08 in {dir:?}"
    );
    let files: Vec<String> = names
        .iter()
        .map(|name| {
            std::fs::read_to_string(dir.join(name))
                .unwrap_or_else(|error| panic!("reading {name}: {error}"))
        })
        .collect();
    (files.join("\n\n"), files)
}

fn phyloseq() -> String {
    let path = data_dir().join("manuscripts/phyloseq-plos1-2013/phyloseq-plos1-2013.tex");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

fn assert_verbatim_segments_match(source: &str, chunks: &[ProseChunk]) {
    for chunk in chunks {
        for segment in &chunk.segments {
            if segment.kind == SegmentKind::Verbatim {
                assert_eq!(
                    &chunk.text[segment.prose_range.clone()],
                    &source[segment.source_range.clone()]
                );
            }
        }
    }
}

/// Every place where `needle` occurs in some chunk's text, with context, for a readable failure.
fn occurrences(chunks: &[ProseChunk], needle: &str) -> Vec<String> {
    chunks
        .iter()
        .filter(|chunk| chunk.text.contains(needle))
        .map(|chunk| {
            let at = chunk.text.find(needle).unwrap_or(0);
            let start = chunk.text.floor_char_boundary(at.saturating_sub(40));
            let end = chunk
                .text
                .floor_char_boundary((at + 60).min(chunk.text.len()));
            chunk.text[start..end].to_string()
        })
        .collect()
}

/// A backslash directly followed by a letter: a LaTeX command name.
fn has_command_name(text: &str) -> bool {
    text.as_bytes()
        .windows(2)
        .any(|pair| pair[0] == b'\\' && pair[1].is_ascii_alphabetic())
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

#[test]
fn deep_review_prose_is_clean() {
    let (source, _) = deep_review();
    let chunks = extract(&source, Language::Markdown, &ProseOptions::default());
    assert!(chunks.len() > 300, "only {} chunks", chunks.len());
    assert_verbatim_segments_match(&source, &chunks);
    for needle in [
        "@doi", "@pmid", "@arxiv", "@tag:", "@url:", "@isbn", "@fig:", "@tbl:", "http", "$", "```",
        "{#", "{%", "{{", "<!--",
    ] {
        let found = occurrences(&chunks, needle);
        assert!(found.is_empty(), "{needle:?} reached the prose: {found:#?}");
    }
    for chunk in &chunks {
        assert!(
            !has_command_name(&chunk.text),
            "command name in {:?}",
            chunk.text
        );
    }
}

#[test]
fn deep_review_sentence_count_is_plausible() {
    let (source, files) = deep_review();
    let found = sentences(&source, Language::Markdown, &ProseOptions::default());
    // Independent estimate: the Deep Review is written one sentence per line, so count the
    // source lines that look like prose sentences (end with `.`, `?`, `!` possibly followed by a
    // citation, a quote or a bracket) and are not table rows, list markup or comments.
    let estimate: usize = files
        .iter()
        .flat_map(|file| file.lines())
        .map(str::trim)
        .filter(|line| {
            !line.starts_with('|') && !line.starts_with("<!--") && !line.starts_with('#')
        })
        .filter(|line| {
            let end = line.trim_end_matches([']', ')', '"', '*', '_', '}']);
            end.ends_with('.') || end.ends_with('?') || end.ends_with('!')
        })
        .count();
    // Headings, table cells and short list items are sentences too but the estimate does not see
    // them: compare only sentences of at least four words.
    let count = found
        .iter()
        .filter(|sentence| word_count(&sentence.text) >= 4)
        .count();
    let ratio = count as f64 / estimate as f64;
    eprintln!("deep review: {} sentences, {count} of 4+ words, line-based estimate {estimate}, ratio {ratio:.3}", found.len());
    assert!(
        (0.85..=1.2).contains(&ratio),
        "{count} sentences vs estimate {estimate}"
    );
    let words: usize = found
        .iter()
        .map(|sentence| word_count(&sentence.text))
        .sum();
    let long: Vec<_> = found
        .iter()
        .filter(|sentence| word_count(&sentence.text) >= 4)
        .collect();
    let average = long
        .iter()
        .map(|sentence| word_count(&sentence.text))
        .sum::<usize>() as f64
        / long.len() as f64;
    eprintln!("deep review: {words} words, {average:.1} words per sentence (of 4+ words)");
    assert!(
        (8.0..=40.0).contains(&average),
        "average sentence length {average}"
    );
}

#[test]
fn phyloseq_prose_is_clean() {
    let source = phyloseq();
    let chunks = extract(&source, Language::Latex, &ProseOptions::default());
    assert!(chunks.len() > 80, "only {} chunks", chunks.len());
    assert_verbatim_segments_match(&source, &chunks);
    // Nothing from the preamble: every chunk lies after `\begin{document}`.
    let body_start = source.find("\\begin{document}").unwrap_or(0);
    assert!(chunks
        .iter()
        .all(|chunk| chunk.source_range.start > body_start));
    for needle in ["\\cite", "$", "http", "{", "}"] {
        let found = occurrences(&chunks, needle);
        assert!(found.is_empty(), "{needle:?} reached the prose: {found:#?}");
    }
    for chunk in &chunks {
        assert!(
            !has_command_name(&chunk.text),
            "command name in {:?}",
            chunk.text
        );
    }
    // Citation keys of `\cite{...}` never reach the prose.
    let mut keys = Vec::new();
    let mut rest = source.as_str();
    while let Some(at) = rest.find("\\cite") {
        rest = &rest[at + 5..];
        if let (Some(open), Some(close)) = (rest.find('{'), rest.find('}')) {
            if open < close && open < 12 {
                keys.extend(
                    rest[open + 1..close]
                        .split(',')
                        .map(|key| key.trim().to_string()),
                );
            }
        }
    }
    assert!(keys.len() > 50, "found only {} citation keys", keys.len());
    // Some keys are also words of the text ("mothur", "n3phele" are tools named in the prose):
    // only keys that occur nowhere in the source outside `\cite{...}` arguments are checked.
    let cite_arguments = keys.join(",");
    let only_in_citations = |key: &&String| {
        key.len() >= 4
            && source.matches(key.as_str()).count() == cite_arguments.matches(key.as_str()).count()
    };
    assert!(keys.iter().filter(only_in_citations).count() > 50);
    for key in keys.iter().filter(only_in_citations) {
        let found = occurrences(&chunks, key);
        assert!(
            found.is_empty(),
            "citation key {key:?} reached the prose: {found:#?}"
        );
    }
}

#[test]
fn phyloseq_sentence_count_is_plausible() {
    let source = phyloseq();
    let found = sentences(&source, Language::Latex, &ProseOptions::default());
    // Independent estimate from the raw body: sentence ends are `.`, `?` or `!` followed by
    // whitespace and a capital letter, or by the end of a paragraph (a blank line). Comments are
    // removed first.
    let body_start = source.find("\\begin{document}").unwrap_or(0);
    let body: String = source[body_start..]
        .lines()
        .map(|line| match line.find('%') {
            Some(at) if at == 0 || &line[at - 1..at] != "\\" => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = body.as_bytes();
    let mut estimate = 0;
    for index in 0..bytes.len().saturating_sub(2) {
        if matches!(bytes[index], b'.' | b'?' | b'!') {
            let gap_and_rest = &body[index + 1..];
            let rest = gap_and_rest.trim_start_matches([' ', '\t', '\r', '\n', '}']);
            let gap = &gap_and_rest[..gap_and_rest.len() - rest.len()];
            let gap_has_space = gap.contains([' ', '\n', '\t']);
            let paragraph_end = gap.replace([' ', '\t', '\r', '}'], "").contains("\n\n");
            let capital_follows = rest.as_bytes().first().is_some_and(u8::is_ascii_uppercase);
            if gap_has_space && (capital_follows || paragraph_end) {
                estimate += 1;
            }
        }
    }
    // Headings and table cells are sentences too but the estimate does not see them: compare
    // only sentences of at least four words. The estimate also counts false ends such as
    // "et al. Smith" and misses sentences ending before a command: allow 20% either way.
    let count = found
        .iter()
        .filter(|sentence| word_count(&sentence.text) >= 4)
        .count();
    let ratio = count as f64 / estimate as f64;
    eprintln!("phyloseq: {} sentences, {count} of 4+ words, punctuation-based estimate {estimate}, ratio {ratio:.3}", found.len());
    assert!(
        (0.8..=1.2).contains(&ratio),
        "{count} sentences vs estimate {estimate}"
    );
    let long: Vec<_> = found
        .iter()
        .filter(|sentence| word_count(&sentence.text) >= 4)
        .collect();
    let average = long
        .iter()
        .map(|sentence| word_count(&sentence.text))
        .sum::<usize>() as f64
        / long.len() as f64;
    eprintln!("phyloseq: {average:.1} words per sentence (of 4+ words)");
    assert!(
        (8.0..=40.0).contains(&average),
        "average sentence length {average}"
    );
}

/// Incremental edits on a real document equal a fresh extraction (one edit per paragraph start).
#[test]
fn incremental_edits_on_manuscripts_equal_fresh_extraction() {
    let documents = [
        (deep_review().0, Language::Markdown),
        (phyloseq(), Language::Latex),
    ];
    for (source, language) in documents {
        let options = ProseOptions::default();
        let mut document = ProseDocument::new(&source, language, options.clone());
        let mut current = source.clone();
        // Edit at 25 spread positions: insert a word, then delete it again.
        for step in 1..25 {
            let mut at = current.len() * step / 25;
            while !current.is_char_boundary(at) {
                at += 1;
            }
            let mut next = current.clone();
            next.insert_str(at, "word ");
            document.apply_edit(&next, at..at, 5);
            assert_eq!(
                document.chunks(),
                extract(&next, language, &options).as_slice(),
                "{language:?} insert at {at}"
            );
            document.apply_edit(&current, at..at + 5, 0);
            assert_eq!(
                document.chunks(),
                extract(&current, language, &options).as_slice(),
                "{language:?} delete at {at}"
            );
            current = document.source().to_string();
        }
        eprintln!(
            "{language:?}: {} full extractions for 48 edits",
            document.full_extractions()
        );
    }
}
