//! The tower-lsp language server: capabilities, and the routing of each message to the file that
//! handles it (`completion`, `hover`, `definition`, `highlights`, `document_sync`, `configuration`,
//! `diagnostics`, `entities`, `code_actions`, `commands`); and the server on stdio.

use std::sync::Arc;

use serde_json::Value;
use tower_lsp::jsonrpc;
use tower_lsp::lsp_types::{
    CodeActionKind, CodeActionOptions, CodeActionOrCommand, CodeActionParams,
    CodeActionProviderCapability, CompletionOptions, CompletionParams, CompletionResponse,
    DidChangeConfigurationParams, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DocumentHighlight, DocumentHighlightParams, DocumentSymbolParams,
    DocumentSymbolResponse, ExecuteCommandOptions, ExecuteCommandParams, GotoDefinitionParams,
    GotoDefinitionResponse, Hover, HoverParams, HoverProviderCapability, InitializeParams,
    InitializeResult, InitializedParams, MessageType, OneOf, SemanticTokensDeltaParams,
    SemanticTokensFullDeltaResult, SemanticTokensParams, SemanticTokensResult, ServerCapabilities,
    ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
};
use tower_lsp::{LanguageServer, LspService, Server};

use crate::config_file::{read_config_for_server, user_config_file, workspace_config_file};
use crate::lsp::framing::{forward_client_input, forward_server_output, OutstandingRequests};
use crate::lsp::panic_guard::catch_panic;
use crate::lsp::position::PositionEncoding;
use crate::lsp::process_watch::watch_client_process;
use crate::settings::SettingsOrigin;

use super::commands::*;
use super::state::*;

pub(super) fn internal_error(error: impl std::fmt::Display) -> jsonrpc::Error {
    tracing::error!("{error}");
    jsonrpc::Error {
        code: jsonrpc::ErrorCode::InternalError,
        message: error.to_string().into(),
        data: None,
    }
}

