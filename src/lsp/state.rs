//! The server's state (documents, settings, the engine, the check's caches) and the handle every
//! handler works through.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use tower_lsp::lsp_types::Url;
use tower_lsp::Client;

use crate::analysis::manuscript_words::ManuscriptWords;
use crate::analysis::{Finding, Lexicon, SentenceCache};
use crate::document::Document;
use crate::lsp::position::PositionEncoding;
use crate::model::api::CancelFlag;
use crate::model::EngineHandle;
use crate::settings::{Settings, SettingsOrigin};

/// How long the server waits for the client to answer its own requests (configuration,
/// progress tokens) before going on without the answer. The request itself is never abandoned:
/// see `client_requests`.
pub(super) const CLIENT_REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How many client messages tower-lsp handles at once. Completion and hover wait for the engine;
/// tower-lsp's default of 4 would let four such waits hold up every other message, cheap
/// requests, cancellations and the client's answers among them.
pub(super) const HANDLER_CONCURRENCY: usize = 64;

/// Locks a mutex, recovering its data if a panicking handler poisoned it: every critical section
/// here leaves the data consistent, so poisoning carries no information.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Cancels the engine work of a request when the request's future is dropped (`$/cancelRequest`
/// makes tower-lsp drop it) or finishes.
pub(super) struct CancelOnDrop(pub(super) CancelFlag);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

#[derive(Default)]
pub(super) struct EngineSlot {
    pub(super) current: Option<EngineHandle>,
    /// Why the last load failed, while no engine is available.
    pub(super) failure: Option<String>,
}

#[derive(Clone, Copy, Default)]
pub(super) struct ClientSupport {
    pub(super) work_done_progress: bool,
    pub(super) configuration: bool,
    /// Whether diagnostics may carry `relatedInformation` (the evidence of a finding).
    pub(super) related_information: bool,
}

#[derive(Default)]
pub(super) struct Shared {
    pub(super) documents: Mutex<HashMap<Url, Document>>,
    pub(super) encoding: Mutex<PositionEncoding>,
    pub(super) settings: Mutex<Settings>,
    pub(super) engine: Mutex<EngineSlot>,
    pub(super) completion_cancels: Mutex<HashMap<Url, CancelFlag>>,
    /// Each document's words for completion, and the version they were read from.
    pub(super) manuscript_words: Mutex<HashMap<Url, (i32, Arc<ManuscriptWords>)>>,
    /// The words of each document's dictionaries (user, workspace, settings) as its last check
    /// read them: completion offers them too.
    pub(super) dictionary_words: Mutex<HashMap<Url, Arc<ManuscriptWords>>>,
    /// The prefetch of each document's next word slot; a newer one cancels it.
    pub(super) prefetch_cancels: Mutex<HashMap<Url, CancelFlag>>,
    pub(super) client_support: Mutex<ClientSupport>,
    /// Warnings found before the client could be told (the configuration file,
    /// initializationOptions).
    pub(super) pending_warnings: Mutex<Vec<String>>,
    /// Bumped by each model load; a load whose number is no longer current is discarded.
    pub(super) load_generation: AtomicU64,
    /// Bumped by each `workspace/configuration` pull; a late answer to an older pull is dropped.
    pub(super) configuration_pulls: AtomicU64,
    /// The terminology check: its cache and lexicon, per-document state.
    pub(super) checks: CheckState,
    /// The user's own configuration file (`~/.config/biomed-lsp/config.json`), read at
    /// `initialize`: the only file that may set machine settings.
    pub(super) user_config: Mutex<Option<Value>>,
    /// The workspace folders, with their configuration files, from `initialize`.
    pub(super) workspace_folders: Mutex<Vec<WorkspaceFolder>>,
    /// Everything the editor sent as settings (`initializationOptions`, pushes and pulls), merged:
    /// it goes over each folder's configuration file.
    pub(super) editor_settings: Mutex<Value>,
    /// Dictionary errors already shown, so that each is shown once and not at every check.
    pub(super) reported_dictionary_errors: Mutex<std::collections::HashSet<String>>,
    /// Model-load warnings already shown (the bundled model standing in, offline): said once per
    /// session, not at every reload.
    pub(super) reported_load_warnings: Mutex<std::collections::HashSet<String>>,
    /// Whether the last document check failed (said once, and once when checks work again).
    pub(super) checks_failing: std::sync::atomic::AtomicBool,
    /// What `window/workDoneProgress/cancel` stops, by progress token (the model download).
    pub(super) progress_cancels: Mutex<HashMap<String, CancelFlag>>,
    /// Entity mentions found per document, and the semantic tokens last sent.
    pub(super) entities: super::entities::EntityState,
}

