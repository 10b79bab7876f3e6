//! The model's forward passes on an inference server that speaks the Open Inference Protocol
//! (KServe v2 REST: NVIDIA Triton, KServe, Seldon MLServer). The rows of a pass go out as token ids;
//! the log-probabilities come back at the asked positions only (a full output would be vocab_size
//! floats per token). The binary tensor extension carries the tensors where the server takes it,
//! JSON where it does not. Tokenizing, windowing and scoring stay local.
//!
//! Requests carry the user's bearer token when one is set; HTTPS trusts the system's certificate
//! store and a CA file the user names; plain HTTP goes to this machine only, unless the user
//! allows it.
//!
//! The served model is what `scripts/export_onnx.py` exports: inputs `input_ids`,
//! `attention_mask`, `token_type_ids` `[batch, sequence]` and `positions` `[batch, positions]`
//! (int64), output `log_probabilities` `[batch, positions, vocab_size]` (float32).

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use super::config::BertConfig;

/// The names the served model's tensors must have.
const INPUT_NAMES: [&str; 4] = ["input_ids", "attention_mask", "token_type_ids", "positions"];
const OUTPUT_NAME: &str = "log_probabilities";
/// The HTTP header of the binary extension: the length of the JSON part of the body.
const HEADER_LENGTH: &str = "Inference-Header-Content-Length";

/// Where the served model is, how to reach it and how long to wait for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InferenceServer {
    /// The model's endpoint, e.g. `http://gpu-box:8000/v2/models/biomedbert`.
    pub url: String,
    /// For each request, connecting included.
    pub timeout: Duration,
    /// Sent as `Authorization: Bearer …`; never shown.
    pub token: crate::secret::Secret,
    /// PEM certificates trusted besides the system's (an internal cluster's CA).
    pub ca_file: Option<std::path::PathBuf>,
    /// Plain HTTP to a host other than this machine.
    pub allow_http: bool,
}

/// A served model, checked against the local config.
pub struct RemoteEncoder {
    server: InferenceServer,
    agent: ureq::Agent,
    config: BertConfig,
    /// Whether the server takes the binary tensor extension (found out at the first request).
    binary: AtomicBool,
    /// Whether the last request reached the server: a change is logged once each way.
    reachable: AtomicBool,
}

/// Why a served model cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("the inference server at {url} cannot be reached: {problem}")]
    Unreachable { url: String, problem: String },
    #[error("the inference server at {url} answered {problem}")]
    BadAnswer { url: String, problem: String },
    #[error("the model served at {url} does not match the local model: {problem}")]
    Mismatch { url: String, problem: String },
    #[error(
        "{0} is not an Open Inference Protocol model URL (like http://host:8000/v2/models/NAME)"
    )]
    BadUrl(String),
    #[error("{url} is plain HTTP to another machine: the manuscript's text would travel unencrypted; use https://, or set inference.allowHttp to true in your user settings if the network is yours")]
    InsecureHttp { url: String },
    #[error("the CA file {path} for the inference server cannot be used: {problem}")]
    BadCaFile { path: String, problem: String },
    #[error("attention evidence needs the model in this process: the inference server at {0} returns no attention (use occlusion)")]
    NoAttention(String),
    #[error("contextual embeddings need the model in this process: the inference server at {0} returns no hidden states")]
    NoHiddenStates(String),
}

impl InferenceServer {
    /// The server's base URL (before `/v2/`), for its health end points.
    fn base(&self) -> Result<&str, RemoteError> {
        let url = self.url.trim_end_matches('/');
        let (base, model) = url
            .split_once("/v2/models/")
            .ok_or_else(|| RemoteError::BadUrl(self.url.clone()))?;
        if !(base.starts_with("http://") || base.starts_with("https://"))
            || model.is_empty()
            || model.contains('/') && !model.contains("/versions/")
        {
            return Err(RemoteError::BadUrl(self.url.clone()));
        }
        Ok(base)
    }

    /// The host the URL names (without brackets for IPv6).
    fn host(&self) -> Result<&str, RemoteError> {
        let base = self.base()?;
        let authority = base
            .split_once("://")
            .map_or(base, |(_, rest)| rest)
            .rsplit('@')
            .next()
            .unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        Ok(host)
    }

