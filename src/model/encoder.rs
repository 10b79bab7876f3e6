//! What runs the forward passes: the model in this process, or a model on an inference server
//! (`remote.rs`). Everything else (tokenizing, windows, scoring) is the same for both.

use super::bert::BertModel;
use super::config::BertConfig;
use super::remote::RemoteEncoder;

pub enum Encoder {
    Local(BertModel),
    Remote(RemoteEncoder),
}

impl From<BertModel> for Encoder {
    fn from(model: BertModel) -> Self {
        Encoder::Local(model)
    }
}

impl From<RemoteEncoder> for Encoder {
    fn from(model: RemoteEncoder) -> Self {
        Encoder::Remote(model)
    }
}

impl Encoder {
    pub fn config(&self) -> &BertConfig {
        match self {
            Encoder::Local(model) => model.config(),
            Encoder::Remote(model) => model.config(),
        }
    }

    /// `f32`, `f16`, `bf16`, `q8 · KERNEL`, or `remote` (whatever the server runs).
    pub fn precision_name(&self) -> String {
        match self {
            Encoder::Local(model) => model.precision_name(),
            Encoder::Remote(_) => "remote".to_string(),
        }
    }
}
