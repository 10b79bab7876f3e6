//! The tower-lsp language server: document sync, completion and hover, settings and model loading.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use tower_lsp::jsonrpc;
use tower_lsp::lsp_types::notification::Progress;
use tower_lsp::lsp_types::request::WorkDoneProgressCreate;
use tower_lsp::lsp_types::{
    CompletionItem, CompletionItemKind, CompletionList, CompletionOptions, CompletionParams,
    CompletionResponse, CompletionTextEdit, ConfigurationItem, DidChangeConfigurationParams,
    DidChangeTextDocumentParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams, Hover,
    HoverContents, HoverParams, HoverProviderCapability, InitializeParams, InitializeResult,
    InitializedParams, MarkupContent, MarkupKind, MessageType, NumberOrString, ProgressParams,
    ProgressParamsValue, ServerCapabilities, ServerInfo, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextDocumentSyncOptions, TextEdit, Url, WorkDoneProgress,
    WorkDoneProgressBegin, WorkDoneProgressCreateParams, WorkDoneProgressEnd,
    WorkDoneProgressReport,
};
use tower_lsp::{Client, LanguageServer, LspService, Server};

use crate::context::{completion_slot, context_for_position, hover_unit, SlotKind};
use crate::document::Document;
use crate::lsp::framing::{forward_client_input, forward_server_output};
use crate::lsp::panic_guard::catch_panic;
use crate::lsp::position::{
    offsets_to_range, position_to_offset, range_to_offsets, PositionEncoding,
};
use crate::lsp::process_watch::watch_client_process;
use crate::lsp::render::{completion_detail, hover_markdown, match_prefix_case, ModelStatus};
use crate::model::api::{CancelFlag, EngineError, FillRequest, ScoreRequest, WordToScore};
use crate::model::{bundled_tokenize, load_engine, EngineHandle, LoadEvent, ModelOptions};
use crate::settings::{Settings, SettingsWarning, SETTINGS_SECTION};

