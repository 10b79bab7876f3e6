//! A guard in front of tower-lsp's stdio transport: frames the client's messages ourselves,
//! answers malformed ones with a JSON-RPC error instead of passing them on, passes on only the
//! answers to requests the server issued and has not had answered, and ends the input after `exit`.
//!
//! tower-lsp 0.20 stops reading input after the first message it cannot decode (tokio-util's
//! `FramedRead` ends the stream after a decoder error), which would leave the server deaf; and it
//! only notices `exit` when the next message or end of input arrives. An answer to a request the
//! server never issued, or one answered already, goes nowhere useful in tower-lsp, and where its
//! bookkeeping and ours part ways it panics (see `client_requests`): such answers stop here. So
//! tower-lsp reads from and writes to in-memory pipes, and this module moves whole frames between
//! those and stdio; the server's output is queued, so a client that is slow to read never blocks
//! the server.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::sync::Mutex;

/// Bodies larger than this are refused (a 10 MB document is about 10–60 MB of JSON).
const MAX_BODY_BYTES: usize = 512 * 1024 * 1024;
/// Header lines longer than this are garbage, not headers.
const MAX_HEADER_LINE_BYTES: usize = 8 * 1024;

#[derive(Debug, PartialEq)]
pub enum FrameRead {
    Body(Vec<u8>),
    /// A header block without a usable `Content-Length`; the reason says what was wrong.
    BadHeader(String),
}

/// Reads one frame. `Ok(None)` at end of input.
pub async fn read_frame<R: AsyncBufRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<FrameRead>> {
    let mut content_length: Option<Result<usize, String>> = None;
    let mut saw_any_line = false;
    loop {
        let mut line = Vec::new();
        let read = (&mut *reader)
            .take(MAX_HEADER_LINE_BYTES as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if read == 0 {
            return Ok(None);
        }
        if !line.ends_with(b"\n") && line.len() >= MAX_HEADER_LINE_BYTES {
            // Skip the rest of an overlong line.
            let mut rest = Vec::new();
            reader.read_until(b'\n', &mut rest).await?;
            content_length = Some(Err("header line too long".to_string()));
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if !saw_any_line {
                // Stray blank lines between frames are harmless.
                continue;
            }
            break;
        }
        saw_any_line = true;
        if let Some((name, value)) = text.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                content_length = Some(value.trim().parse::<usize>().map_err(|error| {
                    format!("content length {:?} is invalid: {error}", value.trim())
                }));
            }
        }
    }
    let length = match content_length {
        Some(Ok(length)) => length,
        Some(Err(reason)) => return Ok(Some(FrameRead::BadHeader(reason))),
        None => {
            return Ok(Some(FrameRead::BadHeader(
                "missing content length".to_string(),
            )))
        }
    };
    if length > MAX_BODY_BYTES {
        // Drain it so the next frame starts in the right place.
        tokio::io::copy(
            &mut (&mut *reader).take(length as u64),
            &mut tokio::io::sink(),
        )
        .await?;
        return Ok(Some(FrameRead::BadHeader(format!(
            "content length {length} is over the limit of {MAX_BODY_BYTES}"
        ))));
    }
    // Grown as the bytes come: a header that claims hundreds of MB before the input ends
    // allocates no more than what arrived.
    let mut body = Vec::with_capacity(length.min(1 << 20));
    (&mut *reader)
        .take(length as u64)
        .read_to_end(&mut body)
        .await?;
    if body.len() < length {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!(
                "the input ended {} bytes into a body of {length}",
                body.len()
            ),
        ));
    }
    Ok(Some(FrameRead::Body(body)))
}

pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    body: &[u8],
) -> std::io::Result<()> {
    writer
        .write_all(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes())
        .await?;
    writer.write_all(body).await?;
    writer.flush().await
}

/// What a well-formed client message is, as far as the guard cares.
#[derive(Debug, PartialEq)]
pub enum MessageKind {
    Request { method: String },
    Notification { method: String },
    Response { id: Value },
}

