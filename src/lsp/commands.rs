//! `workspace/executeCommand`: dictionaries, ignoring a word, re-checking, fetching the model, status.

use serde_json::Value;
use tower_lsp::jsonrpc;
use tower_lsp::lsp_types::{ExecuteCommandParams, Url};

use crate::dictionary_files::{append_word, user_dictionary_path, workspace_dictionary_path};

use super::state::*;

use super::server::internal_error;

/// Commands the server executes (`workspace/executeCommand`).
pub(crate) const COMMAND_ADD_TO_DICTIONARY: &str = "biomedLsp.addToDictionary";
pub(crate) const COMMAND_IGNORE_IN_DOCUMENT: &str = "biomedLsp.ignoreInDocument";
pub(crate) const COMMAND_CHECK_WORKSPACE: &str = "biomedLsp.checkWorkspace";
pub(crate) const COMMAND_FETCH_MODEL: &str = "biomedLsp.fetchModel";
pub(crate) const COMMAND_STATUS: &str = "biomedLsp.status";

impl Backend {
    pub(super) async fn execute_command_body(
        &self,
        params: ExecuteCommandParams,
    ) -> jsonrpc::Result<Option<Value>> {
        let argument = params.arguments.first().cloned().unwrap_or(Value::Null);
        let invalid = |message: String| jsonrpc::Error {
            code: jsonrpc::ErrorCode::InvalidParams,
            message: message.into(),
            data: None,
        };
        match params.command.as_str() {
            COMMAND_ADD_TO_DICTIONARY => {
                let word = argument["word"]
                    .as_str()
                    .map(str::trim)
                    .filter(|word| !word.is_empty() && !word.contains(char::is_whitespace));
                let Some(word) = word else {
                    return Err(invalid(format!("{COMMAND_ADD_TO_DICTIONARY} needs {{\"word\": \"…\"}} with one word, got {argument}")));
                };
                // The workspace's dictionary is written inside its folder only; the user's
                // wherever the user's own settings say.
                let (path, inside) = match argument["scope"].as_str().unwrap_or("user") {
                    "workspace" => match argument["uri"]
                        .as_str()
                        .and_then(|uri| Url::parse(uri).ok())
                        .and_then(|uri| self.folder_of(&uri))
                        .or_else(|| lock(&self.shared.workspace_folders).first().cloned())
                    {
                        Some(folder) => {
                            (workspace_dictionary_path(&folder.root), Some(folder.root))
                        }
                        None => {
                            return Err(invalid(
                                "there is no workspace folder for a workspace dictionary".into(),
                            ))
                        }
                    },
                    "user" => {
                        let setting = lock(&self.shared.settings).dictionary_user_file.clone();
                        let path = user_dictionary_path(&setting).ok_or_else(|| invalid("no home or config directory for the user dictionary; set biomedLsp.dictionary.userFile".into()))?;
                        (path, None)
                    }
                    other => {
                        return Err(invalid(format!("scope {other:?} is not user or workspace")))
                    }
                };
                let word = word.to_string();
                let written = path.clone();
                tokio::task::spawn_blocking(move || {
                    append_word(&written, &word, inside.as_deref())
                })
                .await
                .map_err(internal_error)?
                .map_err(|error| internal_error(error.to_string()))?;
                self.schedule_all_checks();
                Ok(Some(serde_json::json!({"path": path})))
            }
            COMMAND_IGNORE_IN_DOCUMENT => {
                let (Some(word), Some(uri)) = (
                    argument["word"].as_str(),
                    argument["uri"]
                        .as_str()
                        .and_then(|uri| Url::parse(uri).ok()),
                ) else {
                    return Err(invalid(format!(
                        "{COMMAND_IGNORE_IN_DOCUMENT} needs {{\"word\", \"uri\"}}, got {argument}"
                    )));
                };
                lock(&self.shared.checks.ignored_words)
                    .entry(uri.clone())
                    .or_default()
                    .push(word.to_string());
                self.schedule_check(uri, false);
                Ok(None)
            }
            COMMAND_CHECK_WORKSPACE => {
                self.schedule_all_checks();
                Ok(None)
            }
            COMMAND_FETCH_MODEL => {
                // A load with offline off downloads the model when it is not in the cache.
                lock(&self.shared.settings).offline = false;
                self.start_model_load();
                Ok(None)
            }
            COMMAND_STATUS => {
                let settings = lock(&self.shared.settings).clone();
                let slot = lock(&self.shared.engine);
                let status = match (&slot.current, &slot.failure) {
                    (Some(engine), _) => {
                        let info = engine.info();
                        let state = if info.is_fallback {
                            "fallback"
                        } else {
                            "ready"
                        };
                        serde_json::json!({"model": info.display_name, "device": info.device, "precision": info.precision, "state": state, "detail": info.loaded, "entities": info.entities})
                    }
                    (None, Some(failure)) => {
                        serde_json::json!({"model": settings.model, "device": settings.device, "state": "error", "detail": failure})
                    }
                    (None, None) => {
                        serde_json::json!({"model": settings.model, "device": settings.device, "state": "loading", "detail": ""})
                    }
                };
                drop(slot);
                // What the server holds of each open document, so a client can check that its
                // text and the server's agree.
                let documents: serde_json::Map<String, Value> = lock(&self.shared.documents)
                    .iter()
                    .map(|(uri, document)| {
                        let held = serde_json::json!({"version": document.version(), "bytes": document.len_bytes(), "digest": document.digest()});
                        (uri.to_string(), held)
                    })
                    .collect();
                let mut status = status;
                status["documents"] = Value::Object(documents);
                Ok(Some(status))
            }
            other => Err(invalid(format!("unknown command {other:?}"))),
        }
    }
}
