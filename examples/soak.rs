//! Soak benchmark: editors typing into several documents for minutes, through the real protocol,
//! with completions, hovers and code actions in between, settings changes that reload the model
//! and rebuild the lexicon, background checks, and one editor that answers the server's own
//! requests 6 s late. Prints the latency of each request kind and the errors, then checks that
//! each server holds exactly the text its editor typed and publishes what `check` finds in it.
//!
//! cargo build --release --bins --examples
//! target/release/examples/soak [--model bundled|DIR] [--seconds 120] [--document-bytes 12000]
//!     [--documents 3] [--reload-every 30] [--server path/to/biomed-lsp] [--data ../shared/data]
//!
//! Exit status 1 when a request failed or a document diverged.

#[path = "support/bench_support.rs"]
mod bench_support;
#[path = "../tests/support/lsp_client.rs"]
mod lsp_client;

use bench_support::{argument, milliseconds, percentile, server_binary};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use biomed_lsp::analysis::FindingCode;
use biomed_lsp::document::Document;
use biomed_lsp::lsp::position::{offsets_to_range, PositionEncoding};
use lsp_client::LspClient;
use serde_json::{json, Value};
use tower_lsp::lsp_types::Position;

/// A writer types this fast (characters per second).
const TYPING_RATE: f64 = 8.0;
/// How late the slow editor answers the server's requests.
const LATE_ANSWER: Duration = Duration::from_secs(6);

fn number_argument(name: &str, default: u64) -> u64 {
    argument(name).map_or(default, |value| {
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} {value:?} is not a whole number"))
    })
}

/// Latencies of one request kind, and the answers that were errors.
#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    errors: Vec<String>,
}

type Measurements = BTreeMap<String, Samples>;

/// One editor: a server process, the documents it has open and the text it typed into them.
struct Editor {
    name: &'static str,
    client: LspClient,
    documents: Vec<(String, Document)>,
    measurements: Measurements,
    /// Words to type, taken in turn.
    words: Vec<String>,
    next_word: usize,
    settings_changes: usize,
    /// The model setting, and the value the settings changes reload it with.
    model: String,
    pull_settings: bool,
}