/// How long the server waits for the client to answer its own requests (configuration,
/// progress tokens) before going on without the answer.
const CLIENT_REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Locks a mutex, recovering its data if a panicking handler poisoned it: every critical section
/// here leaves the data consistent, so poisoning carries no information.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Cancels the engine work of a request when the request's future is dropped (`$/cancelRequest`
/// makes tower-lsp drop it) or finishes.
struct CancelOnDrop(CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

#[derive(Default)]
struct EngineSlot {
    current: Option<EngineHandle>,
    /// Why the last load failed, while no engine is available.
    failure: Option<String>,
}

#[derive(Clone, Copy, Default)]
struct ClientSupport {
    work_done_progress: bool,
    configuration: bool,
}

#[derive(Default)]
struct Shared {
    documents: Mutex<HashMap<Url, Document>>,
    encoding: Mutex<PositionEncoding>,
    settings: Mutex<Settings>,
    engine: Mutex<EngineSlot>,
    completion_cancels: Mutex<HashMap<Url, CancelFlag>>,
    client_support: Mutex<ClientSupport>,
    /// Warnings found before the client could be told (initializationOptions).
    pending_warnings: Mutex<Vec<SettingsWarning>>,
    /// Bumped by each model load; a load whose number is no longer current is discarded.
    load_generation: AtomicU64,
}

pub struct Backend {
    client: Client,
    shared: Arc<Shared>,
}

impl Backend {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            shared: Arc::new(Shared::default()),
        }
    }

    fn encoding(&self) -> PositionEncoding {
        *lock(&self.shared.encoding)
    }

    fn current_engine(&self) -> Result<EngineHandle, Option<String>> {
        let slot = lock(&self.shared.engine);
        match &slot.current {
            Some(engine) => Ok(engine.clone()),
            None => Err(slot.failure.clone()),
        }
    }

    async fn completion_body(
        &self,
        params: CompletionParams,
    ) -> jsonrpc::Result<Option<CompletionResponse>> {
        let uri = params.text_document_position.text_document.uri;
        let position = params.text_document_position.position;
        let encoding = self.encoding();
        let settings = lock(&self.shared.settings).clone();
        // Everything that reads the document happens before the first await, so it sees the text
        // of the request's moment and holds the lock only briefly.
        let prepared = {
            let documents = lock(&self.shared.documents);
            let Some(document) = documents.get(&uri) else {
                tracing::warn!("completion for unknown document {uri}");
                return Ok(None);
            };
            let offset = position_to_offset(document.rope(), position, encoding);
            let Some(window) = context_for_position(document, offset, settings.context_sentences)
            else {
                return Ok(None);
            };
            let Some(cursor) = window.to_text(offset) else {
                return Ok(None);
            };
            let slot = completion_slot(&window.text, cursor);
            if !window.is_checkable(slot.range.clone()) {
                return Ok(None);
            }
            let edit_range = offsets_to_range(
                document.rope(),
                window.source_range(slot.range.clone()),
                encoding,
            );
            (window, slot, edit_range)
        };
        let (window, slot, edit_range) = prepared;
        crate::test_hooks::panic_on_prefix(&slot.prefix);
        let empty_incomplete = CompletionResponse::List(CompletionList {
            is_incomplete: true,
            items: Vec::new(),
        });
        let Ok(engine) = self.current_engine() else {
            return Ok(Some(empty_incomplete));
        };

        let cancel = CancelFlag::new();
        if let Some(older) =
            lock(&self.shared.completion_cancels).insert(uri.clone(), cancel.clone())
        {
            older.cancel();
        }
        let _cancel_guard = CancelOnDrop(cancel.clone());
        let placeholder_text = window.text[slot.range.clone()].to_string();
        let request = FillRequest {
            text: window.text,
            slot: slot.range.clone(),
            top_k: settings.completion_top_k,
            prefix: slot.prefix.clone(),
            max_pieces: settings.completion_max_pieces,
            cancel: Some(cancel),
        };
        let predictions = match engine.fill(request).await {
            Ok(predictions) => predictions,
            // A newer keystroke superseded this request: its answer would be stale anyway.
            Err(EngineError::Cancelled) => return Ok(Some(empty_incomplete)),
            Err(error) => {
                tracing::warn!("completion failed: {error}");
                return Err(jsonrpc::Error {
                    code: jsonrpc::ErrorCode::InternalError,
                    message: format!("completion failed: {error}").into(),
                    data: None,
                });
            }
        };
        let display_name = engine.info().display_name.clone();
        let items = predictions
            .iter()
            .filter(|prediction| prediction.probability >= settings.completion_min_probability)
            .enumerate()
            .map(|(rank, prediction)| {
                let word = match_prefix_case(&prediction.word, &slot.prefix);
                // Clients filter on the text between the edit start and the cursor; for a
                // placeholder that is the placeholder itself, which must not hide every item.
                let filter_text = match slot.kind {
                    SlotKind::Placeholder => format!("{placeholder_text}{word}"),
                    SlotKind::Word => word.clone(),
                };
                CompletionItem {
                    label: word.clone(),
                    kind: Some(CompletionItemKind::TEXT),
                    detail: Some(completion_detail(prediction.probability, &display_name)),
                    sort_text: Some(format!("{rank:04}")),
                    filter_text: Some(filter_text),
                    text_edit: Some(CompletionTextEdit::Edit(TextEdit {
                        range: edit_range,
                        new_text: word,
                    })),
                    ..CompletionItem::default()
                }
            })
            .collect();
        Ok(Some(CompletionResponse::List(CompletionList {
            is_incomplete: true,
            items,
        })))
    }

    async fn hover_body(&self, params: HoverParams) -> jsonrpc::Result<Option<Hover>> {
        let uri = params.text_document_position_params.text_document.uri;
        let position = params.text_document_position_params.position;
        let encoding = self.encoding();
        let context_sentences = lock(&self.shared.settings).context_sentences;
        let prepared = {
            let documents = lock(&self.shared.documents);
            let Some(document) = documents.get(&uri) else {
                tracing::warn!("hover for unknown document {uri}");
                return Ok(None);
            };
            let offset = position_to_offset(document.rope(), position, encoding);
            let Some(window) = context_for_position(document, offset, context_sentences) else {
                return Ok(None);
            };
            let Some(cursor) = window.to_text(offset) else {
                return Ok(None);
            };
            let Some(unit) = hover_unit(&window.text, cursor) else {
                return Ok(None);
            };
            if !window.is_checkable(unit.clone()) {
                return Ok(None);
            }
            let hover_range =
                offsets_to_range(document.rope(), window.source_range(unit.clone()), encoding);
            (window, unit, hover_range)
        };
        let (window, unit, hover_range) = prepared;
        let unit_text = window.text[unit.clone()].to_string();
        let engine = self.current_engine();
        let words = match &engine {
            Ok(engine) => engine.tokenize(&unit_text),
            Err(_) => bundled_tokenize(&unit_text),
        };
        let markdown = match engine {
            Ok(engine) => {
                let cancel = CancelFlag::new();
                let _cancel_guard = CancelOnDrop(cancel.clone());
                let request = ScoreRequest {
                    text: window.text,
                    words: vec![WordToScore {
                        range: unit,
                        candidates: Vec::new(),
                    }],
                    top_k_alternatives: 5,
                    cancel: Some(cancel),
                };
                match engine.score(request).await {
                    Ok(scores) => match scores.first() {
                        Some(score) => hover_markdown(
                            &unit_text,
                            &words,
                            ModelStatus::Scored {
                                score,
                                display_name: &engine.info().display_name,
                            },
                        ),
                        None => hover_markdown(
                            &unit_text,
                            &words,
                            ModelStatus::Unavailable("no score returned"),
                        ),
                    },
                    Err(EngineError::Cancelled) => return Ok(None),
                    Err(error) => hover_markdown(
                        &unit_text,
                        &words,
                        ModelStatus::Unavailable(&error.to_string()),
                    ),
                }
            }
            Err(None) => hover_markdown(&unit_text, &words, ModelStatus::Loading),
            Err(Some(failure)) => {
                hover_markdown(&unit_text, &words, ModelStatus::Unavailable(&failure))
            }
        };
        Ok(Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: markdown,
            }),
            range: Some(hover_range),
        }))
    }

    fn did_change_body(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let encoding = self.encoding();
        if let Some(flag) = lock(&self.shared.completion_cancels).get(&uri) {
            // The text changed under a running completion: its answer is stale.
            flag.cancel();
        }
        let mut documents = lock(&self.shared.documents);
        let Some(document) = documents.get_mut(&uri) else {
            tracing::warn!("change for unknown document {uri}; ignored");
            return;
        };
        if let Err(error) = document.advance_version(params.text_document.version) {
            tracing::warn!("change for {uri} ignored: {error}");
            return;
        }
        for change in params.content_changes {
            match change.range {
                None => document.replace_all(&change.text),
                Some(range) => {
                    let offsets = range_to_offsets(document.rope(), range, encoding);
                    if let Err(error) = document.apply_edit(offsets, &change.text) {
                        tracing::warn!("edit of {uri} ignored: {error}");
                    }
                }
            }
        }
    }

    /// Applies a settings value, tells the user about invalid keys, and reloads the model if the
    /// model settings changed.
    async fn apply_settings(&self, value: &Value, may_reload: bool) {
        let (warnings, needs_reload) = {
            let mut settings = lock(&self.shared.settings);
            let before = settings.clone();
            let warnings = settings.merge_json(value);
            (warnings, before.model_differs(&settings))
        };
        for warning in warnings {
            self.client
                .show_message(MessageType::WARNING, warning.to_string())
                .await;
        }
        if needs_reload && may_reload {
            self.start_model_load();
        }
    }

    async fn pull_configuration(&self) -> Option<Value> {
        if !lock(&self.shared.client_support).configuration {
            return None;
        }
        let items = vec![ConfigurationItem {
            scope_uri: None,
            section: Some(SETTINGS_SECTION.to_string()),
        }];
        // A client that never answers must not keep the model from loading.
        match tokio::time::timeout(CLIENT_REPLY_TIMEOUT, self.client.configuration(items)).await {
            Ok(Ok(mut values)) if !values.is_empty() => Some(values.swap_remove(0)),
            Ok(Ok(_)) => None,
            Ok(Err(error)) => {
                tracing::warn!("workspace/configuration failed: {error}");
                None
            }
            Err(_) => {
                tracing::warn!(
                    "workspace/configuration got no answer within {CLIENT_REPLY_TIMEOUT:?}"
                );
                None
            }
        }
    }

    /// Loads the engine on a dedicated thread and reports progress; the previous engine (if any)
    /// keeps answering until the new one is ready.
    fn start_model_load(&self) {
        let generation = self.shared.load_generation.fetch_add(1, Ordering::SeqCst) + 1;
        let settings = lock(&self.shared.settings).clone();
        let options = ModelOptions {
            model: settings.model.clone(),
            revision: settings.revision.clone(),
            device: settings.device.clone(),
            offline: settings.offline,
        };
        let supports_progress = lock(&self.shared.client_support).work_done_progress;
        let client = self.client.clone();
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            let reporter =
                ProgressReporter::create(client.clone(), generation, supports_progress).await;
            reporter.begin("loading the model…").await;
            let (event_sender, mut event_receiver) =
                tokio::sync::mpsc::unbounded_channel::<LoadEvent>();
            let (result_sender, result_receiver) = tokio::sync::oneshot::channel();
            let spawned = std::thread::Builder::new()
                .name("biomed-lsp-model-load".to_string())
                .spawn(move || {
                    let on_event = move |event: LoadEvent| {
                        // The receiver only goes away when the server stops; nothing to report then.
                        let _ = event_sender.send(event);
                    };
                    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        crate::test_hooks::delay_model_load();
                        load_engine(&options, &on_event)
                    }))
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("the model loader panicked")));
                    let _ = result_sender.send(result);
                });
            if let Err(error) = spawned {
                reporter
                    .end(&format!("cannot start the model loader: {error}"))
                    .await;
                return;
            }
            let mut last_percentage = None;
            while let Some(event) = event_receiver.recv().await {
                match event {
                    LoadEvent::Message(message) => reporter.report(&message, None).await,
                    LoadEvent::Download {
                        file,
                        done_bytes,
                        total_bytes,
                    } => {
                        let percentage = done_bytes
                            .saturating_mul(100)
                            .checked_div(total_bytes)
                            .map(|percent| percent.min(100) as u32);
                        // Downloads report often; the client needs one message per percent.
                        if percentage.is_some() && percentage == last_percentage {
                            continue;
                        }
                        last_percentage = percentage;
                        let message = format!(
                            "downloading {file}: {} of {} MB",
                            done_bytes / 1_000_000,
                            total_bytes / 1_000_000
                        );
                        reporter.report(&message, percentage).await;
                    }
                    LoadEvent::Warning(warning) => {
                        tracing::warn!("{warning}");
                        client.show_message(MessageType::WARNING, warning).await;
                    }
                }
            }
            let result = result_receiver.await.unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "the model loader stopped without an answer"
                ))
            });
            if shared.load_generation.load(Ordering::SeqCst) != generation {
                reporter.end("superseded by a newer model setting").await;
                return;
            }
            match result {
                Ok(engine) => {
                    let info = engine.info();
                    let message = format!("{} ready on {}", info.display_name, info.device);
                    tracing::info!("{message} ({})", info.loaded);
                    {
                        let mut slot = lock(&shared.engine);
                        slot.current = Some(engine);
                        slot.failure = None;
                    }
                    reporter.end(&message).await;
                }
                Err(error) => {
                    let message = format!("model {} failed to load: {error:#}", settings.model);
                    tracing::error!("{message}");
                    lock(&shared.engine).failure = Some(message.clone());
                    reporter.end(&message).await;
                    client.show_message(MessageType::ERROR, message).await;
                }
            }
        });
    }
}

