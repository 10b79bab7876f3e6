//! End-to-end protocol tests: the built server binary driven over stdio with JSON-RPC.
//!
//! The server runs the bundled mini model (offline, with an empty Hugging Face cache). Responses
//! are asserted whole where they do not depend on the model, and on their invariants where they
//! do (words start with the typed prefix, ordered by probability, replace the right range).

#[path = "support/lsp_client.rs"]
mod lsp_client;

use std::time::Duration;

use lsp_client::{LspClient, DEFAULT_TIMEOUT};
use serde_json::{json, Value};

const SERVER: &str = env!("CARGO_BIN_EXE_biomed-lsp");
const URI: &str = "file:///tmp/paper.md";

/// What the server answers with the bundled mini model. Model outputs are not hard-coded: the
/// checks below are on the protocol's shape and on properties every answer must have.
mod expectations {
    use serde_json::Value;

    /// The end of the model load, naming the CPU's default precision (`q8 · avx512-vnni`).
    pub fn ready_message() -> String {
        format!(
            "mini model ready on cpu ({})",
            biomed_lsp::model::device::cpu_default_precision_name()
        )
    }

    /// A typed prefix that makes the completion handler panic (a debug-build test hook).
    pub const PANIC_PREFIX: &str = "panicnow";

    /// The probability in an item's `detail` (`p = 0.42 · mini model`, or
    /// `p = 0.42 · used 3× here · mini model`).
    pub fn probability(item: &Value) -> f64 {
        let detail = item["detail"].as_str().unwrap_or_default();
        let number = detail
            .strip_prefix("p = ")
            .filter(|rest| rest.ends_with(" · mini model"))
            .and_then(|rest| rest.split(" · ").next())
            .unwrap_or_else(|| panic!("detail {detail:?} is not `p = … · mini model`"));
        number
            .parse()
            .unwrap_or_else(|_| panic!("detail {detail:?} has no number"))
    }

    /// Items are whole words starting with `prefix`, ordered by probability with matching
    /// `sortText`, each replacing `edit_range`.
    pub fn check_items(items: &[Value], prefix: &str, edit_range: &Value) {
        assert!(!items.is_empty(), "no completion items");
        let mut previous = f64::INFINITY;
        for (rank, item) in items.iter().enumerate() {
            let label = item["label"].as_str().unwrap_or_default();
            assert!(
                label.starts_with(prefix),
                "{label:?} does not start with {prefix:?}"
            );
            assert!(
                !label.contains("##") && !label.contains(' '),
                "{label:?} is not a whole word"
            );
            assert_eq!(item["kind"], 1);
            assert_eq!(item["sortText"], format!("{rank:04}"));
            assert_eq!(item["textEdit"]["range"], *edit_range, "{item}");
            assert_eq!(item["textEdit"]["newText"], label);
            let probability = probability(item);
            assert!(probability > 0.0 && probability <= previous, "{items:?}");
            previous = probability;
        }
    }
}

fn initialize(client: &mut LspClient, offer_utf8: bool, initialization_options: Value) -> Value {
    let encodings = if offer_utf8 {
        json!(["utf-8", "utf-16"])
    } else {
        json!(["utf-16"])
    };
    let response = client.request(
        "initialize",
        json!({
            "processId": std::process::id(),
            "rootUri": null,
            "capabilities": {
                "general": {"positionEncodings": encodings},
                "window": {"workDoneProgress": true},
                "workspace": {"configuration": true}
            },
            "initializationOptions": initialization_options
        }),
    );
    client.notify("initialized", json!({}));
    response
}

fn open(client: &mut LspClient, uri: &str, text: &str, version: i32) {
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "markdown", "version": version, "text": text}}),
    );
}

fn at(uri: &str, line: u32, character: u32) -> Value {
    json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
}

fn range(start_line: u32, start_character: u32, end_line: u32, end_character: u32) -> Value {
    json!({"start": {"line": start_line, "character": start_character}, "end": {"line": end_line, "character": end_character}})
}

fn progress_values(client: &LspClient) -> Vec<Value> {
    client
        .notifications
        .iter()
        .filter(|message| message["method"] == "$/progress")
        .map(|message| message["params"]["value"].clone())
        .collect()
}

fn shutdown_and_exit(client: &mut LspClient) {
    let response = client.request("shutdown", Value::Null);
    assert_eq!(response["result"], Value::Null, "{response}");
    assert!(response.get("error").is_none(), "{response}");
    client.notify("exit", Value::Null);
    let status = client
        .wait_for_exit(Duration::from_secs(5))
        .expect("the server should exit after `exit`");
    assert!(status.success(), "exit status {status:?}");
}