impl Editor {
    fn start(
        name: &'static str,
        model: &str,
        config_home: &Path,
        reply_delay: Duration,
        documents: Vec<(String, String)>,
        words: Vec<String>,
    ) -> Self {
        let config_home = config_home.to_string_lossy().into_owned();
        // Only errors on stderr: the late editor's expected warnings would drown the figures.
        let mut client = LspClient::spawn(
            &server_binary(),
            &[
                ("XDG_CONFIG_HOME", &config_home),
                ("BIOMED_LSP_LOG", "error"),
            ],
        );
        client.configuration = json!({"model": model});
        client.reply_delay = reply_delay;
        let pull_settings = !reply_delay.is_zero();
        client.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": null,
                "capabilities": {
                    "window": {"workDoneProgress": true},
                    "workspace": {"configuration": pull_settings}
                },
                "initializationOptions": {"model": model}
            }),
        );
        client.notify("initialized", json!({}));
        let mut editor = Self {
            name,
            client,
            documents: Vec::new(),
            measurements: Measurements::new(),
            words,
            next_word: name.len(),
            settings_changes: 0,
            model: model.to_string(),
            pull_settings,
        };
        for (uri, text) in documents {
            editor.client.notify(
                "textDocument/didOpen",
                json!({"textDocument": {"uri": uri, "languageId": "markdown", "version": 1, "text": text}}),
            );
            editor
                .documents
                .push((uri, Document::new(&text, 1, "markdown")));
        }
        editor
    }

    fn timed(&mut self, kind: &str, method: &str, params: Value) -> Value {
        let started = Instant::now();
        let response = self.client.request(method, params);
        let samples = self.measurements.entry(kind.to_string()).or_default();
        samples.latencies.push(started.elapsed());
        if let Some(error) = response.get("error") {
            samples.errors.push(error.to_string());
        }
        response
    }

    fn position_of(document: &Document, offset: usize) -> Position {
        offsets_to_range(document.rope(), offset..offset, PositionEncoding::Utf16).start
    }

    /// Types one character at the end of the document's first paragraph, as `didChange`.
    fn type_character(&mut self, document_index: usize, character: char) -> Position {
        let (uri, document) = &mut self.documents[document_index];
        let text = document.text();
        let cursor = text.find("\n\n").unwrap_or(text.len());
        let position = Self::position_of(document, cursor);
        let version = document.version() + 1;
        let mut inserted = [0u8; 4];
        let inserted = character.encode_utf8(&mut inserted);
        document
            .advance_version(version)
            .expect("versions increase");
        document
            .apply_edit(cursor..cursor, inserted)
            .expect("the edit applies to the reference");
        let notification = json!({
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"range": {"start": position, "end": position}, "text": inserted}]
        });
        self.client.notify("textDocument/didChange", notification);
        Self::position_of(document, cursor + inserted.len())
    }

    /// Alternates the edit distance (the lexicon is rebuilt) and, every other time, the device
    /// setting (the model is reloaded).
    fn change_settings(&mut self, back_to_defaults: bool) {
        self.settings_changes += 1;
        let odd = self.settings_changes % 2 == 1 && !back_to_defaults;
        let reload = self.settings_changes % 4 < 2 && !back_to_defaults;
        let settings = json!({
            "model": self.model,
            "device": if reload { "cpu" } else { "auto" },
            "diagnostics": {"maxEditDistance": if odd { 1 } else { 2 }}
        });
        if self.pull_settings {
            self.client.configuration = settings;
            self.client.notify(
                "workspace/didChangeConfiguration",
                json!({"settings": null}),
            );
        } else {
            self.client.notify(
                "workspace/didChangeConfiguration",
                json!({"settings": {"biomedLsp": settings}}),
            );
        }
    }

    fn cheap_request(&mut self) {
        self.timed(
            "cheap (hover, unknown document)",
            "textDocument/hover",
            json!({"textDocument": {"uri": "file:///soak/never-opened.md"}, "position": {"line": 0, "character": 0}}),
        );
    }

    /// Types words for `duration` at the typing rate, with the requests an editor makes.
    fn type_for(&mut self, duration: Duration, reload_every: Duration) {
        let started = Instant::now();
        let character_interval = Duration::from_secs_f64(1.0 / TYPING_RATE);
        let mut last_cheap = Instant::now();
        let mut last_reload = Instant::now();
        let mut words_typed = 0usize;
        while started.elapsed() < duration {
            let document_index = words_typed / 12 % self.documents.len();
            let word = self.words[self.next_word % self.words.len()].clone();
            self.next_word += 7;
            let mut cursor = Position::default();
            for character in word.chars().chain(std::iter::once(' ')) {
                let typed_at = Instant::now();
                cursor = self.type_character(document_index, character);
                if character != ' ' {
                    // Editors ask for completion as the word grows.
                    let uri = self.documents[document_index].0.clone();
                    self.timed(
                        "completion",
                        "textDocument/completion",
                        json!({"textDocument": {"uri": uri}, "position": cursor}),
                    );
                }
                if last_cheap.elapsed() >= Duration::from_millis(500) {
                    last_cheap = Instant::now();
                    self.cheap_request();
                }
                let left = character_interval.saturating_sub(typed_at.elapsed());
                self.client.pump(left);
            }
            words_typed += 1;
            let uri = self.documents[document_index].0.clone();
            if words_typed % 4 == 0 {
                let hovered = Position {
                    line: cursor.line,
                    character: cursor.character.saturating_sub(3),
                };
                self.timed(
                    "hover",
                    "textDocument/hover",
                    json!({"textDocument": {"uri": uri}, "position": hovered}),
                );
            }
            if words_typed % 6 == 0 {
                let diagnostics = self.latest_diagnostics(&uri);
                self.timed(
                    "codeAction",
                    "textDocument/codeAction",
                    json!({
                        "textDocument": {"uri": uri},
                        "range": {"start": {"line": 0, "character": 0}, "end": cursor},
                        "context": {"diagnostics": diagnostics}
                    }),
                );
            }
            if last_reload.elapsed() >= reload_every {
                last_reload = Instant::now();
                self.change_settings(false);
            }
        }
    }

    fn latest_diagnostics(&self, uri: &str) -> Value {
        self.client
            .notifications
            .iter()
            .rev()
            .find(|message| {
                message["method"] == "textDocument/publishDiagnostics"
                    && message["params"]["uri"] == uri
            })
            .map_or(json!([]), |message| {
                message["params"]["diagnostics"].clone()
            })
    }

    /// Waits until every document's diagnostics for its last version have come and nothing more
    /// is published for a while (checks after a settings change publish the same version again).
    fn settle(&mut self, quiet: Duration, limit: Duration) -> bool {
        let started = Instant::now();
        loop {
            let published = self.client.notifications.len();
            self.client.pump(quiet);
            let all_current = self.documents.iter().all(|(uri, document)| {
                self.client
                    .notifications
                    .iter()
                    .rev()
                    .find(|message| {
                        message["method"] == "textDocument/publishDiagnostics"
                            && message["params"]["uri"] == uri.as_str()
                    })
                    .is_some_and(|message| message["params"]["version"] == document.version())
            });
            if all_current
                && self.client.notifications.len() == published
                && self.client.unsent_replies() == 0
            {
                return true;
            }
            if started.elapsed() > limit {
                return false;
            }
        }
    }
}

