//! Diagnostics, quick fixes, dictionaries and server commands through the real protocol, with
//! the bundled mini model.

#[path = "support/lsp_client.rs"]
mod lsp_client;

use lsp_client::{LspClient, DEFAULT_TIMEOUT};
use serde_json::{json, Value};

const SERVER: &str = env!("CARGO_BIN_EXE_biomed-lsp");
const TEXT: &str = "Acute myocardial infraction was confirmed by troponin.\n";

/// The latest diagnostics published for `uri` that satisfy `wanted`, waiting for them if needed.
fn diagnostics_for(client: &mut LspClient, uri: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let matches = |message: &Value| {
        message["method"] == "textDocument/publishDiagnostics"
            && message["params"]["uri"] == uri
            && wanted(&message["params"])
    };
    if let Some(found) = client
        .notifications
        .iter()
        .rev()
        .find(|message| matches(message))
    {
        return found["params"].clone();
    }
    client
        .wait_for(DEFAULT_TIMEOUT, matches)
        .unwrap_or_else(|| {
            panic!(
                "no diagnostics for {uri} as expected; got {:?}",
                client.notifications
            )
        })["params"]
        .clone()
}

fn start(workspace: &std::path::Path, config_home: &std::path::Path) -> LspClient {
    let mut client = LspClient::spawn(
        SERVER,
        &[("XDG_CONFIG_HOME", config_home.to_str().unwrap())],
    );
    client.configuration = json!({"model": "bundled", "diagnostics": {"debounceMs": 50}});
    let root = format!("file://{}", workspace.display());
    let response = client.request(
        "initialize",
        json!({"processId": std::process::id(), "rootUri": root, "capabilities": {
            "workspace": {"configuration": true}, "window": {"workDoneProgress": true},
            "textDocument": {"publishDiagnostics": {"relatedInformation": true}}}}),
    );
    let capabilities = &response["result"]["capabilities"];
    assert_eq!(
        capabilities["codeActionProvider"],
        json!({"codeActionKinds": ["quickfix"]})
    );
    let commands = capabilities["executeCommandProvider"]["commands"]
        .as_array()
        .unwrap();
    assert!(
        commands.contains(&json!("biomedLsp.addToDictionary"))
            && commands.contains(&json!("biomedLsp.status"))
    );
    client.notify("initialized", json!({}));
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    client
}

fn open(client: &mut LspClient, uri: &str, language: &str, text: &str) {
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}}),
    );
}

fn infraction(diagnostics: &Value) -> Option<Value> {
    diagnostics["diagnostics"]
        .as_array()?
        .iter()
        .find(|d| d["data"]["word"] == "infraction")
        .cloned()
}