/// The main session, in UTF-16 (`offer_utf8` false) or UTF-8. The text has a non-BMP character
/// (𝛼: 2 UTF-16 units, 4 bytes) before the cursor so the encodings give different columns.
fn main_session(offer_utf8: bool) {
    let mut client = LspClient::spawn(SERVER, &[]);
    client.configuration =
        json!({"model": "bundled", "contextSentences": 1, "completion": {"minProbability": 0}});
    let response = initialize(&mut client, offer_utf8, json!({"completion": {"topK": 5}}));
    let encoding = if offer_utf8 { "utf-8" } else { "utf-16" };
    assert_eq!(
        response,
        json!({"jsonrpc": "2.0", "id": 1, "result": {
            "capabilities": {
                "positionEncoding": encoding,
                "textDocumentSync": {"openClose": true, "change": 2},
                "completionProvider": {},
                "hoverProvider": true,
                "definitionProvider": true,
                "documentHighlightProvider": true,
                "documentSymbolProvider": true,
                "semanticTokensProvider": {
                    "legend": {
                        "tokenTypes": ["disease", "chemical", "gene", "species", "cellLine",
                            "cellType", "mutation", "entity"],
                        "tokenModifiers": []
                    },
                    "full": {"delta": true}
                },
                "codeActionProvider": {"codeActionKinds": ["quickfix"]},
                "executeCommandProvider": {"commands": [
                    "biomedLsp.addToDictionary", "biomedLsp.ignoreInDocument", "biomedLsp.checkWorkspace",
                    "biomedLsp.fetchModel", "biomedLsp.status"
                ]}
            },
            "serverInfo": {"name": "biomed-lsp", "version": env!("CARGO_PKG_VERSION")}
        }})
    );

    let ready = client.wait_for_model_ready(DEFAULT_TIMEOUT);
    assert_eq!(
        ready,
        json!({"kind": "end", "message": expectations::ready_message()})
    );
    assert_eq!(
        progress_values(&client),
        vec![
            json!({"kind": "begin", "title": "biomed-lsp", "cancellable": false, "message": "loading the model…"}),
            json!({"kind": "report", "cancellable": false, "message": "loading the bundled mini model…"}),
            json!({"kind": "report", "cancellable": false, "message": expectations::ready_message()}),
            json!({"kind": "report", "cancellable": false, "message":
                "entity tagger ready: bundled disease tagger (Disease; its own encoder)"}),
            json!({"kind": "end", "message": expectations::ready_message()}),
        ]
    );
    let methods: Vec<&str> = client
        .server_requests
        .iter()
        .filter_map(|request| request["method"].as_str())
        .collect();
    assert_eq!(
        methods,
        vec!["workspace/configuration", "window/workDoneProgress/create"]
    );

    // Column of the end of "pat" on line 0, after "We measured IL-6 in 𝛼 ".
    let (pat_start, pat_end) = if offer_utf8 { (25, 28) } else { (23, 26) };
    open(
        &mut client,
        URI,
        "We measured IL-6 in 𝛼 pat\r\nThe ___ were analysed.\r\n",
        1,
    );
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"range": range(0, pat_end, 0, pat_end), "text": "i"}]}),
    );

    let response = client.request("textDocument/completion", at(URI, 0, pat_end + 1));
    assert_eq!(response["result"]["isIncomplete"], true, "{response}");
    let items = response["result"]["items"]
        .as_array()
        .expect("items")
        .clone();
    assert!(
        items.len() <= 5,
        "topK 5 from initializationOptions: {response}"
    );
    expectations::check_items(&items, "pati", &range(0, pat_start, 0, pat_end + 1));
    assert_eq!(items[0]["filterText"], items[0]["label"]);

    // A placeholder is replaced whole; the items keep the model's order.
    let response = client.request("textDocument/completion", at(URI, 1, 5));
    let items = response["result"]["items"]
        .as_array()
        .expect("items")
        .clone();
    expectations::check_items(&items, "", &range(1, 4, 1, 7));
    assert_eq!(
        items[0]["filterText"],
        format!("___{}", items[0]["label"].as_str().unwrap())
    );

    let response = client.request("textDocument/hover", at(URI, 0, 14));
    assert_eq!(
        response["result"]["range"],
        range(0, 12, 0, 16),
        "{response}"
    );
    assert_eq!(response["result"]["contents"]["kind"], "markdown");
    let markdown = response["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_default();
    assert!(
        markdown
            .starts_with("**IL-6**\n\n`il` · `-` · `6` — *not a single vocabulary token*\n\np = "),
        "{markdown}"
    );
    assert!(
        markdown.contains("in this context · mini model"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| alternative | p |\n|---|---|\n|"),
        "{markdown}"
    );

    // The hover range of a word after the non-BMP character is in the negotiated encoding.
    let response = client.request("textDocument/hover", at(URI, 0, pat_start + 1));
    assert_eq!(
        response["result"]["range"],
        range(0, pat_start, 0, pat_end + 1),
        "{response}"
    );

    shutdown_and_exit(&mut client);
}

#[test]
fn session_in_utf16() {
    main_session(false);
}

#[test]
fn session_in_utf8() {
    main_session(true);
}

#[test]
fn robustness_cases_leave_the_server_answering() {
    // A slow load lets us check the answers given while the model is loading.
    let mut client = LspClient::spawn(SERVER, &[("BIOMED_LSP_TEST_LOAD_DELAY_MS", "3000")]);
    initialize(&mut client, false, json!({"completion": {"topK": "many"}}));

    // The invalid setting is reported, naming the key.
    let warning = client
        .wait_for(DEFAULT_TIMEOUT, |message| {
            message["method"] == "window/showMessage"
        })
        .expect("a warning about the invalid setting");
    assert_eq!(warning["params"]["type"], 2);
    let text = warning["params"]["message"].as_str().unwrap_or_default();
    assert!(text.contains("biomedLsp.completion.topK"), "{text}");

    // A request before didOpen, for an unknown document.
    let response = client.request("textDocument/hover", at("file:///nowhere.txt", 0, 0));
    assert_eq!(response["result"], Value::Null, "{response}");
    let response = client.request("textDocument/completion", at("file:///nowhere.txt", 0, 0));
    assert_eq!(response["result"], Value::Null, "{response}");

    // Malformed input gets a JSON-RPC error, and the next request is still answered.
    let is_error_for_null_id =
        |message: &Value| message["id"].is_null() && message.get("error").is_some();
    client.send_raw(b"{\"jsonrpc\": \"2.0\", \"id\": 77, \"method\": ");
    let error = client
        .wait_for(DEFAULT_TIMEOUT, is_error_for_null_id)
        .expect("a parse error");
    assert_eq!(error["error"]["code"], -32700, "{error}");
    client.send_raw(b"{\"jsonrpc\": \"2.0\"}");
    let error = client
        .wait_for(DEFAULT_TIMEOUT, is_error_for_null_id)
        .expect("an invalid request error");
    assert_eq!(error["error"]["code"], -32600, "{error}");
    client.send_raw_bytes(b"X-Garbage: yes\r\n\r\n");
    let error = client
        .wait_for(DEFAULT_TIMEOUT, is_error_for_null_id)
        .expect("a parse error for a frame without length");
    assert_eq!(error["error"]["code"], -32700, "{error}");
    let response = client.request("textDocument/hover", at("file:///nowhere.txt", 0, 0));
    assert_eq!(response["result"], Value::Null, "{response}");

    // Unknown methods and invalid parameters are LSP errors.
    let response = client.request("biomed/noSuchMethod", json!({}));
    assert_eq!(response["error"]["code"], -32601, "{response}");
    let response = client.request("textDocument/hover", json!({"position": "nowhere"}));
    assert_eq!(response["error"]["code"], -32602, "{response}");

    // While the model loads: completion is empty and incomplete, hover shows tokenization only.
    open(
        &mut client,
        URI,
        "Cells were counted. a😀b infraction inf",
        1,
    );
    let response = client.request("textDocument/completion", at(URI, 0, 5));
    assert_eq!(
        response["result"],
        json!({"isIncomplete": true, "items": []}),
        "{response}"
    );
    let response = client.request("textDocument/hover", at(URI, 0, 30));
    assert_eq!(
        response["result"]["contents"]["value"],
        "**infraction**\n\n`infra` · `##ct` · `##ion` — *not a single vocabulary token*\n\n*the model is loading; probabilities follow when it is ready*\n",
        "{response}"
    );
    client.wait_for_model_ready(DEFAULT_TIMEOUT);

    // Out-of-range positions clamp to the end of the document.
    let response = client.request("textDocument/completion", at(URI, 99, 99));
    let items = response["result"]["items"]
        .as_array()
        .expect("items")
        .clone();
    expectations::check_items(&items, "inf", &range(0, 36, 0, 39));
    let response = client.request("textDocument/hover", at(URI, 0, u32::MAX));
    assert_eq!(
        response["result"]["range"],
        range(0, 36, 0, 39),
        "{response}"
    );

    // Inside the surrogate pair of 😀 (UTF-16 columns 21..23) rounds down to the emoji, whose
    // neighbour before it is the word `a`.
    let response = client.request("textDocument/hover", at(URI, 0, 22));
    assert_eq!(
        response["result"]["range"],
        range(0, 20, 0, 21),
        "{response}"
    );

    // An edit with a version that is not newer is ignored.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 1}, "contentChanges": [{"range": range(0, 0, 0, 5), "text": "Mice"}]}),
    );
    let response = client.request("textDocument/hover", at(URI, 0, 1));
    assert_eq!(
        response["result"]["range"],
        range(0, 0, 0, 5),
        "the stale edit must not apply: {response}"
    );

    // A full replacement is accepted.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"text": "Mice died."}]}),
    );
    let response = client.request("textDocument/hover", at(URI, 0, 1));
    assert_eq!(response["result"]["range"], range(0, 0, 0, 4), "{response}");

    // A 10 MB document: open, edit near the end, complete and hover in the middle, quickly.
    let sentence = "Serum IL-6 levels were measured in patients with sepsis. ";
    let big_text: String = sentence.repeat(10_000_000 / sentence.len());
    let line_units = big_text.len() as u32;
    open(&mut client, "file:///tmp/big.txt", &big_text, 1);
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": "file:///tmp/big.txt", "version": 2}, "contentChanges": [{"range": range(0, line_units - 1, 0, line_units - 1), "text": " Pati"}]}),
    );
    let response = client.request(
        "textDocument/completion",
        at("file:///tmp/big.txt", 0, line_units + 4),
    );
    // The typed capital is kept in the proposals.
    let items = response["result"]["items"]
        .as_array()
        .expect("items")
        .clone();
    expectations::check_items(&items, "Pati", &range(0, line_units, 0, line_units + 4));
    let middle = (big_text.len() / 2 / sentence.len() * sentence.len()) as u32;
    let response = client.request(
        "textDocument/hover",
        at("file:///tmp/big.txt", 0, middle + 7),
    );
    assert_eq!(
        response["result"]["range"],
        range(0, middle + 6, 0, middle + 10),
        "{response}"
    );

    assert!(client.is_running());
    shutdown_and_exit(&mut client);
}