/// `(line, UTF-16 column, code, word, suggestions)` of each published diagnostic.
fn published_findings(diagnostics: &Value) -> Vec<String> {
    let mut findings: Vec<String> = diagnostics
        .as_array()
        .into_iter()
        .flatten()
        .map(|diagnostic| {
            format!(
                "{}:{} {} {} {}",
                diagnostic["range"]["start"]["line"],
                diagnostic["range"]["start"]["character"],
                diagnostic["code"].as_str().unwrap_or_default(),
                diagnostic["data"]["word"].as_str().unwrap_or_default(),
                diagnostic["data"]["suggestions"]
            )
        })
        .collect();
    findings.sort();
    findings
}

/// The same, from `biomed-lsp check --format json` of the reference text. The server sends the
/// word only with a finding about a word (the dictionary fixes need it): an abbreviation or
/// variant finding is compared without it.
fn checked_findings(report: &Value, text: &str) -> Vec<String> {
    let mut findings: Vec<String> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|finding| {
            let line = finding["line"].as_u64().unwrap_or(0) as usize - 1;
            let column_chars = finding["column"].as_u64().unwrap_or(0) as usize - 1;
            let line_text = text.split('\n').nth(line).unwrap_or_default();
            let column_utf16: usize = line_text
                .chars()
                .take(column_chars)
                .map(char::len_utf16)
                .sum();
            let code = finding["code"].as_str().unwrap_or_default();
            let about_a_word = [FindingCode::ImprobableTerm, FindingCode::UnknownTerm]
                .iter()
                .any(|word_code| word_code.as_str() == code);
            let word = if about_a_word {
                finding["word"].as_str().unwrap_or_default()
            } else {
                ""
            };
            format!(
                "{line}:{column_utf16} {code} {word} {}",
                finding["suggestions"]
            )
        })
        .collect();
    findings.sort();
    findings
}

/// The first paragraphs of the review's chapters, about `bytes` each.
fn manuscript_documents(data: &Path, count: usize, bytes: usize) -> Vec<String> {
    let directory = data.join("manuscripts").join("deep-review");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", directory.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "md"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
            let mut end = text.len().min(bytes);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let end = text[..end]
                .rfind("\n\n")
                .map_or(end, |paragraph| paragraph + 1);
            text[..end].to_string()
        })
        .filter(|text| text.contains("\n\n"))
        .take(count)
        .collect()
}

