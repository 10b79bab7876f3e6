//! Requests from the server to the client (`workspace/configuration`, progress tokens), sent so
//! that a slow client never holds the server up and a late answer never takes it down.
//!
//! tower-lsp 0.20 panics when an answer arrives for a request whose future was dropped (its
//! `Pending::insert` expects the receiver to be alive: ebkalderon/tower-lsp#417). So a request is
//! never dropped while it waits: it runs in a task of its own until the client answers, and the
//! caller waits only as long as it is willing to, keeping the receiver for a late answer.

use std::time::Duration;

use tokio::sync::oneshot;
use tower_lsp::lsp_types::request::Request;
use tower_lsp::Client;

/// What became of a request to the client within the caller's patience.
pub enum ClientAnswer<T> {
    Answered(T),
    /// The client answered with an error, or an answer that does not decode.
    Failed(String),
    /// No answer yet; the request goes on in its own task and its answer, if it ever comes,
    /// arrives here.
    Late(oneshot::Receiver<Result<T, String>>),
}

/// Sends a request to the client and waits at most `patience` for the answer.
pub async fn request_client<R>(
    client: &Client,
    params: R::Params,
    patience: Duration,
) -> ClientAnswer<R::Result>
where
    R: Request,
    R::Params: Send + 'static,
    R::Result: Send + 'static,
{
    let (answer_sender, mut answer_receiver) = oneshot::channel();
    let client = client.clone();
    tokio::spawn(async move {
        let answer = client
            .send_request::<R>(params)
            .await
            .map_err(|error| error.to_string());
        // The caller may have stopped listening; the answer then has nowhere to go.
        let _ = answer_sender.send(answer);
    });
    match tokio::time::timeout(patience, &mut answer_receiver).await {
        Ok(Ok(Ok(answer))) => ClientAnswer::Answered(answer),
        Ok(Ok(Err(error))) => ClientAnswer::Failed(error),
        Ok(Err(_)) => ClientAnswer::Failed("the request task ended without an answer".to_string()),
        Err(_) => ClientAnswer::Late(answer_receiver),
    }
}