#[test]
fn a_misspelt_term_is_flagged_fixed_and_added_to_the_workspace_dictionary() {
    let workspace = tempfile::tempdir().unwrap();
    let config_home = tempfile::tempdir().unwrap();
    let mut client = start(workspace.path(), config_home.path());
    let uri = format!("file://{}/paper.md", workspace.path().display());
    open(&mut client, &uri, "markdown", TEXT);

    let published = diagnostics_for(&mut client, &uri, |params| infraction(params).is_some());
    assert_eq!(published["version"], 1);
    let diagnostic = infraction(&published).unwrap();
    assert_eq!(
        diagnostic["range"],
        json!({"start": {"line": 0, "character": 17}, "end": {"line": 0, "character": 27}})
    );
    assert_eq!(diagnostic["source"], "biomed-lsp");
    assert!(
        ["improbable-term", "unknown-term"].contains(&diagnostic["code"].as_str().unwrap()),
        "{diagnostic}"
    );
    let message = diagnostic["message"].as_str().unwrap();
    assert!(
        message.contains("\"infraction\"") && message.contains("p = "),
        "{message}"
    );
    let suggestions = diagnostic["data"]["suggestions"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        suggestions.contains(&json!("infarction")),
        "{suggestions:?}"
    );

    // Quick fixes: each suggestion (the best preferred), the two dictionaries, ignore.
    let response = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": diagnostic["range"], "context": {"diagnostics": [diagnostic]}}),
    );
    let actions = response["result"].as_array().unwrap().clone();
    let titles: Vec<&str> = actions
        .iter()
        .map(|action| action["title"].as_str().unwrap())
        .collect();
    let first_suggestion = suggestions[0].as_str().unwrap();
    assert_eq!(titles[0], format!("Replace with \"{first_suggestion}\""));
    assert_eq!(actions[0]["isPreferred"], true);
    assert_eq!(actions[0]["kind"], "quickfix");
    assert_eq!(
        actions[0]["edit"]["changes"][&uri],
        json!([{"range": diagnostic["range"], "newText": first_suggestion}])
    );
    assert!(actions[1..suggestions.len()]
        .iter()
        .all(|action| action["isPreferred"] == false));
    let tail: Vec<&str> = titles[suggestions.len()..].to_vec();
    assert_eq!(
        tail,
        [
            "Add \"infraction\" to user dictionary",
            "Add \"infraction\" to workspace dictionary",
            "Ignore \"infraction\" in this document"
        ]
    );

    // Adding the word to the workspace dictionary writes the team's file and clears the finding.
    let add = actions
        .iter()
        .find(|action| action["title"] == "Add \"infraction\" to workspace dictionary")
        .unwrap();
    let response = client.request(
        "workspace/executeCommand",
        json!({"command": add["command"]["command"], "arguments": add["command"]["arguments"]}),
    );
    assert!(response.get("error").is_none(), "{response}");
    let dictionary =
        std::fs::read_to_string(workspace.path().join(".biomed-lsp/dictionary.txt")).unwrap();
    assert_eq!(dictionary, "infraction\n");
    client.notifications.clear();
    let published = diagnostics_for(&mut client, &uri, |params| infraction(params).is_none());
    assert_eq!(published["version"], 1);

    // A bad command argument is an error that names what is wrong; the server goes on.
    let response = client.request(
        "workspace/executeCommand",
        json!({"command": "biomedLsp.addToDictionary", "arguments": [{"word": "two words"}]}),
    );
    assert_eq!(response["error"]["code"], -32602, "{response}");
    let response = client.request(
        "workspace/executeCommand",
        json!({"command": "biomedLsp.status", "arguments": []}),
    );
    assert_eq!(response["result"]["state"], "ready", "{response}");
    assert_eq!(response["result"]["device"], "cpu");
    // The CPU's default precision: 8-bit weights where an integer kernel runs, named with it.
    assert_eq!(
        response["result"]["precision"],
        biomed_lsp::model::device::cpu_default_precision_name(),
        "{response}"
    );
    assert_eq!(
        response["result"]["entities"],
        json!({"name": "bundled disease tagger", "entity_types": ["Disease"], "shares_encoder": false}),
        "{response}"
    );
}

