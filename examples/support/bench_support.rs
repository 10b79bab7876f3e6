//! What the benchmark programs share: their command-line arguments, the server binary beside
//! them, percentiles of latencies, the NCBI-disease abstracts and a manuscript's prose.

#![allow(dead_code)] // each benchmark uses its own part of this

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The value after `name` on the command line.
pub fn argument(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|arg| arg == name)
        .and_then(|index| args.get(index + 1))
        .cloned()
}

/// Whether `name` is on the command line.
pub fn flag(name: &str) -> bool {
    std::env::args().any(|arg| arg == name)
}

/// The build directory (`target/release`) the running benchmark was built into.
pub fn build_directory() -> PathBuf {
    std::env::current_exe()
        .expect("current executable")
        .parent()
        .and_then(Path::parent)
        .expect("build directory")
        .to_path_buf()
}

/// The server to measure: `--server PATH`, else the `biomed-lsp` built beside this benchmark.
pub fn server_binary() -> String {
    argument("--server").unwrap_or_else(|| {
        build_directory()
            .join("biomed-lsp")
            .to_string_lossy()
            .into_owned()
    })
}

/// The `fraction` percentile (nearest rank) of `samples`; zero when there are none.
pub fn percentile(samples: &[Duration], fraction: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * fraction).round() as usize]
}

pub fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// The abstracts of an NCBI-disease corpus file (`PMID|t|title`, `PMID|a|abstract` lines), each
/// as its title, a blank line and its abstract; the first `limit` of them.
pub fn ncbi_abstracts(path: &std::path::Path, limit: usize) -> Vec<String> {
    let corpus =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut documents = Vec::new();
    let mut title = String::new();
    for line in corpus.lines() {
        let mut fields = line.splitn(3, '|');
        match (fields.next(), fields.next(), fields.next()) {
            (Some(_), Some("t"), Some(text)) => title = text.trim().to_string(),
            (Some(_), Some("a"), Some(text)) => {
                documents.push(format!("{title}\n\n{}", text.trim()))
            }
            _ => {}
        }
    }
    documents.truncate(limit);
    documents
}

/// The prose of a Markdown or LaTeX manuscript file as a writer types it: its sentences
/// (citations and markup left out), one space between sentences and a blank line between
/// paragraphs.
pub fn manuscript_prose(path: &Path, language: biomed_lsp::prose::Language) -> String {
    let source =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut text = String::new();
    let mut previous_end = None;
    for sentence in biomed_lsp::prose::sentences(
        &source,
        language,
        &biomed_lsp::prose::ProseOptions::default(),
    ) {
        if let Some(end) = previous_end {
            let between = &source[end..sentence.source_range.start];
            text.push_str(if between.matches('\n').count() >= 2 {
                "\n\n"
            } else {
                " "
            });
        }
        text.push_str(sentence.text.trim());
        previous_end = Some(sentence.source_range.end);
    }
    text
}

/// The byte ranges of the runs of letters of a text.
pub fn letter_words(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut words = Vec::new();
    let mut start = None;
    for (idx, c) in text.char_indices() {
        if c.is_alphabetic() {
            start.get_or_insert(idx);
        } else if let Some(word_start) = start.take() {
            words.push(word_start..idx);
        }
    }
    if let Some(word_start) = start {
        words.push(word_start..text.len());
    }
    words
}

/// Intended word → the wrong words it gets replaced with. `a; b; f` works both ways; `a -> b; f`
/// means `a` is the error for the intended `b`.
pub fn parse_confusables(text: &str) -> std::collections::HashMap<String, Vec<String>> {
    let mut map: std::collections::HashMap<String, Vec<String>> = Default::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(';').map(str::trim).collect();
        if let Some((wrong, intended)) = fields[0].split_once("->") {
            map.entry(intended.trim().to_string())
                .or_default()
                .push(wrong.trim().to_string());
        } else if fields.len() >= 2 {
            map.entry(fields[0].to_string())
                .or_default()
                .push(fields[1].to_string());
            map.entry(fields[1].to_string())
                .or_default()
                .push(fields[0].to_string());
        }
    }
    map
}
