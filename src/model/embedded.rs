//! The bundled mini model and its entity tagger: embedded in the binary by default (feature
//! `embedded-model`), so an installed binary works offline; otherwise read from the repository's
//! `models/biomed-mini` and `models/biomed-mini-ner`.

use std::path::PathBuf;

/// Where the bundled model's files live in the source tree.
pub fn bundled_model_directory() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models/biomed-mini"))
}

/// Where the bundled entity tagger's files live in the source tree: its `config.json` and
/// `model.safetensors`; its tokenizer is the mini model's.
pub fn bundled_entity_model_directory() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/biomed-mini-ner"
    ))
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

/// The bundled entity tagger's own files, as bytes in the binary.
pub struct EmbeddedEntityFiles {
    pub config_json: &'static str,
    pub model_safetensors: &'static [u8],
}

#[cfg(all(feature = "embedded-model", bundled_entity_model))]
pub fn embedded_entity_files() -> Option<EmbeddedEntityFiles> {
    Some(EmbeddedEntityFiles {
        config_json: include_str!("../../models/biomed-mini-ner/config.json"),
        model_safetensors: include_bytes!("../../models/biomed-mini-ner/model.safetensors"),
    })
}

#[cfg(not(all(feature = "embedded-model", bundled_entity_model)))]
pub fn embedded_entity_files() -> Option<EmbeddedEntityFiles> {
    None
}