#[test]
fn ignore_in_document_and_switches_silence_findings_and_edits_recheck() {
    let workspace = tempfile::tempdir().unwrap();
    let config_home = tempfile::tempdir().unwrap();
    let mut client = start(workspace.path(), config_home.path());
    let tex_uri = format!("file://{}/paper.tex", workspace.path().display());
    let tex = format!(
        "\\begin{{document}}\n{TEXT}% biomed-lsp: ignore-next-line\n{TEXT}Seen in $x$ \\cite{{key}}.\n\\end{{document}}\n"
    );
    open(&mut client, &tex_uri, "latex", &tex);
    let published = diagnostics_for(&mut client, &tex_uri, |params| infraction(params).is_some());
    let flagged_lines: Vec<u64> = published["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["data"]["word"] == "infraction")
        .map(|d| d["range"]["start"]["line"].as_u64().unwrap())
        .collect();
    assert_eq!(
        flagged_lines,
        [1],
        "the line after ignore-next-line is not checked"
    );

    // An edit that fixes the word is re-checked, and published with the new version.
    client.notifications.clear();
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": tex_uri, "version": 2}, "contentChanges": [{"range": {"start": {"line": 1, "character": 17}, "end": {"line": 1, "character": 27}}, "text": "infarction"}]}),
    );
    let published = diagnostics_for(&mut client, &tex_uri, |params| params["version"] == 2);
    assert!(infraction(&published).is_none(), "{published}");

    // "Ignore in this document" affects that document only.
    let md_uri = format!("file://{}/notes.md", workspace.path().display());
    open(&mut client, &md_uri, "markdown", TEXT);
    diagnostics_for(&mut client, &md_uri, |params| infraction(params).is_some());
    client.notifications.clear();
    let response = client.request(
        "workspace/executeCommand",
        json!({"command": "biomedLsp.ignoreInDocument", "arguments": [{"word": "infraction", "uri": md_uri}]}),
    );
    assert!(response.get("error").is_none(), "{response}");
    diagnostics_for(&mut client, &md_uri, |params| infraction(params).is_none());

    // Closing a document clears its diagnostics.
    client.notifications.clear();
    client.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": md_uri}}),
    );
    let cleared = diagnostics_for(&mut client, &md_uri, |params| {
        params["diagnostics"] == json!([])
    });
    assert!(cleared.get("version").is_none() || cleared["version"].is_null());
    assert!(client.is_running());
}

