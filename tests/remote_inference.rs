//! The engine over the Open Inference Protocol, against a real server on 127.0.0.1 (KServe's model
//! server with the mini model exported to ONNX, run by onnxruntime): the same log-probabilities as
//! the model in this process, every feature through the server, and what happens when the server
//! is down at start, dies while in use and comes back, or serves another model.

#[path = "support/inference_server.rs"]
mod inference_server;
#[path = "support/lsp_client.rs"]
mod lsp_client;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use biomed_lsp::model::device::{DeviceChoice, Precision, PrecisionChoice};
use biomed_lsp::model::engine::{load_from_directory, load_model};
use biomed_lsp::model::{CancelFlag, ModelOptions};
use inference_server::{free_port, InferenceServer, MODEL_NAME};
use lsp_client::{LspClient, DEFAULT_TIMEOUT};
use serde_json::{json, Value};

const SERVER: &str = env!("CARGO_BIN_EXE_biomed-lsp");

fn repo_path(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn remote_options(url: &str) -> ModelOptions {
    ModelOptions {
        model: "bundled".into(),
        inference_url: url.into(),
        inference_timeout_ms: 20_000,
        ..ModelOptions::default()
    }
}

#[test]
fn the_served_model_gives_the_log_probabilities_of_the_model_here() {
    let server = InferenceServer::start(&[]);
    let events = std::sync::Mutex::new(Vec::new());
    let remote = load_model(
        &remote_options(&server.url()),
        &|event| events.lock().unwrap().push(format!("{event:?}")),
        &CancelFlag::new(),
    )
    .expect("the served model");
    assert_eq!(remote.info.device, server.url());
    assert_eq!(remote.info.precision, "remote");
    let (local, _) = load_from_directory(
        &repo_path("models/biomed-mini"),
        DeviceChoice::Cpu,
        PrecisionChoice::Exactly(Precision::Float),
    )
    .unwrap();
    // The goldens' sentences in one batch of rows of different lengths (padding), every position.
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("tests/golden/logits_parity.json")).unwrap(),
    )
    .unwrap();
    let rows: Vec<Vec<u32>> = golden["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sentence| {
            local
                .tokenizer
                .encode_for_model(sentence["text"].as_str().unwrap())
                .unwrap()
        })
        .collect();
    let positions: Vec<(usize, usize)> = rows
        .iter()
        .enumerate()
        .flat_map(|(row, ids)| (0..ids.len()).map(move |token_idx| (row, token_idx)))
        .collect();
    let expected = local.log_probabilities_at(&rows, &positions).unwrap();
    let actual = remote
        .runner
        .log_probabilities_at(&rows, &positions)
        .unwrap();
    assert_eq!(expected.len(), actual.len());
    let mut worst = 0f32;
    for (expected, actual) in expected.iter().zip(&actual) {
        for (e, a) in expected.iter().zip(actual) {
            worst = worst.max((e - a).abs());
        }
    }
    eprintln!("largest log-probability difference, served against here: {worst:e}");
    assert!(worst <= 1e-3, "largest difference {worst}");
}

fn run(arguments: &[&str]) -> (i32, String, String) {
    let output = Command::new(SERVER)
        .args(arguments)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("run biomed-lsp");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_and_fill_run_on_the_server_and_a_server_down_leaves_the_model_here() {
    let server = InferenceServer::start(&[]);
    let url = server.url();
    let sample = repo_path("samples/manuscript.md");
    let sample = sample.to_str().unwrap();
    let (status, stdout, stderr) = run(&[
        "check",
        sample,
        "--model",
        "bundled",
        "--inference-url",
        &url,
        "--format",
        "json",
    ]);
    assert_eq!(status, 1, "findings of severity warning: {stderr}");
    assert!(stderr.contains(&format!("ready on {url}")), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let words: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|finding| finding["word"].as_str())
        .collect();
    assert!(words.contains(&"infraction"), "{words:?}");

    let (status, stdout, stderr) = run(&[
        "fill",
        "Acute myocardial [MASK] was confirmed by troponin.",
        "--model",
        "bundled",
        "--inference-url",
        &url,
        "--format",
        "json",
    ]);
    assert_eq!(status, 0, "{stderr}");
    let fill: Value = serde_json::from_str(&stdout).unwrap();
    assert!(fill["masks"][0]["predictions"]
        .as_array()
        .is_some_and(|p| !p.is_empty()));

    // Nothing listens there: a clear warning, and the model runs here.
    let nobody = format!("http://127.0.0.1:{}/v2/models/{MODEL_NAME}", free_port());
    let (status, _, stderr) = run(&[
        "check",
        sample,
        "--model",
        "bundled",
        "--inference-url",
        &nobody,
    ]);
    assert_eq!(status, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the inference server at {nobody} cannot be reached"
        )) && stderr.contains("the model runs in this process instead")
            && stderr.contains("mini model ready on cpu"),
        "{stderr}"
    );
}

