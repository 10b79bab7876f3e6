//! Terminology diagnostics: dictionaries, scheduling and cancelling checks, running them off the
//! async runtime (with the open files of a folder as one manuscript for abbreviations and term
//! variants), and publishing their findings.

use std::sync::Arc;

use tower_lsp::lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, MessageType,
    NumberOrString, Url,
};

use crate::analysis::document::{
    check_document, is_unused_abbreviation, is_unused_but_written_in,
    manuscript_consistency_findings, prepare_document, JudgeModel, PreparedDocument,
};
use crate::analysis::manuscript_words::ManuscriptWordsBuilder;
use crate::analysis::spelling::SpellingDictionaries;
use crate::analysis::wording::format_share;
use crate::analysis::{
    lexicon_for_tokenizer, CheckStatistics, Dictionary, Finding, FindingCode, Lexicon,
    SentenceCheckInputs, Severity,
};
use crate::dictionary_files::{read_dictionaries, user_dictionary_path, workspace_dictionary_path};
use crate::lsp::position::{offsets_to_range, PositionEncoding};
use crate::manuscript_folder::other_files_of_folder;
use crate::model::api::{CancelFlag, EngineError};
use crate::model::EngineHandle;
use crate::settings::Settings;

/// How long after a check failed on the inference server it is tried again.
const REMOTE_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(5);

use super::progress::ProgressReporter;
use super::state::*;

/// A document snapshot, taken under the lock, for a check that runs without it.
pub(super) struct CheckSnapshot {
    version: i32,
    /// A rope clone shares the document's storage: cheap to take under the lock.
    rope: ropey::Rope,
    /// Markdown and LaTeX prose, kept up to date by the document; plain text is extracted later,
    /// off the lock and off the async runtime.
    chunks: Option<Vec<crate::prose::ProseChunk>>,
    language: crate::prose::Language,
    /// The other open documents of the same folder and language: with this one, in file-name
    /// order, one manuscript for abbreviations and term variants.
    siblings: Vec<Sibling>,
}

/// An open document checked with another as one manuscript.
struct Sibling {
    uri: Url,
    rope: ropey::Rope,
    chunks: Option<Vec<crate::prose::ProseChunk>>,
}

/// Open documents read as one manuscript at most (the others are left out).
const MAX_SIBLINGS: usize = 64;

/// The other open documents of `uri`'s folder written in `language`, in file-name order.
pub(super) fn sibling_uris(
    uri: &Url,
    language: crate::prose::Language,
    documents: &std::collections::HashMap<Url, crate::document::Document>,
) -> Vec<Url> {
    let folder = |uri: &Url| {
        uri.path()
            .rsplit_once('/')
            .map(|(folder, _)| folder.to_string())
    };
    let Some(own_folder) = folder(uri) else {
        return Vec::new();
    };
    let mut siblings: Vec<Url> = documents
        .iter()
        .filter(|(other, document)| {
            *other != uri
                && other.scheme() == uri.scheme()
                && folder(other).as_deref() == Some(own_folder.as_str())
                && document.language() == language
        })
        .map(|(other, _)| other.clone())
        .collect();
    siblings.sort_by(|a, b| a.path().cmp(b.path()));
    siblings.truncate(MAX_SIBLINGS);
    siblings
}

/// The other open documents of `uri`'s folder written in `language`, with their text.
fn siblings_of(
    uri: &Url,
    language: crate::prose::Language,
    documents: &std::collections::HashMap<Url, crate::document::Document>,
) -> Vec<Sibling> {
    sibling_uris(uri, language, documents)
        .into_iter()
        .filter_map(|other| {
            let document = documents.get(&other)?;
            Some(Sibling {
                rope: document.rope().clone(),
                chunks: document.prose().map(|prose| prose.chunks().to_vec()),
                uri: other,
            })
        })
        .collect()
}