#[test]
fn raising_the_edit_distance_rebuilds_the_near_spelling_index() {
    let workspace = tempfile::tempdir().unwrap();
    let config_home = tempfile::tempdir().unwrap();
    let mut client = start(workspace.path(), config_home.path());
    let set_distance = |client: &mut LspClient, distance: u32| {
        client.notify(
            "workspace/didChangeConfiguration",
            json!({"settings": {"biomedLsp": {"diagnostics": {"maxEditDistance": distance}}}}),
        );
    };
    set_distance(&mut client, 1);
    let uri = format!("file://{}/paper.md", workspace.path().display());
    // "infracton" is two edits from "infarction", "carcinomma" one from "carcinoma".
    let text = "Acute myocardial infracton was confirmed by troponin.\nA hepatocelular carcinomma was resected.\n";
    open(&mut client, &uri, "markdown", text);
    let words = |params: &Value| -> Vec<String> {
        params["diagnostics"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|diagnostic| {
                diagnostic["data"]["word"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    let within_one = diagnostics_for(&mut client, &uri, |params| {
        words(params).contains(&"carcinomma".to_string())
    });
    assert!(
        !words(&within_one).contains(&"infracton".to_string()),
        "{within_one}"
    );

    set_distance(&mut client, 2);
    let within_two = diagnostics_for(&mut client, &uri, |params| {
        words(params).contains(&"infracton".to_string())
    });
    let infracton = within_two["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|diagnostic| diagnostic["data"]["word"] == "infracton")
        .unwrap();
    assert!(
        infracton["data"]["suggestions"]
            .as_array()
            .unwrap()
            .contains(&json!("infarction")),
        "{infracton}"
    );
}

#[test]
fn each_progress_has_a_token_of_its_own() {
    let workspace = tempfile::tempdir().unwrap();
    let config_home = tempfile::tempdir().unwrap();
    let mut client = start(workspace.path(), config_home.path());
    // Documents of over 40 sentences report the progress of their check.
    let long_text = TEXT.repeat(60);
    let uris: Vec<String> = (0..3)
        .map(|index| format!("file://{}/paper-{index}.md", workspace.path().display()))
        .collect();
    for uri in &uris {
        open(&mut client, uri, "markdown", &long_text);
    }
    for uri in &uris {
        diagnostics_for(&mut client, uri, |params| infraction(params).is_some());
    }
    let tokens: Vec<Value> = client
        .server_requests
        .iter()
        .filter(|request| request["method"] == "window/workDoneProgress/create")
        .map(|request| request["params"]["token"].clone())
        .collect();
    assert!(
        tokens.len() >= 4,
        "a model load and three checks: {tokens:?}"
    );
    let mut distinct = tokens.clone();
    distinct.sort_by_key(Value::to_string);
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        tokens.len(),
        "a token was created twice: {tokens:?}"
    );
}

#[test]
fn a_model_reload_does_not_wait_for_a_running_check() {
    let workspace = tempfile::tempdir().unwrap();
    let config_home = tempfile::tempdir().unwrap();
    // A slow engine makes the check of a long document run for seconds.
    let mut client = LspClient::spawn(
        SERVER,
        &[
            ("XDG_CONFIG_HOME", config_home.path().to_str().unwrap()),
            ("BIOMED_LSP_TEST_ENGINE_DELAY_MS", "100"),
        ],
    );
    client.request(
        "initialize",
        json!({"processId": std::process::id(), "rootUri": null, "capabilities": {
            "window": {"workDoneProgress": true}},
            "initializationOptions": {"model": "bundled", "device": "auto"}}),
    );
    client.notify("initialized", json!({}));
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    let uri = format!("file://{}/long.md", workspace.path().display());
    open(&mut client, &uri, "markdown", &TEXT.repeat(800));
    let check_begun = client.wait_for(DEFAULT_TIMEOUT, |message| {
        message["method"] == "$/progress"
            && message["params"]["value"]["kind"] == "begin"
            && message["params"]["value"]["message"]
                .as_str()
                .is_some_and(|text| text.starts_with("checking"))
    });
    let check_token =
        check_begun.expect("the check should report its progress")["params"]["token"].clone();

    // The same model on another device setting: a reload while the check runs.
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"biomedLsp": {"model": "bundled", "device": "cpu"}}}),
    );
    let ready = client.wait_for_model_load_end(DEFAULT_TIMEOUT);
    // A reload that waited for the check would come after the check's end "checked". (The check
    // may have been stopped instead, by the re-check the first load schedules as it ends.)
    let check_finished = client.notifications.iter().find(|message| {
        message["method"] == "$/progress"
            && message["params"]["token"] == check_token
            && message["params"]["value"] == json!({"kind": "end", "message": "checked"})
    });
    assert!(
        check_finished.is_none(),
        "the reload ({ready}) came after the running check finished ({check_finished:?})"
    );
    // The document is checked again on the new engine, to the end (a slow engine: seconds).
    let rechecked = client.wait_for(std::time::Duration::from_secs(120), |message| {
        message["method"] == "textDocument/publishDiagnostics"
            && message["params"]["uri"] == uri.as_str()
            && infraction(&message["params"]).is_some()
    });
    assert!(rechecked.is_some(), "the document was not checked again");
}