#[test]
fn newer_completion_and_cancel_request_cancel_model_work() {
    let mut client = LspClient::spawn(SERVER, &[("BIOMED_LSP_TEST_ENGINE_DELAY_MS", "400")]);
    // No document checks: only completions run the model.
    initialize(
        &mut client,
        false,
        json!({"model": "bundled", "diagnostics": {"enabled": false}}),
    );
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    open(&mut client, URI, "The pati", 1);

    let older = client.send_request("textDocument/completion", at(URI, 0, 8));
    std::thread::sleep(Duration::from_millis(50));
    let newer = client.send_request("textDocument/completion", at(URI, 0, 8));
    let older_response = client.wait_for_response(older, DEFAULT_TIMEOUT);
    let newer_response = client.wait_for_response(newer, DEFAULT_TIMEOUT);
    assert_eq!(
        older_response["result"],
        json!({"isIncomplete": true, "items": []}),
        "{older_response}"
    );
    let items = newer_response["result"]["items"]
        .as_array()
        .expect("items")
        .clone();
    expectations::check_items(&items, "pati", &range(0, 4, 0, 8));
    // Both asked for the same slot: the model ran once, for the newer.
    let counts = engine_counts(&mut client);
    assert_eq!(count(&counts, "slotComputations"), 1, "{counts}");

    // Another slot ("The"), not in the slot cache: cancelled while the engine waits.
    let cancelled = client.send_request("textDocument/completion", at(URI, 0, 3));
    client.notify("$/cancelRequest", json!({"id": cancelled}));
    let response = client.wait_for_response(cancelled, DEFAULT_TIMEOUT);
    assert_eq!(response["error"]["code"], -32800, "{response}");
    let counts = engine_counts(&mut client);
    assert_eq!(
        count(&counts, "forwardPasses"),
        1,
        "the cancelled slot never ran: {counts}"
    );
    shutdown_and_exit(&mut client);
}

