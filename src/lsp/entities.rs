//! Entity mentions in the editor: semantic tokens (full and delta, a token type per entity kind),
//! the outline (`textDocument/documentSymbol`: entities grouped by type, with counts) and the
//! label in the hover. Mentions are found after each check and on demand, at background priority
//! (after the checks queued before them, never before a completion), sentence by sentence from
//! the check's cache: an edit re-reads only the sentences it changed. The hover's label alone is
//! found at once (its sentence, ahead of the background work) when no check has found it yet.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tower_lsp::lsp_types::request::SemanticTokensRefresh;
use tower_lsp::lsp_types::{
    DocumentSymbol, DocumentSymbolParams, DocumentSymbolResponse, SemanticToken, SemanticTokenType,
    SemanticTokens, SemanticTokensDelta, SemanticTokensDeltaParams, SemanticTokensEdit,
    SemanticTokensFullDeltaResult, SemanticTokensFullOptions, SemanticTokensLegend,
    SemanticTokensOptions, SemanticTokensParams, SemanticTokensResult,
    SemanticTokensServerCapabilities, SymbolKind, Url,
};

use crate::analysis::document::{prepare_document, PreparedDocument};
use crate::analysis::entities::{
    document_entities, entity_kind, group_entities, DocumentEntity, SentenceSelection, ENTITY_KINDS,
};
use crate::analysis::Urgency;
use crate::lsp::position::{offset_to_position, offsets_to_range, PositionEncoding};
use crate::model::api::CancelFlag;
use crate::model::EngineHandle;

use super::state::*;

/// The entities found in a version of a document, and that version's text (their ranges are
/// bytes of it).
#[derive(Clone)]
pub(super) struct FoundEntities {
    /// The engine that found them ([`EngineHandle::model_id`]): another model's are stale.
    model_id: u64,
    version: i32,
    rope: ropey::Rope,
    entities: Arc<Vec<DocumentEntity>>,
}

/// The mentions of a document's current version: kept, or to be found in that version,
/// prepared, with the engine of the entity model.
enum CurrentMentions {
    Kept(FoundEntities),
    ToFind {
        version: i32,
        rope: ropey::Rope,
        document: PreparedDocument,
        engine: EngineHandle,
    },
}

/// The result id and the tokens of an answer.
type SentTokens = (String, Vec<SemanticToken>);

#[derive(Default)]
pub(super) struct EntityState {
    found: Mutex<HashMap<Url, FoundEntities>>,
    /// The semantic tokens last sent for each document, with their result id: the base of the
    /// next delta.
    sent_tokens: Mutex<HashMap<Url, SentTokens>>,
    next_result_id: AtomicU64,
    /// Whether the client asked to be told when tokens change (`workspace/semanticTokens/refresh`).
    pub(super) refresh_supported: AtomicBool,
    /// A refresh request the client has not answered yet: no second one is sent meanwhile.
    refresh_in_flight: Arc<AtomicBool>,
    /// Woken when a check ends or mentions are kept: requests waiting for the mentions the
    /// pending check will find look again.
    pub(super) check_ended: tokio::sync::Notify,
}

/// How often a request waiting for a check's mentions looks again without being woken.
const CHECK_WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// What the server offers for semantic tokens: one token type per entity kind, full documents
/// and deltas.
pub(super) fn semantic_tokens_capability() -> SemanticTokensServerCapabilities {
    SemanticTokensServerCapabilities::SemanticTokensOptions(SemanticTokensOptions {
        legend: SemanticTokensLegend {
            token_types: ENTITY_KINDS
                .iter()
                .map(|kind| SemanticTokenType::new(kind))
                .collect(),
            token_modifiers: Vec::new(),
        },
        full: Some(SemanticTokensFullOptions::Delta { delta: Some(true) }),
        range: None,
        ..SemanticTokensOptions::default()
    })
}