#[tower_lsp::async_trait]
impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> jsonrpc::Result<InitializeResult> {
        catch_panic("initialize", async {
            let encoding = PositionEncoding::negotiate(&params.capabilities);
            *lock(&self.shared.encoding) = encoding;
            *lock(&self.shared.client_support) = ClientSupport {
                work_done_progress: params
                    .capabilities
                    .window
                    .as_ref()
                    .and_then(|window| window.work_done_progress)
                    .unwrap_or(false),
                configuration: params
                    .capabilities
                    .workspace
                    .as_ref()
                    .and_then(|workspace| workspace.configuration)
                    .unwrap_or(false),
                related_information: params
                    .capabilities
                    .text_document
                    .as_ref()
                    .and_then(|document| document.publish_diagnostics.as_ref())
                    .and_then(|diagnostics| diagnostics.related_information)
                    .unwrap_or(false),
            };
            let refresh_supported = params
                .capabilities
                .workspace
                .as_ref()
                .and_then(|workspace| workspace.semantic_tokens.as_ref())
                .and_then(|tokens| tokens.refresh_support)
                .unwrap_or(false);
            self.shared
                .entities
                .refresh_supported
                .store(refresh_supported, std::sync::atomic::Ordering::Relaxed);
            if let Some(process_id) = params.process_id {
                watch_client_process(process_id);
            }
            #[allow(deprecated)] // root_uri is what older clients send
            let roots: Vec<std::path::PathBuf> = match &params.workspace_folders {
                Some(folders) if !folders.is_empty() => folders
                    .iter()
                    .filter_map(|folder| folder.uri.to_file_path().ok())
                    .collect(),
                _ => params
                    .root_uri
                    .iter()
                    .filter_map(|uri| uri.to_file_path().ok())
                    .collect(),
            };
            // The user's configuration file, then each folder's (its machine settings ignored);
            // the editor's settings go over them. Completion follows the first folder's (one
            // engine serves them all).
            let user_config = user_config_file().and_then(|path| {
                let (config, errors) = read_config_for_server(&path, SettingsOrigin::User);
                lock(&self.shared.pending_warnings).extend(errors);
                config
            });
            if let Some(config) = &user_config {
                let _ = lock(&self.shared.settings).merge_file_json(config, SettingsOrigin::User);
            }
            *lock(&self.shared.user_config) = user_config;
            let mut folders = Vec::new();
            for root in roots {
                let path = workspace_config_file(&root);
                let (config, errors) = read_config_for_server(&path, SettingsOrigin::Workspace);
                lock(&self.shared.pending_warnings).extend(errors);
                folders.push(WorkspaceFolder { root, config });
            }
            if let Some(config) = folders.first().and_then(|folder| folder.config.as_ref()) {
                let _ =
                    lock(&self.shared.settings).merge_file_json(config, SettingsOrigin::Workspace);
            }
            *lock(&self.shared.workspace_folders) = folders;
            if let Some(options) = &params.initialization_options {
                let warnings = lock(&self.shared.settings).merge_json(options);
                lock(&self.shared.pending_warnings)
                    .extend(warnings.iter().map(ToString::to_string));
                *lock(&self.shared.editor_settings) = options
                    .get(crate::settings::SETTINGS_SECTION)
                    .unwrap_or(options)
                    .clone();
            }
            InitializeResult {
                capabilities: ServerCapabilities {
                    position_encoding: Some(encoding.kind()),
                    text_document_sync: Some(TextDocumentSyncCapability::Options(
                        TextDocumentSyncOptions {
                            open_close: Some(true),
                            change: Some(TextDocumentSyncKind::INCREMENTAL),
                            ..TextDocumentSyncOptions::default()
                        },
                    )),
                    completion_provider: Some(CompletionOptions::default()),
                    hover_provider: Some(HoverProviderCapability::Simple(true)),
                    document_highlight_provider: Some(OneOf::Left(true)),
                    definition_provider: Some(OneOf::Left(true)),
                    document_symbol_provider: Some(OneOf::Left(true)),
                    semantic_tokens_provider: Some(super::entities::semantic_tokens_capability()),
                    code_action_provider: Some(CodeActionProviderCapability::Options(
                        CodeActionOptions {
                            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
                            ..CodeActionOptions::default()
                        },
                    )),
                    execute_command_provider: Some(ExecuteCommandOptions {
                        commands: [
                            COMMAND_ADD_TO_DICTIONARY,
                            COMMAND_IGNORE_IN_DOCUMENT,
                            COMMAND_CHECK_WORKSPACE,
                            COMMAND_FETCH_MODEL,
                            COMMAND_STATUS,
                        ]
                        .iter()
                        .map(|command| command.to_string())
                        .collect(),
                        ..ExecuteCommandOptions::default()
                    }),
                    ..ServerCapabilities::default()
                },
                server_info: Some(ServerInfo {
                    name: "biomed-lsp".to_string(),
                    version: Some(env!("CARGO_PKG_VERSION").to_string()),
                }),
            }
        })
        .await
        .map_err(internal_error)
    }

    async fn initialized(&self, _params: InitializedParams) {
        let result = catch_panic("initialized", async {
            let warnings: Vec<String> = std::mem::take(&mut *lock(&self.shared.pending_warnings));
            for warning in warnings {
                self.client
                    .show_message(MessageType::WARNING, warning)
                    .await;
            }
            // Settings pulled from the workspace come before the first load, so the model the user
            // configured is the one loaded.
            let backend = Backend {
                client: self.client.clone(),
                shared: Arc::clone(&self.shared),
            };
            tokio::spawn(async move {
                if let Some(value) = backend.pull_configuration().await {
                    backend.apply_settings(&value, false).await;
                }
                backend.start_model_load();
            });
        })
        .await;
        if let Err(error) = result {
            tracing::error!("{error}");
        }
    }

    async fn shutdown(&self) -> jsonrpc::Result<()> {
        for flag in lock(&self.shared.completion_cancels).values() {
            flag.cancel();
        }
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        if let Err(error) = catch_panic("didOpen", async { self.did_open_body(params) }).await {
            tracing::error!("{error}");
        }
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri.clone();
        let changed = catch_panic("didChange", async {
            if let Some((cursor, edit)) = self.did_change_body(params) {
                self.prefetch_next_word(&uri, cursor, edit);
            }
        });
        if let Err(error) = changed.await {
            tracing::error!("{error}");
        }
        self.schedule_check(uri, true);
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        if let Err(error) = catch_panic("didClose", self.did_close_body(params)).await {
            tracing::error!("{error}");
        }
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        self.did_change_configuration_body(params);
    }

    async fn completion(
        &self,
        params: CompletionParams,
    ) -> jsonrpc::Result<Option<CompletionResponse>> {
        catch_panic("completion", self.completion_body(params))
            .await
            .map_err(internal_error)?
    }

    async fn hover(&self, params: HoverParams) -> jsonrpc::Result<Option<Hover>> {
        catch_panic("hover", self.hover_body(params))
            .await
            .map_err(internal_error)?
    }

    async fn semantic_tokens_full(
        &self,
        params: SemanticTokensParams,
    ) -> jsonrpc::Result<Option<SemanticTokensResult>> {
        catch_panic(
            "semanticTokens/full",
            self.semantic_tokens_full_body(params),
        )
        .await
        .map_err(internal_error)
    }

    async fn semantic_tokens_full_delta(
        &self,
        params: SemanticTokensDeltaParams,
    ) -> jsonrpc::Result<Option<SemanticTokensFullDeltaResult>> {
        catch_panic(
            "semanticTokens/full/delta",
            self.semantic_tokens_delta_body(params),
        )
        .await
        .map_err(internal_error)
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> jsonrpc::Result<Option<DocumentSymbolResponse>> {
        catch_panic("documentSymbol", self.document_symbol_body(params))
            .await
            .map_err(internal_error)
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> jsonrpc::Result<Option<GotoDefinitionResponse>> {
        catch_panic("definition", async { self.definition(&params) })
            .await
            .map_err(internal_error)
    }

    async fn document_highlight(
        &self,
        params: DocumentHighlightParams,
    ) -> jsonrpc::Result<Option<Vec<DocumentHighlight>>> {
        catch_panic("documentHighlight", async {
            self.document_highlights(&params)
        })
        .await
        .map_err(internal_error)
    }

    async fn code_action(
        &self,
        params: CodeActionParams,
    ) -> jsonrpc::Result<Option<Vec<CodeActionOrCommand>>> {
        catch_panic("codeAction", async { Some(self.code_actions(&params)) })
            .await
            .map_err(internal_error)
    }

    async fn execute_command(
        &self,
        params: ExecuteCommandParams,
    ) -> jsonrpc::Result<Option<Value>> {
        catch_panic("executeCommand", self.execute_command_body(params))
            .await
            .map_err(internal_error)?
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BIOMED_LSP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr: stdout carries the protocol. A subscriber set by the caller wins.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(false)
        .try_init();
}

/// Runs the language server on stdin/stdout until the client sends `exit` or closes stdin.
/// Returns the process exit code the LSP specification asks for: 0 when `shutdown` came before,
/// else 1. Callers should exit the process right after: tokio's stdin reader sits in a blocking
/// read that would hold up runtime drop.
pub async fn serve_stdio() -> i32 {
    init_logging();
    let (server_input_writer, server_input_reader) = tokio::io::duplex(1 << 16);
    let (server_output_writer, server_output_reader) = tokio::io::duplex(1 << 16);
    let client_output = Arc::new(tokio::sync::Mutex::new(tokio::io::stdout()));
    let (service, socket) = LspService::build(Backend::new)
        // tower-lsp 0.20 does not route this notification itself.
        .custom_method(
            "window/workDoneProgress/cancel",
            Backend::work_done_progress_cancel,
        )
        .custom_method("biomedLsp/engineCounts", Backend::engine_counts)
        .finish();
    let server = Server::new(server_input_reader, server_output_writer, socket)
        .concurrency_level(HANDLER_CONCURRENCY)
        .serve(service);
    let outstanding = OutstandingRequests::default();
    let input = forward_client_input(
        tokio::io::stdin(),
        server_input_writer,
        Arc::clone(&client_output),
        outstanding.clone(),
    );
    let output = forward_server_output(server_output_reader, client_output, outstanding);
    let ((), input_end, ()) = tokio::join!(server, input, output);
    if !input_end.exit_received {
        tracing::info!("client input ended without exit");
    }
    if input_end.shutdown_requested {
        0
    } else {
        1
    }
}
