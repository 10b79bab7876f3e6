//! A small synchronous LSP client for harper-ls (the Harper grammar and spell checker's language
//! server, installed by scripts/install-harper), so the evaluation programs can run Harper on the
//! same texts as our checker: open a document, wait for its diagnostics, close it.
//!
//! How harper-ls 3.0.0 behaves, from its source, and what this client relies on:
//! - Every didOpen makes it ask the client for its settings (`workspace/configuration`) before it
//!   lints; after `initialized` it also sends `client/registerCapability`. A reader thread answers
//!   every request from the server at once, whatever the main thread is doing, so nothing hangs.
//! - After a didOpen it publishes the document's diagnostics exactly once, always with
//!   `version: null`, and publishes an empty list again on didClose. Each check opens a fresh URI,
//!   so the first publishDiagnostics for that URI after its didOpen is the answer: deterministic,
//!   no quiet period needed. An unsupported languageId also yields one publish, with no diagnostics.
//! - Positions are UTF-16 code units (it ignores `general.positionEncodings`), counted from the
//!   last '\n' (it splits lines on '\n' only, so a "\r" before it counts as a column).
//! - Its settings come from our answer to `workspace/configuration`. We keep Harper's defaults
//!   (curated lint rules, American dialect) but point its user, workspace and file dictionaries,
//!   ignored lints and stats at a fresh private directory, so results don't depend on the machine,
//!   and raise `maxFileLength` (120 000 bytes by default, above which it silently returns nothing).
//! - languageIds it lints: `markdown`, `plaintext`/`text`, `tex`/`latex`/`plaintex`, `typst`,
//!   `html`, `org`, `asciidoc`, … and comments in source code.

#![allow(dead_code)] // each evaluation program uses its own part of this

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

/// How long one document (or the initialize request) may take before `check` gives up.
const DOCUMENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long Drop waits for a polite shutdown before killing the server.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// harper-ls skips documents longer than this many bytes; ours is far above any manuscript.
const MAX_FILE_LENGTH: u64 = 1 << 30;

/// One Harper finding, with byte offsets into the checked text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarperDiagnostic {
    pub start: usize,
    pub end: usize,
    pub message: String,
    /// The diagnostic's `code`: the Harper rule that fired (e.g. "SpellCheck"), or "".
    pub kind: String,
}

/// A running harper-ls, spoken to over its stdin and stdout.
pub struct HarperLs {
    child: Child,
    stdin: Arc<Mutex<ChildStdin>>,
    /// Responses and notifications from the server (requests are answered by the reader thread).
    messages: Receiver<Value>,
    reader: Option<JoinHandle<()>>,
    /// The last few kilobytes of the server's stderr, for error messages.
    stderr_tail: Arc<Mutex<String>>,
    next_id: u64,
    next_document: u64,
    version: String,
    /// Whether positions are UTF-8 bytes (only if the server says so) rather than UTF-16 units.
    utf8_positions: bool,
    /// Holds the dictionaries, ignored lints and stats harper-ls may read or write.
    scratch: PathBuf,
}

impl HarperLs {
    /// Starts `binary --stdio` and initializes it.
    pub fn start(binary: &Path) -> anyhow::Result<HarperLs> {
        let scratch = std::env::temp_dir().join(format!(
            "harper-ls-eval-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        // The server runs in the scratch directory, so resolve a relative binary path first.
        let program = binary
            .canonicalize()
            .unwrap_or_else(|_| binary.to_path_buf());
        let spawned = Command::new(&program)
            .arg("--stdio")
            .current_dir(&scratch)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&scratch);
                return Err(error)
                    .with_context(|| format!("starting {} --stdio", program.display()));
            }
        };
        let stdin = Arc::new(Mutex::new(child.stdin.take().expect("piped stdin")));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");

