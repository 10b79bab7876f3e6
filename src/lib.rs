//! biomed-lsp: a language server that helps write biomedical manuscripts with a BiomedBERT
//! masked-language model (completion, hover, terminology checks).

pub mod analysis;
pub mod cli;
pub mod config_file;
pub mod context;
pub mod dictionary_files;
pub mod document;
pub mod lsp;
pub mod manuscript_folder;
pub mod model;
pub mod prose;
pub mod secret;
pub mod settings;
pub mod test_hooks;
pub mod text_file;

pub use lsp::serve_stdio;
