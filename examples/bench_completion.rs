//! Keystroke savings: a writer types public text through the real protocol, one character at a
//! time, asking for completion after each character, and accepts the word being typed as soon as
//! it is among the first three items whose label starts with the typed letters. Prints, per text
//! and completer, the keystroke savings, the share of words of 4+ letters completed before they
//! were fully typed, the letters typed before accepting, the share of requests inside a word
//! answered with an item, and the latency of first and later letters. Side by side in the same
//! run: the words already in the document, most frequent first (what an editor offers with no
//! server), and textLSP's `hf_completion` on the same checkpoint (with `--textlsp`).
//!
//! cargo build --release --bins --examples
//! target/release/examples/bench_completion [--model bundled|DIR] [--data ../shared/data]
//!     [--texts ncbi-test,review] [--abstracts N] [--textlsp PATH/TO/textlsp] [--latency-only]
//!     [--cps 8] [--set KEY=VALUE] [--trace]
//!
//! `--latency-only` types only the first 400 characters of each text at `--cps` characters per
//! second (default 8: a writer's pace, so that a space's prefetch has the time a writer gives
//! it); otherwise the text is typed as fast as the server answers. `--set` passes a setting to the
//! server (JSON value), e.g. `--set completion.minProbability=0`. `--trace` writes each typed word
//! to stderr with the letters typed before it was accepted (`-`: never) and the first three items
//! offered after each letter.

#[path = "support/bench_support.rs"]
mod bench_support;
#[path = "../tests/support/lsp_client.rs"]
mod lsp_client;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bench_support::{
    argument, flag, manuscript_prose, milliseconds, ncbi_abstracts, percentile, server_binary,
};
use biomed_lsp::context::completion_slot;
use biomed_lsp::prose::Language;
use lsp_client::LspClient;
use serde_json::{json, Value};

/// How many of the first items (among those matching the typed letters) a writer looks at.
const ITEMS_LOOKED_AT: usize = 3;

/// A text to type and the language its document is opened as.
struct Text {
    name: String,
    documents: Vec<String>,
    language_id: &'static str,
}

/// The NCBI-disease test split: each abstract (title, blank line, abstract) as its own document.
fn ncbi_test_abstracts(data: &Path, limit: usize) -> Text {
    let documents = ncbi_abstracts(
        &data.join("corpus/ncbi_disease/NCBItestset_corpus.txt"),
        limit,
    );
    Text {
        name: format!("NCBI-disease test ({} abstracts)", documents.len()),
        documents,
        language_id: "plaintext",
    }
}

/// The introduction of the deep-review manuscript: its prose (what a writer types; citations
/// and markup left out), paragraphs kept, as a Markdown document.
fn review_section(data: &Path) -> Text {
    let text = manuscript_prose(
        &data.join("manuscripts/deep-review/02.intro.md"),
        Language::Markdown,
    );
    Text {
        name: "deep-review introduction".into(),
        documents: vec![text],
        language_id: "markdown",
    }
}

#[derive(Default)]
struct Outcome {
    /// Characters of the text: the keystrokes of typing it all.
    characters: usize,
    /// Keystrokes spared: the letters an accepted item wrote, less one for accepting.
    saved: usize,
    words_4plus: usize,
    words_4plus_completed: usize,
    letters_before_accepting: Vec<usize>,
    requests_in_word: usize,
    requests_in_word_answered: usize,
    first_letter: Vec<Duration>,
    later_letters: Vec<Duration>,
}

impl Outcome {
    fn print_row(&self, text: &str, completer: &str) {
        let mean_letters = self.letters_before_accepting.iter().sum::<usize>() as f64
            / self.letters_before_accepting.len().max(1) as f64;
        let latency = |samples: &[Duration]| {
            if samples.is_empty() {
                "—".to_string()
            } else {
                format!(
                    "{:.1} / {:.1}",
                    milliseconds(percentile(samples, 0.5)),
                    milliseconds(percentile(samples, 0.95))
                )
            }
        };
        let answered = if self.requests_in_word == 0 {
            "—".to_string()
        } else {
            format!(
                "{:.1} %",
                100.0 * self.requests_in_word_answered as f64 / self.requests_in_word as f64
            )
        };
        println!(
            "| {text} | {completer} | {:.2} % | {:.1} % | {mean_letters:.2} | {answered} | {} | {} |",
            100.0 * self.saved as f64 / self.characters.max(1) as f64,
            100.0 * self.words_4plus_completed as f64 / self.words_4plus.max(1) as f64,
            latency(&self.first_letter),
            latency(&self.later_letters),
        );
    }
}

