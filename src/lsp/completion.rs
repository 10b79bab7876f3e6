//! `textDocument/completion`: the slot at the cursor, filled by the engine; what to ask and what to
//! propose is decided in `analysis::completion`. Also the prefetch of the next word's slot when a
//! writer ends a word.

use tower_lsp::jsonrpc;
use tower_lsp::lsp_types::{
    CompletionItem, CompletionItemKind, CompletionList, CompletionParams, CompletionResponse,
    CompletionTextEdit, CompletionTriggerKind, TextEdit, Url,
};

use std::sync::Arc;

use crate::analysis::completion::{
    abbreviation_completions, completion_proposals, completion_request, compound_part,
    ManuscriptContext,
};
use crate::analysis::manuscript_words::{document_words, previous_term, ManuscriptWords};
use crate::context::{completion_slot, context_for_position, CompletionSlot, SlotKind};
use crate::document::Document;
use crate::lsp::position::{offsets_to_range, position_to_offset};
use crate::lsp::render::completion_detail;
use crate::model::api::{CancelFlag, EngineCounts, EngineError};

use super::state::*;

impl Backend {
    pub(super) async fn completion_body(
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
            let Some(target) = completion_target(document, offset, settings.context_sentences)
            else {
                return Ok(None);
            };
            let edit_range =
                offsets_to_range(document.rope(), target.source_range.clone(), encoding);
            let rebuild = target.slot.prefix.is_empty();
            let words = self.manuscript_words(&uri, document, rebuild);
            // The document's abbreviations, once two letters are typed (fewer are never
            // completed: the definitions are not read for them).
            let abbreviations = if target.slot.prefix.chars().count() < 2 {
                Vec::new()
            } else {
                abbreviation_completions(
                    &super::hover::document_abbreviations(document),
                    &target.slot.prefix,
                    target.source_range.start,
                )
            };
            (target, edit_range, words, abbreviations)
        };
        let (target, edit_range, words, abbreviations) = prepared;
        let slot = &target.slot;
        crate::test_hooks::panic_on_prefix(&slot.prefix);
        let empty_incomplete = CompletionResponse::List(CompletionList {
            is_incomplete: true,
            items: Vec::new(),
        });
        let Ok(engine) = self.current_engine() else {
            return Ok(Some(empty_incomplete));
        };

        // Before the first letter of a word (a space just typed), an editor that asks again as the
        // list is incomplete (trigger kind 2 or 3) gets the slot's proposals from the slot cache
        // when they are ready, else an empty incomplete list at once while the fill runs for the
        // keystroke that follows. Asked for explicitly (Ctrl+Space), or by a client that does not
        // say why it asks, the answer waits for the model.
        let asked_again = params
            .context
            .as_ref()
            .is_some_and(|context| context.trigger_kind != CompletionTriggerKind::INVOKED);
        let manuscript = words.context(&target);
        if slot.kind == SlotKind::Word && slot.prefix.is_empty() && asked_again {
            let request = completion_request(
                target.text.clone(),
                slot,
                &completion_settings,
                self.new_prefetch_cancel(&uri),
                manuscript.candidates(&slot.prefix),
            );
            match engine.prefetch_fill(request) {
                Ok(Some(predictions)) => {
                    return Ok(Some(completion_response(
                        &predictions,
                        &target,
                        &completion_settings,
                        &manuscript,
                        edit_range,
                        &engine.info().display_name,
                    )))
                }
                Ok(None) => return Ok(Some(empty_incomplete)),
                Err(error) => tracing::debug!("no prefetch: {error}"),
            }
        }