    /// Refuses plain HTTP to another machine unless allowed.
    fn check_transport(&self) -> Result<(), RemoteError> {
        if !self.base()?.starts_with("http://") || self.allow_http {
            return Ok(());
        }
        let host = self.host()?.to_ascii_lowercase();
        let loopback = host == "localhost"
            || host.ends_with(".localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|address| address.is_loopback());
        if loopback {
            Ok(())
        } else {
            Err(RemoteError::InsecureHttp {
                url: self.url.clone(),
            })
        }
    }

    /// The HTTP client: timeouts, and TLS trusting the system's certificates and the CA file.
    fn agent(&self) -> Result<ureq::Agent, RemoteError> {
        let mut roots = rustls::RootCertStore::empty();
        let system = rustls_native_certs::load_native_certs();
        for error in &system.errors {
            tracing::debug!("a system certificate could not be loaded: {error}");
        }
        let (added, _) = roots.add_parsable_certificates(system.certs);
        if added == 0 {
            // No certificate store on this system: Mozilla's list, as browsers ship it.
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if let Some(path) = &self.ca_file {
            let bad = |problem: String| RemoteError::BadCaFile {
                path: path.display().to_string(),
                problem,
            };
            let text = crate::text_file::read_text_file(path, "CA file", 16 * 1024 * 1024)
                .map_err(|error| bad(error.to_string()))?;
            let certificates = rustls_pemfile_certificates(&text).map_err(bad)?;
            if certificates.is_empty() {
                return Err(bad("it holds no PEM certificate".into()));
            }
            for certificate in certificates {
                roots
                    .add(certificate)
                    .map_err(|error| bad(format!("a certificate in it is invalid: {error}")))?;
            }
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| RemoteError::Unreachable {
                url: self.url.clone(),
                problem: format!("TLS cannot be set up: {error}"),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(ureq::AgentBuilder::new()
            .timeout_connect(self.timeout.min(Duration::from_secs(10)))
            .timeout(self.timeout)
            .tls_config(std::sync::Arc::new(tls))
            .build())
    }
}

/// The certificates of a PEM text.
fn rustls_pemfile_certificates(
    text: &str,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("it is not PEM: {error}"))
}

impl RemoteEncoder {
    /// Checks that the server is ready and serves a model of the local config's shape: the
    /// tensors by name, and the vocabulary size of the output (else refused, naming both).
    pub fn connect(server: InferenceServer, config: &BertConfig) -> Result<Self, RemoteError> {
        server.check_transport()?;
        let agent = server.agent()?;
        let encoder = Self {
            agent,
            config: config.clone(),
            binary: AtomicBool::new(true),
            reachable: AtomicBool::new(true),
            server,
        };
        let metadata = encoder.get_json(encoder.model_url())?;
        encoder.check_metadata(&metadata)?;
        // Triton answers readiness with a bare 200, KServe with {"ready": true}.
        let ready = encoder.get_ready()?;
        if !ready {
            return Err(RemoteError::BadAnswer {
                url: encoder.server.url.clone(),
                problem: "that the model is not ready".into(),
            });
        }
        Ok(encoder)
    }

    fn model_url(&self) -> &str {
        self.server.url.trim_end_matches('/')
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }

    fn check_metadata(&self, metadata: &Value) -> Result<(), RemoteError> {
        let mismatch = |problem: String| RemoteError::Mismatch {
            url: self.server.url.clone(),
            problem,
        };
        let names = |key: &str| -> Vec<String> {
            metadata[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|tensor| tensor["name"].as_str().map(String::from))
                .collect()
        };
        let inputs = names("inputs");
        if let Some(missing) = INPUT_NAMES
            .iter()
            .find(|name| !inputs.iter().any(|input| input == *name))
        {
            return Err(mismatch(format!(
                "it has no input \"{missing}\" (its inputs: {}; export the model with scripts/export_onnx.py)",
                inputs.join(", ")
            )));
        }
        let output = metadata["outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|tensor| tensor["name"] == OUTPUT_NAME)
            .ok_or_else(|| {
                mismatch(format!(
                    "it has no output \"{OUTPUT_NAME}\" (its outputs: {})",
                    names("outputs").join(", ")
                ))
            })?;
        let served = output["shape"]
            .as_array()
            .and_then(|shape| shape.last())
            .and_then(Value::as_i64)
            .unwrap_or(-1);
        if served >= 0 && served as usize != self.config.vocab_size {
            return Err(mismatch(format!(
                "its vocabulary has {served} tokens, the local config.json says {}",
                self.config.vocab_size
            )));
        }
        Ok(())
    }

    fn unreachable(&self, error: impl std::fmt::Display) -> RemoteError {
        if self.reachable.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                "the inference server at {} cannot be reached ({error}); requests fail until it is back",
                self.server.url
            );
        }
        RemoteError::Unreachable {
            url: self.server.url.clone(),
            problem: error.to_string(),
        }
    }

    fn reached(&self) {
        if !self.reachable.swap(true, Ordering::Relaxed) {
            tracing::info!("the inference server at {} is back", self.server.url);
        }
    }

    /// Whether the last request reached the server.
    pub fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    /// A request with the token, when there is one.
    fn request(&self, method: &str, url: &str) -> ureq::Request {
        let request = self.agent.request(method, url);
        if self.server.token.is_empty() {
            request
        } else {
            request.set(
                "Authorization",
                &format!("Bearer {}", self.server.token.expose()),
            )
        }
    }

    /// A server's text with the token left out (a server may echo what it was sent).
    fn redact(&self, text: &str) -> String {
        let token = self.server.token.expose();
        if token.is_empty() {
            text.to_string()
        } else {
            text.replace(token, "…")
        }
    }

    fn get_json(&self, url: &str) -> Result<Value, RemoteError> {
        let response = self
            .request("GET", url)
            .call()
            .map_err(|error| self.http_error(error))?;
        self.reached();
        response
            .into_json()
            .map_err(|error| RemoteError::BadAnswer {
                url: url.to_string(),
                problem: format!("with something that is not JSON ({error})"),
            })
    }

    fn get_ready(&self) -> Result<bool, RemoteError> {
        let url = format!("{}/ready", self.model_url());
        let response = self
            .request("GET", &url)
            .call()
            .map_err(|error| self.http_error(error))?;
        self.reached();
        let body = response.into_string().unwrap_or_default();
        let said: Option<Value> = serde_json::from_str(&body).ok();
        Ok(said.and_then(|value| value.get("ready").and_then(Value::as_bool)) != Some(false))
    }

    fn http_error(&self, error: ureq::Error) -> RemoteError {
        match error {
            ureq::Error::Status(status, response) => {
                self.reached();
                let body = response.into_string().unwrap_or_default();
                RemoteError::BadAnswer {
                    url: self.server.url.clone(),
                    problem: format!(
                        "HTTP {status}: {}",
                        self.redact(&body.chars().take(300).collect::<String>())
                    ),
                }
            }
            ureq::Error::Transport(transport) => {
                self.unreachable(self.redact(&transport.to_string()))
            }
        }
    }

    /// Log-probabilities over the served vocabulary at `(row, token_idx)` positions, in their
    /// order, flat (`positions.len() × vocab_size`). Rows are padded with `pad` to the longest.
    pub fn log_probabilities(
        &self,
        rows: &[&[u32]],
        positions: &[(usize, usize)],
        pad: u32,
    ) -> Result<Vec<f32>, RemoteError> {
        let batch = rows.len();
        let sequence = rows.iter().map(|row| row.len()).max().unwrap_or(0);
        let mut per_row: Vec<Vec<usize>> = vec![Vec::new(); batch];
        for &(row, token_idx) in positions {
            per_row[row].push(token_idx);
        }
        let width = per_row.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(batch * sequence);
        let mut mask = Vec::with_capacity(batch * sequence);
        let mut asked = Vec::with_capacity(batch * width);
        for (row, wanted) in rows.iter().zip(&per_row) {
            ids.extend(row.iter().map(|&id| id as i64));
            ids.extend(std::iter::repeat_n(pad as i64, sequence - row.len()));
            mask.extend(std::iter::repeat_n(1i64, row.len()));
            mask.extend(std::iter::repeat_n(0i64, sequence - row.len()));
            asked.extend(wanted.iter().map(|&token_idx| token_idx as i64));
            let filler = wanted.last().copied().unwrap_or(0) as i64;
            asked.extend(std::iter::repeat_n(filler, width - wanted.len()));
        }
        let token_types = vec![0i64; batch * sequence];
        let tensors: [(&str, &[i64], [usize; 2]); 4] = [
            ("input_ids", &ids, [batch, sequence]),
            ("attention_mask", &mask, [batch, sequence]),
            ("token_type_ids", &token_types, [batch, sequence]),
            ("positions", &asked, [batch, width]),
        ];
        let (shape, values) = if self.binary.load(Ordering::Relaxed) {
            match self.infer_binary(&tensors) {
                Err(RemoteError::BadAnswer { problem, .. }) if problem.contains("HTTP 400") => {
                    tracing::info!(
                        "the inference server at {} refused binary tensors ({problem}); using JSON",
                        self.server.url
                    );
                    self.binary.store(false, Ordering::Relaxed);
                    self.infer_json(&tensors)?
                }
                other => other?,
            }
        } else {
            self.infer_json(&tensors)?
        };
        let vocab_size = self.config.vocab_size;
        if shape != [batch, width, vocab_size] {
            return Err(RemoteError::BadAnswer {
                url: self.server.url.clone(),
                problem: format!(
                    "with {OUTPUT_NAME} of shape {shape:?}, not [{batch}, {width}, {vocab_size}]"
                ),
            });
        }
        // Back to the order of `positions`.
        let mut taken = vec![0usize; batch];
        let mut result = Vec::with_capacity(positions.len() * vocab_size);
        for &(row, _) in positions {
            let start = (row * width + taken[row]) * vocab_size;
            result.extend_from_slice(&values[start..start + vocab_size]);
            taken[row] += 1;
        }
        Ok(result)
    }

    fn infer_url(&self) -> String {
        format!("{}/infer", self.model_url())
    }

    /// The binary tensor extension: a JSON header, then each input's bytes (little-endian).
    fn infer_binary(
        &self,
        tensors: &[(&str, &[i64], [usize; 2])],
    ) -> Result<(Vec<usize>, Vec<f32>), RemoteError> {
        let inputs: Vec<Value> = tensors
            .iter()
            .map(|(name, values, shape)| {
                json!({"name": name, "shape": shape, "datatype": "INT64",
                       "parameters": {"binary_data_size": values.len() * 8}})
            })
            .collect();
        let header = json!({"inputs": inputs,
                            "outputs": [{"name": OUTPUT_NAME, "parameters": {"binary_data": true}}]})
        .to_string();
        let mut body = header.clone().into_bytes();
        for (_, values, _) in tensors {
            for value in values.iter() {
                body.extend_from_slice(&value.to_le_bytes());
            }
        }
        let response = self
            .request("POST", &self.infer_url())
            .set("Content-Type", "application/octet-stream")
            .set(HEADER_LENGTH, &header.len().to_string())
            .send_bytes(&body)
            .map_err(|error| self.http_error(error))?;
        self.reached();
        let json_length: Option<usize> = response
            .header(HEADER_LENGTH)
            .and_then(|length| length.trim().parse().ok());
        let mut bytes = Vec::new();
        response
            .into_reader()
            .read_to_end(&mut bytes)
            .map_err(|error| self.unreachable(error))?;
        binary_answer_tensor(&bytes, json_length).map_err(|problem| RemoteError::BadAnswer {
            url: self.server.url.clone(),
            problem,
        })
    }

    fn infer_json(
        &self,
        tensors: &[(&str, &[i64], [usize; 2])],
    ) -> Result<(Vec<usize>, Vec<f32>), RemoteError> {
        let inputs: Vec<Value> = tensors
            .iter()
            .map(|(name, values, shape)| {
                json!({"name": name, "shape": shape, "datatype": "INT64", "data": values})
            })
            .collect();
        let response = self
            .request("POST", &self.infer_url())
            .send_json(json!({"inputs": inputs, "outputs": [{"name": OUTPUT_NAME}]}))
            .map_err(|error| self.http_error(error))?;
        self.reached();
        let answer: Value = response
            .into_json()
            .map_err(|error| RemoteError::BadAnswer {
                url: self.server.url.clone(),
                problem: format!("with something that is not JSON ({error})"),
            })?;
        self.output_from_json(&answer)
    }

    fn output_from_json(&self, answer: &Value) -> Result<(Vec<usize>, Vec<f32>), RemoteError> {
        json_answer_tensor(answer).map_err(|problem| RemoteError::BadAnswer {
            url: self.server.url.clone(),
            problem,
        })
    }
}

/// The output tensor of an answer with the binary extension: `json_length` bytes of JSON header,
/// then the outputs' bytes; without a usable header length the whole body is a JSON answer.
/// Every size in it comes from the server: checked, so that a wrong one is an error (what the
/// server answered wrongly), never a panic.
fn binary_answer_tensor(
    bytes: &[u8],
    json_length: Option<usize>,
) -> Result<(Vec<usize>, Vec<f32>), String> {
    let Some(json_length) = json_length.filter(|&length| length <= bytes.len()) else {
        let answer: Value = serde_json::from_slice(bytes)
            .map_err(|error| format!("with something that is not JSON ({error})"))?;
        return json_answer_tensor(&answer);
    };
    let answer: Value = serde_json::from_slice(&bytes[..json_length])
        .map_err(|error| format!("with a header that is not JSON ({error})"))?;
    let output = find_output(&answer).ok_or_else(|| format!("without {OUTPUT_NAME}"))?;
    let shape = shape_of(output).ok_or_else(|| format!("without the shape of {OUTPUT_NAME}"))?;
    if output["datatype"] != "FP32" {
        return Err(format!("{OUTPUT_NAME} as {}, not FP32", output["datatype"]));
    }
    // Outputs before ours take their own bytes first.
    let mut offset = json_length;
    for other in answer["outputs"].as_array().into_iter().flatten() {
        if other["name"] == OUTPUT_NAME {
            break;
        }
        let size = other["parameters"]["binary_data_size"]
            .as_u64()
            .unwrap_or(0);
        offset = offset.saturating_add(usize::try_from(size).unwrap_or(usize::MAX));
    }
    let count = element_count(&shape)
        .ok_or_else(|| format!("{OUTPUT_NAME} of shape {shape:?}, too large"))?;
    let data = count
        .checked_mul(4)
        .and_then(|length| offset.checked_add(length))
        .and_then(|end| bytes.get(offset..end))
        .ok_or_else(|| {
            format!(
                "with {} bytes of data for {count} floats",
                bytes.len().saturating_sub(offset)
            )
        })?;
    let values = data
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect();
    Ok((shape, values))
}

/// The output tensor of a JSON answer.
fn json_answer_tensor(answer: &Value) -> Result<(Vec<usize>, Vec<f32>), String> {
    let output = find_output(answer).ok_or_else(|| format!("without {OUTPUT_NAME}"))?;
    let shape = shape_of(output).ok_or_else(|| format!("without the shape of {OUTPUT_NAME}"))?;
    let values: Vec<f32> = output["data"]
        .as_array()
        .ok_or_else(|| format!("without the data of {OUTPUT_NAME}"))?
        .iter()
        .map(|value| value.as_f64().map(|value| value as f32))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("with data of {OUTPUT_NAME} that are not numbers"))?;
    if Some(values.len()) != element_count(&shape) {
        return Err(format!(
            "with {} values for the shape {shape:?}",
            values.len()
        ));
    }
    Ok((shape, values))
}

fn find_output(answer: &Value) -> Option<&Value> {
    answer["outputs"]
        .as_array()?
        .iter()
        .find(|output| output["name"] == OUTPUT_NAME)
}

/// How many values a tensor of `shape` holds; None when that overflows (a server's wrong shape).
fn element_count(shape: &[usize]) -> Option<usize> {
    shape
        .iter()
        .try_fold(1usize, |count, &dimension| count.checked_mul(dimension))
}

fn shape_of(output: &Value) -> Option<Vec<usize>> {
    output["shape"]
        .as_array()?
        .iter()
        .map(|dimension| dimension.as_u64().map(|dimension| dimension as usize))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_urls_are_checked() {
        let server = |url: &str| InferenceServer {
            url: url.into(),
            timeout: Duration::from_secs(1),
            token: crate::secret::Secret::default(),
            ca_file: None,
            allow_http: false,
        };
        assert_eq!(
            server("http://gpu-box:8000/v2/models/biomedbert")
                .base()
                .unwrap(),
            "http://gpu-box:8000"
        );
        assert!(
            server("http://gpu-box:8000/v2/models/biomedbert/versions/2")
                .base()
                .is_ok()
        );
        for bad in [
            "gpu-box:8000/v2/models/x",
            "http://gpu-box:8000/",
            "http://h/v2/models/",
        ] {
            let error = server(bad).base().unwrap_err().to_string();
            assert!(error.contains(bad), "{error}");
        }
    }

    #[test]
    fn a_shape_whose_size_overflows_has_no_count() {
        assert_eq!(element_count(&[2, 3, 28895]), Some(2 * 3 * 28895));
        assert_eq!(element_count(&[]), Some(1));
        assert_eq!(element_count(&[usize::MAX, 2]), None);
        assert_eq!(element_count(&[1 << 40, 1 << 40]), None);
    }

    /// A server that answers every request with `status` and `body`, over TLS when `tls` is
    /// given; it sends each request's head (request line and headers) on the channel.
    fn fake_server(
        status: &'static str,
        body: &'static str,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> (u16, std::sync::mpsc::Receiver<String>) {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let mut stream: Box<dyn ReadWrite> = match &tls {
                    Some(config) => {
                        let Ok(connection) = rustls::ServerConnection::new(config.clone()) else {
                            return;
                        };
                        Box::new(rustls::StreamOwned::new(connection, stream))
                    }
                    None => Box::new(stream),
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                if head.is_empty() {
                    continue;
                }
                let _ = sender.send(String::from_utf8_lossy(&head).into_owned());
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.flush();
            }
        });
        (port, receiver)
    }

    trait ReadWrite: std::io::Read + std::io::Write {}
    impl<T: std::io::Read + std::io::Write> ReadWrite for T {}

    fn test_config() -> BertConfig {
        BertConfig::from_json(include_str!("../../models/biomed-mini/config.json")).expect("config")
    }

    fn local_server(url: String) -> InferenceServer {
        InferenceServer {
            url,
            timeout: Duration::from_secs(5),
            token: crate::secret::Secret::default(),
            ca_file: None,
            allow_http: false,
        }
    }

    #[test]
    fn the_token_is_sent_as_a_bearer_header_and_never_shown() {
        let (port, heads) = fake_server("401 Unauthorized", "bad token t0k3n-xyz", None);
        let server = InferenceServer {
            token: crate::secret::Secret::new("t0k3n-xyz"),
            ..local_server(format!("http://127.0.0.1:{port}/v2/models/biomedbert"))
        };
        let error = RemoteEncoder::connect(server, &test_config())
            .err()
            .expect("refused");
        let head = heads.recv().expect("a request");
        assert!(
            head.to_ascii_lowercase()
                .contains("authorization: bearer t0k3n-xyz\r\n"),
            "{head}"
        );
        let shown = format!("{error} {error:?}");
        assert!(shown.contains("HTTP 401"), "{shown}");
        assert!(!shown.contains("t0k3n"), "{shown}");

        // No token, no header.
        let (port, heads) = fake_server("401 Unauthorized", "{}", None);
        let server = local_server(format!("http://localhost:{port}/v2/models/biomedbert"));
        assert!(RemoteEncoder::connect(server, &test_config()).is_err());
        let head = heads.recv().expect("a request");
        assert!(
            !head.to_ascii_lowercase().contains("authorization"),
            "{head}"
        );
    }

    #[test]
    fn plain_http_goes_to_this_machine_only_unless_allowed() {
        for url in [
            "http://gpu-box:8000/v2/models/x",
            "http://10.0.0.7:8000/v2/models/x",
            "http://user@gpu-box/v2/models/x",
        ] {
            let error = local_server(url.into()).check_transport().unwrap_err();
            assert!(
                matches!(error, RemoteError::InsecureHttp { .. }),
                "{url}: {error}"
            );
            assert!(error.to_string().contains("inference.allowHttp"), "{error}");
            let allowed = InferenceServer {
                allow_http: true,
                ..local_server(url.into())
            };
            assert!(allowed.check_transport().is_ok(), "{url}");
        }
        for url in [
            "http://localhost:8000/v2/models/x",
            "http://127.0.0.1:8000/v2/models/x",
            "http://127.3.4.5/v2/models/x",
            "http://[::1]:8000/v2/models/x",
            "https://gpu-box:8000/v2/models/x",
        ] {
            assert!(local_server(url.into()).check_transport().is_ok(), "{url}");
        }
    }

    #[test]
    fn https_trusts_a_named_ca_and_refuses_an_unknown_certificate() {
        use rustls::pki_types::pem::PemObject;
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
        let chain = rustls::pki_types::CertificateDer::pem_file_iter(folder.join("server.pem"))
            .expect("server.pem")
            .collect::<Result<Vec<_>, _>>()
            .expect("certificates");
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(folder.join("server.key"))
            .expect("server.key");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server certificate");
        let config = std::sync::Arc::new(config);
        // A metadata answer without the expected tensors: reaching it proves TLS worked.
        let body = r#"{"name": "biomedbert", "inputs": [], "outputs": []}"#;

        let (port, heads) = fake_server("200 OK", body, Some(config.clone()));
        let url = format!("https://localhost:{port}/v2/models/biomedbert");
        let trusted = InferenceServer {
            ca_file: Some(folder.join("ca.pem")),
            ..local_server(url.clone())
        };
        let error = RemoteEncoder::connect(trusted, &test_config())
            .err()
            .expect("a mismatch");
        assert!(matches!(error, RemoteError::Mismatch { .. }), "{error}");
        assert!(heads
            .recv()
            .expect("a request")
            .starts_with("GET /v2/models/biomedbert"));

        let untrusted = local_server(url.clone());
        let error = RemoteEncoder::connect(untrusted, &test_config())
            .err()
            .expect("refused");
        assert!(matches!(error, RemoteError::Unreachable { .. }), "{error}");
        assert!(
            error.to_string().to_lowercase().contains("certificate")
                || error.to_string().contains("UnknownIssuer"),
            "{error}"
        );

        // A CA file that is not one is named.
        let not_pem = InferenceServer {
            ca_file: Some(folder.join("README.md")),
            ..local_server(url)
        };
        let error = RemoteEncoder::connect(not_pem, &test_config())
            .err()
            .expect("no CA");
        assert!(matches!(error, RemoteError::BadCaFile { .. }), "{error}");
        assert!(error.to_string().contains("README.md"), "{error}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(10_000),
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        })]

        /// Any bytes with any header length: a tensor or an error, never a panic.
        #[test]
        fn any_binary_answer_is_read_or_refused(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            json_length in proptest::option::of(0usize..500),
        ) {
            let _ = binary_answer_tensor(&bytes, json_length);
        }

        /// Well-formed headers with wrong sizes, shapes and types: an error, never a panic; the
        /// right ones give back exactly the floats sent.
        #[test]
        fn binary_answers_with_server_chosen_sizes_are_checked(
            shape in proptest::collection::vec(0usize..5, 0..4),
            huge in proptest::prelude::any::<bool>(),
            before in proptest::option::of(0u64..64),
            datatype in proptest::sample::select(vec!["FP32", "FP16", "INT64"]),
            cut in 0usize..8,
            values in proptest::collection::vec(-10.0f32..10.0, 0..100),
        ) {
            let mut shape = shape;
            if huge {
                shape.push(usize::MAX / 2);
            }
            let mut outputs = Vec::new();
            if let Some(size) = before {
                outputs.push(json!({"name": "other", "parameters": {"binary_data_size": size}}));
            }
            outputs.push(json!({"name": OUTPUT_NAME, "shape": shape, "datatype": datatype}));
            let header = json!({"outputs": outputs}).to_string();
            let count = element_count(&shape).unwrap_or(usize::MAX);
            let mut bytes = header.clone().into_bytes();
            bytes.extend(std::iter::repeat_n(7u8, before.unwrap_or(0) as usize));
            let sent: Vec<f32> = values.iter().copied().cycle().take(count.min(200)).collect();
            for value in &sent {
                bytes.extend_from_slice(&value.to_le_bytes());
            }
            bytes.truncate(bytes.len().saturating_sub(cut));
            match binary_answer_tensor(&bytes, Some(header.len())) {
                Ok((got_shape, got_values)) => {
                    proptest::prop_assert_eq!(&got_shape, &shape);
                    proptest::prop_assert_eq!(datatype, "FP32");
                    proptest::prop_assert_eq!(got_values.len(), count);
                    proptest::prop_assert_eq!(&got_values[..], &sent[..count]);
                }
                Err(problem) => proptest::prop_assert!(!problem.is_empty()),
            }
        }

        /// JSON answers of any shape: a tensor whose size matches its shape, or an error.
        #[test]
        fn any_json_answer_is_read_or_refused(
            shape in proptest::collection::vec(proptest::prelude::any::<i64>(), 0..4),
            data in proptest::collection::vec(proptest::prelude::any::<f32>(), 0..20),
            name in proptest::sample::select(vec![OUTPUT_NAME, "logits"]),
        ) {
            let data: Vec<Value> = data
                .iter()
                .map(|value| serde_json::Number::from_f64(f64::from(*value)).map_or(Value::Null, Value::Number))
                .collect();
            let answer = json!({"outputs": [{"name": name, "shape": shape, "data": data}]});
            if let Ok((shape, values)) = json_answer_tensor(&answer) {
                proptest::prop_assert_eq!(Some(values.len()), element_count(&shape));
            }
        }
    }
}
