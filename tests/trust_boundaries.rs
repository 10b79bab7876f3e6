//! Workspace files are data: a cloned manuscript's `.biomed-lsp/config.json` cannot send the text
//! to a server, choose the model or choose where we write; the same settings from the user are
//! used. Through `check` and the real protocol, with the bundled mini model.

#[path = "support/lsp_client.rs"]
mod lsp_client;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lsp_client::{LspClient, DEFAULT_TIMEOUT};
use serde_json::json;

const SERVER: &str = env!("CARGO_BIN_EXE_biomed-lsp");
const TEXT: &str = "Acute myocardial infraction was confirmed by troponin.\n";

/// A port that counts the connections made to it (and closes each at once).
struct Listener {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl Listener {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&connections);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { port, connections }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v2/models/biomedbert", self.port)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn write_workspace(workspace: &Path, config: serde_json::Value) {
    std::fs::create_dir_all(workspace.join(".biomed-lsp")).expect("folder");
    std::fs::write(
        workspace.join(".biomed-lsp").join("config.json"),
        config.to_string(),
    )
    .expect("config");
    std::fs::write(workspace.join("paper.md"), TEXT).expect("manuscript");
}

fn check(workspace: &Path, config_home: &Path, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(SERVER)
        .args([
            "check",
            "paper.md",
            "--model",
            "bundled",
            "--fail-on",
            "none",
        ])
        .args(extra)
        .current_dir(workspace)
        .env("XDG_CONFIG_HOME", config_home)
        .env_remove("BIOMED_LSP_INFERENCE_TOKEN")
        .output()
        .expect("run check")
}

#[test]
fn check_ignores_a_workspace_inference_url_and_uses_the_users() {
    let listener = Listener::start();
    let workspace = tempfile::tempdir().unwrap();
    let config_home = tempfile::tempdir().unwrap();
    write_workspace(
        workspace.path(),
        json!({"inference": {"url": listener.url()}, "diagnostics.minMargin": 6}),
    );

    let output = check(workspace.path(), config_home.path(), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(listener.connections(), 0, "{stderr}");
    assert!(
        stderr.contains("biomedLsp.inference.url is ignored") && stderr.contains("config.json"),
        "{stderr}"
    );
    // The rest of the workspace's file applies, and the text was checked here.
    assert!(String::from_utf8_lossy(&output.stdout).contains("infraction"));

    // `config` shows the key as ignored.
    let shown = std::process::Command::new(SERVER)
        .args(["config"])
        .current_dir(workspace.path())
        .env("XDG_CONFIG_HOME", config_home.path())
        .output()
        .expect("run config");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("ignored: inference.url in"), "{shown}");
    assert!(shown.contains("diagnostics.minMargin = 6"), "{shown}");

    // The same URL from --set is used (the listener answers nothing: the model then runs here).
    let assignment = format!("inference.url={}", listener.url());
    let output = check(
        workspace.path(),
        config_home.path(),
        &["--set", &assignment],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(listener.connections() > 0, "{stderr}");
    assert!(
        stderr.contains("the text to check is sent there"),
        "{stderr}"
    );

    // And from the user's configuration file.
    let before = listener.connections();
    std::fs::create_dir_all(config_home.path().join("biomed-lsp")).unwrap();
    std::fs::write(
        config_home.path().join("biomed-lsp").join("config.json"),
        json!({"inference.url": listener.url()}).to_string(),
    )
    .unwrap();
    let output = check(workspace.path(), config_home.path(), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(listener.connections() > before, "{stderr}");
}

#[test]
fn the_server_ignores_a_workspaces_machine_settings_and_writes_the_users_dictionary() {
    let listener = Listener::start();
    let workspace = tempfile::tempdir().unwrap();
    let config_home = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let planted = elsewhere.path().join("planted.txt");
    write_workspace(
        workspace.path(),
        json!({"inference.url": listener.url(), "dictionary.userFile": planted}),
    );
    let mut client = LspClient::spawn(
        SERVER,
        &[("XDG_CONFIG_HOME", config_home.path().to_str().unwrap())],
    );
    client.configuration = json!({"model": "bundled", "diagnostics": {"debounceMs": 50}});
    let root = format!("file://{}", workspace.path().display());
    client.request(
        "initialize",
        json!({"processId": std::process::id(), "rootUri": root, "capabilities": {
            "workspace": {"configuration": true}, "window": {"workDoneProgress": true}}}),
    );
    client.notify("initialized", json!({}));
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    let warning = |key: &'static str| {
        move |message: &serde_json::Value| {
            message["method"] == "window/showMessage"
                && message["params"]["message"]
                    .as_str()
                    .is_some_and(|text| text.contains(&format!("biomedLsp.{key} is ignored")))
        }
    };
    for key in ["inference.url", "dictionary.userFile"] {
        let seen = client.notifications.iter().any(warning(key))
            || client.wait_for(DEFAULT_TIMEOUT, warning(key)).is_some();
        assert!(seen, "no warning naming {key}: {:?}", client.notifications);
    }

    let uri = format!("{root}/paper.md");
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "markdown", "version": 1, "text": TEXT}}),
    );
    let added = client.request(
        "workspace/executeCommand",
        json!({"command": "biomedLsp.addToDictionary",
               "arguments": [{"word": "infraction", "scope": "user", "uri": uri}]}),
    );
    let users = config_home.path().join("biomed-lsp").join("dictionary.txt");
    assert_eq!(added["result"]["path"], json!(users), "{added}");
    assert_eq!(std::fs::read_to_string(&users).unwrap(), "infraction\n");
    assert!(!planted.exists());
    client.pump(Duration::from_millis(300));
    assert_eq!(listener.connections(), 0);
}

