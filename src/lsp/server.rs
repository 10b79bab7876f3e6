//! The tower-lsp language server: document sync, completion, hover, terminology diagnostics with code actions and commands, settings and model loading.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use tower_lsp::jsonrpc;
use tower_lsp::lsp_types::notification::Progress;
use tower_lsp::lsp_types::request::{WorkDoneProgressCreate, WorkspaceConfiguration};
use tower_lsp::lsp_types::{
    CodeAction, CodeActionKind, CodeActionOptions, CodeActionOrCommand, CodeActionParams,
    CodeActionProviderCapability, Command, CompletionItem, CompletionItemKind, CompletionList,
    CompletionOptions, CompletionParams, CompletionResponse, CompletionTextEdit, ConfigurationItem,
    ConfigurationParams,
    Diagnostic, DiagnosticSeverity, DidChangeConfigurationParams, DidChangeTextDocumentParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, ExecuteCommandOptions,
    ExecuteCommandParams, Hover, HoverContents, HoverParams, HoverProviderCapability,
    InitializeParams, InitializeResult, InitializedParams, MarkupContent, MarkupKind, MessageType,
    NumberOrString, ProgressParams, ProgressParamsValue, ServerCapabilities, ServerInfo,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions, TextEdit, Url,
    WorkDoneProgress, WorkDoneProgressBegin, WorkDoneProgressCreateParams, WorkDoneProgressEnd,
    WorkDoneProgressReport, WorkspaceEdit,
};
use tower_lsp::{Client, LanguageServer, LspService, Server};

use crate::analysis::document::{check_document, document_sentences, Suppressions};
use crate::analysis::switches::disabled_ranges;
use crate::analysis::{
    lexicon_for_tokenizer, CheckStatistics, Dictionary, Finding, Lexicon, SentenceCache,
    SentenceCheckInputs, Severity,
};
use crate::dictionary_files::{
    append_word, read_dictionaries, user_dictionary_path, workspace_dictionary_path,
};
use crate::context::{completion_slot, context_for_position, hover_unit};
use crate::document::Document;
use crate::lsp::client_requests::{request_client, ClientAnswer};
use crate::lsp::framing::{forward_client_input, forward_server_output, OutstandingRequests};
use crate::lsp::panic_guard::catch_panic;
use crate::lsp::position::{
    offsets_to_range, position_to_offset, range_to_offsets, PositionEncoding,
};
use crate::lsp::process_watch::watch_client_process;
use crate::analysis::completion::{completion_proposals, completion_request};
use crate::analysis::hover::{
    hover_markdown, hover_score_request, ModelStatus, HOVER_CONTEXT_SENTENCES,
};
use crate::lsp::render::completion_detail;
use crate::model::api::{CancelFlag, EngineError};
use crate::model::{bundled_tokenize, load_engine, EngineHandle, LoadEvent, ModelOptions};
use crate::settings::{Settings, SettingsWarning, SETTINGS_SECTION};

/// How long the server waits for the client to answer its own requests (configuration,
/// progress tokens) before going on without the answer. The request itself is never abandoned:
/// see `client_requests`.
const CLIENT_REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How many client messages tower-lsp handles at once. Completion and hover wait for the engine;
/// tower-lsp's default of 4 would let four such waits hold up every other message, cheap
/// requests, cancellations and the client's answers among them.
const HANDLER_CONCURRENCY: usize = 64;

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
    /// Bumped by each `workspace/configuration` pull; a late answer to an older pull is dropped.
    configuration_pulls: AtomicU64,
    /// The terminology check: its cache, lexicon and dictionaries, per-document state.
    checks: CheckState,
    /// The workspace folder (for `.biomed-lsp/dictionary.txt`), from `initialize`.
    workspace_root: Mutex<Option<std::path::PathBuf>>,
}

