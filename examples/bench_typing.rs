//! A writer typing, through the real protocol: three sentences of a real abstract typed into an
//! empty document one character at a time at 8 characters per second, with a completion request
//! after every character as editors send them. Reports the per-keystroke latency distribution and,
//! for biomed-lsp, how many keystrokes ran a forward pass (from the server's own counts); the same
//! trace against textLSP (its `hf_completion` analyser, CPU) on the same checkpoint in the same run.
//!
//! cargo build --release --bins --examples
//! target/release/examples/bench_typing --model DIR [--textlsp PATH/TO/textlsp] [--data ../shared/data]
//!     [--cps 8] [--precision auto|f32|q8[,…]] [--background-check]
//!
//! Each precision in the list gets its own runs of biomed-lsp, in the same run as textLSP's.
//!
//! `--background-check` adds a run with the review manuscript open and its check running while
//! the writer types (diagnostics on).

#[path = "support/bench_support.rs"]
mod bench_support;
#[path = "../tests/support/lsp_client.rs"]
mod lsp_client;

use bench_support::{argument, flag, milliseconds, percentile, server_binary};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use biomed_lsp::prose::sentence_starts;
use lsp_client::LspClient;
use serde_json::{json, Value};

const URI: &str = "file:///tmp/typing.txt";

/// The first three sentences of the first abstract of the PubMedQA file.
fn typed_text(data: &std::path::Path) -> String {
    let path = data.join("corpus/pubmedqa/pqal_abstracts.txt");
    let abstracts = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let body = abstracts
        .lines()
        .find(|line| !line.starts_with("PMID:") && !line.starts_with("TITLE-QUESTION:"))
        .expect("an abstract");
    let starts = sentence_starts(body);
    let end = starts.get(2).copied().unwrap_or(body.len());
    body[..end].trim_end().to_string()
}

/// What one keystroke was, for the breakdown.
#[derive(Clone, Copy, PartialEq)]
enum Keystroke {
    /// A letter that starts a word.
    FirstOfWord,
    /// A later letter of a word.
    InWord,
    /// A space: the next word's slot is known (textLSP runs its model only here).
    Space,
    /// Punctuation.
    Punctuation,
}

struct Trace {
    latencies: Vec<(Keystroke, Duration)>,
    /// Keystrokes answered with at least one word.
    answered: usize,
    /// The server's counts before and after the trace (biomed-lsp only).
    counts: Option<(Value, Value)>,
}

fn engine_counts(client: &mut LspClient) -> Value {
    client.request("biomedLsp/engineCounts", Value::Null)["result"].clone()
}

fn initialize(client: &mut LspClient, options: Value) {
    let response = client.request(
        "initialize",
        json!({
            "processId": std::process::id(),
            "rootUri": null,
            "capabilities": {
                "general": {"positionEncodings": ["utf-16"]},
                "window": {"workDoneProgress": true},
                "workspace": {"configuration": false}
            },
            "initializationOptions": options
        }),
    );
    assert!(response.get("result").is_some(), "initialize: {response}");
    client.notify("initialized", json!({}));
}

/// How the document's changes are sent.
#[derive(Clone, Copy, PartialEq)]
enum Sync {
    /// The typed character at its range (what biomed-lsp asks for).
    Incremental,
    /// The whole text each time: textLSP 0.4 answers nothing after incremental edits of a plain
    /// text document (tried by hand: every completion came back empty), but works with these.
    Full,
}

/// Types `text` into `URI` at `cps` characters per second, asking for completion after each.
fn type_text(client: &mut LspClient, text: &str, cps: f64, sync: Sync, with_counts: bool) -> Trace {
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "plaintext", "version": 1, "text": ""}}),
    );
    let before = with_counts.then(|| engine_counts(client));
    let interval = Duration::from_secs_f64(1.0 / cps);
    let started = Instant::now();
    let (mut line, mut column) = (0u32, 0u32);
    let mut previous: Option<char> = None;
    let mut latencies = Vec::new();
    let mut answered = 0;
    for (index, character) in text.chars().enumerate() {
        // A writer does not wait for the editor: the next key comes on time unless the editor is
        // still busy answering the previous one.
        let due = started + interval * index as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            client.pump(wait);
        }
        let change = match sync {
            Sync::Incremental => json!({
                "range": {"start": {"line": line, "character": column},
                          "end": {"line": line, "character": column}},
                "text": character.to_string()}),
            Sync::Full => json!({"text": text[..text.char_indices().nth(index + 1)
                .map_or(text.len(), |(at, _)| at)]}),
        };
        client.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": URI, "version": index + 2}, "contentChanges": [change]}),
        );
        if character == '\n' {
            line += 1;
            column = 0;
        } else {
            column += character.len_utf16() as u32;
        }
        let kind = if character.is_whitespace() {
            Keystroke::Space
        } else if !character.is_alphanumeric() {
            Keystroke::Punctuation
        } else if previous.is_some_and(char::is_alphanumeric) {
            Keystroke::InWord
        } else {
            Keystroke::FirstOfWord
        };
        previous = Some(character);
        let asked = Instant::now();
        // As an editor that keeps an incomplete list open asks again after each key.
        let response = client.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": URI}, "position": {"line": line, "character": column},
                   "context": {"triggerKind": 3}}),
        );
        let latency = asked.elapsed();
        assert!(response.get("error").is_none(), "completion: {response}");
        let result = &response["result"];
        let items = result["items"].as_array().or(result.as_array());
        if items.is_some_and(|items| !items.is_empty()) {
            answered += 1;
        }
        latencies.push((kind, latency));
    }
    let after = with_counts.then(|| engine_counts(client));
    Trace {
        latencies,
        answered,
        counts: before.zip(after),
    }
}

