//! Benchmark of prose extraction on the shared manuscripts: whole-document extraction plus
//! sentence splitting, and incremental re-extraction after a one-character edit in the middle.
//! Run with `cargo run --release --example bench_prose` (data dir: `$BIOMED_SHARED_DATA`, else
//! `$CARGO_MANIFEST_DIR/../shared/data`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use biomed_lsp::prose::{extract, sentences, Language, ProseDocument, ProseOptions};

const RUNS: usize = 51;

fn data_dir() -> PathBuf {
    match std::env::var_os("BIOMED_SHARED_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")),
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

struct Row {
    name: &'static str,
    bytes: usize,
    chunks: usize,
    sentences: usize,
    full: Duration,
    incremental: Duration,
    fallbacks: usize,
}

fn measure(name: &'static str, source: &str, language: Language) -> Row {
    let options = ProseOptions::default();
    let mut full_samples = Vec::with_capacity(RUNS);
    let mut sentence_count = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let found = sentences(source, language, &options);
        full_samples.push(start.elapsed());
        sentence_count = found.len();
    }
    let chunks = extract(source, language, &options).len();

    // One-character edit in the middle: insert "x" inside a word, then delete it again; each
    // apply_edit is timed on its own.
    let mut middle = source.len() / 2;
    while !source.is_char_boundary(middle) || !source[middle..].starts_with(char::is_alphabetic) {
        middle += 1;
    }
    let mut edited = source.to_string();
    edited.insert(middle, 'x');
    let mut document = ProseDocument::new(source, language, options.clone());
    let mut incremental_samples = Vec::with_capacity(RUNS * 2);
    for _ in 0..RUNS {
        let start = Instant::now();
        document.apply_edit(&edited, middle..middle, 1);
        incremental_samples.push(start.elapsed());
        let start = Instant::now();
        document.apply_edit(source, middle..middle + 1, 0);
        incremental_samples.push(start.elapsed());
    }
    assert_eq!(
        document.chunks(),
        extract(source, language, &options).as_slice(),
        "incremental result differs"
    );
    Row {
        name,
        bytes: source.len(),
        chunks,
        sentences: sentence_count,
        full: median(full_samples),
        incremental: median(incremental_samples),
        fallbacks: document.full_extractions() - 1,
    }
}

fn main() -> ExitCode {
    let dir = data_dir().join("manuscripts");
    let review_dir = dir.join("deep-review");
    let mut names: Vec<String> = match std::fs::read_dir(&review_dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| {
                name.ends_with(".md") && name.as_bytes().first().is_some_and(u8::is_ascii_digit)
            })
            .collect(),
        Err(error) => {
            eprintln!("cannot read {}: {error}", review_dir.display());
            return ExitCode::FAILURE;
        }
    };
    names.sort();
    let mut review = String::new();
    for name in &names {
        match std::fs::read_to_string(review_dir.join(name)) {
            Ok(text) => {
                review.push_str(&text);
                review.push_str("\n\n");
            }
            Err(error) => {
                eprintln!("cannot read {name}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    let phyloseq_path = dir.join("phyloseq-plos1-2013/phyloseq-plos1-2013.tex");
    let phyloseq = match std::fs::read_to_string(&phyloseq_path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("cannot read {}: {error}", phyloseq_path.display());
            return ExitCode::FAILURE;
        }
    };

    let rows = [
        measure(
            "deep-review (8 files, Markdown)",
            &review,
            Language::Markdown,
        ),
        measure("phyloseq (LaTeX)", &phyloseq, Language::Latex),
    ];
    println!(
        "median of {RUNS} runs (incremental: median of {} edits)",
        RUNS * 2
    );
    println!(
        "{:<33} {:>8} {:>7} {:>9} {:>18} {:>16} {:>10}",
        "document",
        "bytes",
        "chunks",
        "sentences",
        "extract+split ms",
        "incremental µs",
        "fallbacks"
    );
    for row in &rows {
        println!(
            "{:<33} {:>8} {:>7} {:>9} {:>18.3} {:>16.1} {:>10}",
            row.name,
            row.bytes,
            row.chunks,
            row.sentences,
            row.full.as_secs_f64() * 1e3,
            row.incremental.as_secs_f64() * 1e6,
            row.fallbacks
        );
    }
    ExitCode::SUCCESS
}