/// The tokens of `entities` in the protocol's relative encoding; a mention over several lines
/// gives one token per line (clients need not support tokens that span lines).
fn semantic_tokens(
    rope: &ropey::Rope,
    entities: &[DocumentEntity],
    encoding: PositionEncoding,
) -> Vec<SemanticToken> {
    let mut absolute: Vec<(u32, u32, u32, u32)> = Vec::new();
    for entity in entities {
        let kind = entity_kind(&entity.label) as u32;
        let range = offsets_to_range(rope, entity.range.clone(), encoding);
        for line in range.start.line..=range.end.line {
            let start = if line == range.start.line {
                range.start.character
            } else {
                0
            };
            let end = if line == range.end.line {
                range.end.character
            } else {
                // The line's end, before its line break.
                let line_start = rope.line_to_byte(line as usize);
                let line_text = rope.line(line as usize).to_string();
                let content = line_text.trim_end_matches(['\n', '\r']).len();
                offset_to_position(rope, line_start + content, encoding).character
            };
            if end > start {
                absolute.push((line, start, end - start, kind));
            }
        }
    }
    absolute.sort_unstable();
    let mut tokens = Vec::with_capacity(absolute.len());
    let (mut previous_line, mut previous_start) = (0, 0);
    for (line, start, length, kind) in absolute {
        tokens.push(SemanticToken {
            delta_line: line - previous_line,
            delta_start: if line == previous_line {
                start - previous_start
            } else {
                start
            },
            length,
            token_type: kind,
            token_modifiers_bitset: 0,
        });
        previous_line = line;
        previous_start = start;
    }
    tokens
}

/// The one edit that turns `old` into `new`: the tokens between their common beginning and end
/// replaced (offsets count integers, five per token).
fn token_edits(old: &[SemanticToken], new: &[SemanticToken]) -> Vec<SemanticTokensEdit> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let deleted = old.len() - prefix - suffix;
    let inserted = &new[prefix..new.len() - suffix];
    if deleted == 0 && inserted.is_empty() {
        return Vec::new();
    }
    vec![SemanticTokensEdit {
        start: (prefix * 5) as u32,
        delete_count: (deleted * 5) as u32,
        data: Some(inserted.to_vec()),
    }]
}

impl Backend {
    /// The entities of the document's current version: those the check found, once the check
    /// scheduled for the document has run (the mentions come after the diagnostics); else found
    /// now. `None` without a document, an engine or an entity model.
    pub(super) async fn current_entities(
        &self,
        uri: &Url,
        cancel: &CancelFlag,
    ) -> Option<FoundEntities> {
        self.wait_for_pending_check(uri).await;
        match self.current_mentions(uri).await? {
            CurrentMentions::Kept(found) => Some(found),
            CurrentMentions::ToFind {
                version,
                rope,
                document,
                engine,
            } => self
                .find_entities(uri, version, rope, document, engine, cancel)
                .await
                .map(|(found, _)| found),
        }
    }

    /// The mentions kept for the document's current version, or that version prepared for the
    /// tagger. `None` without a document, an engine or an entity model.
    async fn current_mentions(&self, uri: &Url) -> Option<CurrentMentions> {
        let (version, rope, chunks, language) = {
            let documents = lock(&self.shared.documents);
            let document = documents.get(uri)?;
            (
                document.version(),
                document.rope().clone(),
                document.prose().map(|prose| prose.chunks().to_vec()),
                document.language(),
            )
        };
        let engine = self.current_engine().ok()?;
        engine.info().entities.as_ref()?;
        if let Some(found) = lock(&self.shared.entities.found).get(uri) {
            if found.version == version && found.model_id == engine.model_id() {
                return Some(CurrentMentions::Kept(found.clone()));
            }
        }
        let prose_options = self.settings_for(uri).prose_options();
        let text_rope = rope.clone();
        let document = tokio::task::spawn_blocking(move || {
            prepare_document(&text_rope.to_string(), language, chunks, &prose_options)
        })
        .await
        .ok()?;
        Some(CurrentMentions::ToFind {
            version,
            rope,
            document,
            engine,
        })
    }