#[derive(Default)]
struct CheckState {
    /// Findings per sentence text: after an edit only changed sentences reach the model. Keyed by
    /// model, settings and dictionary; locked only for lookups and stores.
    cache: SentenceCache,
    /// Near-spelling lexicon of the loaded model's vocabulary, built by the first check that
    /// needs it; the async lock makes other checks wait for that build instead of racing it.
    lexicon: tokio::sync::Mutex<Option<BuiltLexicon>>,
    /// User, workspace and settings words, merged.
    dictionary: Mutex<Arc<Dictionary>>,
    /// Words ignored per document ("Ignore in this document").
    ignored_words: Mutex<HashMap<Url, Vec<String>>>,
    /// The running or scheduled check of each document; a newer version cancels it.
    cancels: Mutex<HashMap<Url, CancelFlag>>,
    /// The findings last published for each document, and the version they belong to: the hover
    /// of a flagged word shows its finding.
    published: Mutex<HashMap<Url, (i32, Vec<Finding>)>>,
}

/// A lexicon and what it was built for: another model or edit distance needs another build.
struct BuiltLexicon {
    model_id: u64,
    max_edit_distance: usize,
    lexicon: Arc<Lexicon>,
}

/// Commands the server executes (`workspace/executeCommand`).
pub const COMMAND_ADD_TO_DICTIONARY: &str = "biomedLsp.addToDictionary";
pub const COMMAND_IGNORE_IN_DOCUMENT: &str = "biomedLsp.ignoreInDocument";
pub const COMMAND_CHECK_WORKSPACE: &str = "biomedLsp.checkWorkspace";
pub const COMMAND_FETCH_MODEL: &str = "biomedLsp.fetchModel";
pub const COMMAND_STATUS: &str = "biomedLsp.status";

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
        let completion_settings = settings.completion_settings();
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
        let request = completion_request(window.text.clone(), &slot, &completion_settings, cancel);
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
        let items = completion_proposals(&predictions, &window.text, &slot, &completion_settings)
            .into_iter()
            .map(|proposal| CompletionItem {
                label: proposal.word.clone(),
                kind: Some(CompletionItemKind::TEXT),
                detail: Some(completion_detail(proposal.probability, &display_name)),
                sort_text: Some(format!("{:04}", proposal.rank)),
                filter_text: Some(proposal.filter_text),
                text_edit: Some(CompletionTextEdit::Edit(TextEdit {
                    range: edit_range,
                    new_text: proposal.word,
                })),
                ..CompletionItem::default()
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
        let check_settings = lock(&self.shared.settings).check_settings();
        let prepared = {
            let documents = lock(&self.shared.documents);
            let Some(document) = documents.get(&uri) else {
                tracing::warn!("hover for unknown document {uri}");
                return Ok(None);
            };
            let offset = position_to_offset(document.rope(), position, encoding);
            let Some(window) = context_for_position(document, offset, HOVER_CONTEXT_SENTENCES)
            else {
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
            let source_range = window.source_range(unit.clone());
            let hover_range = offsets_to_range(document.rope(), source_range.clone(), encoding);
            let finding = lock(&self.shared.checks.published)
                .get(&uri)
                .filter(|(version, _)| *version == document.version())
                .and_then(|(_, findings)| {
                    findings
                        .iter()
                        .find(|finding| finding.range == source_range)
                        .cloned()
                });
            (window, unit, hover_range, finding)
        };
        let (window, unit, hover_range, finding) = prepared;
        let unit_text = window.text[unit.clone()].to_string();
        let engine = self.current_engine();
        let words = match &engine {
            Ok(engine) => engine.tokenize(&unit_text),
            Err(_) => bundled_tokenize(&unit_text),
        };
        let markdown = |status: ModelStatus<'_>| {
            hover_markdown(&unit_text, &words, status, finding.as_ref())
        };
        let markdown = match engine {
            Ok(engine) => {
                let cancel = CancelFlag::new();
                let _cancel_guard = CancelOnDrop(cancel.clone());
                let request = hover_score_request(window.text, unit, &check_settings, cancel);
                match engine.score(request).await {
                    Ok(scores) => match scores.first() {
                        Some(score) => markdown(ModelStatus::Scored {
                            score,
                            display_name: &engine.info().display_name,
                        }),
                        None => markdown(ModelStatus::Unavailable("no score returned")),
                    },
                    Err(EngineError::Cancelled) => return Ok(None),
                    Err(error) => markdown(ModelStatus::Unavailable(&error.to_string())),
                }
            }
            Err(None) => markdown(ModelStatus::Loading),
            Err(Some(failure)) => markdown(ModelStatus::Unavailable(&failure)),
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
    async fn pull_configuration(&self) -> Option<Value> {
        if !lock(&self.shared.client_support).configuration {
            return None;
        }
        let pull = self.shared.configuration_pulls.fetch_add(1, Ordering::SeqCst) + 1;
        let params = ConfigurationParams {
            items: vec![ConfigurationItem {
                scope_uri: None,
                section: Some(SETTINGS_SECTION.to_string()),
            }],
        };
        let first_value = |mut values: Vec<Value>| (!values.is_empty()).then(|| values.swap_remove(0));
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
                    // The engine thread and the compute pools start from here and inherit it.
                    crate::model::priority::lower_current_thread_priority();
                    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        crate::test_hooks::delay_model_load();
                        load_engine(&options, &on_event)
                    }))
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("the model loader panicked")));
                    let _ = result_sender.send(result);
                });
            // The loader runs while the client is asked for a progress token; its events wait.
            let reporter = ProgressReporter::create(&client, "model-load", supports_progress).await;
            reporter.begin("loading the model…").await;
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
                    // Cached findings and the lexicon are keyed by model: nothing to clear.
                    reporter.end(&message).await;
                    Backend {
                        client: client.clone(),
                        shared: Arc::clone(&shared),
                    }
                    .schedule_all_checks();
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

