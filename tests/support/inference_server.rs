//! A real Open Inference Protocol server for the tests: KServe's model server hosting the mini
//! model exported to ONNX (`models/biomed-mini-onnx`, by `scripts/export_onnx.py`), on 127.0.0.1.
//! Its python comes from `BIOMED_OIP_PYTHON` (`scripts/install-inference-server` installs it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const MODEL_NAME: &str = "biomedbert";

pub struct InferenceServer {
    child: Option<Child>,
    port: u16,
    extra: Vec<String>,
}

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn python() -> String {
    std::env::var("BIOMED_OIP_PYTHON").unwrap_or_else(|_| {
        panic!(
            "BIOMED_OIP_PYTHON is not set: the inference-server tests need KServe and onnxruntime; \
             run `export BIOMED_OIP_PYTHON=$(scripts/install-inference-server)` (scripts/test-all does)"
        )
    })
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
}

impl InferenceServer {
    /// Starts the server and waits until the model is ready. `extra` goes to the server script
    /// (`--vocab_size N` claims another vocabulary).
    pub fn start(extra: &[&str]) -> Self {
        let mut server = Self {
            child: None,
            port: free_port(),
            extra: extra.iter().map(|value| value.to_string()).collect(),
        };
        server.restart();
        server
    }

    /// Starts the server again on the same port (after [`Self::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new(python())
            .arg(repo_path("tests/inference/serve_onnx.py"))
            .args([
                "--model_dir",
                &repo_path("models/biomed-mini-onnx").to_string_lossy(),
            ])
            .args([
                "--model_name",
                MODEL_NAME,
                "--http_port",
                &self.port.to_string(),
            ])
            .args([
                "--grpc_port",
                &free_port().to_string(),
                "--enable_grpc",
                "false",
            ])
            .args(&self.extra)
            .env("SERVE_THREADS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the inference server (python with kserve)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(120);
        let ready = format!(
            "http://127.0.0.1:{}/v2/models/{MODEL_NAME}/ready",
            self.port
        );
        loop {
            if let Ok(response) = ureq::get(&ready).timeout(Duration::from_secs(2)).call() {
                if response.status() == 200 {
                    return;
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("the inference server exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the inference server was not ready within 120 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The model's endpoint, as `inference.url` takes it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v2/models/{MODEL_NAME}", self.port)
    }

    /// Stops the server at once (as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for InferenceServer {
    fn drop(&mut self) {
        self.kill();
    }
}