        let stderr_tail = Arc::new(Mutex::new(String::new()));
        let tail = Arc::clone(&stderr_tail);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut tail = tail.lock().unwrap();
                tail.push_str(&line);
                tail.push('\n');
                if tail.len() > 8192 {
                    let cut = tail.len() - 4096;
                    let cut = (cut..tail.len())
                        .find(|&i| tail.is_char_boundary(i))
                        .unwrap_or(0);
                    tail.drain(..cut);
                }
            }
        });

        let settings = json!({ "harper-ls": {
            "userDictPath": scratch.join("user-dictionary.txt"),
            "workspaceDictPath": scratch.join("workspace-dictionary.txt"),
            "fileDictPath": scratch.join("file-dictionaries"),
            "ignoredLintsPath": scratch.join("ignored-lints"),
            "statsPath": scratch.join("stats.txt"),
            "maxFileLength": MAX_FILE_LENGTH,
        }});
        let (sender, messages) = mpsc::channel();
        let writer = Arc::clone(&stdin);
        let reader = std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            while let Ok(Some(message)) = read_message(&mut stdout) {
                let is_request = message.get("id").is_some() && message.get("method").is_some();
                if !is_request {
                    if sender.send(message).is_err() {
                        break;
                    }
                    continue;
                }
                // A request from the server: answer it now, or the server may wait forever.
                let result = match message["method"].as_str() {
                    Some("workspace/configuration") => {
                        let items = message["params"]["items"].as_array().map_or(1, Vec::len);
                        Value::Array(vec![settings.clone(); items])
                    }
                    _ => Value::Null,
                };
                let reply = json!({ "jsonrpc": "2.0", "id": message["id"], "result": result });
                if write_message(&writer, &reply).is_err() {
                    break;
                }
            }
        });

        let mut harper = HarperLs {
            child,
            stdin,
            messages,
            reader: Some(reader),
            stderr_tail,
            next_id: 1,
            next_document: 1,
            version: String::new(),
            utf8_positions: false,
            scratch,
        };
        let initialize = harper.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "clientInfo": { "name": "biomed-lsp-eval" },
                "rootUri": null,
                "capabilities": {
                    "general": { "positionEncodings": ["utf-8", "utf-16"] },
                    "textDocument": { "publishDiagnostics": {} },
                    "workspace": { "configuration": true },
                },
            }),
        )?;
        harper.version = initialize["serverInfo"]["version"]
            .as_str()
            .unwrap_or("")
            .to_string();
        harper.utf8_positions = initialize["capabilities"]["positionEncoding"] == "utf-8";
        harper.notify("initialized", json!({}))?;
        Ok(harper)
    }

    /// The server's version from its initialize answer (serverInfo.version), or "".
    pub fn version(&self) -> String {
        self.version.clone()
    }

    /// Opens `text` as a new document with `language_id` ("markdown", "plaintext", "latex", …),
    /// waits for its diagnostics, closes it and returns them, sorted by position.
    pub fn check(
        &mut self,
        text: &str,
        language_id: &str,
    ) -> anyhow::Result<Vec<HarperDiagnostic>> {
        let extension = match language_id {
            "markdown" => "md",
            "tex" | "latex" | "plaintex" => "tex",
            _ => "txt",
        };
        let uri = format!("file:///harper-eval/{}.{extension}", self.next_document);
        self.next_document += 1;
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": {
                "uri": uri, "languageId": language_id, "version": 1, "text": text,
            }}),
        )?;
        // harper-ls publishes once per didOpen (see the top of this file), and the URI is new, so
        // the first publish for it is the answer.
        let deadline = Instant::now() + DOCUMENT_TIMEOUT;
        let published = loop {
            let message = self.receive(deadline, &uri)?;
            if message["method"] == "textDocument/publishDiagnostics"
                && message["params"]["uri"] == uri.as_str()
            {
                break message;
            }
        };
        self.notify(
            "textDocument/didClose",
            json!({ "textDocument": { "uri": uri } }),
        )?;

        let lines = LineStarts::new(text);
        let mut diagnostics = Vec::new();
        for diagnostic in published["params"]["diagnostics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let range = &diagnostic["range"];
            let start = lines.offset(text, &range["start"], self.utf8_positions);
            let end = lines.offset(text, &range["end"], self.utf8_positions);
            let kind = match &diagnostic["code"] {
                Value::String(code) => code.clone(),
                Value::Number(code) => code.to_string(),
                _ => String::new(),
            };
            diagnostics.push(HarperDiagnostic {
                start,
                end: end.max(start),
                message: diagnostic["message"].as_str().unwrap_or("").to_string(),
                kind,
            });
        }
        diagnostics.sort_by_key(|diagnostic| (diagnostic.start, diagnostic.end));
        Ok(diagnostics)
    }

    fn notify(&mut self, method: &str, params: Value) -> anyhow::Result<()> {
        let message = json!({ "jsonrpc": "2.0", "method": method, "params": params });
        write_message(&self.stdin, &message)
            .with_context(|| format!("sending {method} to harper-ls{}", self.stderr_note()))
    }

    fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        write_message(&self.stdin, &message)
            .with_context(|| format!("sending {method} to harper-ls{}", self.stderr_note()))?;
        let deadline = Instant::now() + DOCUMENT_TIMEOUT;
        loop {
            let message = self.receive(deadline, method)?;
            if message.get("method").is_none() && message["id"] == id {
                if let Some(error) = message.get("error") {
                    bail!("harper-ls answered {method} with an error: {error}");
                }
                return Ok(message["result"].clone());
            }
        }
    }

    /// The next response or notification; `waiting_for` names what for, in errors.
    fn receive(&mut self, deadline: Instant, waiting_for: &str) -> anyhow::Result<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.messages.recv_timeout(left) {
            Ok(message) => Ok(message),
            Err(RecvTimeoutError::Timeout) => Err(anyhow!(
                "harper-ls did not answer for {waiting_for} within {} s{}",
                DOCUMENT_TIMEOUT.as_secs(),
                self.stderr_note()
            )),
            Err(RecvTimeoutError::Disconnected) => Err(anyhow!(
                "harper-ls closed its output while we waited for {waiting_for}{}",
                self.stderr_note()
            )),
        }
    }

    /// Whether and how the server exited, and the end of its stderr, for error messages.
    fn stderr_note(&mut self) -> String {
        // If it is exiting, give it and the stderr thread a moment to finish.
        let deadline = Instant::now() + Duration::from_millis(200);
        let mut status = self.child.try_wait().ok().flatten();
        while status.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            status = self.child.try_wait().ok().flatten();
        }
        let mut note = match status {
            Some(status) => format!(" (harper-ls exited: {status})"),
            None => String::new(),
        };
        if status.is_some() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let tail = self.stderr_tail.lock().unwrap();
        if !tail.trim().is_empty() {
            note.push_str(&format!("; its stderr ends with:\n{}", tail.trim_end()));
        }
        note
    }
}