/// Why a client message is refused: a JSON-RPC error code, the id to answer, and a message.
#[derive(Debug, PartialEq)]
pub struct Rejection {
    pub code: i64,
    pub id: Value,
    pub message: String,
}

fn is_valid_id(id: &Value) -> bool {
    id.is_null() || id.is_string() || id.as_i64().is_some()
}

/// Checks that a body is a JSON-RPC message that tower-lsp can decode.
pub fn check_message(body: &[u8]) -> Result<MessageKind, Rejection> {
    let value: Value = serde_json::from_slice(body).map_err(|error| Rejection {
        code: -32700,
        id: Value::Null,
        message: format!("parse error: {error}"),
    })?;
    let invalid = |id: &Value, message: &str| Rejection {
        code: -32600,
        id: if is_valid_id(id) {
            id.clone()
        } else {
            Value::Null
        },
        message: format!("invalid request: {message}"),
    };
    let Value::Object(object) = &value else {
        return Err(invalid(&Value::Null, "the message is not an object"));
    };
    let id = object.get("id").cloned().unwrap_or(Value::Null);
    if object.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(invalid(&id, "jsonrpc must be \"2.0\""));
    }
    if object.contains_key("id") && !is_valid_id(&id) {
        return Err(invalid(
            &Value::Null,
            "id must be an integer, a string or null",
        ));
    }
    let kind = if let Some(method) = object.get("method") {
        let Some(method) = method.as_str() else {
            return Err(invalid(&id, "method must be a string"));
        };
        if object.contains_key("id") {
            MessageKind::Request {
                method: method.to_string(),
            }
        } else {
            MessageKind::Notification {
                method: method.to_string(),
            }
        }
    } else {
        if !object.contains_key("id") {
            return Err(invalid(&id, "a message needs a method or an id"));
        }
        match (object.get("result"), object.get("error")) {
            (Some(_), None) => MessageKind::Response { id: id.clone() },
            (None, Some(Value::Object(error))) => {
                let code_ok = error.get("code").and_then(Value::as_i64).is_some();
                let message_ok = error.get("message").is_some_and(Value::is_string);
                let fields_ok = error
                    .keys()
                    .all(|key| matches!(key.as_str(), "code" | "message" | "data"));
                if !(code_ok && message_ok && fields_ok) {
                    return Err(invalid(
                        &id,
                        "error must have an integer code and a string message",
                    ));
                }
                MessageKind::Response { id: id.clone() }
            }
            _ => return Err(invalid(&id, "a response needs either result or error")),
        }
    };
    // The last word belongs to tower-lsp's own types: whatever they cannot decode would end its
    // input stream, so it must not get through.
    let decodes = match kind {
        MessageKind::Response { .. } => {
            serde_json::from_value::<tower_lsp::jsonrpc::Response>(value).is_ok()
        }
        _ => serde_json::from_value::<tower_lsp::jsonrpc::Request>(value).is_ok(),
    };
    if !decodes {
        return Err(invalid(&id, "the message does not have the JSON-RPC shape"));
    }
    Ok(kind)
}

pub type SharedWriter<W> = Arc<Mutex<W>>;

/// The ids of the requests the server sent to the client and that the client has not answered.
#[derive(Clone, Debug, Default)]
pub struct OutstandingRequests(Arc<std::sync::Mutex<HashSet<String>>>);

impl OutstandingRequests {
    fn key(id: &Value) -> String {
        id.to_string()
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // The set is consistent after every operation: a poisoned lock carries no information.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records the request in a frame the server writes, if it is one.
    pub fn record_server_frame(&self, body: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Head {
            id: Option<Value>,
            method: Option<serde::de::IgnoredAny>,
        }
        if let Ok(Head {
            id: Some(id),
            method: Some(_),
        }) = serde_json::from_slice::<Head>(body)
        {
            self.ids().insert(Self::key(&id));
        }
    }

    /// Whether an answer with this id is awaited; the id is awaited no more once answered.
    pub fn take(&self, id: &Value) -> bool {
        self.ids().remove(&Self::key(id))
    }
}

async fn send_rejection<W: AsyncWrite + Unpin>(output: &SharedWriter<W>, rejection: Rejection) {
    tracing::warn!("refused a client message: {}", rejection.message);
    let body = json!({"jsonrpc": "2.0", "id": rejection.id, "error": {"code": rejection.code, "message": rejection.message}});
    let mut writer = output.lock().await;
    if let Err(error) = write_frame(&mut *writer, body.to_string().as_bytes()).await {
        tracing::warn!("cannot write an error response: {error}");
    }
}

/// How the client's input ended.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct InputEnd {
    pub shutdown_requested: bool,
    pub exit_received: bool,
}

