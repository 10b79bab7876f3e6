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
        let change = self.merge_settings(value);
        self.follow_settings_change(change, may_reload).await;
    }

    /// Merges a settings value into the settings in force. Synchronous, so that a request the
    /// client sends after a pushed `didChangeConfiguration` already sees the new settings.
    fn merge_settings(&self, value: &Value) -> SettingsChange {
        merge_settings_json(&mut lock(&self.shared.editor_settings), value);
        let mut settings = lock(&self.shared.settings);
        let before = settings.clone();
        let warnings = settings.merge_json(value);
        SettingsChange {
            warnings,
            needs_reload: before.model_differs(&settings),
            needs_recheck: before.check_differs(&settings),
        }
    }

    /// What a settings change calls for: messages about invalid keys, re-checks, a model reload.
    async fn follow_settings_change(&self, change: SettingsChange, may_reload: bool) {
        if change.needs_recheck && may_reload {
            let uris: Vec<_> = lock(&self.shared.documents).keys().cloned().collect();
            for uri in uris {
                let options = self.settings_for(&uri).prose_options();
                if let Some(document) = lock(&self.shared.documents).get_mut(&uri) {
                    document.set_prose_options(options);
                }
            }
            self.schedule_all_checks();
        }
        for warning in change.warnings {
            self.client
                .show_message(MessageType::WARNING, warning.to_string())
                .await;
        }
        if change.needs_reload && may_reload {
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

    /// Settings pushed by the client apply at once; what follows from them (and a pull, for
    /// clients that only announce a change) runs in a task of its own.
    pub(super) fn did_change_configuration_body(&self, params: DidChangeConfigurationParams) {
        // Clients using the pull model send null (or an empty object) and expect a request.
        let pushed_is_empty = params.settings.is_null()
            || params
                .settings
                .as_object()
                .is_some_and(|map| map.is_empty());
        let pushed_change = (!pushed_is_empty).then(|| self.merge_settings(&params.settings));
        // Pulling the settings waits for the client: never inside a handler, where the wait
        // would hold one of tower-lsp's handler slots.
        let backend = self.clone_handle();
        tokio::spawn(async move {
            let result = catch_panic("didChangeConfiguration", async {
                match pushed_change {
                    Some(change) => backend.follow_settings_change(change, true).await,
                    None => {
                        if let Some(value) = backend.pull_configuration().await {
                            backend.apply_settings(&value, true).await;
                        }
                    }
                }
            })
            .await;
            if let Err(error) = result {
                tracing::error!("{error}");
            }
        });
    }
}

/// What merging a settings value changed.
struct SettingsChange {
    warnings: Vec<crate::settings::SettingsWarning>,
    needs_reload: bool,
    needs_recheck: bool,
}

/// Merges a settings value the editor sent (the `biomedLsp` object, or an object holding it) into
/// what it sent before: objects key by key, other values replaced, `null` left out.
fn merge_settings_json(merged: &mut Value, value: &Value) {
    let section = value.get(SETTINGS_SECTION).unwrap_or(value);
    merge_objects(merged, section);
}

fn merge_objects(merged: &mut Value, value: &Value) {
    match (merged, value) {
        (_, Value::Null) => {}
        (Value::Object(into), Value::Object(from)) => {
            for (key, inner) in from {
                merge_objects(into.entry(key.clone()).or_insert(Value::Null), inner);
            }
        }
        (merged, value) => *merged = value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editors_settings_accumulate_key_by_key() {
        let mut merged = Value::Null;
        merge_settings_json(
            &mut merged,
            &serde_json::json!({"biomedLsp": {"diagnostics": {"minMargin": 6}, "model": "bundled"}}),
        );
        merge_settings_json(
            &mut merged,
            &serde_json::json!({"diagnostics": {"debounceMs": 50}, "model": null}),
        );
        assert_eq!(
            merged,
            serde_json::json!({"diagnostics": {"minMargin": 6, "debounceMs": 50}, "model": "bundled"})
        );
    }
}