#[test]
fn server_exits_when_the_client_process_dies() {
    // A process that has exited and been reaped: its id no longer exists.
    let mut short_lived = std::process::Command::new("true")
        .spawn()
        .expect("spawn `true`");
    let dead_process_id = short_lived.id();
    short_lived.wait().expect("reap `true`");

    let mut client = LspClient::spawn(SERVER, &[]);
    let response = client.request(
        "initialize",
        json!({"processId": dead_process_id, "rootUri": null, "capabilities": {}}),
    );
    assert!(response.get("result").is_some(), "{response}");
    client.notify("initialized", json!({}));
    let status = client.wait_for_exit(Duration::from_secs(10));
    assert!(
        status.is_some(),
        "the server should exit once process {dead_process_id} is gone"
    );
}

#[test]
fn settings_changes_reload_the_model() {
    let mut client = LspClient::spawn(SERVER, &[]);
    initialize(&mut client, false, Value::Null);
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    open(&mut client, URI, "The pati", 1);

    // Pushed settings that change the model reload it; BiomedBERT is not in the (empty) cache
    // and the server is offline, so the bundled mini model stands in, with a warning.
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"biomedLsp": {"model": "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract"}}}),
    );
    let warning = client
        .wait_for(DEFAULT_TIMEOUT, |message| {
            message["method"] == "window/showMessage"
        })
        .expect("a fallback warning");
    assert_eq!(warning["params"]["type"], 2, "{warning}");
    let text = warning["params"]["message"].as_str().unwrap_or_default();
    assert!(
        text.contains("microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract")
            && text.contains("offline")
            && text.contains("bundled mini model")
            && text.contains("fetch-model"),
        "{text}"
    );
    let ready = client.wait_for_model_ready(DEFAULT_TIMEOUT);
    assert_eq!(
        ready,
        json!({"kind": "end", "message": expectations::ready_message()})
    );
    let response = client.request("textDocument/completion", at(URI, 0, 8));
    let items = response["result"]["items"]
        .as_array()
        .expect("items")
        .clone();
    expectations::check_items(&items, "pati", &range(0, 4, 0, 8));

    // A null push makes the server pull `workspace/configuration`; a model that fails to load is
    // reported and the previous engine keeps answering.
    client.configuration =
        json!({"model": "/no/such/model", "completion": {"maxPieces": 0, "minProbability": 0}});
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": null}),
    );
    let warning = client
        .wait_for(DEFAULT_TIMEOUT, |message| {
            message["method"] == "window/showMessage"
        })
        .expect("a warning about maxPieces");
    let text = warning["params"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(text.contains("biomedLsp.completion.maxPieces"), "{text}");
    let ended = client.wait_for_model_ready(DEFAULT_TIMEOUT);
    assert_eq!(
        ended,
        json!({"kind": "end", "message": "model /no/such/model failed to load: model directory /no/such/model does not exist"})
    );
    let error = client
        .wait_for(DEFAULT_TIMEOUT, |message| {
            message["method"] == "window/showMessage"
        })
        .expect("an error message");
    assert_eq!(error["params"]["type"], 1, "{error}");
    let response = client.request("textDocument/completion", at(URI, 0, 8));
    let items = response["result"]["items"]
        .as_array()
        .expect("items")
        .clone();
    expectations::check_items(&items, "pati", &range(0, 4, 0, 8));
    shutdown_and_exit(&mut client);
}

