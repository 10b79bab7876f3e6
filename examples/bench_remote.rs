//! One served model for many writers, against one model per writer: N `biomed-lsp check` runs of
//! a document at once, each with its own engine or all against one Open Inference Protocol server
//! (KServe with onnxruntime, `tests/inference/serve_onnx.py`), on the same machine. Reports wall
//! time, throughput (words checked per second, all runs together) and the peak memory of each
//! client; then completion latency through the server against the model in the process.
//!
//! cargo build --release --bins --examples
//! export BIOMED_OIP_PYTHON=$(scripts/install-inference-server)
//! target/release/examples/bench_remote --document FILE [--model bundled|DIR] [--onnx DIR]
//!     [--clients 1,4,8] [--server-threads 2]
//!
//! `--onnx` is the served export of `--model` (`scripts/export_onnx.py`; default: the mini model's,
//! models/biomed-mini-onnx).

#[path = "support/bench_support.rs"]
mod bench_support;
#[path = "../tests/support/lsp_client.rs"]
mod lsp_client;

use bench_support::{argument, build_directory, milliseconds, percentile};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lsp_client::LspClient;
use serde_json::json;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// The served model, stopped when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(onnx: &Path, threads: &str) -> (Served, String) {
    let python = std::env::var("BIOMED_OIP_PYTHON")
        .expect("BIOMED_OIP_PYTHON: export BIOMED_OIP_PYTHON=$(scripts/install-inference-server)");
    let port = free_port();
    let child = Command::new(python)
        .arg("tests/inference/serve_onnx.py")
        .args([
            "--model_dir",
            &onnx.to_string_lossy(),
            "--model_name",
            "biomedbert",
        ])
        .args([
            "--http_port",
            &port.to_string(),
            "--grpc_port",
            &free_port().to_string(),
        ])
        .args([
            "--enable_grpc",
            "false",
            "--enable_latency_logging",
            "false",
        ])
        .env("SERVE_THREADS", threads)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the inference server");
    let served = Served(child);
    let url = format!("http://127.0.0.1:{port}/v2/models/biomedbert");
    let deadline = Instant::now() + Duration::from_secs(300);
    while ureq::get(&format!("{url}/ready")).call().is_err() {
        assert!(
            Instant::now() < deadline,
            "the inference server did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (served, url)
}

/// Waits for a child and returns its peak resident memory in MiB.
fn wait_with_peak_memory(child: &mut Child) -> f64 {
    let mut status = 0;
    // SAFETY: a plain system call on our own child's pid, writing into locals.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage);
        usage
    };
    assert_eq!(status, 0, "a check run failed (exit status {status})");
    usage.ru_maxrss as f64 / 1024.0
}

struct Round {
    wall: Duration,
    peak_memory_mib: Vec<f64>,
}

fn check_runs(document: &str, model: &str, url: Option<&str>, clients: usize) -> Round {
    let binary = build_directory().join("biomed-lsp");
    let started = Instant::now();
    let mut children: Vec<Child> = (0..clients)
        .map(|_| {
            let mut command = Command::new(&binary);
            command
                .args([
                    "check",
                    document,
                    "--model",
                    model,
                    "--fail-on",
                    "none",
                    "--format",
                    "json",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Some(url) = url {
                command.args(["--inference-url", url]);
            }
            command.spawn().expect("start a check")
        })
        .collect();
    let peak_memory_mib = children.iter_mut().map(wait_with_peak_memory).collect();
    Round {
        wall: started.elapsed(),
        peak_memory_mib,
    }
}

fn completion_latencies(model: &str, url: Option<&str>) -> Vec<Duration> {
    let mut client = LspClient::spawn(&build_directory().join("biomed-lsp").to_string_lossy(), &[]);
    let mut options = json!({"model": model, "diagnostics": {"enabled": false}, "completion": {"minProbability": 0}});
    if let Some(url) = url {
        options["inference"] = json!({"url": url});
    }
    client.configuration = options.clone();
    client.request(
        "initialize",
        json!({"processId": std::process::id(), "rootUri": null,
               "capabilities": {"window": {"workDoneProgress": true}}, "initializationOptions": options}),
    );
    client.notify("initialized", json!({}));
    client.wait_for_model_ready(Duration::from_secs(600));
    // Sentences that differ (by a number), so that no two slots are the same model input.
    let sentences: Vec<String> = (0..30)
        .map(|n| format!("Serum levels of interleukin six were higher in {} patients with sepsis than in controls. ", 100 + n))
        .collect();
    let text: String = sentences.concat();
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": "file:///tmp/remote-bench.txt", "languageId": "plaintext", "version": 1, "text": text}}),
    );
    // A different slot each time: the slot cache must not answer.
    (0..30)
        .map(|round| {
            let character = (round * sentences[0].len() + 20) as u32;
            let asked = Instant::now();
            let response = client.request(
                "textDocument/completion",
                json!({"textDocument": {"uri": "file:///tmp/remote-bench.txt"},
                       "position": {"line": 0, "character": character}}),
            );
            assert!(response.get("error").is_none(), "{response}");
            asked.elapsed()
        })
        .collect()
}

fn main() {
    let document = argument("--document").expect("--document FILE");
    let model = argument("--model").unwrap_or_else(|| "bundled".into());
    let onnx =
        PathBuf::from(argument("--onnx").unwrap_or_else(|| "models/biomed-mini-onnx".into()));
    let clients: Vec<usize> = argument("--clients")
        .unwrap_or_else(|| "1,4,8".into())
        .split(',')
        .map(|n| n.parse().expect("--clients 1,4,8"))
        .collect();
    let threads = argument("--server-threads").unwrap_or_else(|| "2".into());
    let text = std::fs::read_to_string(&document).expect("the document");
    let words = text.split_whitespace().count();
    let (_served, url) = serve(&onnx, &threads);
    println!(
        "document {document} ({words} words); model {model}; served {} at {url}\n",
        onnx.display()
    );
    println!("| clients | engines | wall s | words/s | peak memory per client, MiB (max) |");
    println!("|---|---|---|---|---|");
    let report = |clients: usize, label: &str, round: &Round| {
        let seconds = round.wall.as_secs_f64();
        let peak = round.peak_memory_mib.iter().copied().fold(0.0, f64::max);
        println!(
            "| {clients} | {label} | {seconds:.1} | {:.0} | {peak:.0} |",
            (clients * words) as f64 / seconds
        );
    };
    for &n in &clients {
        report(
            n,
            "one each, in the client",
            &check_runs(&document, &model, None, n),
        );
        report(
            n,
            "one served model",
            &check_runs(&document, &model, Some(&url), n),
        );
    }
    let here = completion_latencies(&model, None);
    let served = completion_latencies(&model, Some(&url));
    println!("\n| completion (30 slots, a new one each) | p50 ms | p95 ms |\n|---|---|---|");
    println!(
        "| model in the server process | {:.1} | {:.1} |",
        milliseconds(percentile(&here, 0.5)),
        milliseconds(percentile(&here, 0.95))
    );
    println!(
        "| served model | {:.1} | {:.1} |",
        milliseconds(percentile(&served, 0.5)),
        milliseconds(percentile(&served, 0.95))
    );
}