/// The abbreviation and term-variant findings of `own` read with `siblings` as one manuscript in
/// file-name order (`own_uri` places it): those in `own`, their related places numbered 0 for
/// `own` and 1.. for the siblings in their order.
fn manuscript_findings(
    own: &PreparedDocument,
    own_uri: &Url,
    siblings: &[(Url, PreparedDocument)],
    settings: &crate::analysis::CheckSettings,
    judge_model: crate::analysis::document::VariantJudgeModel,
) -> Vec<Finding> {
    // Indices into [own, siblings…], in reading order.
    let mut order: Vec<usize> = (0..=siblings.len()).collect();
    let path = |index: usize| match index {
        0 => own_uri.path(),
        _ => siblings[index - 1].0.path(),
    };
    order.sort_by(|a, b| path(*a).cmp(path(*b)));
    let documents: Vec<&PreparedDocument> = order
        .iter()
        .map(|&index| match index {
            0 => own,
            _ => &siblings[index - 1].1,
        })
        .collect();
    manuscript_consistency_findings(&documents, settings, judge_model)
        .into_iter()
        .filter(|(document, _)| order[*document] == 0)
        .map(|(_, mut finding)| {
            for place in &mut finding.related {
                place.document = order[place.document];
            }
            finding
        })
        .collect()
}

/// The places a finding points to (an abbreviation's definition), else its evidence as related
/// information: where each supporting word is, and for which suggestion (`supports "infarction"
/// (41 %)`).
/// `places` are the documents related places may be in: the finding's own first.
fn evidence_information(
    places: &[(Url, ropey::Rope)],
    finding: &Finding,
    encoding: PositionEncoding,
) -> Option<Vec<DiagnosticRelatedInformation>> {
    let (uri, rope) = places.first()?;
    if !finding.related.is_empty() {
        return Some(
            finding
                .related
                .iter()
                .filter_map(|place| {
                    let (uri, rope) = places.get(place.document)?;
                    Some(DiagnosticRelatedInformation {
                        location: Location {
                            uri: uri.clone(),
                            range: offsets_to_range(rope, place.range.clone(), encoding),
                        },
                        message: place.message.clone(),
                    })
                })
                .collect(),
        );
    }
    let suggestion = finding.suggestions.first()?;
    if finding.evidence.is_empty() {
        return None;
    }
    Some(
        finding
            .evidence
            .iter()
            .map(|word| DiagnosticRelatedInformation {
                location: Location {
                    uri: uri.clone(),
                    range: offsets_to_range(rope, word.range.clone(), encoding),
                },
                message: format!(
                    "\"{}\" supports \"{suggestion}\" ({})",
                    word.word,
                    format_share(word.weight)
                ),
            })
            .collect(),
    )
}

pub(super) fn lsp_severity(severity: Severity) -> DiagnosticSeverity {
    match severity {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Information => DiagnosticSeverity::INFORMATION,
        Severity::Hint => DiagnosticSeverity::HINT,
    }
}

impl Backend {
    /// The words accepted in a document: the user dictionary, its workspace folder's, and the
    /// settings' words. Read off the async runtime at each check (the files are small, and an
    /// edit to them counts at once); a file that cannot be read is shown to the user once.
    async fn dictionary_for(&self, uri: &Url, settings: &Settings) -> Dictionary {
        let mut files = Vec::new();
        if let Some(path) = user_dictionary_path(&settings.dictionary_user_file) {
            files.push(path);
        }
        if let Some(folder) = self.folder_of(uri) {
            files.push(workspace_dictionary_path(&folder.root));
        }
        let words = settings.dictionary_words.clone();
        let (dictionary, errors) =
            match tokio::task::spawn_blocking(move || read_dictionaries(&files, &words)).await {
                Ok(read) => read,
                Err(error) => {
                    tracing::error!("reading the dictionaries failed: {error}");
                    return Dictionary::new();
                }
            };
        for error in errors {
            let message = error.to_string();
            tracing::warn!("{message}");
            if lock(&self.shared.reported_dictionary_errors).insert(message.clone()) {
                self.client
                    .show_message(MessageType::WARNING, message)
                    .await;
            }
        }
        dictionary
    }

    /// Schedules a check of a document after the debounce delay; a newer call cancels it.
    /// Checks again the other open documents of `uri`'s manuscript (its folder, its language):
    /// a document opened or closed beside them changes their abbreviations and variants.
    pub(super) fn schedule_sibling_checks(&self, uri: &Url) {
        let siblings: Vec<Url> = {
            let documents = lock(&self.shared.documents);
            let Some(document) = documents.get(uri) else {
                return;
            };
            sibling_uris(uri, document.language(), &documents)
        };
        for sibling in siblings {
            self.schedule_check(sibling, true);
        }
    }

