//! `$/progress` reporting, one token of its own per piece of work.

use std::sync::atomic::{AtomicU64, Ordering};

use tower_lsp::lsp_types::notification::Progress;
use tower_lsp::lsp_types::request::WorkDoneProgressCreate;
use tower_lsp::lsp_types::{
    NumberOrString, ProgressParams, ProgressParamsValue, WorkDoneProgress, WorkDoneProgressBegin,
    WorkDoneProgressCreateParams, WorkDoneProgressEnd, WorkDoneProgressReport,
};
use tower_lsp::Client;

use crate::lsp::client_requests::{request_client, ClientAnswer};

use super::state::*;

/// `$/progress` for one piece of work (a model load, a check), or nothing when the client does
/// not support progress or did not hand out the token in time.
pub(super) struct ProgressReporter {
    client: Client,
    token: Option<NumberOrString>,
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
            cancellable: Some(false),
            message: Some(message.to_string()),
            percentage: None,
        }))
        .await;
    }

    pub(super) async fn report(&self, message: &str, percentage: Option<u32>) {
        self.send(WorkDoneProgress::Report(WorkDoneProgressReport {
            cancellable: Some(false),
            message: Some(message.to_string()),
            percentage,
        }))
        .await;
    }

    pub(super) async fn end(&self, message: &str) {
        self.send(WorkDoneProgress::End(WorkDoneProgressEnd {
            message: Some(message.to_string()),
        }))
        .await;
    }
}
