//! The protocol edge: the only part of the crate that knows LSP types.

mod client_requests;
pub mod framing;
mod panic_guard;
pub mod position;
mod process_watch;
mod render;
pub mod server;

pub use server::serve_stdio;
