//! The masked-language model: where it comes from, how it loads, and the engine thread that runs it.

pub mod api;
pub mod bert;
pub mod config;
pub mod cpu_ops;
pub mod device;
pub mod embedded;
pub mod embedding;
pub mod encoder;
pub mod engine;
pub mod entities;
pub mod evidence;
pub mod fill;
pub mod int8;
pub mod priority;
pub mod remote;
pub mod resolve;
pub mod slot_fill;
pub mod tokenizer;
pub mod weights;

use std::path::PathBuf;

pub use api::*;
pub use engine::{bundled_tokenize, load_engine, EngineHandle, LoadEvent, LoadedModel};
pub use resolve::ModelOptions;

/// Everything that can go wrong while finding, loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    BadFile { path: PathBuf, problem: String },
    #[error("{path}: missing {what}")]
    MissingFile { path: PathBuf, what: String },
    #[error("model directory {0} does not exist")]
    NoSuchDirectory(PathBuf),
    #[error("{0}")]
    Resolve(String),
    #[error("device: {0}")]
    Device(String),
    #[error("tokenizer: {0}")]
    Tokenize(String),
    #[error("model computation failed: {0}")]
    Compute(String),
    #[error("{model} and its vocabulary do not match: {problem}")]
    VocabularyMismatch { model: String, problem: String },
    /// The inference server: unreachable, a bad answer, or a model that does not match.
    #[error("{0}")]
    Remote(#[from] remote::RemoteError),
    /// A token-classification checkpoint that cannot be used.
    #[error("{0}")]
    Entities(#[from] entities::EntityHeadError),
    /// Every request of a batch was cancelled while it ran (seen between forward passes).
    #[error("the request was cancelled")]
    Cancelled,
}