/// `$/progress` for one piece of work (a model load, a check), or nothing when the client does
/// not support progress or did not hand out the token in time.
struct ProgressReporter {
    client: Client,
    token: Option<NumberOrString>,
}

impl ProgressReporter {
    /// Asks the client to create a token of its own for this work (`biomed-lsp/{kind}/{n}`).
    async fn create(client: &Client, kind: &str, supported: bool) -> Self {
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

/// A document snapshot, taken under the lock, for a check that runs without it.
struct CheckSnapshot {
    version: i32,
    /// A rope clone shares the document's storage: cheap to take under the lock.
    rope: ropey::Rope,
    /// Markdown and LaTeX prose, kept up to date by the document; plain text is extracted later,
    /// off the lock and off the async runtime.
    chunks: Option<Vec<crate::prose::ProseChunk>>,
    language: crate::prose::Language,
}

fn lsp_severity(severity: Severity) -> DiagnosticSeverity {
    match severity {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Information => DiagnosticSeverity::INFORMATION,
        Severity::Hint => DiagnosticSeverity::HINT,
    }
}

impl Backend {
    fn clone_handle(&self) -> Backend {
        Backend {
            client: self.client.clone(),
            shared: Arc::clone(&self.shared),
        }
    }

    /// Reads the user and workspace dictionaries and the settings' words into one dictionary, off
    /// the async runtime; a file that cannot be read is reported to the user.
    async fn reload_dictionary(&self) {
        let settings = lock(&self.shared.settings).clone();
        let mut files = Vec::new();
        if let Some(path) = user_dictionary_path(&settings.dictionary_user_file) {
            files.push(path);
        }
        if let Some(root) = lock(&self.shared.workspace_root).clone() {
            files.push(workspace_dictionary_path(&root));
        }
        let words = settings.dictionary_words.clone();
        let read = tokio::task::spawn_blocking(move || read_dictionaries(&files, &words)).await;
        let (dictionary, errors) = match read {
            Ok(read) => read,
            Err(error) => {
                tracing::error!("reading the dictionaries failed: {error}");
                return;
            }
        };
        *lock(&self.shared.checks.dictionary) = Arc::new(dictionary);
        for error in errors {
            tracing::warn!("{error}");
            self.client
                .show_message(MessageType::WARNING, error.to_string())
                .await;
        }
    }

    /// Schedules a check of a document after the debounce delay; a newer call cancels it.
    fn schedule_check(&self, uri: Url, debounce: bool) {
        let flag = CancelFlag::new();
        if let Some(older) = lock(&self.shared.checks.cancels).insert(uri.clone(), flag.clone()) {
            older.cancel();
        }
        let backend = self.clone_handle();
        tokio::spawn(async move {
            let settings = lock(&backend.shared.settings).clone();
            if debounce {
                tokio::time::sleep(std::time::Duration::from_millis(
                    settings.diagnostics_debounce_ms,
                ))
                .await;
            }
            if flag.is_cancelled() {
                return;
            }
            if let Err(error) = backend.check_and_publish(uri.clone(), flag, settings).await {
                tracing::warn!("checking {uri} failed: {error}");
            }
        });
    }

    /// Re-checks every open document (after a model, dictionary or settings change).
    fn schedule_all_checks(&self) {
        let uris: Vec<Url> = lock(&self.shared.documents).keys().cloned().collect();
        for uri in uris {
            self.schedule_check(uri, false);
        }
    }

    /// The lexicon of this engine's vocabulary at the settings' edit distance, built off the async
    /// runtime by the first check that needs it (others wait for that build).
    async fn lexicon_for(
        &self,
        engine: &EngineHandle,
        settings: &Settings,
    ) -> anyhow::Result<Arc<Lexicon>> {
        let check_settings = settings.check_settings();
        let mut slot = self.shared.checks.lexicon.lock().await;
        if let Some(built) = slot.as_ref() {
            if built.model_id == engine.model_id()
                && built.max_edit_distance == check_settings.max_edit_distance
            {
                return Ok(Arc::clone(&built.lexicon));
            }
        }
        let tokenizer = Arc::clone(engine.tokenizer());
        let max_edit_distance = check_settings.max_edit_distance;
        let lexicon = tokio::task::spawn_blocking(move || {
            lexicon_for_tokenizer(&tokenizer, &check_settings)
        })
        .await
        .map_err(|error| anyhow::anyhow!("building the lexicon failed: {error}"))??;
        let lexicon = Arc::new(lexicon);
        *slot = Some(BuiltLexicon {
            model_id: engine.model_id(),
            max_edit_distance,
            lexicon: Arc::clone(&lexicon),
        });
        Ok(lexicon)
    }

    async fn check_and_publish(
        &self,
        uri: Url,
        cancel: CancelFlag,
        settings: Settings,
    ) -> anyhow::Result<()> {
        let encoding = self.encoding();
        let snapshot = {
            let documents = lock(&self.shared.documents);
            let Some(document) = documents.get(&uri) else {
                return Ok(());
            };
            let chunks = document.prose().map(|prose| prose.chunks().to_vec());
            CheckSnapshot {
                version: document.version(),
                rope: document.rope().clone(),
                chunks,
                language: document.language(),
            }
        };
        if !settings.diagnostics_enabled {
            lock(&self.shared.checks.published).remove(&uri);
            self.client
                .publish_diagnostics(uri, Vec::new(), Some(snapshot.version))
                .await;
            return Ok(());
        }
        let Ok(engine) = self.current_engine() else {
            // Checked again when the model is ready.
            return Ok(());
        };
        let lexicon = self.lexicon_for(&engine, &settings).await?;
        let dictionary = Arc::clone(&lock(&self.shared.checks.dictionary));
        let ignored_words = lock(&self.shared.checks.ignored_words)
            .get(&uri)
            .cloned()
            .unwrap_or_default();
        let prose_options = settings.prose_options();
        let (rope, language) = (snapshot.rope.clone(), snapshot.language);
        let (chunks, sentences, disabled) = tokio::task::spawn_blocking(move || {
            let source = rope.to_string();
            let chunks = snapshot.chunks.unwrap_or_else(|| {
                crate::prose::extract(&source, crate::prose::Language::PlainText, &prose_options)
            });
            let sentences = document_sentences(&chunks);
            (chunks, sentences, disabled_ranges(&source, language))
        })
        .await
        .map_err(|error| anyhow::anyhow!("preparing the check failed: {error}"))?;
        let sentences_count = sentences.len();
        let (progress_sender, mut progress_receiver) =
            tokio::sync::mpsc::unbounded_channel::<u32>();
        let shared = Arc::clone(&self.shared);
        let check_cancel = cancel.clone();
        let check_settings = settings.check_settings();
        let job = tokio::task::spawn_blocking(move || {
            let suppressions = Suppressions {
                disabled,
                ignored_words,
            };
            let inputs = SentenceCheckInputs {
                lexicon: &lexicon,
                dictionary: &dictionary,
                settings: &check_settings,
            };
            let mut statistics = CheckStatistics::default();
            let mut last_percentage = 0;
            check_document(
                &engine,
                &chunks,
                &sentences,
                &inputs,
                &suppressions,
                Some(&shared.checks.cache),
                Some(&check_cancel),
                &mut statistics,
                &mut |done, total| {
                    let percentage = (done * 100 / total.max(1)) as u32;
                    if percentage > last_percentage {
                        last_percentage = percentage;
                        let _ = progress_sender.send(percentage);
                    }
                },
            )
        });
        // Long documents show their progress; short ones would only flicker. The check runs
        // while the client is asked for a progress token; its progress waits in the channel.
        let reporter = if sentences_count > 40 {
            let supported = lock(&self.shared.client_support).work_done_progress;
            let reporter = ProgressReporter::create(&self.client, "check", supported).await;
            let name = uri
                .path_segments()
                .and_then(|mut segments| segments.next_back())
                .unwrap_or("document")
                .to_string();
            reporter.begin(&format!("checking {name}")).await;
            Some(reporter)
        } else {
            None
        };
        let forward_progress = async {
            while let Some(percentage) = progress_receiver.recv().await {
                if let Some(reporter) = &reporter {
                    reporter
                        .report("checking terminology", Some(percentage))
                        .await;
                }
            }
        };
        let (joined, ()) = tokio::join!(job, forward_progress);
        let findings = joined.map_err(|error| anyhow::anyhow!("the check task failed: {error}"))?;
        if let Some(reporter) = &reporter {
            reporter
                .end(if findings.is_ok() {
                    "checked"
                } else {
                    "check stopped"
                })
                .await;
        }
        let findings = match findings {
            Ok(findings) => findings,
            Err(crate::analysis::CheckError::Engine(EngineError::Cancelled)) => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        if cancel.is_cancelled() {
            return Ok(());
        }
        // Positions are computed against the snapshot's text: the version published is the
        // snapshot's, so the client places them on the text they belong to.
        let diagnostics = findings
            .iter()
            .map(|finding| self.diagnostic(&snapshot.rope, finding, encoding))
            .collect();
        lock(&self.shared.checks.published).insert(uri.clone(), (snapshot.version, findings));
        self.client
            .publish_diagnostics(uri, diagnostics, Some(snapshot.version))
            .await;
        Ok(())
    }

    fn diagnostic(
        &self,
        rope: &ropey::Rope,
        finding: &Finding,
        encoding: PositionEncoding,
    ) -> Diagnostic {
        Diagnostic {
            range: offsets_to_range(rope, finding.range.clone(), encoding),
            severity: Some(lsp_severity(finding.severity)),
            code: Some(NumberOrString::String(finding.code.as_str().to_string())),
            source: Some("biomed-lsp".to_string()),
            message: finding.message.clone(),
            // Fixes travel with the finding: code actions are derived from this.
            data: Some(
                serde_json::json!({"word": finding.word, "suggestions": finding.suggestions, "score": finding.score}),
            ),
            ..Diagnostic::default()
        }
    }

    fn code_actions(&self, params: &CodeActionParams) -> Vec<CodeActionOrCommand> {
        let uri = &params.text_document.uri;
        let mut actions = Vec::new();
        for diagnostic in &params.context.diagnostics {
            if diagnostic.source.as_deref() != Some("biomed-lsp") {
                continue;
            }
            let Some(data) = &diagnostic.data else {
                continue;
            };
            let word = data["word"].as_str().unwrap_or_default().to_string();
            let suggestions: Vec<String> = data["suggestions"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| item.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            for (rank, suggestion) in suggestions.iter().enumerate() {
                let edit = TextEdit {
                    range: diagnostic.range,
                    new_text: suggestion.clone(),
                };
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: format!("Replace with \"{suggestion}\""),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic.clone()]),
                    edit: Some(WorkspaceEdit {
                        changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                        ..WorkspaceEdit::default()
                    }),
                    is_preferred: Some(rank == 0),
                    ..CodeAction::default()
                }));
            }
            if word.is_empty() {
                continue;
            }
            let command_action = |title: String, command: &str, arguments: Value| {
                CodeActionOrCommand::CodeAction(CodeAction {
                    title: title.clone(),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic.clone()]),
                    command: Some(Command {
                        title,
                        command: command.to_string(),
                        arguments: Some(vec![arguments]),
                    }),
                    ..CodeAction::default()
                })
            };
            actions.push(command_action(
                format!("Add \"{word}\" to user dictionary"),
                COMMAND_ADD_TO_DICTIONARY,
                serde_json::json!({"word": word, "scope": "user", "uri": uri}),
            ));
            if lock(&self.shared.workspace_root).is_some() {
                actions.push(command_action(
                    format!("Add \"{word}\" to workspace dictionary"),
                    COMMAND_ADD_TO_DICTIONARY,
                    serde_json::json!({"word": word, "scope": "workspace", "uri": uri}),
                ));
            }
            actions.push(command_action(
                format!("Ignore \"{word}\" in this document"),
                COMMAND_IGNORE_IN_DOCUMENT,
                serde_json::json!({"word": word, "uri": uri}),
            ));
        }
        actions
    }

    async fn execute_command_body(
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
                let path = match argument["scope"].as_str().unwrap_or("user") {
                    "workspace" => match lock(&self.shared.workspace_root).clone() {
                        Some(root) => workspace_dictionary_path(&root),
                        None => {
                            return Err(invalid(
                                "there is no workspace folder for a workspace dictionary".into(),
                            ))
                        }
                    },
                    "user" => {
                        let setting = lock(&self.shared.settings).dictionary_user_file.clone();
                        user_dictionary_path(&setting).ok_or_else(|| invalid("no home or config directory for the user dictionary; set biomedLsp.dictionary.userFile".into()))?
                    }
                    other => {
                        return Err(invalid(format!("scope {other:?} is not user or workspace")))
                    }
                };
                let word = word.to_string();
                let written = path.clone();
                tokio::task::spawn_blocking(move || append_word(&written, &word))
                    .await
                    .map_err(internal_error)?
                    .map_err(|error| {
                        internal_error(format!("cannot write {}: {error}", path.display()))
                    })?;
                self.reload_dictionary().await;
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
                        serde_json::json!({"model": info.display_name, "device": info.device, "state": state, "detail": info.loaded})
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
            #[allow(deprecated)] // root_uri is what older clients send
            let root = params
                .workspace_folders
                .as_ref()
                .and_then(|folders| folders.first())
                .map(|folder| folder.uri.clone())
                .or(params.root_uri.clone())
                .and_then(|uri| uri.to_file_path().ok());
            *lock(&self.shared.workspace_root) = root;
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
                backend.reload_dictionary().await;
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
            let options = lock(&self.shared.settings).prose_options();
            let document =
                Document::with_prose_options(&item.text, item.version, &item.language_id, options);
            lock(&self.shared.documents).insert(item.uri.clone(), document);
            self.schedule_check(item.uri, false);
        })
        .await;
        if let Err(error) = result {
            tracing::error!("{error}");
        }
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri.clone();
        if let Err(error) = catch_panic("didChange", async { self.did_change_body(params) }).await {
            tracing::error!("{error}");
        }
        self.schedule_check(uri, true);
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        lock(&self.shared.documents).remove(&uri);
        if let Some(flag) = lock(&self.shared.completion_cancels).remove(&uri) {
            flag.cancel();
        }
        if let Some(flag) = lock(&self.shared.checks.cancels).remove(&uri) {
            flag.cancel();
        }
        lock(&self.shared.checks.ignored_words).remove(&uri);
        lock(&self.shared.checks.published).remove(&uri);
        // A closed document's findings would go stale: clear them.
        self.client.publish_diagnostics(uri, Vec::new(), None).await;
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
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
    let (service, socket) = LspService::new(Backend::new);
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