#[test]
fn a_panicking_handler_leaves_the_server_answering() {
    let mut client = LspClient::spawn(
        SERVER,
        &[("BIOMED_LSP_TEST_PANIC_PREFIX", expectations::PANIC_PREFIX)],
    );
    initialize(&mut client, false, Value::Null);
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    let text = format!("The {}", expectations::PANIC_PREFIX);
    open(&mut client, URI, &text, 1);
    let response = client.request("textDocument/completion", at(URI, 0, text.len() as u32));
    assert_eq!(response["error"]["code"], -32603, "{response}");
    let message = response["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("handler completion panicked"), "{message}");
    let response = client.request("textDocument/hover", at(URI, 0, 1));
    assert_eq!(response["result"]["range"], range(0, 0, 0, 3), "{response}");
    shutdown_and_exit(&mut client);
}

#[test]
fn requests_before_initialize_are_refused() {
    let mut client = LspClient::spawn(SERVER, &[]);
    let response = client.request("textDocument/hover", at(URI, 0, 0));
    assert_eq!(response["error"]["code"], -32002, "{response}");
    let response = initialize(&mut client, true, Value::Null);
    assert_eq!(
        response["result"]["capabilities"]["positionEncoding"],
        "utf-8"
    );
    shutdown_and_exit(&mut client);
}

#[test]
fn exit_without_shutdown_and_closed_input_end_the_server() {
    let mut client = LspClient::spawn(SERVER, &[]);
    initialize(&mut client, false, Value::Null);
    client.notify("exit", Value::Null);
    let status = client
        .wait_for_exit(Duration::from_secs(5))
        .expect("exit without shutdown");
    assert_eq!(
        status.code(),
        Some(1),
        "the LSP exit code without shutdown is 1"
    );

    let mut client = LspClient::spawn(SERVER, &[]);
    initialize(&mut client, false, Value::Null);
    client.close_input();
    let status = client.wait_for_exit(Duration::from_secs(5));
    assert!(
        status.is_some(),
        "the server should exit when its input closes"
    );
}

#[test]
fn latex_and_markdown_are_read_through_their_prose() {
    let mut client = LspClient::spawn(SERVER, &[]);
    initialize(&mut client, false, Value::Null);
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    let tex = "\\documentclass{article}\n\\begin{document}\nAcute \\emph{myocardial} infa \\cite{smith2020} was seen.\nWe fit $y = ax$ here.\n\\end{document}\n";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": "file:///tmp/paper.tex", "languageId": "latex", "version": 1, "text": tex}}),
    );
    // Completing `infa` (line 2, columns 24..28): the edit range is in source coordinates.
    let response = client.request(
        "textDocument/completion",
        at("file:///tmp/paper.tex", 2, 28),
    );
    let items = response["result"]["items"]
        .as_array()
        .expect("items")
        .clone();
    expectations::check_items(&items, "infa", &range(2, 24, 2, 28));
    // Inside math, or on a citation key, there is no prose to complete or explain.
    let response = client.request("textDocument/completion", at("file:///tmp/paper.tex", 3, 9));
    assert_eq!(response["result"], Value::Null, "{response}");
    let response = client.request("textDocument/hover", at("file:///tmp/paper.tex", 2, 40));
    assert_eq!(response["result"], Value::Null, "{response}");
    // A word inside \emph{…} is hovered with its own range.
    let response = client.request("textDocument/hover", at("file:///tmp/paper.tex", 2, 14));
    assert_eq!(
        response["result"]["range"],
        range(2, 12, 2, 22),
        "{response}"
    );
    assert!(response["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_default()
        .starts_with("**myocardial**"));

    // An incremental edit keeps the extracted prose in step with the text.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": "file:///tmp/paper.tex", "version": 2}, "contentChanges": [{"range": range(2, 0, 2, 5), "text": "Chronic"}]}),
    );
    let response = client.request("textDocument/hover", at("file:///tmp/paper.tex", 2, 16));
    assert_eq!(
        response["result"]["range"],
        range(2, 14, 2, 24),
        "{response}"
    );

    let markdown =
        "---\ntitle: x\n---\n# Results\n\nSee [@doi:10.1/xyz] and `code` for prostate canc\n";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": "file:///tmp/paper.md", "languageId": "markdown", "version": 1, "text": markdown}}),
    );
    let response = client.request("textDocument/completion", at("file:///tmp/paper.md", 5, 48));
    let items = response["result"]["items"]
        .as_array()
        .expect("items")
        .clone();
    expectations::check_items(&items, "canc", &range(5, 44, 5, 48));
    let response = client.request("textDocument/hover", at("file:///tmp/paper.md", 5, 8));
    assert_eq!(
        response["result"],
        Value::Null,
        "a citation key is not prose: {response}"
    );
    shutdown_and_exit(&mut client);
}