/// Moves well-formed client frames to the server and answers malformed ones; answers to requests
/// not in `outstanding` are dropped. Returns after `exit` or at end of input, dropping
/// `server_input` so that the server's input ends too.
pub async fn forward_client_input<R, S, W>(
    client_input: R,
    mut server_input: S,
    client_output: SharedWriter<W>,
    outstanding: OutstandingRequests,
) -> InputEnd
where
    R: AsyncRead + Unpin,
    S: AsyncWrite + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = BufReader::with_capacity(1 << 16, client_input);
    let mut end = InputEnd::default();
    loop {
        let frame = match read_frame(&mut reader).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(error) => {
                tracing::warn!("reading client input failed: {error}");
                break;
            }
        };
        let body = match frame {
            FrameRead::Body(body) => body,
            FrameRead::BadHeader(reason) => {
                send_rejection(
                    &client_output,
                    Rejection {
                        code: -32700,
                        id: Value::Null,
                        message: format!("parse error: {reason}"),
                    },
                )
                .await;
                continue;
            }
        };
        match check_message(&body) {
            Ok(MessageKind::Response { id }) if !outstanding.take(&id) => {
                tracing::warn!(
                    "ignored an answer to request {id}: the server has no such request waiting \
                     (never sent, or answered already)"
                );
            }
            Ok(kind) => {
                if let Err(error) = write_frame(&mut server_input, &body).await {
                    tracing::warn!("the server stopped reading: {error}");
                    break;
                }
                match kind {
                    MessageKind::Request { method } if method == "shutdown" => {
                        end.shutdown_requested = true
                    }
                    MessageKind::Notification { method } if method == "exit" => {
                        end.exit_received = true;
                        break;
                    }
                    _ => {}
                }
            }
            Err(rejection) => send_rejection(&client_output, rejection).await,
        }
    }
    let _ = server_input.shutdown().await;
    end
}

