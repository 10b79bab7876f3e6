//! Latency benchmark through the protocol: completion, hover, and didChange on a 1 MB document.
//!
//! cargo build --release --bins --examples
//! target/release/examples/bench_lsp [--server path/to/biomed-lsp] [--model DIR|bundled] [--rounds N]
//!
//! By default it runs the `biomed-lsp` binary of the same build with the bundled mini model.
//! Diagnostics are off while completion and hover are timed alone; a last row times completion
//! while the document's check runs in the background.

#[path = "support/bench_support.rs"]
mod bench_support;
#[path = "../tests/support/lsp_client.rs"]
mod lsp_client;

use bench_support::{argument, milliseconds, percentile, server_binary};
use std::time::{Duration, Instant};

use biomed_lsp::document::Document;
use biomed_lsp::lsp::position::{range_to_offsets, PositionEncoding};
use lsp_client::LspClient;
use serde_json::{json, Value};
use tower_lsp::lsp_types::{Position, Range};

const ABSTRACT: &str = "Background: Interleukin-6 (IL-6) is a pleiotropic cytokine. Serum IL-6 levels were measured in 120 patients with sepsis. Methods: We used an enzyme-linked immunosorbent assay. Results: Levels of TNF-α and IL-6 were higher in non-survivors, and 5-fluorouracil exposure was associated with N-acetyltransferase activity. ";

fn report(name: &str, samples: &[Duration]) {
    println!(
        "{name:<44} n={:<5} p50={:>9.3} ms  p95={:>9.3} ms",
        samples.len(),
        milliseconds(percentile(samples, 0.50)),
        milliseconds(percentile(samples, 0.95))
    );
}

fn at(uri: &str, line: u32, character: u32) -> Value {
    json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
}

fn timed_request(client: &mut LspClient, method: &str, params: Value) -> Duration {
    let started = Instant::now();
    let response = client.request(method, params);
    let elapsed = started.elapsed();
    assert!(
        response.get("error").is_none(),
        "{method} failed: {response}"
    );
    elapsed
}

/// Times `rounds` two-character replacements spread over the document's lines.
fn time_edits(mut document: Document, line_count: usize, rounds: usize) -> Vec<Duration> {
    (0..rounds)
        .map(|round| {
            let target_line = (round * 7919 % line_count) as u32;
            let range = Range {
                start: Position {
                    line: target_line,
                    character: 10,
                },
                end: Position {
                    line: target_line,
                    character: 12,
                },
            };
            let started = Instant::now();
            let offsets = range_to_offsets(document.rope(), range, PositionEncoding::Utf16);
            document.apply_edit(offsets, "xy").expect("edit applies");
            started.elapsed()
        })
        .collect()
}

