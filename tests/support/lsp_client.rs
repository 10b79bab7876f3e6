//! A small JSON-RPC client speaking LSP with Content-Length framing to a spawned server binary,
//! shared by the protocol tests and the latency benchmark.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

pub struct LspClient {
    child: Child,
    stdin: Option<ChildStdin>,
    incoming: Receiver<Value>,
    next_id: i64,
    /// Notifications from the server, in arrival order.
    pub notifications: Vec<Value>,
    /// Requests the server sent to us (answered automatically), in arrival order.
    pub server_requests: Vec<Value>,
    /// What we answer to `workspace/configuration`, per item.
    pub configuration: Value,
    /// How long we wait before answering a server request (a slow editor sits in a prompt).
    pub reply_delay: Duration,
    /// Answer every server request twice (an editor bug the server must survive).
    pub reply_twice: bool,
    /// Answers not sent yet: when each is due, and the message.
    pending_replies: Vec<(Instant, Value)>,
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut content_length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.strip_prefix("Content-Length:") {
            content_length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; content_length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

impl LspClient {
    pub fn spawn(binary: &str, environment: &[(&str, &str)]) -> Self {
        Self::spawn_command(binary, &["serve"], environment)
    }

    /// Any language server on stdio (a peer, in the benchmarks), with its own arguments.
    pub fn spawn_command(program: &str, arguments: &[&str], environment: &[(&str, &str)]) -> Self {
        let mut command = Command::new(program);
        command
            .args(arguments)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // Never reach for the network: a Hub model that is not in this empty cache falls back to
        // the bundled mini model, with a warning.
        let empty_cache = std::env::temp_dir().join(format!(
            "biomed-lsp-test-empty-cache-{}",
            std::process::id()
        ));
        command
            .env("HF_HUB_CACHE", &empty_cache)
            .env("HF_HUB_OFFLINE", "1");
        for (key, value) in environment {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn the server binary");
        let stdin = child.stdin.take().expect("server stdin");
        let stdout = child.stdout.take().expect("server stdout");
        let (sender, incoming) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(message) = read_message(&mut reader) {
                if sender.send(message).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin: Some(stdin),
            incoming,
            next_id: 1,
            notifications: Vec::new(),
            server_requests: Vec::new(),
            // The bundled mini model unless a test says otherwise.
            // The mini model's probabilities are small: show every proposal.
            configuration: serde_json::json!({"model": "bundled", "completion": {"minProbability": 0}}),
            reply_delay: Duration::ZERO,
            reply_twice: false,
            pending_replies: Vec::new(),
        }
    }

    pub fn send_raw(&mut self, body: &[u8]) {
        let mut framed = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        framed.extend_from_slice(body);
        self.send_raw_bytes(&framed);
    }

    /// Writes bytes as they are, without framing (for malformed headers).
    pub fn send_raw_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes).expect("write");
        stdin.flush().expect("flush");
    }

    /// Closes the server's input, as a client that goes away without `exit` would.
    pub fn close_input(&mut self) {
        self.stdin = None;
    }

    pub fn send(&mut self, message: &Value) {
        let body = serde_json::to_vec(message).expect("serialize");
        self.send_raw(&body);
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        let mut message = json!({"jsonrpc": "2.0", "method": method});
        // `shutdown` and `exit` take no params: tower-lsp refuses `"params": null`.
        if !params.is_null() {
            message["params"] = params;
        }
        self.send(&message);
    }

    /// Sends a request without waiting; returns its id.
    pub fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if !params.is_null() {
            message["params"] = params;
        }
        self.send(&message);
        id
    }

    /// Sends a request and returns the whole response message.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        self.wait_for_response(id, DEFAULT_TIMEOUT)
    }

    pub fn wait_for_response(&mut self, id: i64, timeout: Duration) -> Value {
        self.wait_for(timeout, |message| {
            message.get("method").is_none() && message["id"] == json!(id)
        })
        .unwrap_or_else(|| panic!("no response to request {id} within {timeout:?}"))
    }

    /// Reads messages until one satisfies `wanted` (answering server requests and keeping
    /// notifications on the way). Returns `None` on timeout or when the server closed stdout.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            self.send_due_replies();
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let wake = self
                .pending_replies
                .iter()
                .map(|(due, _)| *due)
                .min()
                .map_or(deadline, |due| due.min(deadline));
            let message = match self
                .incoming
                .recv_timeout(wake.saturating_duration_since(now))
            {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return None,
            };
            let is_server_request = message.get("method").is_some() && message.get("id").is_some();
            if is_server_request {
                self.answer_server_request(&message);
            } else if message.get("method").is_some() {
                self.notifications.push(message.clone());
            }
            if wanted(&message) {
                return Some(message);
            }
        }
    }

    fn answer_server_request(&mut self, request: &Value) {
        self.server_requests.push(request.clone());
        let result = match request["method"].as_str() {
            Some("workspace/configuration") => {
                let count = request["params"]["items"].as_array().map_or(1, Vec::len);
                Value::Array(vec![self.configuration.clone(); count])
            }
            _ => Value::Null,
        };
        let id = request["id"].clone();
        let answer = json!({"jsonrpc": "2.0", "id": id, "result": result});
        let due = Instant::now() + self.reply_delay;
        if self.reply_twice {
            self.pending_replies.push((due, answer.clone()));
        }
        self.pending_replies.push((due, answer));
        self.send_due_replies();
    }

    /// Sends the answers to server requests whose delay has passed.
    fn send_due_replies(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_replies)
            .into_iter()
            .partition(|(due, _)| *due <= now);
        self.pending_replies = later;
        for (_, answer) in due {
            self.send(&answer);
        }
    }

    /// How many answers to server requests are still held back.
    pub fn unsent_replies(&self) -> usize {
        self.pending_replies.len()
    }

    /// Reads and answers messages for `duration` (sending held-back answers when due).
    pub fn pump(&mut self, duration: Duration) {
        let _ = self.wait_for(duration, |_| false);
    }

    /// Keeps reading until every held-back answer has been sent.
    pub fn send_all_replies(&mut self) {
        while let Some(due) = self.pending_replies.iter().map(|(due, _)| *due).max() {
            self.pump(due.saturating_duration_since(Instant::now()) + Duration::from_millis(10));
        }
    }

    /// Waits for the `$/progress` `end` of the model load and returns its value.
    pub fn wait_for_model_ready(&mut self, timeout: Duration) -> Value {
        let message = self
            .wait_for(timeout, |message| {
                message["method"] == "$/progress" && message["params"]["value"]["kind"] == "end"
            })
            .expect("the model load should end with a $/progress end");
        message["params"]["value"].clone()
    }

    /// Waits for the `$/progress` `end` that says a model (re)load is ready, past any check's
    /// `end` on the way, and returns the message.
    pub fn wait_for_model_load_end(&mut self, timeout: Duration) -> Value {
        self.wait_for(timeout, |message| {
            message["method"] == "$/progress"
                && message["params"]["value"]["kind"] == "end"
                && message["params"]["value"]["message"]
                    .as_str()
                    .is_some_and(|text| text.contains("ready"))
        })
        .expect("the model load should end with a $/progress end saying it is ready")
    }

    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn process_id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LspClient {
    fn drop(&mut self) {
        // Only the child we spawned, by its handle.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
