//! A stand-in for the Hugging Face Hub on 127.0.0.1: serves one model repository over HTTP the
//! way hf-hub's client reads it (repository info, ranged file downloads), slowly if asked, and
//! records the ranges requested so that tests can see a download resume.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

pub struct FakeHub {
    pub endpoint: String,
    /// `(file, first byte)` of every download request (the 1-byte metadata probes left out).
    pub downloads: Arc<Mutex<Vec<(String, u64)>>>,
}

#[derive(Clone)]
struct Repository {
    id: String,
    files: Arc<HashMap<String, Vec<u8>>>,
    /// Bodies go out in chunks of this many bytes with `chunk_delay` between them.
    chunk_bytes: usize,
    chunk_delay: Duration,
}

impl FakeHub {
    /// Serves `files` as the repository `repo_id` at commit [`COMMIT`].
    pub fn start(
        repo_id: &str,
        files: HashMap<String, Vec<u8>>,
        chunk_bytes: usize,
        chunk_delay: Duration,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1");
        let endpoint = format!("http://{}", listener.local_addr().expect("local address"));
        let downloads = Arc::new(Mutex::new(Vec::new()));
        let repository = Repository {
            id: repo_id.to_string(),
            files: Arc::new(files),
            chunk_bytes: chunk_bytes.max(1),
            chunk_delay,
        };
        let recorded = Arc::clone(&downloads);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let repository = repository.clone();
                let recorded = Arc::clone(&recorded);
                std::thread::spawn(move || {
                    // A client that goes away mid-body (a cancelled download) ends the answer.
                    let _ = serve(stream, &repository, &recorded);
                });
            }
        });
        Self {
            endpoint,
            downloads,
        }
    }

    /// The bundled mini model's files (config, vocabulary, tokenizer config, safetensors).
    pub fn mini_model_files() -> HashMap<String, Vec<u8>> {
        let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/biomed-mini");
        [
            "config.json",
            "vocab.txt",
            "tokenizer_config.json",
            "model.safetensors",
        ]
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(directory.join(name)).expect("reading the mini model");
            (name.to_string(), bytes)
        })
        .collect()
    }
}

fn serve(
    stream: TcpStream,
    repository: &Repository,
    recorded: &Mutex<Vec<(String, u64)>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut range_start = 0u64;
    let mut range_end: Option<u64> = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(range) = lower.strip_prefix("range:") {
            let range = range.trim().trim_start_matches("bytes=");
            let (start, end) = range.split_once('-').unwrap_or((range, ""));
            range_start = start.trim().parse().unwrap_or(0);
            range_end = end.trim().parse().ok();
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let mut stream = stream;
    let info_path = format!("/api/models/{}/revision/main", repository.id);
    if path == info_path {
        let siblings: Vec<_> = repository
            .files
            .keys()
            .map(|name| serde_json::json!({ "rfilename": name }))
            .collect();
        let body = serde_json::json!({ "sha": COMMIT, "siblings": siblings }).to_string();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        return stream.write_all(body.as_bytes());
    }
    let file_prefix = format!("/{}/resolve/main/", repository.id);
    let Some(bytes) = path
        .strip_prefix(&file_prefix)
        .and_then(|name| repository.files.get(name).map(|bytes| (name, bytes)))
    else {
        return stream.write_all(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
    };
    let (name, bytes) = bytes;
    let size = bytes.len() as u64;
    let last = range_end
        .unwrap_or(size.saturating_sub(1))
        .min(size.saturating_sub(1));
    let start = range_start.min(size);
    let body = &bytes[start as usize..(last + 1).max(start) as usize];
    if range_end != Some(0) {
        recorded
            .lock()
            .expect("recorded downloads")
            .push((name.to_string(), start));
    }
    // The etag names the content, as the Hub's does (a blob's name in the cache).
    let etag = format!("{:016x}{:016x}", size, fnv(bytes));
    let head = format!(
        "HTTP/1.1 206 Partial Content\r\netag: \"{etag}\"\r\nx-repo-commit: {COMMIT}\r\ncontent-range: bytes {start}-{last}/{size}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    let slow = body.len() > repository.chunk_bytes;
    for chunk in body.chunks(repository.chunk_bytes) {
        stream.write_all(chunk)?;
        stream.flush()?;
        if slow {
            std::thread::sleep(repository.chunk_delay);
        }
    }
    Ok(())
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |hash, &byte| {
        (hash ^ byte as u64).wrapping_mul(0x100000001b3)
    })
}