/// The engine's counts (forward passes, fills from the slot cache) through the debug request.
fn engine_counts(client: &mut LspClient) -> Value {
    let response = client.request("biomedLsp/engineCounts", Value::Null);
    assert!(response["result"].is_object(), "{response}");
    response["result"].clone()
}

fn count(counts: &Value, name: &str) -> u64 {
    counts[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} in {counts}"))
}

/// Types `text` at the end of line 0 of `URI` (whose line is `line` so far), one character at a
/// time, asking for completion after each character as editors do; returns the last response.
fn type_and_complete(
    client: &mut LspClient,
    line: &mut String,
    text: &str,
    version: &mut i32,
) -> Value {
    let mut response = Value::Null;
    for character in text.chars() {
        let column = line.encode_utf16().count() as u32;
        *version += 1;
        client.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": URI, "version": *version},
                   "contentChanges": [{"range": range(0, column, 0, column), "text": character.to_string()}]}),
        );
        line.push(character);
        response = client.request(
            "textDocument/completion",
            at(URI, 0, line.encode_utf16().count() as u32),
        );
    }
    response
}

#[test]
fn keystrokes_after_the_first_in_a_word_and_a_prefetched_first_run_no_forward_pass() {
    let mut client = LspClient::spawn(SERVER, &[]);
    // No document checks: their forward passes would blur the count.
    initialize(
        &mut client,
        true,
        json!({"model": "bundled", "diagnostics": {"enabled": false}, "completion": {"minProbability": 0}}),
    );
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    let mut line = String::from("Acute myocardial");
    let mut version = 1;
    open(&mut client, URI, &line, version);

    // A space ends "myocardial": the next word's slot is prefetched, one forward pass, which the
    // request after the space joins.
    type_and_complete(&mut client, &mut line, " ", &mut version);
    let deadline = std::time::Instant::now() + DEFAULT_TIMEOUT;
    let mut counts = engine_counts(&mut client);
    while count(&counts, "forwardPasses") == 0 && std::time::Instant::now() < deadline {
        client.pump(Duration::from_millis(20));
        counts = engine_counts(&mut client);
    }
    assert_eq!(count(&counts, "prefetches"), 1, "{counts}");
    let passes = count(&counts, "forwardPasses");

    // Every keystroke of the word is answered from that pass.
    let before = engine_counts(&mut client);
    let response = type_and_complete(&mut client, &mut line, "inf", &mut version);
    let items = response["result"]["items"]
        .as_array()
        .expect("items")
        .clone();
    expectations::check_items(&items, "inf", &range(0, 17, 0, 20));
    let counts = engine_counts(&mut client);
    assert_eq!(count(&counts, "forwardPasses"), passes, "{counts}");
    assert_eq!(
        count(&counts, "fillsFromCache") + count(&counts, "fillsJoined")
            - count(&before, "fillsFromCache")
            - count(&before, "fillsJoined"),
        3,
        "{counts}"
    );

    // An edit elsewhere in the window changes the slot: the next keystroke runs the model again.
    version += 1;
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": version},
               "contentChanges": [{"range": range(0, 0, 0, 5), "text": "Chronic"}]}),
    );
    line.replace_range(0..5, "Chronic");
    let response = type_and_complete(&mut client, &mut line, "a", &mut version);
    let items = response["result"]["items"]
        .as_array()
        .expect("items")
        .clone();
    expectations::check_items(&items, "infa", &range(0, 19, 0, 23));
    let counts = engine_counts(&mut client);
    assert_eq!(count(&counts, "forwardPasses"), passes + 1, "{counts}");
    shutdown_and_exit(&mut client);
}