        let cancel = CancelFlag::new();
        if let Some(older) =
            lock(&self.shared.completion_cancels).insert(uri.clone(), cancel.clone())
        {
            older.cancel();
        }
        let _cancel_guard = CancelOnDrop(cancel.clone());
        let request = completion_request(
            target.text.clone(),
            slot,
            &completion_settings,
            cancel,
            manuscript.candidates(&slot.prefix),
        );
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
        let mut response = completion_response(
            &predictions,
            &target,
            &completion_settings,
            &manuscript,
            edit_range,
            &engine.info().display_name,
        );
        if let CompletionResponse::List(list) = &mut response {
            // The document's own abbreviations first: what it defined is what it means.
            let mut items: Vec<CompletionItem> = abbreviations
                .into_iter()
                .map(|completion| CompletionItem {
                    label: completion.label.clone(),
                    kind: Some(CompletionItemKind::CONSTANT),
                    detail: Some(completion.detail),
                    sort_text: Some("0000".into()),
                    filter_text: Some(target.slot.prefix.clone()),
                    text_edit: Some(CompletionTextEdit::Edit(TextEdit {
                        range: edit_range,
                        new_text: completion.label,
                    })),
                    ..CompletionItem::default()
                })
                .collect();
            let model_items = std::mem::take(&mut list.items);
            for item in model_items {
                if !items.iter().any(|known| known.label == item.label) {
                    items.push(item);
                }
            }
            list.items = items;
        }
        Ok(Some(response))
    }

    /// The words of a document for completion, read again when `rebuild` says the writer is
    /// between words (or when they are many edits old), and the words of the other open documents
    /// and of the document's dictionaries as they were last read.
    fn manuscript_words(&self, uri: &Url, document: &Document, rebuild: bool) -> WorkspaceWords {
        let this_document = {
            let mut indexes = lock(&self.shared.manuscript_words);
            let stale = match indexes.get(uri) {
                None => true,
                Some((version, _)) => {
                    *version != document.version()
                        && (rebuild
                            || document.version().saturating_sub(*version)
                                >= STALE_WORDS_AFTER_EDITS)
                }
            };
            if stale {
                let words = Arc::new(document_words(document));
                indexes.insert(uri.clone(), (document.version(), words));
            }
            indexes
                .get(uri)
                .map(|(_, words)| words.clone())
                .unwrap_or_default()
        };
        let mut others: Vec<Arc<ManuscriptWords>> = lock(&self.shared.manuscript_words)
            .iter()
            .filter(|(other, _)| *other != uri)
            .map(|(_, (_, words))| words.clone())
            .collect();
        others.extend(lock(&self.shared.dictionary_words).get(uri).cloned());
        WorkspaceWords {
            this_document,
            others,
        }
    }

    /// A new prefetch flag for a document, cancelling the one before it (a prefetch that has not
    /// started yet then never runs, unless a keystroke waits for it).
    fn new_prefetch_cancel(&self, uri: &Url) -> CancelFlag {
        let cancel = CancelFlag::new();
        if let Some(older) = lock(&self.shared.prefetch_cancels).insert(uri.clone(), cancel.clone())
        {
            older.cancel();
        }
        cancel
    }

    /// `biomedLsp/engineCounts`: what the engine has done (forward passes, fills from the slot
    /// cache), for tests and benchmarks to tell whether a request ran the model; null while no
    /// model is loaded.
    pub(super) async fn engine_counts(&self) -> jsonrpc::Result<Option<EngineCounts>> {
        Ok(self.current_engine().ok().map(|engine| engine.counts()))
    }

    /// After an edit that typed one character ending a word (a space, punctuation), starts the
    /// fill of the new word's slot at the cursor, so that the first keystroke of the next word
    /// finds it ready. A newer prefetch in the document cancels this one if it has not started.
    pub(super) fn prefetch_next_word(&self, uri: &Url, cursor: usize, edit: WordEdit) {
        let settings = lock(&self.shared.settings).clone();
        let prepared = {
            let documents = lock(&self.shared.documents);
            let Some(document) = documents.get(uri) else {
                return;
            };
            let target = match edit {
                WordEdit::Ended => completion_target(document, cursor, settings.context_sentences),
                // The writer will type a space next: the slot after it.
                WordEdit::Inserted => {
                    with_typed_text(document, cursor, " ", settings.context_sentences)
                }
            };
            // Between words: the words of the document as they are now.
            let words = self.manuscript_words(uri, document, true);
            target.map(|target| (target, words))
        };
        let Some((target, words)) = prepared else {
            return;
        };
        let slot = &target.slot;
        if slot.kind != SlotKind::Word || !slot.prefix.is_empty() {
            return;
        }
        let Ok(engine) = self.current_engine() else {
            return;
        };
        let manuscript = words.context(&target);
        let request = completion_request(
            target.text.clone(),
            slot,
            &settings.completion_settings(),
            self.new_prefetch_cancel(uri),
            manuscript.candidates(&slot.prefix),
        );
        if let Err(error) = engine.prefetch_fill(request) {
            tracing::debug!("no prefetch: {error}");
        }
    }
}

/// What a completion fills: the text the model sees, the slot in it, and the slot's range in the
/// document (in a hyphenated compound, the slot is the part after the last hyphen, the range the
/// whole compound typed so far, and the head the parts before).
pub(super) struct CompletionTarget {
    text: String,
    slot: CompletionSlot,
    compound_head: String,
    source_range: std::ops::Range<usize>,
}