    /// Waits while a check of the document is scheduled or running and the mentions kept are of
    /// an older version than the document's.
    async fn wait_for_pending_check(&self, uri: &Url) {
        loop {
            let woken = self.shared.entities.check_ended.notified();
            let Some(version) = lock(&self.shared.documents)
                .get(uri)
                .map(|document| document.version())
            else {
                return;
            };
            let kept_is_current = lock(&self.shared.entities.found)
                .get(uri)
                .is_some_and(|found| found.version >= version);
            let check_pending = lock(&self.shared.checks.cancels)
                .get(uri)
                .is_some_and(|flag| !flag.is_cancelled());
            if kept_is_current || !check_pending {
                return;
            }
            let _ = tokio::time::timeout(CHECK_WAIT_POLL, woken).await;
        }
    }

    /// Finds the entities of a prepared version of a document and keeps them; also says whether
    /// they differ from those kept before.
    async fn find_entities(
        &self,
        uri: &Url,
        version: i32,
        rope: ropey::Rope,
        document: PreparedDocument,
        engine: EngineHandle,
        cancel: &CancelFlag,
    ) -> Option<(FoundEntities, bool)> {
        let model_id = engine.model_id();
        let entities = self
            .tag(
                uri,
                engine,
                document,
                SentenceSelection::All,
                Urgency::Background,
                cancel,
            )
            .await?;
        let found = FoundEntities {
            model_id,
            version,
            rope,
            entities: Arc::new(entities),
        };
        // A document closed meanwhile keeps nothing. The documents lock is taken and let go
        // before this state's: the hover holds it while it takes this state's.
        if !lock(&self.shared.documents).contains_key(uri) {
            return Some((found, false));
        }
        let mut kept = lock(&self.shared.entities.found);
        let changed = kept.get(uri).is_none_or(|before| {
            before.entities != found.entities || before.model_id != found.model_id
        });
        let newer_kept = kept.get(uri).is_some_and(|before| before.version > version);
        if !newer_kept {
            kept.insert(uri.clone(), found.clone());
        }
        drop(kept);
        self.shared.entities.check_ended.notify_waiters();
        Some((found, changed && !newer_kept))
    }

    /// After a check: the entities of the version checked, and a refresh request to the client
    /// when its semantic tokens changed.
    pub(super) async fn find_entities_after_check(
        &self,
        uri: &Url,
        version: i32,
        rope: ropey::Rope,
        document: PreparedDocument,
        engine: EngineHandle,
        cancel: &CancelFlag,
    ) {
        let changed = if engine.info().entities.is_none() {
            // No tagger (any more): what an earlier one found goes, and the client is told.
            lock(&self.shared.entities.found).remove(uri).is_some()
        } else {
            match self
                .find_entities(uri, version, rope, document, engine, cancel)
                .await
            {
                Some((_, changed)) => changed,
                None => return,
            }
        };
        let state = &self.shared.entities;
        if !changed
            || !state.refresh_supported.load(Ordering::Relaxed)
            || state.refresh_in_flight.swap(true, Ordering::SeqCst)
        {
            return;
        }
        // Its own task, never dropped: the client may answer late or never (see
        // `client_requests`). A client that has not answered within the patience of the
        // server's other requests does not keep later refreshes from being sent.
        let client = self.client.clone();
        let in_flight = Arc::clone(&state.refresh_in_flight);
        let answered = Arc::clone(&in_flight);
        tokio::spawn(async move {
            if let Err(error) = client.send_request::<SemanticTokensRefresh>(()).await {
                tracing::debug!("semantic tokens refresh: {error}");
            }
            answered.store(false, Ordering::SeqCst);
        });
        tokio::spawn(async move {
            tokio::time::sleep(CLIENT_REPLY_TIMEOUT).await;
            in_flight.store(false, Ordering::SeqCst);
        });
    }

    /// Forgets what was kept for a closed document.
    pub(super) fn forget_entities(&self, uri: &Url) {
        lock(&self.shared.entities.found).remove(uri);
        lock(&self.shared.entities.sent_tokens).remove(uri);
    }

