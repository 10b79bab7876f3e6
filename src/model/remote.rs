//! The model's forward passes on an inference server that speaks the Open Inference Protocol
//! (KServe v2 REST: NVIDIA Triton, KServe, Seldon MLServer). The rows of a pass go out as token ids;
//! the log-probabilities come back at the asked positions only (a full output would be vocab_size
//! floats per token). The binary tensor extension carries the tensors where the server takes it,
//! JSON where it does not. Tokenizing, windowing and scoring stay local.
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

/// Where the served model is and how long to wait for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InferenceServer {
    /// The model's endpoint, e.g. `http://gpu-box:8000/v2/models/biomedbert`.
    pub url: String,
    /// For each request, connecting included.
    pub timeout: Duration,
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
    #[error("attention evidence needs the model in this process: the inference server at {0} returns no attention (use occlusion)")]
    NoAttention(String),
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
}

impl RemoteEncoder {
    /// Checks that the server is ready and serves a model of the local config's shape: the
    /// tensors by name, and the vocabulary size of the output (else refused, naming both).
    pub fn connect(server: InferenceServer, config: &BertConfig) -> Result<Self, RemoteError> {
        server.base()?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(server.timeout.min(Duration::from_secs(10)))
            .timeout(server.timeout)
            .build();
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

    fn get_json(&self, url: &str) -> Result<Value, RemoteError> {
        let response = self
            .agent
            .get(url)
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
            .agent
            .get(&url)
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
                        body.chars().take(300).collect::<String>()
                    ),
                }
            }
            ureq::Error::Transport(transport) => self.unreachable(transport),
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
            .agent
            .post(&self.infer_url())
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
        let bad = |problem: String| RemoteError::BadAnswer {
            url: self.server.url.clone(),
            problem,
        };
        let Some(json_length) = json_length.filter(|&length| length <= bytes.len()) else {
            // No binary part: the server answered in JSON.
            let answer: Value = serde_json::from_slice(&bytes)
                .map_err(|error| bad(format!("with something that is not JSON ({error})")))?;
            return self.output_from_json(&answer);
        };
        let answer: Value = serde_json::from_slice(&bytes[..json_length])
            .map_err(|error| bad(format!("with a header that is not JSON ({error})")))?;
        let output = find_output(&answer).ok_or_else(|| bad(format!("without {OUTPUT_NAME}")))?;
        let shape =
            shape_of(output).ok_or_else(|| bad(format!("without the shape of {OUTPUT_NAME}")))?;
        if output["datatype"] != "FP32" {
            return Err(bad(format!(
                "{OUTPUT_NAME} as {}, not FP32",
                output["datatype"]
            )));
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
        // The sizes come from the server: checked, so that a wrong one is an error, not a panic.
        let count = element_count(&shape)
            .ok_or_else(|| bad(format!("{OUTPUT_NAME} of shape {shape:?}, too large")))?;
        let data = count
            .checked_mul(4)
            .and_then(|length| offset.checked_add(length))
            .and_then(|end| bytes.get(offset..end))
            .ok_or_else(|| {
                bad(format!(
                    "with {} bytes of data for {count} floats",
                    bytes.len().saturating_sub(offset)
                ))
            })?;
        let values = data
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect();
        Ok((shape, values))
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
            .agent
            .post(&self.infer_url())
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
        let bad = |problem: String| RemoteError::BadAnswer {
            url: self.server.url.clone(),
            problem,
        };
        let output = find_output(answer).ok_or_else(|| bad(format!("without {OUTPUT_NAME}")))?;
        let shape =
            shape_of(output).ok_or_else(|| bad(format!("without the shape of {OUTPUT_NAME}")))?;
        let values: Vec<f32> = output["data"]
            .as_array()
            .ok_or_else(|| bad(format!("without the data of {OUTPUT_NAME}")))?
            .iter()
            .map(|value| value.as_f64().map(|value| value as f32))
            .collect::<Option<_>>()
            .ok_or_else(|| bad(format!("with data of {OUTPUT_NAME} that are not numbers")))?;
        if Some(values.len()) != element_count(&shape) {
            return Err(bad(format!(
                "with {} values for the shape {shape:?}",
                values.len()
            )));
        }
        Ok((shape, values))
    }
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
}