/// Something that offers words while a document is typed.
trait Completer {
    /// A new, empty document.
    fn open(&mut self, language_id: &str);
    /// `text` was inserted at the end (or, with `replace`, over the last `replace` characters).
    fn edit(&mut self, typed_so_far: &str, replaced_chars: usize, inserted: &str);
    /// The labels offered at the end of `typed_so_far` (None: nothing asked, e.g. no server).
    fn complete(&mut self, typed_so_far: &str) -> Option<Vec<String>>;
}

/// A language server over stdio.
struct Server {
    client: LspClient,
    uri: String,
    version: i32,
    documents: usize,
    /// The last list of an answer that was complete (`isIncomplete: false`), which editors filter
    /// themselves as the writer types on in the same word instead of asking again.
    complete_list: Option<(usize, Vec<String>)>,
    /// Send the whole text with each change: textLSP 0.4 answers nothing after incremental edits
    /// of a plain-text document.
    full_sync: bool,
}

/// The LSP position (UTF-16) of the end of `text`.
fn end_position(text: &str) -> Value {
    let line = text.matches('\n').count();
    let last_line = text.rsplit('\n').next().unwrap_or_default();
    json!({"line": line, "character": last_line.encode_utf16().count()})
}

fn position_back(text: &str, chars_back: usize) -> Value {
    let cut = text
        .char_indices()
        .rev()
        .nth(chars_back.saturating_sub(1))
        .map_or(text.len(), |(at, _)| at);
    let cut = if chars_back == 0 { text.len() } else { cut };
    end_position(&text[..cut])
}

impl Server {
    fn new(program: &str, arguments: &[&str], options: Value, biomed: bool) -> Self {
        let mut client = if biomed {
            LspClient::spawn(program, &[("BIOMED_LSP_LOG", "warn")])
        } else {
            LspClient::spawn_command(program, arguments, &[])
        };
        let response = client.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": null,
                "capabilities": {"general": {"positionEncodings": ["utf-16"]},
                                 "window": {"workDoneProgress": true},
                                 "workspace": {"configuration": false}},
                "initializationOptions": options
            }),
        );
        assert!(response.get("result").is_some(), "initialize: {response}");
        client.notify("initialized", json!({}));
        if biomed {
            client.wait_for_model_ready(Duration::from_secs(600));
        }
        Self {
            client,
            uri: String::new(),
            version: 0,
            documents: 0,
            complete_list: None,
            full_sync: !biomed,
        }
    }
}

