//! The `biomed-lsp` binary: parses the command line and hands over to the library.

use clap::Parser;

/// See Cargo.toml: musl's allocator is slow with the model's threads.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BIOMED_LSP_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = biomed_lsp::cli::Cli::parse();
    std::process::exit(biomed_lsp::cli::main_with_args(cli));
}