/// Moves the server's frames to the client, whole, so they never interleave with rejections, and
/// records the requests among them in `outstanding`. Frames wait in a queue while the client is
/// slow to read, so the server never blocks on its output.
pub async fn forward_server_output<R, W>(
    server_output: R,
    client_output: SharedWriter<W>,
    outstanding: OutstandingRequests,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (frame_sender, mut frame_receiver) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let read_server = async move {
        let mut reader = BufReader::with_capacity(1 << 16, server_output);
        loop {
            match read_frame(&mut reader).await {
                Ok(Some(FrameRead::Body(body))) => {
                    outstanding.record_server_frame(&body);
                    // Once the client is gone the output is drained and dropped, so the server
                    // never blocks writing it.
                    let _ = frame_sender.send(body);
                }
                Ok(Some(FrameRead::BadHeader(reason))) => {
                    tracing::error!("the server wrote a bad frame: {reason}")
                }
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!("reading server output failed: {error}");
                    return;
                }
            }
        }
    };
    let write_client = async move {
        while let Some(body) = frame_receiver.recv().await {
            let mut writer = client_output.lock().await;
            if let Err(error) = write_frame(&mut *writer, &body).await {
                tracing::warn!("writing to the client failed: {error}");
                return;
            }
        }
    };
    tokio::join!(read_server, write_client);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_messages_are_rejected_with_the_right_code() {
        assert_eq!(
            check_message(b"{not json").map_err(|rejection| rejection.code),
            Err(-32700)
        );
        assert_eq!(
            check_message(br#"{"jsonrpc":"2.0"}"#).map_err(|rejection| rejection.code),
            Err(-32600)
        );
        let rejection =
            check_message(br#"{"jsonrpc":"1.0","id":4,"method":"x"}"#).expect_err("old version");
        assert_eq!((rejection.code, rejection.id), (-32600, json!(4)));
        assert_eq!(
            check_message(br#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#)
                .map_err(|rejection| rejection.id),
            Err(Value::Null)
        );
        assert_eq!(
            check_message(br#"{"jsonrpc":"2.0","id":3,"method":"initialize","params":{}}"#),
            Ok(MessageKind::Request {
                method: "initialize".to_string()
            })
        );
        assert_eq!(
            check_message(br#"{"jsonrpc":"2.0","method":"exit"}"#),
            Ok(MessageKind::Notification {
                method: "exit".to_string()
            })
        );
        assert_eq!(
            check_message(br#"{"jsonrpc":"2.0","id":"a","result":null}"#),
            Ok(MessageKind::Response { id: json!("a") })
        );
        assert!(check_message(
            br#"{"jsonrpc":"2.0","id":"a","error":{"code":1,"message":"m","extra":1}}"#
        )
        .is_err());
    }

    #[tokio::test]
    async fn frames_are_read_and_bad_headers_reported() {
        let input = b"Content-Length: 2\r\n\r\n{}\r\nX-Other: 1\r\n\r\nContent-Length: 3\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\nabc";
        let mut reader = BufReader::new(&input[..]);
        assert_eq!(
            read_frame(&mut reader).await.ok().flatten(),
            Some(FrameRead::Body(b"{}".to_vec()))
        );
        assert!(matches!(
            read_frame(&mut reader).await.ok().flatten(),
            Some(FrameRead::BadHeader(_))
        ));
        assert_eq!(
            read_frame(&mut reader).await.ok().flatten(),
            Some(FrameRead::Body(b"abc".to_vec()))
        );
        assert_eq!(read_frame(&mut reader).await.ok().flatten(), None);
    }

    fn frame(body: &str) -> Vec<u8> {
        format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    #[tokio::test]
    async fn only_answers_to_outstanding_server_requests_reach_the_server() {
        let outstanding = OutstandingRequests::default();
        outstanding.record_server_frame(
            br#"{"jsonrpc":"2.0","id":3,"method":"workspace/configuration","params":{}}"#,
        );
        outstanding.record_server_frame(br#"{"jsonrpc":"2.0","id":"tok","method":"x"}"#);
        // Notifications and responses of the server are no requests.
        outstanding.record_server_frame(br#"{"jsonrpc":"2.0","method":"$/progress"}"#);
        outstanding.record_server_frame(br#"{"jsonrpc":"2.0","id":9,"result":null}"#);

        let answers = [
            r#"{"jsonrpc":"2.0","id":3,"result":[]}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":["twice"]}"#,
            r#"{"jsonrpc":"2.0","id":9,"result":null}"#,
            r#"{"jsonrpc":"2.0","id":"3","result":null}"#,
            r#"{"jsonrpc":"2.0","id":null,"result":null}"#,
            r#"{"jsonrpc":"2.0","id":"tok","error":{"code":1,"message":"no"}}"#,
            r#"{"jsonrpc":"2.0","id":5,"method":"textDocument/hover","params":{}}"#,
        ];
        let input: Vec<u8> = answers.iter().flat_map(|body| frame(body)).collect();
        let (server_input, mut server_reader) = tokio::io::duplex(1 << 16);
        let client_output = Arc::new(Mutex::new(Vec::<u8>::new()));
        forward_client_input(&input[..], server_input, client_output, outstanding.clone()).await;
        let mut forwarded = Vec::new();
        server_reader
            .read_to_end(&mut forwarded)
            .await
            .expect("read");
        let expected: Vec<u8> = [answers[0], answers[5], answers[6]]
            .iter()
            .flat_map(|body| frame(body))
            .collect();
        assert_eq!(
            String::from_utf8_lossy(&forwarded),
            String::from_utf8_lossy(&expected)
        );
        assert!(
            !outstanding.take(&json!(3)),
            "answered once, awaited no more"
        );
    }
}