impl Completer for Server {
    fn open(&mut self, language_id: &str) {
        if !self.uri.is_empty() {
            self.client.notify(
                "textDocument/didClose",
                json!({"textDocument": {"uri": self.uri}}),
            );
        }
        self.documents += 1;
        let extension = if language_id == "markdown" {
            "md"
        } else {
            "txt"
        };
        self.uri = format!("file:///tmp/typed-{}.{extension}", self.documents);
        self.version = 1;
        self.complete_list = None;
        self.client.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": self.uri, "languageId": language_id,
                                    "version": 1, "text": ""}}),
        );
    }

    fn edit(&mut self, typed_so_far: &str, replaced_chars: usize, inserted: &str) {
        self.version += 1;
        let change = if self.full_sync {
            let kept = typed_so_far.chars().count() - replaced_chars;
            let mut text: String = typed_so_far.chars().take(kept).collect();
            text.push_str(inserted);
            json!({"text": text})
        } else {
            let start = position_back(typed_so_far, replaced_chars);
            let end = end_position(typed_so_far);
            json!({"range": {"start": start, "end": end}, "text": inserted})
        };
        self.client.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": self.uri, "version": self.version},
                   "contentChanges": [change]}),
        );
    }

    fn complete(&mut self, typed_so_far: &str) -> Option<Vec<String>> {
        let word_start = completion_slot(typed_so_far, typed_so_far.len())
            .range
            .start;
        if let Some((start, labels)) = &self.complete_list {
            if *start == word_start && word_start < typed_so_far.len() {
                return Some(labels.clone());
            }
        }
        let response = self.client.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": self.uri}, "position": end_position(typed_so_far),
                   "context": {"triggerKind": if word_start < typed_so_far.len() { 3 } else { 1 }}}),
        );
        assert!(response.get("error").is_none(), "completion: {response}");
        let result = &response["result"];
        let items = result["items"].as_array().or(result.as_array());
        let labels: Vec<String> = items
            .map(|items| {
                items
                    .iter()
                    .map(|item| item["label"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let incomplete = result["isIncomplete"].as_bool().unwrap_or(false);
        self.complete_list =
            (!incomplete && !labels.is_empty()).then(|| (word_start, labels.clone()));
        Some(labels)
    }
}

/// The words already in the document, most frequent first (then most recent): what an editor's
/// own word completion offers.
#[derive(Default)]
struct DocumentWords;

impl Completer for DocumentWords {
    fn open(&mut self, _language_id: &str) {}
    fn edit(&mut self, _typed_so_far: &str, _replaced_chars: usize, _inserted: &str) {}

    fn complete(&mut self, typed_so_far: &str) -> Option<Vec<String>> {
        let slot = completion_slot(typed_so_far, typed_so_far.len());
        let before = &typed_so_far[..slot.range.start];
        let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
        for (order, range) in biomed_lsp::analysis::manuscript_words::manuscript_terms(before)
            .into_iter()
            .enumerate()
        {
            let entry = counts.entry(&before[range]).or_default();
            entry.0 += 1;
            entry.1 = order;
        }
        let prefix = slot.prefix.to_lowercase();
        let mut words: Vec<(&str, (usize, usize))> = counts
            .into_iter()
            .filter(|(word, _)| word.to_lowercase().starts_with(&prefix))
            .collect();
        words.sort_by(|a, b| b.1.cmp(&a.1));
        Some(
            words
                .into_iter()
                .map(|(word, _)| word.to_string())
                .collect(),
        )
    }
}

/// Whether `word` is among the first items whose label starts with `typed` (ignoring case).
fn offered(labels: &[String], typed: &str, word: &str) -> bool {
    let typed = typed.to_lowercase();
    labels
        .iter()
        .filter(|label| label.to_lowercase().starts_with(&typed))
        .take(ITEMS_LOOKED_AT)
        .any(|label| label == word)
}

/// Types one document, accepting offered words; `cps` paces the keystrokes (0: no pacing).
fn type_document(
    completer: &mut dyn Completer,
    text: &str,
    language_id: &str,
    cps: f64,
    outcome: &mut Outcome,
) {
    completer.open(language_id);
    outcome.characters += text.chars().count();
    let interval = (cps > 0.0).then(|| Duration::from_secs_f64(1.0 / cps));
    let trace = flag("--trace");
    let mut typed = String::new();
    let mut keystrokes = 0u32;
    let started = Instant::now();
    // The labels offered after the last keystroke, for the word about to be typed.
    let mut labels: Option<Vec<String>> = None;
    let mut at = 0;
    while at < text.len() {
        let character = text[at..].chars().next().expect("a character");
        let starts_word = character.is_alphanumeric()
            && !typed.chars().next_back().is_some_and(char::is_alphanumeric);
        if starts_word {
            let word_range = completion_slot(text, at + character.len_utf8()).range;
            let word = &text[word_range.clone()];
            let letters = word.chars().count();
            let counted = letters >= 4;
            outcome.words_4plus += usize::from(counted);
            // Letters typed so far of this word, and whether the item was accepted.
            let mut letters_typed = 0;
            let mut accepted = false;
            let mut trace_offers: Vec<String> = Vec::new();
            loop {
                if trace {
                    if let Some(labels) = labels.as_deref() {
                        let typed_part: String = word.chars().take(letters_typed).collect();
                        let lower = typed_part.to_lowercase();
                        trace_offers.push(
                            labels
                                .iter()
                                .filter(|label| label.to_lowercase().starts_with(&lower))
                                .take(ITEMS_LOOKED_AT)
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(","),
                        );
                    }
                }
                let typed_part = &word[..word
                    .char_indices()
                    .nth(letters_typed)
                    .map_or(word.len(), |(i, _)| i)];
                if labels
                    .as_deref()
                    .is_some_and(|labels| offered(labels, typed_part, word))
                {
                    let rest: String = word.chars().skip(letters_typed).collect();
                    completer.edit(&typed, letters_typed, word);
                    typed.push_str(&rest);
                    outcome.saved += rest.chars().count().saturating_sub(1);
                    outcome.letters_before_accepting.push(letters_typed);
                    outcome.words_4plus_completed += usize::from(counted && !rest.is_empty());
                    accepted = true;
                    break;
                }
                if letters_typed == letters {
                    break;
                }
                let letter = word[typed_part.len()..].chars().next().expect("a letter");
                if let Some(interval) = interval {
                    let due = started + interval * keystrokes;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                keystrokes += 1;
                completer.edit(&typed, 0, &letter.to_string());
                typed.push(letter);
                letters_typed += 1;
                let asked = Instant::now();
                labels = completer.complete(&typed);
                let latency = asked.elapsed();
                if letters_typed < letters {
                    outcome.requests_in_word += 1;
                    outcome.requests_in_word_answered +=
                        usize::from(labels.as_ref().is_some_and(|labels| !labels.is_empty()));
                }
                if letters_typed == 1 {
                    outcome.first_letter.push(latency);
                } else {
                    outcome.later_letters.push(latency);
                }
            }
            debug_assert!(accepted || typed.ends_with(word));
            if trace {
                eprintln!(
                    "{word}\t{}\t{}",
                    if accepted {
                        letters_typed.to_string()
                    } else {
                        "-".into()
                    },
                    trace_offers.join(" | ")
                );
            }
            at = word_range.end;
            labels = None;
            continue;
        }
        if let Some(interval) = interval {
            let due = started + interval * keystrokes;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        keystrokes += 1;
        completer.edit(&typed, 0, &character.to_string());
        typed.push(character);
        at += character.len_utf8();
        // After a space or punctuation the editor asks again: the next word may be offered
        // before its first letter.
        let next_starts_word = text[at..].chars().next().is_some_and(char::is_alphanumeric);
        labels = if next_starts_word && !character.is_alphanumeric() {
            completer.complete(&typed)
        } else {
            None
        };
    }
}

fn main() {
    let model = argument("--model").unwrap_or_else(|| "bundled".into());
    let data = PathBuf::from(argument("--data").unwrap_or_else(|| "../shared/data".into()));
    let abstracts: usize =
        argument("--abstracts").map_or(usize::MAX, |n| n.parse().expect("--abstracts N"));
    let latency_only = flag("--latency-only");
    let cps: f64 = argument("--cps").map_or(if latency_only { 8.0 } else { 0.0 }, |value| {
        value.parse().expect("--cps")
    });
    let mut options = json!({"model": model, "device": "cpu", "diagnostics": {"enabled": false}});
    if let Some(setting) = argument("--set") {
        let (key, value) = setting.split_once('=').expect("--set KEY=VALUE");
        options[key] = serde_json::from_str(value).unwrap_or(Value::String(value.into()));
    }
    let mut texts: Vec<Text> = Vec::new();
    for name in argument("--texts")
        .unwrap_or_else(|| "ncbi-test,review".into())
        .split(',')
    {
        texts.push(match name {
            "ncbi-test" => ncbi_test_abstracts(&data, abstracts),
            "review" => review_section(&data),
            other => panic!("unknown text {other}: ncbi-test or review"),
        });
    }
    if latency_only {
        for text in &mut texts {
            text.documents.truncate(1);
            let cut = text.documents[0]
                .char_indices()
                .nth(400)
                .map_or(text.documents[0].len(), |(at, _)| at);
            text.documents[0].truncate(cut);
        }
    }
    println!(
        "model {model}; settings {options}; a word is accepted when it is among the first \
         {ITEMS_LOOKED_AT} items whose label starts with the typed letters{}\n",
        if cps > 0.0 {
            format!("; {cps} characters per second")
        } else {
            String::new()
        }
    );
    println!("| text | completer | keystroke savings | words of 4+ letters completed | letters typed before accepting | requests in a word answered | first letter p50 / p95 ms | later letters p50 / p95 ms |");
    println!("|---|---|---|---|---|---|---|---|");
    let ours = server_binary();
    for text in &texts {
        let mut completers: Vec<(String, Box<dyn Completer>)> = Vec::new();
        completers.push((
            "biomed-lsp".into(),
            Box::new(Server::new(&ours, &[], options.clone(), true)),
        ));
        if !latency_only {
            completers.push(("words of the document".into(), Box::new(DocumentWords)));
        }
        if let Some(textlsp) = argument("--textlsp") {
            let directory = if model == "bundled" {
                std::env::current_dir()
                    .expect("working directory")
                    .join("models/biomed-mini")
                    .to_string_lossy()
                    .into_owned()
            } else {
                model.clone()
            };
            completers.push((
                "textLSP hf_completion".into(),
                Box::new(Server::new(
                    &textlsp,
                    &[],
                    json!({"textLSP": {"analysers": {"hf_completion": {
                        "enabled": true, "gpu": false, "model": directory, "topk": 5}}}}),
                    false,
                )),
            ));
        }
        for (name, completer) in &mut completers {
            let mut outcome = Outcome::default();
            for document in &text.documents {
                type_document(
                    completer.as_mut(),
                    document,
                    text.language_id,
                    cps,
                    &mut outcome,
                );
            }
            outcome.print_row(&text.name, name);
        }
    }
}