fn report(name: &str, trace: &Trace) {
    let all: Vec<Duration> = trace
        .latencies
        .iter()
        .map(|(_, latency)| *latency)
        .collect();
    let of = |wanted: Keystroke| -> Vec<Duration> {
        trace
            .latencies
            .iter()
            .filter(|(kind, _)| *kind == wanted)
            .map(|(_, latency)| *latency)
            .collect()
    };
    let line = |label: &str, samples: &[Duration]| {
        println!(
            "| {name} | {label} | {} | {:.1} | {:.1} | {:.1} |",
            samples.len(),
            milliseconds(percentile(samples, 0.5)),
            milliseconds(percentile(samples, 0.95)),
            milliseconds(samples.iter().copied().max().unwrap_or_default()),
        );
    };
    line("every keystroke", &all);
    line("first letter of a word", &of(Keystroke::FirstOfWord));
    line("later letters", &of(Keystroke::InWord));
    line("space", &of(Keystroke::Space));
    line("punctuation", &of(Keystroke::Punctuation));
}

fn report_counts(name: &str, trace: &Trace) {
    println!(
        "{name}: {} of {} keystrokes answered with words",
        trace.answered,
        trace.latencies.len()
    );
    let Some((before, after)) = &trace.counts else {
        return;
    };
    let delta = |key: &str| after[key].as_u64().unwrap_or(0) - before[key].as_u64().unwrap_or(0);
    println!(
        "{name}: {} keystrokes; {} forward passes in all ({} slot fills computed; {} prefetch \
         requests: a separator typed, and an empty slot asked about again); keystrokes answered \
         from the slot cache: {}, joined a fill under way: {}",
        trace.latencies.len(),
        delta("forwardPasses"),
        delta("slotComputations"),
        delta("prefetches"),
        delta("fillsFromCache"),
        delta("fillsJoined"),
    );
}

/// The whole review (its chapters in one document), as a thesis in one file.
fn review_text(data: &std::path::Path) -> String {
    let review = data.join("manuscripts/deep-review");
    let mut chapters: Vec<PathBuf> = std::fs::read_dir(&review)
        .unwrap_or_else(|error| panic!("{}: {error}", review.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with('0') && name.ends_with(".md"))
        })
        .collect();
    chapters.sort();
    chapters
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("a review chapter"))
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn main() {
    let model = argument("--model").unwrap_or_else(|| "bundled".into());
    let data = PathBuf::from(argument("--data").unwrap_or_else(|| "../shared/data".into()));
    let cps: f64 = argument("--cps").map_or(8.0, |value| value.parse().expect("--cps"));
    let precisions = argument("--precision").unwrap_or_else(|| "auto".into());
    let text = typed_text(&data);
    println!(
        "typing {} characters at {cps} per second, completion after each; model {model}, \
         precision {precisions}\n",
        text.chars().count()
    );
    println!("| server | keystrokes | n | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    let mut notes = Vec::new();

    let ours = server_binary();
    let review_text = flag("--background-check").then(|| review_text(&data));
    for precision in precisions.split(',') {
        let mut client = LspClient::spawn(&ours, &[("BIOMED_LSP_LOG", "warn")]);
        initialize(
            &mut client,
            json!({"model": model, "device": "cpu", "precision": precision,
                   "diagnostics": {"enabled": false}, "completion": {"minProbability": 0}}),
        );
        client.wait_for_model_ready(Duration::from_secs(600));
        let trace = type_text(&mut client, &text, cps, Sync::Incremental, true);
        let name = format!("biomed-lsp {precision}");
        report(&name, &trace);
        notes.push((name, trace));
        drop(client);

        let Some(review_text) = &review_text else {
            continue;
        };
        let mut client = LspClient::spawn(&ours, &[("BIOMED_LSP_LOG", "warn")]);
        initialize(
            &mut client,
            json!({"model": model, "device": "cpu", "precision": precision,
                   "completion": {"minProbability": 0}}),
        );
        client.wait_for_model_ready(Duration::from_secs(600));
        client.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": "file:///tmp/review.md", "languageId": "markdown",
                                    "version": 1, "text": review_text}}),
        );
        // The check starts after the debounce: let it be running when the writer starts.
        client.pump(Duration::from_secs(2));
        let trace = type_text(&mut client, &text, cps, Sync::Incremental, true);
        let name = format!("biomed-lsp {precision}, review check running");
        report(&name, &trace);
        notes.push((name, trace));
    }

    if let Some(textlsp) = argument("--textlsp") {
        let mut client = LspClient::spawn_command(&textlsp, &[], &[]);
        let directory = if model == "bundled" {
            std::env::current_dir()
                .expect("working directory")
                .join("models/biomed-mini")
                .to_string_lossy()
                .into_owned()
        } else {
            model.clone()
        };
        // textLSP loads its transformers pipeline while it initializes.
        initialize(
            &mut client,
            json!({"textLSP": {"analysers": {"hf_completion": {
                "enabled": true, "gpu": false, "model": directory, "topk": 5}}}}),
        );
        let trace = type_text(&mut client, &text, cps, Sync::Full, false);
        report("textLSP (hf_completion)", &trace);
        notes.push(("textLSP".to_string(), trace));
    }
    println!();
    for (name, trace) in &notes {
        report_counts(name, trace);
    }
    println!(
        "\ntextLSP runs its model only after a space or a newline (its own rule) and answers \
         other keystrokes with nothing; biomed-lsp answers every keystroke with whole words \
         that start with the typed prefix."
    );
}