fn main() {
    let mut client = LspClient::spawn(&server_binary(), &[("BIOMED_LSP_LOG", "error")]);
    let model = argument("--model").unwrap_or_else(|| "bundled".into());
    println!("model: {model}");
    let settings = json!({"model": model, "completion": {"minProbability": 0}, "diagnostics": {"enabled": false}});
    client.configuration = settings.clone();
    client.request(
        "initialize",
        json!({"processId": std::process::id(), "initializationOptions": settings,
               "capabilities": {"window": {"workDoneProgress": true}, "workspace": {"configuration": true}}}),
    );
    client.notify("initialized", json!({}));
    let ready = client.wait_for_model_ready(Duration::from_secs(120));
    println!("server: {}", ready["message"]);

    let uri = "file:///bench/abstract.txt";
    // Ten copies of the abstract, every sentence numbered: no two words share a model input, so
    // completion's slot cache never answers a request here (the typing benchmark measures it).
    let mut sentence_number = 0;
    let text: String = (0..10)
        .flat_map(|_| ABSTRACT.split_inclusive(". "))
        .map(|sentence| {
            sentence_number += 1;
            format!("({sentence_number}) {sentence}")
        })
        .collect();
    client.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri, "languageId": "plaintext", "version": 1, "text": text}}));
    // Where each word starts (ASCII text: byte offsets are UTF-16 columns up to the first α).
    let columns: Vec<u32> = text
        .char_indices()
        .zip(std::iter::once(' ').chain(text.chars()))
        .filter(|((_, c), before)| c.is_alphabetic() && !before.is_alphanumeric())
        .map(|((index, _), _)| text[..index].encode_utf16().count() as u32)
        .collect();
    let rounds: usize = argument("--rounds")
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);

    let samples: Vec<Duration> = (0..rounds)
        .map(|round| {
            timed_request(
                &mut client,
                "textDocument/completion",
                at(uri, 0, columns[round % columns.len()]),
            )
        })
        .collect();
    report("completion (3 KB document)", &samples);
    // The hover of a word that is not flagged, with each way of finding its evidence.
    for evidence in ["off", "attention", "rollout", "occlusion"] {
        client.notify(
            "workspace/didChangeConfiguration",
            json!({"settings": {"biomedLsp": {"hover": {"evidence": evidence}}}}),
        );
        let samples: Vec<Duration> = (0..rounds)
            .map(|round| {
                timed_request(
                    &mut client,
                    "textDocument/hover",
                    at(uri, 0, columns[round % columns.len()]),
                )
            })
            .collect();
        report(&format!("hover, evidence {evidence} (3 KB)"), &samples);
    }

    // didChange on a 1 MB document, one line per sentence.
    let big_uri = "file:///bench/big.txt";
    let line = ABSTRACT.trim_end();
    let line_count = 1_000_000 / (line.len() + 1);
    // Numbered lines: each completion below is a new slot.
    let big_text: String = (0..line_count)
        .map(|index| format!("Sample {index}: {line}\n"))
        .collect();
    client.notify("textDocument/didOpen", json!({"textDocument": {"uri": big_uri, "languageId": "plaintext", "version": 1, "text": big_text}}));
    let cheap = || at("file:///bench/not-open.txt", 0, 0);
    let baseline: Vec<Duration> = (0..rounds)
        .map(|_| timed_request(&mut client, "textDocument/hover", cheap()))
        .collect();
    report("cheap request alone (unknown document hover)", &baseline);
    let baseline_p50 = percentile(&baseline, 0.5);
    let mut with_change = Vec::new();
    for round in 0..rounds {
        let target_line = (round * 7919 % line_count) as u32;
        let started = Instant::now();
        client.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": big_uri, "version": round as i32 + 2}, "contentChanges": [{"range": {"start": {"line": target_line, "character": 10}, "end": {"line": target_line, "character": 12}}, "text": "x"}]}),
        );
        let response = client.request("textDocument/hover", cheap());
        with_change.push(started.elapsed());
        assert!(response.get("error").is_none());
    }
    report("didChange (1 MB) + cheap request", &with_change);
    let change_p50 = percentile(&with_change, 0.5).saturating_sub(baseline_p50);
    println!(
        "{:<44} ≈ {:.3} ms (p50 difference)",
        "didChange on 1 MB through the protocol",
        change_p50.as_secs_f64() * 1e3
    );

    let samples: Vec<Duration> = (0..rounds)
        .map(|round| {
            timed_request(
                &mut client,
                "textDocument/completion",
                at(big_uri, (round * 104_729 % line_count) as u32, 40),
            )
        })
        .collect();
    report("completion (1 MB document)", &samples);

    // The same edits applied in process, without the protocol; a Markdown document also keeps its
    // extracted prose in step with each edit.
    let direct = time_edits(Document::new(&big_text, 1, "plaintext"), line_count, 10_000);
    report("Document conversion + apply_edit (1 MB)", &direct);
    let markdown_text: String = (0..line_count)
        .map(|index| {
            if index % 5 == 4 {
                format!("{line}\n\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let direct = time_edits(
        Document::new(&markdown_text, 1, "markdown"),
        line_count,
        2_000,
    );
    report("Markdown apply_edit + prose update (1 MB)", &direct);

    // Completion while the document's terminology check runs in the background.
    client.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": big_uri}}),
    );
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"biomedLsp": {"diagnostics": {"enabled": true, "debounceMs": 0}}}}),
    );
    let mut samples = Vec::new();
    for round in 0..rounds.min(100) {
        if round % 20 == 0 {
            // Each edit starts a new check of the whole document.
            client.notify(
                "textDocument/didChange",
                json!({"textDocument": {"uri": uri, "version": round as i32 + 2}, "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": " "}]}),
            );
        }
        samples.push(timed_request(
            &mut client,
            "textDocument/completion",
            // Words the first completion rows did not reach: new slots.
            at(uri, 0, columns[(rounds + round) % columns.len()] + 1),
        ));
    }
    report("completion during a background check", &samples);

    client.request("shutdown", Value::Null);
    client.notify("exit", Value::Null);
    client.wait_for_exit(Duration::from_secs(5));
}