    /// The label of the entity mention that holds `range` (source bytes of the document's
    /// current version): from the mentions kept for that version, else from its sentence tagged
    /// now, ahead of the background checks (a reader waits). The check's sentence cache answers
    /// for a sentence tagged before, so the hover and the check agree.
    pub(super) async fn entity_label_now(
        &self,
        uri: &Url,
        range: std::ops::Range<usize>,
        cancel: &CancelFlag,
    ) -> Option<String> {
        let holding = |entities: &[DocumentEntity]| {
            entities
                .iter()
                .find(|entity| entity.range.start <= range.start && range.end <= entity.range.end)
                .map(|entity| entity.label.clone())
        };
        let (document, engine) = match self.current_mentions(uri).await? {
            CurrentMentions::Kept(found) => return holding(&found.entities),
            CurrentMentions::ToFind {
                document, engine, ..
            } => (document, engine),
        };
        let entities = self
            .tag(
                uri,
                engine,
                document,
                SentenceSelection::Holding(range.clone()),
                Urgency::ReaderWaits,
                cancel,
            )
            .await?;
        holding(&entities)
    }

    /// The mentions in the selected sentences of a prepared document, through the check's
    /// sentence cache, off the async runtime; `None` when the tagger is gone or fails.
    async fn tag(
        &self,
        uri: &Url,
        engine: EngineHandle,
        document: PreparedDocument,
        selection: SentenceSelection<'static>,
        urgency: Urgency,
        cancel: &CancelFlag,
    ) -> Option<Vec<DocumentEntity>> {
        let shared = Arc::clone(&self.shared);
        let cancel = cancel.clone();
        let entities = tokio::task::spawn_blocking(move || {
            document_entities(
                &engine,
                &document,
                selection,
                urgency,
                Some(&shared.checks.cache),
                Some(&cancel),
            )
        })
        .await
        .ok()?;
        match entities {
            Ok(entities) => entities,
            Err(error) => {
                tracing::debug!("no entities for {uri}: {error}");
                None
            }
        }
    }

    /// The tokens of the document's current version (none without mentions) under a new result
    /// id, kept as the base of the next delta; and the result id and tokens kept before.
    async fn next_tokens(&self, uri: &Url) -> (String, Vec<SemanticToken>, Option<SentTokens>) {
        let cancel = CancelFlag::new();
        let _cancel_guard = CancelOnDrop(cancel.clone());
        let tokens = match self.current_entities(uri, &cancel).await {
            Some(found) => semantic_tokens(&found.rope, &found.entities, self.encoding()),
            None => Vec::new(),
        };
        let result_id = self
            .shared
            .entities
            .next_result_id
            .fetch_add(1, Ordering::Relaxed)
            .to_string();
        let previous = lock(&self.shared.entities.sent_tokens)
            .insert(uri.clone(), (result_id.clone(), tokens.clone()));
        (result_id, tokens, previous)
    }

    pub(super) async fn semantic_tokens_full_body(
        &self,
        params: SemanticTokensParams,
    ) -> Option<SemanticTokensResult> {
        let (result_id, tokens, _) = self.next_tokens(&params.text_document.uri).await;
        Some(SemanticTokensResult::Tokens(SemanticTokens {
            result_id: Some(result_id),
            data: tokens,
        }))
    }

    pub(super) async fn semantic_tokens_delta_body(
        &self,
        params: SemanticTokensDeltaParams,
    ) -> Option<SemanticTokensFullDeltaResult> {
        let (result_id, tokens, previous) = self.next_tokens(&params.text_document.uri).await;
        Some(match previous {
            Some((previous_id, previous_tokens)) if previous_id == params.previous_result_id => {
                SemanticTokensFullDeltaResult::TokensDelta(SemanticTokensDelta {
                    result_id: Some(result_id),
                    edits: token_edits(&previous_tokens, &tokens),
                })
            }
            // An unknown base (a restart, a result the client did not keep): the whole list.
            _ => SemanticTokensFullDeltaResult::Tokens(SemanticTokens {
                result_id: Some(result_id),
                data: tokens,
            }),
        })
    }

