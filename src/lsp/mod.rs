//! The protocol edge: the only part of the crate that knows LSP types.

mod client_requests;
mod code_actions;
mod commands;
mod completion;
mod configuration;
mod definition;
mod diagnostics;
mod document_sync;
mod entities;
pub mod framing;
mod highlights;
mod hover;
mod model_loading;
mod panic_guard;
pub mod position;
mod process_watch;
mod progress;
mod render;
pub mod server;
mod state;

pub use server::serve_stdio;