impl Drop for HarperLs {
    fn drop(&mut self) {
        let id = self.next_id;
        let shutdown = json!({ "jsonrpc": "2.0", "id": id, "method": "shutdown", "params": null });
        if write_message(&self.stdin, &shutdown).is_ok() {
            let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
            while let Ok(message) = self.receive(deadline, "shutdown") {
                if message.get("method").is_none() && message["id"] == id {
                    break;
                }
            }
            let exit = json!({ "jsonrpc": "2.0", "method": "exit", "params": null });
            let _ = write_message(&self.stdin, &exit);
        }
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// Byte offsets where each line starts, lines ending at '\n' as harper-ls counts them.
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn new(text: &str) -> LineStarts {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(index, _)| index + 1));
        LineStarts(starts)
    }

    /// The byte offset of an LSP position (UTF-16 units, or bytes if `utf8`), clamped to the
    /// line's end and rounded down to a character boundary.
    fn offset(&self, text: &str, position: &Value, utf8: bool) -> usize {
        let line = position["line"].as_u64().unwrap_or(0) as usize;
        let column = position["character"].as_u64().unwrap_or(0) as usize;
        let Some(&line_start) = self.0.get(line) else {
            return text.len();
        };
        let line_end = self.0.get(line + 1).map_or(text.len(), |&next| next - 1);
        let line_text = &text[line_start..line_end];
        if utf8 {
            let mut offset = column.min(line_text.len());
            while !line_text.is_char_boundary(offset) {
                offset -= 1;
            }
            return line_start + offset;
        }
        let mut units = 0;
        for (offset, character) in line_text.char_indices() {
            if units >= column {
                return line_start + offset;
            }
            units += character.len_utf16();
        }
        line_end
    }
}

/// Reads one `Content-Length`-framed JSON-RPC message; `None` at the end of the stream.
fn read_message(reader: &mut impl BufRead) -> std::io::Result<Option<Value>> {
    let mut length = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Ok(None);
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("Content-Length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
    }
    let length = length.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "message without Content-Length",
        )
    })?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidData, error))
}

/// Writes one message, whole, to the server's stdin (shared with the reader thread's answers).
fn write_message(stdin: &Mutex<ChildStdin>, message: &Value) -> std::io::Result<()> {
    let body = serde_json::to_vec(message)?;
    let mut framed = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    framed.extend_from_slice(&body);
    let mut stdin = stdin.lock().unwrap();
    stdin.write_all(&framed)?;
    stdin.flush()
}