#[test]
fn before_the_first_letter_of_a_word_completion_never_waits_unless_asked_for() {
    // The engine waits before each job: the slot's fill cannot be ready at the first request.
    let mut client = LspClient::spawn(SERVER, &[("BIOMED_LSP_TEST_ENGINE_DELAY_MS", "300")]);
    initialize(
        &mut client,
        true,
        json!({"model": "bundled", "diagnostics": {"enabled": false}, "completion": {"minProbability": 0}}),
    );
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    // Plain text, read as it stands (Markdown's prose would fold the two spaces into one).
    let uri = "file:///tmp/notes.txt";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "plaintext", "version": 1,
                                "text": "Acute myocardial  was confirmed."}}),
    );
    // Asked again for an incomplete list, as editors do while the writer types.
    let mut between_the_spaces = at(uri, 0, 17);
    between_the_spaces["context"] = json!({"triggerKind": 3});

    let response = client.request("textDocument/completion", between_the_spaces.clone());
    assert_eq!(
        response["result"],
        json!({"isIncomplete": true, "items": []}),
        "{response}"
    );
    // Ctrl+Space: the writer asked, the answer waits for the model (the fill already under way).
    // A client that does not say why it asks is answered the same way.
    let invoked = at(uri, 0, 17);
    let response = client.request("textDocument/completion", invoked);
    let items = response["result"]["items"]
        .as_array()
        .expect("items")
        .clone();
    expectations::check_items(&items, "", &range(0, 17, 0, 17));
    // Now the slot is cached: the same request answers with the same items at once.
    let response = client.request("textDocument/completion", between_the_spaces);
    assert_eq!(response["result"]["items"].as_array(), Some(&items));
    let counts = engine_counts(&mut client);
    assert_eq!(count(&counts, "slotComputations"), 1, "{counts}");
    shutdown_and_exit(&mut client);
}