    pub(super) fn schedule_check(&self, uri: Url, debounce: bool) {
        let flag = CancelFlag::new();
        if let Some(older) = lock(&self.shared.checks.cancels).insert(uri.clone(), flag.clone()) {
            older.cancel();
        }
        let backend = self.clone_handle();
        tokio::spawn(async move {
            let settings = backend.settings_for(&uri);
            if debounce {
                tokio::time::sleep(std::time::Duration::from_millis(
                    settings.diagnostics_debounce_ms,
                ))
                .await;
            }
            if flag.is_cancelled() {
                return;
            }
            let result = backend
                .check_and_publish(uri.clone(), flag.clone(), settings)
                .await;
            // This check is over: a newer one, if any, has replaced its flag already.
            {
                let mut cancels = lock(&backend.shared.checks.cancels);
                if cancels
                    .get(&uri)
                    .is_some_and(|current| current.is_same_flag(&flag))
                {
                    cancels.remove(&uri);
                }
            }
            backend.shared.entities.check_ended.notify_waiters();
            match result {
                Ok(()) => backend.report_checks_working().await,
                Err(error) => {
                    tracing::warn!("checking {uri} failed: {error}");
                    let remote = matches!(
                        error.downcast_ref::<crate::analysis::CheckError>(),
                        Some(crate::analysis::CheckError::Engine(EngineError::Remote(_)))
                    );
                    backend.report_check_failure(&error.to_string()).await;
                    if remote {
                        // The inference server may come back: try again, without a keystroke.
                        let backend = backend.clone_handle();
                        tokio::spawn(async move {
                            tokio::time::sleep(REMOTE_RETRY_DELAY).await;
                            if lock(&backend.shared.documents).contains_key(&uri) {
                                backend.schedule_check(uri, false);
                            }
                        });
                    }
                }
            }
        });
    }