    /// The outline: one symbol per entity type (`Disease`, `12 mentions, 5 terms`), under it one
    /// per term with its count, at its first mention.
    pub(super) async fn document_symbol_body(
        &self,
        params: DocumentSymbolParams,
    ) -> Option<DocumentSymbolResponse> {
        let uri = params.text_document.uri;
        let cancel = CancelFlag::new();
        let _cancel_guard = CancelOnDrop(cancel.clone());
        let found = self.current_entities(&uri, &cancel).await?;
        let encoding = self.encoding();
        let range_of =
            |range: std::ops::Range<usize>| offsets_to_range(&found.rope, range, encoding);
        #[allow(deprecated)] // `deprecated` is a required field of the struct
        let symbols = group_entities(&found.entities)
            .into_iter()
            .map(|group| {
                let all = group.terms.iter().flat_map(|term| term.ranges.iter());
                let start = all.clone().map(|range| range.start).min().unwrap_or(0);
                let end = all.map(|range| range.end).max().unwrap_or(0);
                let count = group.mention_count();
                let children: Vec<DocumentSymbol> = group
                    .terms
                    .iter()
                    .map(|term| {
                        let first = range_of(term.ranges[0].clone());
                        DocumentSymbol {
                            name: term.text.clone(),
                            detail: Some(counted(term.ranges.len(), "mention")),
                            kind: SymbolKind::KEY,
                            tags: None,
                            deprecated: None,
                            range: first,
                            selection_range: first,
                            children: None,
                        }
                    })
                    .collect();
                let first = range_of(group.terms[0].ranges[0].clone());
                DocumentSymbol {
                    name: group.label.clone(),
                    detail: Some(format!(
                        "{}, {}",
                        counted(count, "mention"),
                        counted(group.terms.len(), "term")
                    )),
                    kind: SymbolKind::NAMESPACE,
                    tags: None,
                    deprecated: None,
                    range: range_of(start..end),
                    selection_range: first,
                    children: Some(children),
                }
            })
            .collect();
        Some(DocumentSymbolResponse::Nested(symbols))
    }
}

/// `1 mention`, `3 mentions`.
fn counted(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(text: &str, word: &str, label: &str) -> DocumentEntity {
        let start = text.find(word).expect("the word is in the text");
        DocumentEntity {
            range: start..start + word.len(),
            label: label.into(),
            text: word.into(),
        }
    }

    #[test]
    fn tokens_are_relative_sorted_and_split_at_line_ends() {
        let text = "Gout and\nbreast cancer, then Wilms\ntumour (in α-thalassemia).\n";
        let rope = ropey::Rope::from_str(text);
        let entities = [
            entity(text, "breast cancer", "Disease"),
            entity(text, "Gout", "Disease"),
            entity(text, "Wilms\ntumour", "Disease"),
            entity(text, "thalassemia", "Gene"),
        ];
        let tokens: Vec<[u32; 5]> = semantic_tokens(&rope, &entities, PositionEncoding::Utf16)
            .iter()
            .map(|t| {
                [
                    t.delta_line,
                    t.delta_start,
                    t.length,
                    t.token_type,
                    t.token_modifiers_bitset,
                ]
            })
            .collect();
        assert_eq!(
            tokens,
            [
                [0, 0, 4, 0, 0],   // Gout
                [1, 0, 13, 0, 0],  // breast cancer
                [0, 20, 5, 0, 0],  // Wilms (to the line's end)
                [1, 0, 6, 0, 0],   // tumour
                [0, 13, 11, 2, 0], // thalassemia, after "α-" (one UTF-16 unit for α)
            ]
        );
    }

    #[test]
    fn a_delta_replaces_what_changed_between_common_ends() {
        let token = |delta_line, length| SemanticToken {
            delta_line,
            delta_start: 0,
            length,
            token_type: 0,
            token_modifiers_bitset: 0,
        };
        let old = [token(0, 4), token(1, 5), token(1, 6)];
        let new = [token(0, 4), token(1, 7), token(2, 8), token(1, 6)];
        let edits = token_edits(&old, &new);
        assert_eq!(edits.len(), 1);
        assert_eq!((edits[0].start, edits[0].delete_count), (5, 5));
        assert_eq!(edits[0].data.as_deref(), Some(&new[1..3]));
        assert!(token_edits(&old, &old).is_empty());
        let emptied = token_edits(&old, &[]);
        assert_eq!((emptied[0].start, emptied[0].delete_count), (0, 15));
        let filled = token_edits(&[], &new);
        assert_eq!((filled[0].start, filled[0].delete_count), (0, 0));
        assert_eq!(filled[0].data.as_deref(), Some(&new[..]));
    }
}