#[derive(Default)]
pub(super) struct CheckState {
    /// Findings per sentence text: after an edit only changed sentences reach the model. Keyed by
    /// model, settings and dictionary; locked only for lookups and stores.
    pub(super) cache: SentenceCache,
    /// Near-spelling lexicon of the loaded model's vocabulary, built by the first check that
    /// needs it; the async lock makes other checks wait for that build instead of racing it.
    pub(super) lexicon: tokio::sync::Mutex<Option<BuiltLexicon>>,
    /// Words ignored per document ("Ignore in this document").
    pub(super) ignored_words: Mutex<HashMap<Url, Vec<String>>>,
    /// The running or scheduled check of each document; a newer version cancels it.
    pub(super) cancels: Mutex<HashMap<Url, CancelFlag>>,
    /// The findings last published for each document, and the version they belong to: the hover
    /// of a flagged word shows its finding.
    pub(super) published: Mutex<HashMap<Url, (i32, Vec<Finding>)>>,
}

/// A workspace folder and its configuration file's settings (`.biomed-lsp/config.json`), if any.
#[derive(Clone, Debug)]
pub(super) struct WorkspaceFolder {
    pub(super) root: std::path::PathBuf,
    pub(super) config: Option<Value>,
}

/// A lexicon and what it was built for: another model or edit distance needs another build.
pub(super) struct BuiltLexicon {
    pub(super) model_id: u64,
    pub(super) max_edit_distance: usize,
    pub(super) lexicon: Arc<Lexicon>,
}

pub struct Backend {
    pub(super) client: Client,
    pub(super) shared: Arc<Shared>,
}

impl Backend {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            shared: Arc::new(Shared::default()),
        }
    }

    pub(super) fn encoding(&self) -> PositionEncoding {
        *lock(&self.shared.encoding)
    }

    pub(super) fn current_engine(&self) -> Result<EngineHandle, Option<String>> {
        let slot = lock(&self.shared.engine);
        match &slot.current {
            Some(engine) => Ok(engine.clone()),
            None => Err(slot.failure.clone()),
        }
    }

    /// The workspace folder holding a document (the innermost, when folders nest).
    pub(super) fn folder_of(&self, uri: &Url) -> Option<WorkspaceFolder> {
        let path = uri.to_file_path().ok()?;
        lock(&self.shared.workspace_folders)
            .iter()
            .filter(|folder| path.starts_with(&folder.root))
            .max_by_key(|folder| folder.root.components().count())
            .cloned()
    }

    /// The settings of a document: the defaults, the user's configuration file, its folder's
    /// (machine settings left out), then the editor's settings.
    pub(super) fn settings_for(&self, uri: &Url) -> Settings {
        let mut settings = Settings::default();
        // Their mistakes were shown when the files were read.
        if let Some(config) = lock(&self.shared.user_config).as_ref() {
            let _ = settings.merge_file_json(config, SettingsOrigin::User);
        }
        if let Some(config) = self.folder_of(uri).and_then(|folder| folder.config) {
            let _ = settings.merge_file_json(&config, SettingsOrigin::Workspace);
        }
        let _ = settings.merge_json(&lock(&self.shared.editor_settings));
        settings
    }

    pub(super) fn clone_handle(&self) -> Backend {
        Backend {
            client: self.client.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}
