//! Runs a handler future so that a panic inside it becomes an error value instead of unwinding
//! through tower-lsp's service loop, which would take the whole server down.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

pub struct CatchPanic<F> {
    inner: Pin<Box<F>>,
}

/// A handler panicked; the message is the panic payload when it was a string.
#[derive(Debug, thiserror::Error)]
#[error("handler {handler} panicked: {message}")]
pub struct HandlerPanic {
    pub handler: &'static str,
    pub message: String,
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        // The future is dropped after a panic (we return Ready), so no broken state is observed.
        match catch_unwind(AssertUnwindSafe(|| inner.poll(context))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(payload))),
        }
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

pub async fn catch_panic<F: Future>(
    handler: &'static str,
    future: F,
) -> Result<F::Output, HandlerPanic> {
    CatchPanic {
        inner: Box::pin(future),
    }
    .await
    .map_err(|message| HandlerPanic { handler, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_future_becomes_an_error() {
        let result = catch_panic("test", async {
            tokio::task::yield_now().await;
            if std::hint::black_box(true) {
                panic!("boom at {}", 7);
            }
            1
        })
        .await;
        let error = result.expect_err("the panic should be caught");
        assert_eq!(error.message, "boom at 7");
        assert_eq!(catch_panic("test", async { 2 }).await.ok(), Some(2));
    }
}
