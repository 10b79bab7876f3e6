//! The model download against a stand-in Hub on 127.0.0.1: a download completes into the cache
//! in Python's layout, a cancelled one stops and resumes where it stopped, and in the server the
//! progress's cancel button stops it and the bundled model stands in, said once.

#[path = "support/fake_hub.rs"]
mod fake_hub;
#[path = "support/lsp_client.rs"]
mod lsp_client;

use std::time::Duration;

use biomed_lsp::model::resolve::{download, find_in_cache};
use biomed_lsp::model::{CancelFlag, ModelError};
use fake_hub::FakeHub;
use lsp_client::{LspClient, DEFAULT_TIMEOUT};
use serde_json::json;

const REPO: &str = "test-org/mini-bert";
const SERVER: &str = env!("CARGO_BIN_EXE_biomed-lsp");

/// One test: the download reads its endpoint from the environment (`HF_ENDPOINT`).
#[test]
fn a_cancelled_download_stops_and_the_next_one_resumes_it() {
    let files = FakeHub::mini_model_files();
    let weight_size = files["model.safetensors"].len() as u64;
    let hub = FakeHub::start(REPO, files.clone(), 256 * 1024, Duration::from_millis(20));
    std::env::set_var("HF_ENDPOINT", &hub.endpoint);
    let cache = tempfile::tempdir().unwrap();

    let cancel = CancelFlag::new();
    let stop_after_a_megabyte = |file: &str, done: u64, _total: u64| {
        if file == "model.safetensors" && done > 1_000_000 {
            cancel.cancel();
        }
    };
    let outcome = download(
        cache.path(),
        REPO,
        "main",
        true,
        &stop_after_a_megabyte,
        &cancel,
    );
    assert!(matches!(outcome, Err(ModelError::Cancelled)), "{outcome:?}");
    assert_eq!(find_in_cache(cache.path(), REPO, "main", true), None);

    let progress = std::sync::Mutex::new(Vec::new());
    let record = |file: &str, done: u64, total: u64| {
        progress
            .lock()
            .unwrap()
            .push((file.to_string(), done, total))
    };
    let snapshot = download(
        cache.path(),
        REPO,
        "main",
        true,
        &record,
        &CancelFlag::new(),
    )
    .unwrap();
    std::env::remove_var("HF_ENDPOINT");

    assert_eq!(
        find_in_cache(cache.path(), REPO, "main", true),
        Some(snapshot.clone())
    );
    for (name, bytes) in &files {
        assert_eq!(
            &std::fs::read(snapshot.join(name)).unwrap(),
            bytes,
            "{name} differs from the served file"
        );
    }
    let weight_requests: Vec<u64> = hub
        .downloads
        .lock()
        .unwrap()
        .iter()
        .filter(|(file, _)| file == "model.safetensors")
        .map(|&(_, start)| start)
        .collect();
    assert_eq!(weight_requests.len(), 2, "{weight_requests:?}");
    assert_eq!(weight_requests[0], 0);
    assert!(
        weight_requests[1] > 1_000_000 && weight_requests[1] < weight_size,
        "the second download resumes where the first stopped: {weight_requests:?}"
    );
    let progress = progress.into_inner().unwrap();
    assert!(
        progress.contains(&("model.safetensors".to_string(), weight_size, weight_size)),
        "the progress reaches the whole file"
    );
}

#[test]
fn the_progress_cancel_button_stops_the_download_and_the_bundled_model_stands_in() {
    let files = FakeHub::mini_model_files();
    // Slow enough that the download is still running when the cancel arrives.
    let hub = FakeHub::start(REPO, files, 64 * 1024, Duration::from_millis(50));
    let cache = tempfile::tempdir().unwrap();
    let cache_path = cache.path().to_string_lossy().to_string();
    let mut client = LspClient::spawn(
        SERVER,
        &[
            ("HF_ENDPOINT", hub.endpoint.as_str()),
            ("HF_HUB_CACHE", cache_path.as_str()),
            ("HF_HUB_OFFLINE", "0"),
        ],
    );
    client.configuration = json!({"model": REPO});
    client.request(
        "initialize",
        json!({
            "processId": std::process::id(),
            "rootUri": null,
            "capabilities": {"window": {"workDoneProgress": true}},
            "initializationOptions": {"model": REPO}
        }),
    );
    client.notify("initialized", json!({}));
    let begin = client
        .wait_for(DEFAULT_TIMEOUT, |message| {
            message["method"] == "$/progress" && message["params"]["value"]["kind"] == "begin"
        })
        .expect("the model load begins its progress");
    assert_eq!(begin["params"]["value"]["cancellable"], true, "{begin}");
    let token = begin["params"]["token"].clone();
    let report = client
        .wait_for(DEFAULT_TIMEOUT, |message| {
            message["method"] == "$/progress"
                && message["params"]["value"]["message"]
                    .as_str()
                    .is_some_and(|text| text.starts_with("downloading model.safetensors"))
        })
        .expect("the weights download reports its progress");
    assert_eq!(report["params"]["value"]["cancellable"], true, "{report}");

    client.notify("window/workDoneProgress/cancel", json!({"token": token}));
    let end = client.wait_for_model_ready(DEFAULT_TIMEOUT);
    assert_eq!(
        end["message"],
        format!(
            "mini model ready on cpu ({})",
            biomed_lsp::model::device::cpu_default_precision_name()
        ),
        "{end}"
    );
    let warnings: Vec<String> = client
        .notifications
        .iter()
        .filter(|message| message["method"] == "window/showMessage")
        .filter_map(|message| message["params"]["message"].as_str().map(String::from))
        .collect();
    assert_eq!(warnings.len(), 1, "said once: {warnings:?}");
    assert!(
        warnings[0].contains("was cancelled")
            && warnings[0].contains("bundled mini model")
            && warnings[0].contains("resumes"),
        "{warnings:?}"
    );
    let weights_requested = hub
        .downloads
        .lock()
        .unwrap()
        .iter()
        .filter(|(file, _)| file == "model.safetensors")
        .count();
    assert_eq!(weights_requested, 1, "no second attempt after the cancel");

    // Offline now: the bundled model stands in with the offline warning, said once however
    // often the model reloads (the device setting changes reload it).
    let show_messages = |client: &LspClient| {
        client
            .notifications
            .iter()
            .filter(|message| message["method"] == "window/showMessage")
            .count()
    };
    for device in ["cpu", "auto"] {
        client.notify(
            "workspace/didChangeConfiguration",
            json!({"settings": {"biomedLsp": {"model": REPO, "offline": true, "device": device}}}),
        );
        client.wait_for_model_ready(DEFAULT_TIMEOUT);
    }
    client.pump(Duration::from_millis(300));
    assert_eq!(show_messages(&client), 2, "{:?}", client.notifications);
    client.request("shutdown", json!(null));
    client.notify("exit", json!(null));
}
