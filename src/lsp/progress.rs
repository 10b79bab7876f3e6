//! `$/progress` reporting, one token of its own per piece of work.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tower_lsp::lsp_types::notification::Progress;
use tower_lsp::lsp_types::request::WorkDoneProgressCreate;
use tower_lsp::lsp_types::{
    NumberOrString, ProgressParams, ProgressParamsValue, WorkDoneProgress, WorkDoneProgressBegin,
    WorkDoneProgressCancelParams, WorkDoneProgressCreateParams, WorkDoneProgressEnd,
    WorkDoneProgressReport,
};
use tower_lsp::Client;

use crate::lsp::client_requests::{request_client, ClientAnswer};
use crate::model::api::CancelFlag;

use std::collections::HashMap;

use super::state::*;

/// `$/progress` for one piece of work (a model load, a check), or nothing when the client does
/// not support progress or did not hand out the token in time.
pub(super) struct ProgressReporter {
    client: Client,
    token: Option<NumberOrString>,
    /// Whether the client's cancel button is enabled (see [`Self::begin_cancellable`]).
    cancellable: AtomicBool,
}

impl ProgressReporter {
    /// Asks the client to create a token of its own for this work (`biomed-lsp/{kind}/{n}`).
    pub(super) async fn create(client: &Client, kind: &str, supported: bool) -> Self {
        static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);
        let mut token = None;
        if supported {
            let number = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
            let candidate = NumberOrString::String(format!("biomed-lsp/{kind}/{number}"));
            let params = WorkDoneProgressCreateParams {
                token: candidate.clone(),
            };
            match request_client::<WorkDoneProgressCreate>(client, params, CLIENT_REPLY_TIMEOUT)
                .await
            {
                ClientAnswer::Answered(()) => token = Some(candidate),
                ClientAnswer::Failed(error) => {
                    tracing::warn!("window/workDoneProgress/create failed: {error}")
                }
                // A token the client acknowledges later is never used: the work goes on without
                // progress rather than wait.
                ClientAnswer::Late(_) => tracing::warn!(
                    "window/workDoneProgress/create got no answer within {CLIENT_REPLY_TIMEOUT:?}"
                ),
            }
        }
        Self {
            client: client.clone(),
            token,
            cancellable: AtomicBool::new(false),
        }
    }

    fn token_key(&self) -> Option<String> {
        match self.token.as_ref()? {
            NumberOrString::String(token) => Some(token.clone()),
            NumberOrString::Number(number) => Some(number.to_string()),
        }
    }

    pub(super) async fn send(&self, progress: WorkDoneProgress) {
        if let Some(token) = &self.token {
            let params = ProgressParams {
                token: token.clone(),
                value: ProgressParamsValue::WorkDone(progress),
            };
            self.client.send_notification::<Progress>(params).await;
        }
    }

    pub(super) async fn begin(&self, message: &str) {
        self.send(WorkDoneProgress::Begin(WorkDoneProgressBegin {
            title: "biomed-lsp".to_string(),
            cancellable: Some(self.cancellable.load(Ordering::Relaxed)),
            message: Some(message.to_string()),
            percentage: None,
        }))
        .await;
    }

    /// Begins with the client's cancel button on: `window/workDoneProgress/cancel` for this
    /// token sets `cancel` (through `cancels`, until [`Self::end`]).
    pub(super) async fn begin_cancellable(
        &self,
        message: &str,
        cancel: CancelFlag,
        cancels: &std::sync::Mutex<HashMap<String, CancelFlag>>,
    ) {
        if let Some(key) = self.token_key() {
            lock(cancels).insert(key, cancel);
            self.cancellable.store(true, Ordering::Relaxed);
        }
        self.begin(message).await;
    }

    /// Turns the cancel button off in the reports that follow (the work can no longer stop).
    pub(super) fn stop_being_cancellable(&self) {
        self.cancellable.store(false, Ordering::Relaxed);
    }

    pub(super) async fn report(&self, message: &str, percentage: Option<u32>) {
        self.send(WorkDoneProgress::Report(WorkDoneProgressReport {
            cancellable: Some(self.cancellable.load(Ordering::Relaxed)),
            message: Some(message.to_string()),
            percentage,
        }))
        .await;
    }

    /// Ends the progress; `cancels` forgets the token.
    pub(super) async fn end_and_forget(
        &self,
        message: &str,
        cancels: &std::sync::Mutex<HashMap<String, CancelFlag>>,
    ) {
        if let Some(key) = self.token_key() {
            lock(cancels).remove(&key);
        }
        self.end(message).await;
    }

    pub(super) async fn end(&self, message: &str) {
        self.send(WorkDoneProgress::End(WorkDoneProgressEnd {
            message: Some(message.to_string()),
        }))
        .await;
    }
}

impl Backend {
    /// `window/workDoneProgress/cancel`: stops the work of that token, if it can still stop.
    pub(super) async fn work_done_progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        let key = match params.token {
            NumberOrString::String(token) => token,
            NumberOrString::Number(number) => number.to_string(),
        };
        match lock(&self.shared.progress_cancels).get(&key) {
            Some(cancel) => {
                tracing::info!("the client cancelled {key}");
                cancel.cancel();
            }
            None => {
                tracing::info!("cancel of {key}: nothing to stop (finished or not cancellable)")
            }
        }
    }
}