fn corpus_words(data: &Path) -> Vec<String> {
    let path = data
        .join("corpus")
        .join("pubmedqa")
        .join("pqal_abstracts.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    text.lines()
        .filter(|line| !line.starts_with("PMID:") && !line.starts_with("TITLE-QUESTION:"))
        .flat_map(str::split_whitespace)
        .take(20_000)
        .map(String::from)
        .collect()
}

fn main() {
    let model = argument("--model").unwrap_or_else(|| "bundled".to_string());
    let seconds = number_argument("--seconds", 120);
    let document_bytes = number_argument("--document-bytes", 12_000) as usize;
    let document_count = number_argument("--documents", 3) as usize;
    let reload_every = Duration::from_secs(number_argument("--reload-every", 30));
    let data = PathBuf::from(argument("--data").unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("shared")
            .join("data")
            .to_string_lossy()
            .into_owned()
    }));
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let texts = manuscript_documents(&data, document_count + 1, document_bytes);
    assert!(
        texts.len() > document_count,
        "not enough chapters in {}",
        data.display()
    );
    let words = corpus_words(&data);
    println!("model: {model}; {seconds} s of typing at {TYPING_RATE} characters/s; {document_count} documents of ≤ {document_bytes} bytes in the prompt editor, 1 in the late one; settings changed every {} s", reload_every.as_secs());

    // Two editors at once, each with its own server, as two windows would have.
    let prompt_documents: Vec<(String, String)> = texts[..document_count]
        .iter()
        .enumerate()
        .map(|(index, text)| {
            (
                format!("file:///soak/prompt/chapter-{index}.md"),
                text.clone(),
            )
        })
        .collect();
    let late_documents = vec![(
        "file:///soak/late/chapter.md".to_string(),
        texts[document_count].clone(),
    )];
    let editors: Vec<(&'static str, Duration, Vec<(String, String)>)> = vec![
        ("prompt editor", Duration::ZERO, prompt_documents),
        ("editor answering 6 s late", LATE_ANSWER, late_documents),
    ];
    let config_home = scratch.path().join("config");
    let finished: Vec<Editor> = std::thread::scope(|scope| {
        let handles: Vec<_> = editors
            .into_iter()
            .map(|(name, delay, documents)| {
                let (model, words, config_home) = (&model, words.clone(), &config_home);
                scope.spawn(move || {
                    let mut editor =
                        Editor::start(name, model, config_home, delay, documents, words);
                    editor.type_for(Duration::from_secs(seconds), reload_every);
                    editor.change_settings(true);
                    editor.cheap_request();
                    if !editor.settle(Duration::from_secs(3), Duration::from_secs(900)) {
                        println!("{name}: diagnostics did not settle within 15 minutes");
                    }
                    editor
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("an editor thread panicked"))
            .collect()
    });

    println!();
    println!("| editor | request | n | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | errors |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut failures = 0;
    for editor in &finished {
        for (kind, samples) in &editor.measurements {
            let mut sorted = samples.latencies.clone();
            sorted.sort();
            println!(
                "| {} | {kind} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
                editor.name,
                sorted.len(),
                milliseconds(percentile(&sorted, 0.50)),
                milliseconds(percentile(&sorted, 0.95)),
                milliseconds(percentile(&sorted, 0.99)),
                milliseconds(*sorted.last().expect("samples")),
                samples.errors.len()
            );
            failures += samples.errors.len();
            for error in samples.errors.iter().take(3) {
                println!("  error: {error}");
            }
        }
    }

    println!();
    let mut divergences = 0;
    for (editor_index, mut editor) in finished.into_iter().enumerate() {
        let status = editor.client.request(
            "workspace/executeCommand",
            json!({"command": "biomedLsp.status", "arguments": []}),
        );
        for (index, (uri, document)) in editor.documents.iter().enumerate() {
            let held = &status["result"]["documents"][uri.as_str()];
            let text = document.text();
            let text_agrees = held["digest"] == document.digest()
                && held["version"] == document.version()
                && held["bytes"] == text.len();
            let path = scratch
                .path()
                .join(format!("editor-{editor_index}-document-{index}.md"));
            std::fs::write(&path, &text).expect("write the reference text");
            let output = std::process::Command::new(server_binary())
                .args([
                    "check",
                    "--format",
                    "json",
                    "--fail-on",
                    "error",
                    "--offline",
                    "--model",
                    &model,
                ])
                .arg(&path)
                .current_dir(scratch.path())
                .env("XDG_CONFIG_HOME", &config_home)
                .output()
                .expect("run check");
            let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
                panic!(
                    "check printed no JSON: {}",
                    String::from_utf8_lossy(&output.stderr)
                )
            });
            let expected = checked_findings(&report, &text);
            let published = published_findings(&editor.latest_diagnostics(uri));
            let findings_agree = expected == published;
            println!(
                "{} {uri}: version {}, {} bytes; text {}; {} published findings, {} from check: {}",
                editor.name,
                document.version(),
                text.len(),
                if text_agrees { "identical" } else { "DIVERGED" },
                published.len(),
                expected.len(),
                if findings_agree {
                    "identical"
                } else {
                    "DIVERGED"
                }
            );
            if !findings_agree {
                println!("  published: {published:?}\n  check:     {expected:?}");
            }
            divergences += usize::from(!text_agrees) + usize::from(!findings_agree);
        }
        editor.client.request("shutdown", Value::Null);
        editor.client.notify("exit", Value::Null);
        let status = editor.client.wait_for_exit(Duration::from_secs(10));
        let exited_cleanly = status.is_some_and(|status| status.success());
        println!("{}: server exit {status:?}", editor.name);
        failures += usize::from(!exited_cleanly);
    }
    println!();
    println!("errors: {failures}; divergences: {divergences}");
    if failures + divergences > 0 {
        std::process::exit(1);
    }
}