/// `$/progress` for one model load, or nothing when the client does not support progress.
struct ProgressReporter {
    client: Client,
    token: Option<NumberOrString>,
}

impl ProgressReporter {
    async fn create(client: Client, generation: u64, supported: bool) -> Self {
        let mut token = None;
        if supported {
            let candidate = NumberOrString::String(format!("biomed-lsp/model-load/{generation}"));
            let params = WorkDoneProgressCreateParams {
                token: candidate.clone(),
            };
            let request = client.send_request::<WorkDoneProgressCreate>(params);
            match tokio::time::timeout(CLIENT_REPLY_TIMEOUT, request).await {
                Ok(Ok(())) => token = Some(candidate),
                Ok(Err(error)) => tracing::warn!("window/workDoneProgress/create failed: {error}"),
                Err(_) => tracing::warn!(
                    "window/workDoneProgress/create got no answer within {CLIENT_REPLY_TIMEOUT:?}"
                ),
            }
        }
        Self { client, token }
    }

    async fn send(&self, progress: WorkDoneProgress) {
        if let Some(token) = &self.token {
            let params = ProgressParams {
                token: token.clone(),
                value: ProgressParamsValue::WorkDone(progress),
            };
            self.client.send_notification::<Progress>(params).await;
        }
    }

    async fn begin(&self, message: &str) {
        self.send(WorkDoneProgress::Begin(WorkDoneProgressBegin {
            title: "biomed-lsp".to_string(),
            cancellable: Some(false),
            message: Some(message.to_string()),
            percentage: None,
        }))
        .await;
    }