/// The labels of a completion response, in order.
fn labels(response: &Value) -> Vec<String> {
    response["result"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {response}"))
        .iter()
        .map(|item| item["label"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A server on the bundled model with the default settings, a Markdown document open at `text`.
fn server_with_document(text: &str) -> LspClient {
    let mut client = LspClient::spawn(SERVER, &[]);
    initialize(&mut client, true, json!({"model": "bundled"}));
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    open(&mut client, URI, text, 1);
    client
}

#[test]
fn typing_serum_trop_offers_troponin_among_the_first_three_with_default_settings() {
    let mut line = String::from("Patients with chest pain were admitted.");
    let mut client = server_with_document(&line);
    let mut version = 1;
    let response = type_and_complete(&mut client, &mut line, " Serum trop", &mut version);
    let offered = labels(&response);
    assert!(
        offered.iter().take(3).any(|label| label == "troponin"),
        "{offered:?}"
    );
    // The probabilities shown are among the words that start with "trop": they cannot all be tiny.
    let items = response["result"]["items"].as_array().unwrap();
    assert!(expectations::probability(&items[0]) >= 0.1, "{items:?}");
    shutdown_and_exit(&mut client);
}

#[test]
fn a_term_written_earlier_in_the_document_is_offered_after_three_letters() {
    let mut line = String::from(
        "Patients received angiotensin-converting enzyme inhibitors for hypertension.",
    );
    let mut client = server_with_document(&line);
    let mut version = 1;
    let response = type_and_complete(&mut client, &mut line, " Those on ang", &mut version);
    let offered = labels(&response);
    assert!(
        offered
            .iter()
            .take(3)
            .any(|label| label == "angiotensin-converting"),
        "{offered:?}"
    );
    let item = response["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["label"] == "angiotensin-converting")
        .unwrap()
        .clone();
    // It replaces the typed letters and says that the document uses it.
    let typed_from = line.encode_utf16().count() as u32 - 3;
    assert_eq!(
        item["textEdit"]["range"],
        range(0, typed_from, 0, typed_from + 3)
    );
    assert!(
        item["detail"].as_str().unwrap().contains("used once here"),
        "{item}"
    );
    shutdown_and_exit(&mut client);
}

#[test]
fn a_hyphenated_compound_is_completed_after_its_hyphen_whole_over_what_was_typed() {
    let mut line = String::from("Cells were sorted by high-throughput screening.");
    let mut client = server_with_document(&line);
    let mut version = 1;
    // Right after the hyphen: the compound the document wrote.
    let response = type_and_complete(&mut client, &mut line, " Two high-", &mut version);
    assert_eq!(
        labels(&response).first().map(String::as_str),
        Some("high-throughput")
    );
    // A compound the document never wrote: the part after the hyphen is a word of its own,
    // offered with the typed head, replacing all that was typed of the compound.
    let response = type_and_complete(&mut client, &mut line, "th", &mut version);
    let offered = labels(&response);
    assert!(
        offered
            .iter()
            .take(3)
            .any(|label| label == "high-throughput"),
        "{offered:?}"
    );
    assert!(
        offered.iter().all(|label| label.starts_with("high-th")),
        "{offered:?}"
    );
    let item = &response["result"]["items"][0];
    let typed_from = line.encode_utf16().count() as u32 - "high-th".len() as u32;
    assert_eq!(
        item["textEdit"]["range"],
        range(0, typed_from, 0, typed_from + 7)
    );
    let response = type_and_complete(&mut client, &mut line, " and low-c", &mut version);
    let offered = labels(&response);
    assert!(!offered.is_empty(), "{response}");
    assert!(
        offered.iter().all(|label| label.starts_with("low-c")),
        "{offered:?}"
    );
    shutdown_and_exit(&mut client);
}

#[test]
fn completion_answers_after_a_trailing_space_at_a_paragraphs_end_and_at_a_sentence_start() {
    let mut line = String::from("Acute myocardial infarction was confirmed by troponin.");
    let mut client = server_with_document(&line);
    let mut version = 1;
    // After the paragraph's last word and a space: the next word's slot.
    let response = type_and_complete(&mut client, &mut line, " ", &mut version);
    let offered = labels(&response);
    assert!(!offered.is_empty(), "{response}");
    // A new sentence starts here: the words are capitalised.
    assert!(
        offered.iter().all(|label| label
            .chars()
            .next()
            .is_some_and(|first| !first.is_lowercase())),
        "{offered:?}"
    );
    let column = line.encode_utf16().count() as u32;
    assert_eq!(
        response["result"]["items"][0]["textEdit"]["range"],
        range(0, column, 0, column)
    );
    shutdown_and_exit(&mut client);
}

#[test]
fn completion_inside_a_latex_argument_offers_words() {
    let mut client = LspClient::spawn(SERVER, &[]);
    initialize(&mut client, true, json!({"model": "bundled"}));
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    let uri = "file:///tmp/paper.tex";
    let text = "\\section{Results}\nSerum troponin rose in \\textit{pat} with chest pain.\n";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "latex", "version": 1, "text": text}}),
    );
    let column = "Serum troponin rose in \\textit{pat".len() as u32;
    let response = client.request("textDocument/completion", at(uri, 1, column));
    let offered = labels(&response);
    assert!(
        !offered.is_empty() && offered.iter().all(|label| label.starts_with("pat")),
        "{offered:?}"
    );
    assert_eq!(
        response["result"]["items"][0]["textEdit"]["range"],
        range(1, column - 3, 1, column)
    );
    shutdown_and_exit(&mut client);
}
