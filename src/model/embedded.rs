//! The bundled mini model: embedded in the binary by default (feature `embedded-model`), so an
//! installed binary works offline; otherwise read from the repository's `models/biomed-mini`.

use std::path::PathBuf;

/// Where the bundled model's files live in the source tree.
pub fn bundled_model_directory() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models/biomed-mini"))
}

/// The files of the bundled model, as bytes in the binary.
pub struct EmbeddedFiles {
    pub config_json: &'static str,
    pub vocab_txt: &'static str,
    pub tokenizer_config_json: &'static str,
    pub model_safetensors: &'static [u8],
}

#[cfg(feature = "embedded-model")]
pub fn embedded_files() -> Option<EmbeddedFiles> {
    Some(EmbeddedFiles {
        config_json: include_str!("../../models/biomed-mini/config.json"),
        vocab_txt: include_str!("../../models/biomed-mini/vocab.txt"),
        tokenizer_config_json: include_str!("../../models/biomed-mini/tokenizer_config.json"),
        model_safetensors: include_bytes!("../../models/biomed-mini/model.safetensors"),
    })
}

#[cfg(not(feature = "embedded-model"))]
pub fn embedded_files() -> Option<EmbeddedFiles> {
    None
}