    async fn report(&self, message: &str, percentage: Option<u32>) {
        self.send(WorkDoneProgress::Report(WorkDoneProgressReport {
            cancellable: Some(false),
            message: Some(message.to_string()),
            percentage,
        }))
        .await;
    }

    async fn end(&self, message: &str) {
        self.send(WorkDoneProgress::End(WorkDoneProgressEnd {
            message: Some(message.to_string()),
        }))
        .await;
    }
}

fn internal_error(error: impl std::fmt::Display) -> jsonrpc::Error {
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
            };
            if let Some(options) = &params.initialization_options {
                let warnings = lock(&self.shared.settings).merge_json(options);
                lock(&self.shared.pending_warnings).extend(warnings);
            }
            if let Some(process_id) = params.process_id {
                watch_client_process(process_id);
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
            let warnings: Vec<SettingsWarning> =
                std::mem::take(&mut *lock(&self.shared.pending_warnings));
            for warning in warnings {
                self.client
                    .show_message(MessageType::WARNING, warning.to_string())
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
        let result = catch_panic("didOpen", async {
            let item = params.text_document;
            let document = Document::new(&item.text, item.version, &item.language_id);
            lock(&self.shared.documents).insert(item.uri, document);
        })
        .await;
        if let Err(error) = result {
            tracing::error!("{error}");
        }
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        if let Err(error) = catch_panic("didChange", async { self.did_change_body(params) }).await {
            tracing::error!("{error}");
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        lock(&self.shared.documents).remove(&uri);
        if let Some(flag) = lock(&self.shared.completion_cancels).remove(&uri) {
            flag.cancel();
        }
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let result = catch_panic("didChangeConfiguration", async {
            // Clients using the pull model send null (or an empty object) and expect a request.
            let pushed_is_empty = params.settings.is_null()
                || params
                    .settings
                    .as_object()
                    .is_some_and(|map| map.is_empty());
            let value = if pushed_is_empty {
                self.pull_configuration().await
            } else {
                Some(params.settings)
            };
            if let Some(value) = value {
                self.apply_settings(&value, true).await;
            }
        })
        .await;
        if let Err(error) = result {
            tracing::error!("{error}");
        }
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
    let (service, socket) = LspService::new(Backend::new);
    let server = Server::new(server_input_reader, server_output_writer, socket).serve(service);
    let input = forward_client_input(
        tokio::io::stdin(),
        server_input_writer,
        Arc::clone(&client_output),
    );
    let output = forward_server_output(server_output_reader, client_output);
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