#[test]
fn a_server_that_serves_another_vocabulary_is_refused_naming_both() {
    let server = InferenceServer::start(&["--vocab_size", "28996"]);
    let sample = repo_path("samples/manuscript.md");
    let (status, _, stderr) = run(&[
        "check",
        sample.to_str().unwrap(),
        "--model",
        "bundled",
        "--inference-url",
        &server.url(),
    ]);
    assert_eq!(status, 2, "{stderr}");
    assert!(
        stderr.contains("does not match the local model")
            && stderr.contains("28996")
            && stderr.contains("30522"),
        "{stderr}"
    );
}

fn completion_at(client: &mut LspClient, uri: &str, line: u32, character: u32) -> Value {
    client.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
    )
}

#[test]
fn the_language_server_works_through_the_server_fails_clearly_without_it_and_resumes() {
    let mut server = InferenceServer::start(&[]);
    let url = server.url();
    let mut client = LspClient::spawn(SERVER, &[]);
    client.configuration =
        json!({"model": "bundled", "inference": {"url": url}, "completion": {"minProbability": 0}});
    client.request(
        "initialize",
        json!({"processId": std::process::id(), "rootUri": null,
               "capabilities": {"window": {"workDoneProgress": true}, "workspace": {"configuration": true}},
               "initializationOptions": client.configuration.clone()}),
    );
    client.notify("initialized", json!({}));
    let ready = client.wait_for_model_ready(DEFAULT_TIMEOUT);
    assert_eq!(
        ready["message"],
        format!("mini model ready on {url} (remote)"),
        "{ready}"
    );

    // Every feature, through the server.
    let uri = "file:///tmp/remote.md";
    let text = "Acute myocardial infraction was confirmed by elevated troponin levels.\nThe pati\n";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "markdown", "version": 1, "text": text}}),
    );
    let published = client
        .wait_for(DEFAULT_TIMEOUT, |message| {
            message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["diagnostics"]
                    .as_array()
                    .is_some_and(|diagnostics| !diagnostics.is_empty())
        })
        .expect("diagnostics from the served model");
    assert!(published.to_string().contains("infraction"), "{published}");
    let hover = client.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 20}}),
    );
    let markdown = hover["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_default();
    assert!(
        markdown.contains("p = ") && markdown.contains("mini model"),
        "{markdown}"
    );
    let completion = completion_at(&mut client, uri, 1, 8);
    let items = completion["result"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !items.is_empty()
            && items
                .iter()
                .all(|item| item["label"].as_str().unwrap().starts_with("pati")),
        "{completion}"
    );

    // The server dies: a request that needs the model fails and says why; cheap ones still work.
    server.kill();
    let completion = completion_at(&mut client, uri, 0, 3);
    let message = completion["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains(&format!("the inference server at {url} cannot be reached")),
        "{completion}"
    );
    let cheap = client.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": "file:///nowhere.md"}, "position": {"line": 0, "character": 0}}),
    );
    assert_eq!(cheap["result"], Value::Null, "{cheap}");
    // An edit's check fails too: said once, as a message.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2},
               "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 5}}, "text": "Severe"}]}),
    );
    let failing = client
        .wait_for(DEFAULT_TIMEOUT, |message| {
            message["method"] == "window/showMessage"
                && message["params"]["message"]
                    .as_str()
                    .is_some_and(|text| text.contains("checks fail"))
        })
        .expect("a message that checks fail");
    assert!(
        failing.to_string().contains("cannot be reached"),
        "{failing}"
    );

    // Back on the same port: the next requests reach it, and the failed check is tried again.
    server.restart();
    let completion = completion_at(&mut client, uri, 0, 4);
    assert!(completion["result"]["items"].is_array(), "{completion}");
    client
        .wait_for(Duration::from_secs(30), |message| {
            message["method"] == "window/showMessage"
                && message["params"]["message"] == "biomed-lsp: checks work again"
        })
        .expect("a message that checks work again");
    client.request("shutdown", Value::Null);
    client.notify("exit", Value::Null);
}
