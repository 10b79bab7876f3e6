//! Entity mentions through the real protocol with the bundled disease tagger: semantic tokens
//! (full, delta, the refresh after a check), document symbols and the label in the hover.

#[path = "support/lsp_client.rs"]
mod lsp_client;

use lsp_client::{LspClient, DEFAULT_TIMEOUT};
use serde_json::{json, Value};

const SERVER: &str = env!("CARGO_BIN_EXE_biomed-lsp");
const URI: &str = "file:///manuscript/results.md";
const TEXT: &str = "# Results\n\nPatients with Duchenne muscular dystrophy were excluded from the trial.\n\nDuchenne muscular dystrophy is rare in girls.\n";

fn start() -> (LspClient, tempfile::TempDir) {
    let config_home = tempfile::tempdir().unwrap();
    let mut client = LspClient::spawn(
        SERVER,
        &[("XDG_CONFIG_HOME", config_home.path().to_str().unwrap())],
    );
    client.configuration = json!({"model": "bundled", "diagnostics": {"debounceMs": 50}});
    let response = client.request(
        "initialize",
        json!({"processId": std::process::id(), "rootUri": null, "capabilities": {
            "workspace": {"configuration": true, "semanticTokens": {"refreshSupport": true}},
            "window": {"workDoneProgress": true}}}),
    );
    let capabilities = &response["result"]["capabilities"];
    assert_eq!(
        capabilities["semanticTokensProvider"]["legend"]["tokenTypes"],
        json!([
            "disease", "chemical", "gene", "species", "cellLine", "cellType", "mutation", "entity"
        ])
    );
    assert_eq!(
        capabilities["semanticTokensProvider"]["full"],
        json!({"delta": true})
    );
    assert_eq!(capabilities["documentSymbolProvider"], json!(true));
    client.notify("initialized", json!({}));
    let ready = client.wait_for_model_ready(DEFAULT_TIMEOUT);
    assert!(ready.to_string().contains("mini model ready"), "{ready}");
    (client, config_home)
}

/// Whether a message is the server's request to refresh semantic tokens.
fn is_refresh(message: &Value) -> bool {
    message["method"] == "workspace/semanticTokens/refresh" && message.get("id").is_some()
}

/// Opens `TEXT` and waits for the refresh the server asks for once the first check has found
/// its mentions.
fn open_and_wait_for_refresh(client: &mut LspClient) {
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "markdown", "version": 1, "text": TEXT}}),
    );
    client
        .wait_for(DEFAULT_TIMEOUT, is_refresh)
        .expect("a semantic tokens refresh after the first check");
}

/// `[line, start, length, type]` of each token, from the protocol's relative encoding.
fn absolute_tokens(data: &Value) -> Vec<[u64; 4]> {
    let data: Vec<u64> = data
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(data.len() % 5, 0);
    let (mut line, mut start) = (0, 0);
    data.chunks(5)
        .map(|token| {
            if token[0] > 0 {
                start = 0;
            }
            line += token[0];
            start += token[1];
            [line, start, token[2], token[3]]
        })
        .collect()
}

fn refresh_count(client: &LspClient) -> usize {
    client
        .server_requests
        .iter()
        .filter(|request| request["method"] == "workspace/semanticTokens/refresh")
        .count()
}

fn apply_edits(data: &Value, edits: &Value) -> Value {
    let mut data: Vec<Value> = data.as_array().unwrap().clone();
    let mut edits: Vec<&Value> = edits.as_array().unwrap().iter().collect();
    edits.sort_by_key(|edit| std::cmp::Reverse(edit["start"].as_u64().unwrap()));
    for edit in edits {
        let start = edit["start"].as_u64().unwrap() as usize;
        let delete = edit["deleteCount"].as_u64().unwrap() as usize;
        let inserted = edit["data"].as_array().cloned().unwrap_or_default();
        data.splice(start..start + delete, inserted);
    }
    Value::Array(data)
}

