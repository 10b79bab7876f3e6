//! biomed-lsp: a language server that helps write biomedical manuscripts with a BiomedBERT
//! masked-language model (completion, hover, terminology checks).

pub mod cli;
pub mod model;