#[test]
fn the_server_uses_the_inference_url_of_the_users_configuration_file() {
    let listener = Listener::start();
    let workspace = tempfile::tempdir().unwrap();
    let config_home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(config_home.path().join("biomed-lsp")).unwrap();
    std::fs::write(
        config_home.path().join("biomed-lsp").join("config.json"),
        json!({"inference.url": listener.url(), "model": "bundled"}).to_string(),
    )
    .unwrap();
    let mut client = LspClient::spawn(
        SERVER,
        &[("XDG_CONFIG_HOME", config_home.path().to_str().unwrap())],
    );
    let root = format!("file://{}", workspace.path().display());
    client.request(
        "initialize",
        json!({"processId": std::process::id(), "rootUri": root, "capabilities": {
            "window": {"workDoneProgress": true}}}),
    );
    client.notify("initialized", json!({}));
    // The listener answers nothing: the model then runs here, with a warning.
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    assert!(listener.connections() > 0, "{:?}", client.notifications);
}

#[test]
fn the_token_from_the_environment_reaches_the_server_and_no_output() {
    use std::io::{Read, Write};
    const TOKEN: &str = "s3cr3t-lab-token";
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (sender, heads) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let _ = sender.send(String::from_utf8_lossy(&head).into_owned());
            // A server that echoes what it was sent.
            let body = format!("token {TOKEN} refused");
            let _ = write!(
                stream,
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let workspace = tempfile::tempdir().unwrap();
    let config_home = tempfile::tempdir().unwrap();
    std::fs::write(workspace.path().join("paper.md"), TEXT).unwrap();
    let output = std::process::Command::new(SERVER)
        .args([
            "check",
            "paper.md",
            "--model",
            "bundled",
            "--fail-on",
            "none",
            "--set",
        ])
        .arg(format!(
            "inference.url=http://127.0.0.1:{port}/v2/models/biomedbert"
        ))
        .current_dir(workspace.path())
        .env("XDG_CONFIG_HOME", config_home.path())
        .env("BIOMED_LSP_INFERENCE_TOKEN", TOKEN)
        .env("RUST_LOG", "debug")
        .output()
        .expect("run check");
    let head = heads
        .recv_timeout(Duration::from_secs(30))
        .expect("a request");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("authorization: bearer {TOKEN}\r\n")),
        "{head}"
    );
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(shown.contains("HTTP 401"), "{shown}");
    assert!(!shown.contains(TOKEN), "{shown}");

    // `config` says a token is set, not what it is.
    let shown = std::process::Command::new(SERVER)
        .args(["config", "--set"])
        .arg(format!("inference.token={TOKEN}"))
        .current_dir(workspace.path())
        .env("XDG_CONFIG_HOME", config_home.path())
        .output()
        .expect("run config");
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert!(
        stdout.contains("inference.token = \"(set, hidden)\"  (--set)"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN), "{stdout}");
}