/// The target of a completion at document byte `offset`, if the cursor is in checkable prose or
/// just after it (a space typed at the end of a paragraph).
fn completion_target(
    document: &Document,
    offset: usize,
    context_sentences: usize,
) -> Option<CompletionTarget> {
    let Some(window) = context_for_position(document, offset, context_sentences) else {
        // Extracted prose leaves out a paragraph's trailing white space, so a cursor after it has
        // no window of its own: the next word goes there.
        let typed_at = document.floor_char_boundary(offset.checked_sub(1)?);
        let typed = document.text_in(typed_at..offset);
        if !typed.chars().all(char::is_whitespace) {
            return None;
        }
        return with_typed_text(document, typed_at, &typed, context_sentences);
    };
    let cursor = window.to_text(offset)?;
    let slot = completion_slot(&window.text, cursor);
    if !window.is_checkable(slot.range.clone()) {
        return None;
    }
    let source_range = window.source_range(slot.range.clone());
    let (compound_head, slot) =
        compound_part(&window.text, &slot).unwrap_or_else(|| (String::new(), slot));
    Some(CompletionTarget {
        source_range,
        text: window.text,
        slot,
        compound_head,
    })
}

/// The target of the next word after `typed` is written at document byte `at`, at the end of the
/// prose before it: the window of the word before, with `typed` put in after it.
fn with_typed_text(
    document: &Document,
    at: usize,
    typed: &str,
    context_sentences: usize,
) -> Option<CompletionTarget> {
    let window = context_for_position(document, at, context_sentences)?;
    let text_at = window.to_text(at)?;
    let mut text = window.text;
    text.insert_str(text_at, typed);
    let slot_at = text_at + typed.len();
    let source_at = at + typed.len();
    Some(CompletionTarget {
        text,
        slot: CompletionSlot {
            range: slot_at..slot_at,
            prefix: String::new(),
            kind: SlotKind::Word,
        },
        compound_head: String::new(),
        source_range: source_at..source_at,
    })
}

/// The words that completion considers besides the model's vocabulary.
pub(super) struct WorkspaceWords {
    this_document: Arc<ManuscriptWords>,
    others: Vec<Arc<ManuscriptWords>>,
}

impl WorkspaceWords {
    /// What the manuscript says about the slot of `target`.
    fn context(&self, target: &CompletionTarget) -> ManuscriptContext<'_> {
        ManuscriptContext {
            this_document: &self.this_document,
            others: self.others.iter().map(|words| words.as_ref()).collect(),
            slot_source_start: target.source_range.start,
            previous_word: previous_term(
                &target.text,
                target.slot.range.start - target.compound_head.len(),
            ),
            compound_head: target.compound_head.clone(),
        }
    }
}

/// How many edits the words of a document may lag behind it while the writer is inside a word.
const STALE_WORDS_AFTER_EDITS: i32 = 20;

/// What an edit did to the word at the cursor, for the prefetch of the next word's slot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum WordEdit {
    /// A space or punctuation typed after it.
    Ended,
    /// A whole word written at once (a completion accepted).
    Inserted,
}

/// The completion list of a slot's predictions: incomplete, so that the client asks again as the
/// writer types (each keystroke narrows the prefix).
fn completion_response(
    predictions: &[crate::model::WordPrediction],
    target: &CompletionTarget,
    settings: &crate::analysis::completion::CompletionSettings,
    manuscript: &ManuscriptContext,
    edit_range: tower_lsp::lsp_types::Range,
    display_name: &str,
) -> CompletionResponse {
    let items = completion_proposals(
        predictions,
        &target.text,
        &target.slot,
        settings,
        manuscript,
    )
    .into_iter()
    .map(|proposal| CompletionItem {
        label: proposal.word.clone(),
        kind: Some(CompletionItemKind::TEXT),
        detail: Some(completion_detail(
            proposal.probability,
            proposal.uses_in_document,
            display_name,
        )),
        sort_text: Some(format!("{:04}", proposal.rank)),
        filter_text: Some(proposal.filter_text),
        text_edit: Some(CompletionTextEdit::Edit(TextEdit {
            range: edit_range,
            new_text: proposal.word,
        })),
        ..CompletionItem::default()
    })
    .collect();
    CompletionResponse::List(CompletionList {
        is_incomplete: true,
        items,
    })
}
