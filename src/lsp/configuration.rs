//! Settings: pushed or pulled from the client (`workspace/configuration`), applied, and the reloads
//! and re-checks they call for.

use std::sync::atomic::Ordering;

use serde_json::Value;
use tower_lsp::lsp_types::request::WorkspaceConfiguration;
use tower_lsp::lsp_types::{
    ConfigurationItem, ConfigurationParams, DidChangeConfigurationParams, MessageType,
};

use crate::lsp::client_requests::{request_client, ClientAnswer};
use crate::lsp::panic_guard::catch_panic;
use crate::settings::SETTINGS_SECTION;

use super::state::*;

impl Backend {
    /// Applies a settings value, tells the user about invalid keys, and reloads the model if the
    /// model settings changed.
    pub(super) async fn apply_settings(&self, value: &Value, may_reload: bool) {
        let (warnings, needs_reload, needs_recheck) = {
            let mut settings = lock(&self.shared.settings);
            let before = settings.clone();
            let warnings = settings.merge_json(value);
            (
                warnings,
                before.model_differs(&settings),
                before.check_differs(&settings),
            )
        };
        if needs_recheck && may_reload {
            self.reload_dictionary().await;
            let options = lock(&self.shared.settings).prose_options();
            for document in lock(&self.shared.documents).values_mut() {
                document.set_prose_options(options.clone());
            }
            self.schedule_all_checks();
        }
        for warning in warnings {
            self.client
                .show_message(MessageType::WARNING, warning.to_string())
                .await;
        }
        if needs_reload && may_reload {
            self.start_model_load();
        }
    }

    /// Asks the client for the settings. An answer that comes after [`CLIENT_REPLY_TIMEOUT`] is
    /// applied when it comes, unless a newer pull was made meanwhile.
    pub(super) async fn pull_configuration(&self) -> Option<Value> {
        if !lock(&self.shared.client_support).configuration {
            return None;
        }
        let pull = self
            .shared
            .configuration_pulls
            .fetch_add(1, Ordering::SeqCst)
            + 1;
        let params = ConfigurationParams {
            items: vec![ConfigurationItem {
                scope_uri: None,
                section: Some(SETTINGS_SECTION.to_string()),
            }],
        };
        let first_value =
            |mut values: Vec<Value>| (!values.is_empty()).then(|| values.swap_remove(0));
        match request_client::<WorkspaceConfiguration>(&self.client, params, CLIENT_REPLY_TIMEOUT)
            .await
        {
            ClientAnswer::Answered(values) => first_value(values),
            ClientAnswer::Failed(error) => {
                tracing::warn!("workspace/configuration failed: {error}");
                None
            }
            ClientAnswer::Late(late_answer) => {
                tracing::warn!(
                    "workspace/configuration got no answer within {CLIENT_REPLY_TIMEOUT:?}; going \
                     on with the settings in force until it comes"
                );
                let backend = self.clone_handle();
                tokio::spawn(async move {
                    let Ok(Ok(values)) = late_answer.await else {
                        return;
                    };
                    if backend.shared.configuration_pulls.load(Ordering::SeqCst) != pull {
                        tracing::info!("a late workspace/configuration answer was superseded");
                        return;
                    }
                    if let Some(value) = first_value(values) {
                        tracing::info!("applying a late workspace/configuration answer");
                        backend.apply_settings(&value, true).await;
                    }
                });
                None
            }
        }
    }

    /// Settings pushed or announced by the client: applied in a task of their own.
    pub(super) fn did_change_configuration_body(&self, params: DidChangeConfigurationParams) {
        // Pulling the settings waits for the client: never inside a handler, where the wait
        // would hold one of tower-lsp's handler slots.
        let backend = self.clone_handle();
        tokio::spawn(async move {
            let result = catch_panic("didChangeConfiguration", async {
                // Clients using the pull model send null (or an empty object) and expect a request.
                let pushed_is_empty = params.settings.is_null()
                    || params
                        .settings
                        .as_object()
                        .is_some_and(|map| map.is_empty());
                let value = if pushed_is_empty {
                    backend.pull_configuration().await
                } else {
                    Some(params.settings)
                };
                if let Some(value) = value {
                    backend.apply_settings(&value, true).await;
                }
            })
            .await;
            if let Err(error) = result {
                tracing::error!("{error}");
            }
        });
    }
}