    /// Says once that checks fail (not at every keystroke): the first failure after a success.
    async fn report_check_failure(&self, error: &str) {
        if !self
            .shared
            .checks_failing
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            self.client
                .show_message(
                    MessageType::WARNING,
                    format!("biomed-lsp: checks fail: {error}; the other features go on"),
                )
                .await;
        }
    }

    /// Says once that checks work again after they failed (an inference server that is back).
    async fn report_checks_working(&self) {
        if self
            .shared
            .checks_failing
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            self.client
                .show_message(MessageType::INFO, "biomed-lsp: checks work again")
                .await;
        }
    }

    /// Re-checks every open document (after a model, dictionary or settings change).
    pub(super) fn schedule_all_checks(&self) {
        let uris: Vec<Url> = lock(&self.shared.documents).keys().cloned().collect();
        for uri in uris {
            self.schedule_check(uri, false);
        }
    }

    /// The lexicon of this engine's vocabulary at the settings' edit distance, built off the async
    /// runtime by the first check that needs it (others wait for that build).
    pub(super) async fn lexicon_for(
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
        let lexicon =
            tokio::task::spawn_blocking(move || lexicon_for_tokenizer(&tokenizer, &check_settings))
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

    pub(super) async fn check_and_publish(
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
                siblings: siblings_of(&uri, document.language(), &documents),
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
        let dictionary = Arc::new(self.dictionary_for(&uri, &settings).await);
        {
            let mut builder = ManuscriptWordsBuilder::default();
            for word in dictionary.sorted_words() {
                builder.add_word(word);
            }
            lock(&self.shared.dictionary_words).insert(uri.clone(), Arc::new(builder.build()));
        }
        let ignored_words = lock(&self.shared.checks.ignored_words)
            .get(&uri)
            .cloned()
            .unwrap_or_default();
        let prose_options = settings.prose_options();
        let (rope, language) = (snapshot.rope.clone(), snapshot.language);
        // Where related places are: this document first, then its siblings in their order.
        let places: Vec<(Url, ropey::Rope)> = std::iter::once((uri.clone(), snapshot.rope.clone()))
            .chain(
                snapshot
                    .siblings
                    .iter()
                    .map(|sibling| (sibling.uri.clone(), sibling.rope.clone())),
            )
            .collect();
        let siblings = snapshot.siblings;
        let (document, siblings) = tokio::task::spawn_blocking(move || {
            let document =
                prepare_document(&rope.to_string(), language, snapshot.chunks, &prose_options);
            let siblings: Vec<(Url, PreparedDocument)> = siblings
                .into_iter()
                .map(|sibling| {
                    let prepared = prepare_document(
                        &sibling.rope.to_string(),
                        language,
                        sibling.chunks,
                        &prose_options,
                    );
                    (sibling.uri, prepared)
                })
                .collect();
            (document, siblings)
        })
        .await
        .map_err(|error| anyhow::anyhow!("preparing the check failed: {error}"))?;
        let own_uri = uri.clone();
        let sentences_count = document.sentences.len();
        let (progress_sender, mut progress_receiver) =
            tokio::sync::mpsc::unbounded_channel::<u32>();
        let shared = Arc::clone(&self.shared);
        let check_cancel = cancel.clone();
        let check_settings = settings.check_settings();
        let entity_engine = engine.clone();
        let job = tokio::task::spawn_blocking(move || {
            let inputs = SentenceCheckInputs {
                lexicon: &lexicon,
                dictionary: &dictionary,
                spelling: SpellingDictionaries::with_installed(
                    &crate::dictionary_files::installed_hunspell_dictionaries().0,
                ),
                settings: &check_settings,
            };
            let mut statistics = CheckStatistics::default();
            let mut last_percentage = 0;
            let findings = check_document(
                &engine,
                &document,
                &inputs,
                &ignored_words,
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
            );
            // With other open files of the folder, abbreviations and variants are those of the
            // manuscript they make together.
            let findings = findings.map(|mut findings| {
                if siblings.is_empty() {
                    return findings;
                }
                findings.retain(|finding| {
                    !matches!(
                        finding.code,
                        FindingCode::Abbreviation(_) | FindingCode::TermVariant
                    )
                });
                findings.extend(
                    manuscript_findings(
                        &document,
                        &own_uri,
                        &siblings,
                        &check_settings,
                        Some(JudgeModel {
                            scorer: &engine,
                            cache: Some(&shared.checks.cache),
                            cancel: Some(&check_cancel),
                        }),
                    )
                    .into_iter()
                    .filter(|finding| {
                        let word = finding.word.to_lowercase();
                        !ignored_words
                            .iter()
                            .any(|ignored| ignored.to_lowercase() == word)
                    }),
                );
                findings.sort_by_key(|finding| finding.range.start);
                findings
            });
            // An abbreviation "never used again" may be used in a section not open.
            let findings = findings.map(|mut findings| {
                if findings.iter().any(is_unused_abbreviation) {
                    if let Ok(path) = own_uri.to_file_path() {
                        let open: Vec<std::path::PathBuf> = siblings
                            .iter()
                            .filter_map(|(uri, _)| uri.to_file_path().ok())
                            .collect();
                        let others = other_files_of_folder(&path, language, &open);
                        findings.retain(|finding| !is_unused_but_written_in(finding, &others));
                    }
                }
                findings
            });
            (findings, document)
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
        let (findings, document) =
            joined.map_err(|error| anyhow::anyhow!("the check task failed: {error}"))?;
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
        let related_information = lock(&self.shared.client_support).related_information;
        let diagnostics = findings
            .iter()
            .map(|finding| {
                let mut diagnostic = self.diagnostic(&snapshot.rope, finding, encoding);
                if related_information {
                    diagnostic.related_information =
                        evidence_information(&places, finding, encoding);
                }
                diagnostic
            })
            .collect();
        lock(&self.shared.checks.published).insert(uri.clone(), (snapshot.version, findings));
        self.client
            .publish_diagnostics(uri.clone(), diagnostics, Some(snapshot.version))
            .await;
        // The entities after the diagnostics, from the sentences this check prepared.
        self.find_entities_after_check(
            &uri,
            snapshot.version,
            snapshot.rope,
            document,
            entity_engine,
            &cancel,
        )
        .await;
        Ok(())
    }

    pub(super) fn diagnostic(
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
            // Fixes travel with the finding: code actions are derived from this. A finding that
            // is not about a word's spelling offers no dictionary (no word in its data).
            data: Some(serde_json::json!({
                "word": if finding.code.is_about_a_word() { finding.word.as_str() } else { "" },
                "suggestions": finding.suggestions,
                "score": finding.score,
                // The other places the first suggestion's fix is made at once.
                "sameFixAt": finding
                    .related
                    .iter()
                    .filter(|place| place.same_fix && place.document == 0)
                    .map(|place| offsets_to_range(rope, place.range.clone(), encoding))
                    .collect::<Vec<_>>(),
            })),
            ..Diagnostic::default()
        }
    }
}