/// `p = 8.4e-15` in a message or a hover: the number after the first `p = `.
fn first_probability(text: &str) -> String {
    let after = text
        .split("p = ")
        .nth(1)
        .unwrap_or_else(|| panic!("no `p = ` in {text:?}"));
    after
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_hover_of_a_flagged_word_says_what_its_diagnostic_says() {
    let workspace = tempfile::tempdir().unwrap();
    let config_home = tempfile::tempdir().unwrap();
    let mut client = start(workspace.path(), config_home.path());
    let uri = format!("file://{}/manuscript.md", workspace.path().display());
    let sample = include_str!("../samples/manuscript.md");
    open(&mut client, &uri, "markdown", sample);
    let published = diagnostics_for(&mut client, &uri, |params| infraction(params).is_some());
    let diagnostic = infraction(&published).unwrap();
    let message = diagnostic["message"].as_str().unwrap().to_string();
    let hover = client.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": diagnostic["range"]["start"]}),
    );
    let markdown = hover["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(hover["result"]["range"], diagnostic["range"], "{hover}");
    assert_eq!(
        first_probability(markdown),
        first_probability(&message),
        "hover:\n{markdown}\ndiagnostic: {message}"
    );
    // The finding itself, with its suggestion, is in the hover.
    assert!(markdown.contains("infarction"), "{markdown}");
}

/// The character column of the first `word` in `text` (one line of ASCII).
fn column_of(text: &str, word: &str) -> u64 {
    text.find(word)
        .unwrap_or_else(|| panic!("{word} not in {text:?}")) as u64
}

#[test]
fn a_findings_evidence_is_related_information_an_evidence_line_and_highlights() {
    let workspace = tempfile::tempdir().unwrap();
    let config_home = tempfile::tempdir().unwrap();
    let mut client = start(workspace.path(), config_home.path());
    let uri = format!("file://{}/paper.tex", workspace.path().display());
    let text = "Acute \\emph{myocardial} infraction was confirmed by elevated troponin levels.\n";
    open(&mut client, &uri, "latex", text);
    let published = diagnostics_for(&mut client, &uri, |params| infraction(params).is_some());
    let diagnostic = infraction(&published).unwrap();
    let suggestion = diagnostic["data"]["suggestions"][0]
        .as_str()
        .unwrap()
        .to_string();
    let related = diagnostic["relatedInformation"]
        .as_array()
        .unwrap_or_else(|| panic!("no relatedInformation: {diagnostic}"))
        .clone();
    assert!(!related.is_empty() && related.len() <= 3, "{related:?}");
    let mut evidence_words = Vec::new();
    for information in &related {
        assert_eq!(information["location"]["uri"], uri.as_str());
        let range = &information["location"]["range"];
        assert_eq!(range["start"]["line"], 0);
        let start = range["start"]["character"].as_u64().unwrap() as usize;
        let end = range["end"]["character"].as_u64().unwrap() as usize;
        let word = &text[start..end];
        let message = information["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("\"{word}\" supports \"{suggestion}\" (")),
            "{message} at {word:?}"
        );
        evidence_words.push(word.to_string());
    }
    assert!(
        evidence_words.contains(&"myocardial".to_string()),
        "{evidence_words:?}"
    );

    // The hover of the flagged word lists the same words.
    let hover = client.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": diagnostic["range"]["start"]}),
    );
    let markdown = hover["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_default();
    let evidence_line = markdown
        .lines()
        .find(|line| line.starts_with(&format!("Evidence for \"{suggestion}\": ")))
        .unwrap_or_else(|| panic!("no evidence line in:\n{markdown}"));
    for word in &evidence_words {
        assert!(
            evidence_line.contains(&format!("**{word}**")),
            "{evidence_line}"
        );
    }

    // The cursor on the flagged word highlights it and its evidence words.
    let highlights = client.request(
        "textDocument/documentHighlight",
        json!({"textDocument": {"uri": uri}, "position": diagnostic["range"]["start"]}),
    );
    let highlights = highlights["result"].as_array().unwrap().clone();
    assert_eq!(highlights.len(), 1 + related.len(), "{highlights:?}");
    assert_eq!(highlights[0]["range"], diagnostic["range"]);
    assert_eq!(highlights[0]["kind"], 1);
    for (highlight, information) in highlights[1..].iter().zip(&related) {
        assert_eq!(highlight["range"], information["location"]["range"]);
        assert_eq!(highlight["kind"], 2, "Read");
    }
    // Elsewhere, nothing is highlighted.
    let elsewhere = client.request(
        "textDocument/documentHighlight",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": column_of(text, "levels")}}),
    );
    assert_eq!(elsewhere["result"], Value::Null, "{elsewhere}");

    // A word that is not flagged: with hover evidence on (off by default), the hover says what
    // supports it here. Pushed settings apply to the requests that follow them.
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"biomedLsp": {"hover": {"evidence": "occlusion"}}}}),
    );
    let hover = client.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": column_of(text, "troponin")}}),
    );
    let markdown = hover["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_default();
    assert!(
        markdown.contains("\nEvidence for \"troponin\": **"),
        "{markdown}"
    );
    // With hover evidence off, no such line.
    client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"biomedLsp": {"hover": {"evidence": "off"}}}}),
    );
    let hover = client.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": column_of(text, "troponin")}}),
    );
    let markdown = hover["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_default();
    assert!(!markdown.contains("Evidence"), "{markdown}");
}

