//! The server survives whatever the client answers to the server's own requests
//! (`workspace/configuration`, `window/workDoneProgress/create`): answers that come late, twice,
//! or with an id the server never issued, while documents are edited and a check runs.
//!
//! Each scenario ends with `shutdown` and `exit`: a server that died on the way exits with status
//! 101 (a panic), or stops answering, and the test fails.

#[path = "support/lsp_client.rs"]
mod lsp_client;

use std::time::{Duration, Instant};

use lsp_client::{LspClient, DEFAULT_TIMEOUT};
use serde_json::{json, Value};

const SERVER: &str = env!("CARGO_BIN_EXE_biomed-lsp");
const URI: &str = "file:///tmp/late-answers.md";
const UNKNOWN_URI: &str = "file:///tmp/never-opened.md";
/// Longer than any time the server waits for a client answer before going on without it.
const LATE: Duration = Duration::from_secs(6);

fn spawn() -> LspClient {
    // A slow engine keeps the check running while the client answers.
    LspClient::spawn(SERVER, &[("BIOMED_LSP_TEST_ENGINE_DELAY_MS", "40")])
}

fn initialize(client: &mut LspClient) {
    let response = client.request(
        "initialize",
        json!({
            "processId": std::process::id(),
            "rootUri": null,
            "capabilities": {
                "window": {"workDoneProgress": true},
                "workspace": {"configuration": true}
            }
        }),
    );
    assert!(response.get("error").is_none(), "{response}");
    client.notify("initialized", json!({}));
}

/// A document long enough (over 40 sentences) that its check reports progress, which is one
/// more request to the client while the check runs.
fn manuscript() -> String {
    let sample = include_str!("../samples/manuscript.md");
    let body = sample.split("---\n").nth(2).expect("front matter");
    body.repeat(6)
}

fn open(client: &mut LspClient, text: &str) {
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "markdown", "version": 1, "text": text}}),
    );
}

/// Inserts `inserted` at the start of the document, as version `version`.
fn edit(client: &mut LspClient, version: i32, inserted: &str) {
    client.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": URI, "version": version},
            "contentChanges": [{
                "range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 0}},
                "text": inserted
            }]
        }),
    );
}

/// A hover on a document that was never opened: the cheapest request there is. Returns how long
/// the answer took (printed, not asserted: tests make no timing claims).
fn cheap_request(client: &mut LspClient) -> Duration {
    let started = Instant::now();
    let response = client.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": UNKNOWN_URI}, "position": {"line": 0, "character": 0}}),
    );
    assert_eq!(response["result"], Value::Null, "{response}");
    started.elapsed()
}

fn shutdown_and_exit(client: &mut LspClient) {
    let response = client.request("shutdown", Value::Null);
    assert!(response.get("error").is_none(), "{response}");
    client.notify("exit", Value::Null);
    let status = client
        .wait_for_exit(Duration::from_secs(10))
        .expect("the server should exit after `exit`");
    assert!(status.success(), "the server exited with {status:?}");
}

/// Waits for the diagnostics of `version`: the check ran to its end on the final text.
fn wait_for_diagnostics_of(client: &mut LspClient, version: i32) -> Value {
    client
        .wait_for(Duration::from_secs(60), |message| {
            message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["uri"] == URI
                && message["params"]["version"] == version
        })
        .unwrap_or_else(|| panic!("no diagnostics for version {version}"))
}

/// Waits until the server has sent a request to the client whose answer is still held back.
fn wait_for_held_request(client: &mut LspClient, method: &str) {
    let sent = client.wait_for(DEFAULT_TIMEOUT, |message| {
        message["method"] == method && message.get("id").is_some()
    });
    assert!(sent.is_some(), "the server never sent {method}");
    assert!(client.unsent_replies() > 0);
}

/// Edits, a check and cheap requests while the client holds back its answers; then the late
/// answers arrive (late by `LATE`, once or twice each), and the server goes on answering.
fn edits_and_checks_while_answers_are_late(answer_twice: bool) {
    let mut client = spawn();
    client.reply_delay = LATE;
    client.reply_twice = answer_twice;
    initialize(&mut client);
    open(&mut client, &manuscript());
    wait_for_held_request(&mut client, "workspace/configuration");

    // The server answers while its own request waits for the client.
    let mut slowest = cheap_request(&mut client);
    assert!(
        client.unsent_replies() > 0,
        "the answer came only after ours"
    );

    // The model loads without the configuration once the server stops waiting for it, and the
    // check of the document asks for a progress token: that answer is late too.
    wait_for_held_request(&mut client, "window/workDoneProgress/create");
    let mut version = 1;
    for _ in 0..100 {
        version += 1;
        edit(&mut client, version, "A");
    }
    slowest = slowest.max(cheap_request(&mut client));

    // Every late answer reaches the server, while edits go on.
    let deadline = Instant::now() + LATE * 3;
    while client.unsent_replies() > 0 && Instant::now() < deadline {
        version += 1;
        edit(&mut client, version, "B");
        slowest = slowest.max(cheap_request(&mut client));
        client.pump(Duration::from_millis(200));
    }
    assert_eq!(client.unsent_replies(), 0, "answers were still held back");

    // The server is alive and working: cheap requests, completion, the check of the last version.
    slowest = slowest.max(cheap_request(&mut client));
    let completion = client.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": URI}, "position": {"line": 3, "character": 8}}),
    );
    assert!(completion.get("error").is_none(), "{completion}");
    version += 1;
    edit(&mut client, version, "C");
    wait_for_diagnostics_of(&mut client, version);
    eprintln!("slowest cheap request: {slowest:?}");
    client.reply_delay = Duration::ZERO;
    shutdown_and_exit(&mut client);
}

#[test]
fn answers_late_by_six_seconds_leave_the_server_answering() {
    edits_and_checks_while_answers_are_late(false);
}

#[test]
fn late_answers_sent_twice_leave_the_server_answering() {
    edits_and_checks_while_answers_are_late(true);
}

#[test]
fn answers_with_ids_never_issued_leave_the_server_answering() {
    let mut client = spawn();
    initialize(&mut client);
    open(&mut client, &manuscript());
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    let mut version = 1;
    let bogus_answers = [
        json!({"jsonrpc": "2.0", "id": 424242, "result": null}),
        json!({"jsonrpc": "2.0", "id": "never-issued", "result": [{"model": "bundled"}]}),
        json!({"jsonrpc": "2.0", "id": 0, "error": {"code": -32603, "message": "no such request"}}),
        json!({"jsonrpc": "2.0", "id": null, "result": null}),
        json!({"jsonrpc": "2.0", "id": -7, "result": {"unexpected": true}}),
    ];
    for answer in &bogus_answers {
        version += 1;
        edit(&mut client, version, "A");
        client.send(answer);
        cheap_request(&mut client);
    }
    // The answers to requests the server did issue still reach it: a pulled configuration that
    // turns the check off clears the document's diagnostics.
    client.configuration = json!({"model": "bundled", "diagnostics": {"enabled": false}});
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": null}),
    );
    let cleared = client
        .wait_for(DEFAULT_TIMEOUT, |message| {
            message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["uri"] == URI
                && message["params"]["diagnostics"] == json!([])
        })
        .expect("the pulled configuration should switch the check off");
    assert_eq!(cleared["params"]["version"], version, "{cleared}");
    shutdown_and_exit(&mut client);
}