#[test]
fn entities_are_semantic_tokens_symbols_and_hover_labels_and_edits_send_deltas() {
    let (mut client, _config_home) = start();
    open_and_wait_for_refresh(&mut client);

    let full = client.request(
        "textDocument/semanticTokens/full",
        json!({"textDocument": {"uri": URI}}),
    );
    let first_id = full["result"]["resultId"].as_str().unwrap().to_string();
    let tokens = absolute_tokens(&full["result"]["data"]);
    // "Duchenne muscular dystrophy" on lines 2 and 4, a disease (type 0) each time.
    assert!(tokens.contains(&[2, 14, 27, 0]), "{tokens:?}");
    assert!(tokens.contains(&[4, 0, 27, 0]), "{tokens:?}");

    let symbols = client.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": URI}}),
    )["result"]
        .clone();
    let disease = symbols
        .as_array()
        .unwrap()
        .iter()
        .find(|symbol| symbol["name"] == "Disease")
        .unwrap_or_else(|| panic!("no Disease group in {symbols}"));
    let term = disease["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|child| child["name"] == "Duchenne muscular dystrophy")
        .unwrap_or_else(|| panic!("no term in {disease}"));
    assert_eq!(term["detail"], "2 mentions");
    assert_eq!(
        term["selectionRange"]["start"],
        json!({"line": 2, "character": 14})
    );
    assert!(
        disease["detail"].as_str().unwrap().contains("mentions"),
        "{disease}"
    );

    let hover = client.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": URI}, "position": {"line": 2, "character": 25}}),
    );
    let hover_text = hover["result"]["contents"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        hover_text.starts_with("**Disease** · *entity found by the bundled disease tagger*"),
        "{hover_text}"
    );

    // An edit removes the second mention: the delta, applied, is the new full list.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{
            "range": {"start": {"line": 4, "character": 0}, "end": {"line": 4, "character": 27}},
            "text": "Blood pressure"}]}),
    );
    let delta = client.request(
        "textDocument/semanticTokens/full/delta",
        json!({"textDocument": {"uri": URI}, "previousResultId": first_id}),
    );
    // The mentions come after the diagnostics: the version's diagnostics were published before
    // the answer.
    assert!(
        client.notifications.iter().any(|message| {
            message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["uri"] == URI
                && message["params"]["version"] == 2
        }),
        "the tokens of version 2 came before its diagnostics"
    );
    let edits = &delta["result"]["edits"];
    assert!(edits.is_array(), "a delta, not a full list: {delta}");
    let second_id = delta["result"]["resultId"].as_str().unwrap().to_string();
    assert_ne!(second_id, first_id);
    let updated = apply_edits(&full["result"]["data"], edits);
    let tokens = absolute_tokens(&updated);
    assert!(tokens.contains(&[2, 14, 27, 0]), "{tokens:?}");
    assert!(!tokens.iter().any(|token| token[0] == 4), "{tokens:?}");
    let again = client.request(
        "textDocument/semanticTokens/full",
        json!({"textDocument": {"uri": URI}}),
    );
    assert_eq!(again["result"]["data"], updated);

    // A base the server no longer has: the whole list.
    let stale = client.request(
        "textDocument/semanticTokens/full/delta",
        json!({"textDocument": {"uri": URI}, "previousResultId": first_id}),
    );
    assert!(stale["result"]["data"].is_array(), "{stale}");
    // The tagger switched off: the model reloads, the document is checked again, the client is
    // told to fetch its tokens again, and there are none. (The edit's own refresh may still be on
    // its way: count refreshes only once the reload has ended.)
    client.configuration = json!({"model": "bundled", "diagnostics": {"debounceMs": 50},
        "entities": {"model": "off"}});
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"biomedLsp": client.configuration.clone()}}),
    );
    client.wait_for_model_load_end(DEFAULT_TIMEOUT);
    let refreshes_before = refresh_count(&client);
    client
        .wait_for(DEFAULT_TIMEOUT, is_refresh)
        .expect("a refresh once the tagger is gone");
    assert!(refresh_count(&client) > refreshes_before);
    let after_reload = client.request(
        "textDocument/semanticTokens/full",
        json!({"textDocument": {"uri": URI}}),
    );
    assert_eq!(after_reload["result"]["data"], json!([]), "{after_reload}");

    // A document the server does not know: no tokens, no error.
    let unknown = client.request(
        "textDocument/semanticTokens/full",
        json!({"textDocument": {"uri": "file:///nowhere.md"}}),
    );
    assert_eq!(unknown["result"]["data"], json!([]));
    let _ = client.request("shutdown", Value::Null);
}

#[test]
fn with_entities_off_there_are_no_tokens_and_nothing_fails() {
    let config_home = tempfile::tempdir().unwrap();
    let mut client = LspClient::spawn(
        SERVER,
        &[("XDG_CONFIG_HOME", config_home.path().to_str().unwrap())],
    );
    client.configuration = json!({"model": "bundled", "entities": {"model": "off"}});
    client.request(
        "initialize",
        json!({"processId": std::process::id(), "rootUri": null, "capabilities": {
            "workspace": {"configuration": true}, "window": {"workDoneProgress": true}},
            "initializationOptions": {"biomedLsp": {"model": "bundled", "entities": {"model": "off"}}}}),
    );
    client.notify("initialized", json!({}));
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "markdown", "version": 1, "text": TEXT}}),
    );
    let full = client.request(
        "textDocument/semanticTokens/full",
        json!({"textDocument": {"uri": URI}}),
    );
    assert_eq!(full["result"]["data"], json!([]));
    let symbols = client.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": URI}}),
    );
    assert!(symbols["result"].is_null(), "{symbols}");
    let _ = client.request("shutdown", Value::Null);
}

#[test]
fn a_client_that_never_answers_a_refresh_still_gets_the_next_one() {
    let (mut client, _config_home) = start();
    // Answers to the server's requests are held back far longer than the test runs.
    client.reply_delay = std::time::Duration::from_secs(600);
    open_and_wait_for_refresh(&mut client);
    // Past the server's patience (5 s), an edit that changes the mentions asks again.
    client.pump(std::time::Duration::from_secs(6));
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{
            "range": {"start": {"line": 4, "character": 0}, "end": {"line": 4, "character": 27}},
            "text": "Blood pressure"}]}),
    );
    client
        .wait_for(DEFAULT_TIMEOUT, is_refresh)
        .expect("a second refresh although the first is unanswered");
    assert_eq!(refresh_count(&client), 2);
}

#[test]
fn the_hover_names_the_entity_of_a_sentence_edited_since_the_last_check() {
    let (mut client, _config_home) = start();
    // No check runs after an edit while the test runs: the label must come from the hovered
    // sentence tagged for the hover.
    client.configuration = json!({"model": "bundled", "diagnostics": {"debounceMs": 600000}});
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"biomedLsp": client.configuration.clone()}}),
    );
    open_and_wait_for_refresh(&mut client);
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{
            "range": {"start": {"line": 2, "character": 0}, "end": {"line": 2, "character": 8}},
            "text": "Boys"}]}),
    );
    let hover = client.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": URI}, "position": {"line": 2, "character": 21}}),
    );
    let hover_text = hover["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_default();
    assert!(
        hover_text.starts_with("**Disease** · *entity found by the bundled disease tagger*"),
        "{hover}"
    );
    assert!(
        !client.notifications.iter().any(|message| {
            message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["version"] == 2
        }),
        "version 2 was checked: the test proves nothing"
    );
    let _ = client.request("shutdown", Value::Null);
}