#[test]
fn the_workspace_configuration_file_applies_and_its_mistakes_are_shown() {
    let workspace = tempfile::tempdir().unwrap();
    let config_home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(workspace.path().join(".biomed-lsp")).unwrap();
    std::fs::write(
        workspace.path().join(".biomed-lsp").join("config.json"),
        r#"{"dictionary": {"words": ["infraction"]}, "diagnostics": {"minMargn": 6}}"#,
    )
    .unwrap();
    let mut client = start(workspace.path(), config_home.path());
    let warning = client
        .notifications
        .iter()
        .find(|message| message["method"] == "window/showMessage")
        .cloned()
        .expect("the mistake in the configuration file is shown");
    let text = warning["params"]["message"].as_str().unwrap_or_default();
    assert!(
        text.contains("config.json") && text.contains("diagnostics.minMargn"),
        "{text}"
    );
    let uri = format!("file://{}/paper.md", workspace.path().display());
    open(&mut client, &uri, "markdown", TEXT);
    let published = diagnostics_for(&mut client, &uri, |params| params["version"] == 1);
    assert!(infraction(&published).is_none(), "{published}");
}

#[test]
fn each_workspace_folder_has_its_own_configuration_and_dictionary() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let config_home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(first.path().join(".biomed-lsp")).unwrap();
    std::fs::write(
        first.path().join(".biomed-lsp").join("config.json"),
        r#"{"dictionary": {"words": ["infraction"]}}"#,
    )
    .unwrap();
    let mut client = LspClient::spawn(
        SERVER,
        &[("XDG_CONFIG_HOME", config_home.path().to_str().unwrap())],
    );
    client.configuration = json!({"model": "bundled", "diagnostics": {"debounceMs": 50}});
    let folder = |path: &std::path::Path| json!({"uri": format!("file://{}", path.display()), "name": "folder"});
    client.request(
        "initialize",
        json!({"processId": std::process::id(), "rootUri": null,
               "workspaceFolders": [folder(first.path()), folder(second.path())],
               "capabilities": {"workspace": {"configuration": true}, "window": {"workDoneProgress": true}}}),
    );
    client.notify("initialized", json!({}));
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    let first_uri = format!("file://{}/paper.md", first.path().display());
    let second_uri = format!("file://{}/paper.md", second.path().display());
    open(&mut client, &first_uri, "markdown", TEXT);
    open(&mut client, &second_uri, "markdown", TEXT);
    let in_first = diagnostics_for(&mut client, &first_uri, |params| params["version"] == 1);
    assert!(infraction(&in_first).is_none(), "{in_first}");
    let in_second = diagnostics_for(&mut client, &second_uri, |params| {
        infraction(params).is_some()
    });
    let diagnostic = infraction(&in_second).unwrap();

    // The second folder's workspace dictionary is its own.
    let response = client.request(
        "workspace/executeCommand",
        json!({"command": "biomedLsp.addToDictionary",
               "arguments": [{"word": "infraction", "scope": "workspace", "uri": second_uri}]}),
    );
    assert!(response.get("error").is_none(), "{response}");
    let written = second.path().join(".biomed-lsp").join("dictionary.txt");
    assert_eq!(std::fs::read_to_string(&written).unwrap(), "infraction\n");
    assert!(!first
        .path()
        .join(".biomed-lsp")
        .join("dictionary.txt")
        .exists());
    let cleared = diagnostics_for(&mut client, &second_uri, |params| {
        params["diagnostics"]
            .as_array()
            .is_some_and(|items| !items.contains(&diagnostic))
    });
    assert!(infraction(&cleared).is_none(), "{cleared}");
}
