//! Failure and delay injection for the protocol tests, read from environment variables in debug
//! builds only (release builds ignore them): a slow model load, a slow engine, a panicking handler.

use std::time::Duration;

fn debug_env(name: &str) -> Option<String> {
    if cfg!(debug_assertions) {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    } else {
        None
    }
}

fn debug_millis(name: &str) -> Option<Duration> {
    debug_env(name)
        .and_then(|value| value.parse().ok())
        .map(Duration::from_millis)
}

/// `BIOMED_LSP_TEST_LOAD_DELAY_MS`: the model load waits this long first, so tests see the server
/// answer while the model loads.
pub fn delay_model_load() {
    if let Some(delay) = debug_millis("BIOMED_LSP_TEST_LOAD_DELAY_MS") {
        std::thread::sleep(delay);
    }
}

/// `BIOMED_LSP_TEST_ENGINE_DELAY_MS`: the engine thread waits this long before each request, so
/// tests can supersede or cancel a request that is queued or running.
pub fn engine_delay() -> Option<Duration> {
    debug_millis("BIOMED_LSP_TEST_ENGINE_DELAY_MS")
}

/// `BIOMED_LSP_TEST_PANIC_PREFIX`: a completion whose typed prefix equals this value panics in
/// the handler, to test that a panic does not take the server down.
pub fn panic_on_prefix(prefix: &str) {
    if debug_env("BIOMED_LSP_TEST_PANIC_PREFIX").is_some_and(|trigger| trigger == prefix) {
        panic!("test hook: completion panics on the prefix {prefix:?}");
    }
}
