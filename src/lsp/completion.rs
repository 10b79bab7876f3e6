//! `textDocument/completion`: the slot at the cursor, filled by the engine; what to ask and what to
//! propose is decided in `analysis::completion`. Also the prefetch of the next word's slot when a
//! writer ends a word.

use tower_lsp::jsonrpc;
use tower_lsp::lsp_types::{
    CompletionItem, CompletionItemKind, CompletionList, CompletionParams, CompletionResponse,
    CompletionTextEdit, CompletionTriggerKind, TextEdit, Url,
};

use crate::analysis::completion::{completion_proposals, completion_request};
use crate::context::{
    completion_slot, context_for_position, CompletionSlot, ProseWindow, SlotKind,
};
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
            let Some((window, slot)) =
                completion_target(document, offset, settings.context_sentences)
            else {
                return Ok(None);
            };
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

        // Before the first letter of a word (a space just typed), an editor that asks again as the
        // list is incomplete (trigger kind 2 or 3) gets the slot's proposals from the slot cache
        // when they are ready, else an empty incomplete list at once while the fill runs for the
        // keystroke that follows. Asked for explicitly (Ctrl+Space), or by a client that does not
        // say why it asks, the answer waits for the model.
        let asked_again = params
            .context
            .as_ref()
            .is_some_and(|context| context.trigger_kind != CompletionTriggerKind::INVOKED);
        if slot.kind == SlotKind::Word && slot.prefix.is_empty() && asked_again {
            let request = completion_request(
                window.text.clone(),
                &slot,
                &completion_settings,
                self.new_prefetch_cancel(&uri),
            );
            match engine.prefetch_fill(request) {
                Ok(Some(predictions)) => {
                    return Ok(Some(completion_response(
                        &predictions,
                        &window,
                        &slot,
                        &completion_settings,
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
        Ok(Some(completion_response(
            &predictions,
            &window,
            &slot,
            &completion_settings,
            edit_range,
            &engine.info().display_name,
        )))
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
    pub(super) fn prefetch_next_word(&self, uri: &Url, cursor: usize) {
        let settings = lock(&self.shared.settings).clone();
        let target = {
            let documents = lock(&self.shared.documents);
            let Some(document) = documents.get(uri) else {
                return;
            };
            match completion_target(document, cursor, settings.context_sentences) {
                Some((window, slot)) => Some((window.text, slot)),
                None => after_paragraph_end(document, cursor, settings.context_sentences),
            }
        };
        let Some((text, slot)) = target else {
            return;
        };
        if slot.kind != SlotKind::Word || !slot.prefix.is_empty() {
            return;
        }
        let Ok(engine) = self.current_engine() else {
            return;
        };
        let request = completion_request(
            text,
            &slot,
            &settings.completion_settings(),
            self.new_prefetch_cancel(uri),
        );
        if let Err(error) = engine.prefetch_fill(request) {
            tracing::debug!("no prefetch: {error}");
        }
    }
}

/// The prose window around a completion at document byte `offset` and the slot there, if the
/// cursor is in checkable prose.
fn completion_target(
    document: &Document,
    offset: usize,
    context_sentences: usize,
) -> Option<(ProseWindow, CompletionSlot)> {
    let window = context_for_position(document, offset, context_sentences)?;
    let cursor = window.to_text(offset)?;
    let slot = completion_slot(&window.text, cursor);
    window
        .is_checkable(slot.range.clone())
        .then_some((window, slot))
}

/// The text and slot that the first keystroke after a character typed at the end of a paragraph
/// will fill. Extracted prose leaves out a paragraph's trailing whitespace, so the cursor after it
/// has no window of its own: the window of the word before, with the typed character put back,
/// is the one the keystroke will see.
fn after_paragraph_end(
    document: &Document,
    cursor: usize,
    context_sentences: usize,
) -> Option<(String, CompletionSlot)> {
    let typed_at = document.floor_char_boundary(cursor.checked_sub(1)?);
    let (window, _) = completion_target(document, typed_at, context_sentences)?;
    let at = window.to_text(typed_at)?;
    let typed = document.text_in(typed_at..cursor);
    let mut text = window.text;
    text.insert_str(at, &typed);
    let slot_at = at + typed.len();
    Some((
        text,
        CompletionSlot {
            range: slot_at..slot_at,
            prefix: String::new(),
            kind: SlotKind::Word,
        },
    ))
}

/// The completion list of a slot's predictions: incomplete, so that the client asks again as the
/// writer types (each keystroke narrows the prefix).
fn completion_response(
    predictions: &[crate::model::WordPrediction],
    window: &ProseWindow,
    slot: &CompletionSlot,
    settings: &crate::analysis::completion::CompletionSettings,
    edit_range: tower_lsp::lsp_types::Range,
    display_name: &str,
) -> CompletionResponse {
    let items = completion_proposals(predictions, &window.text, slot, settings)
        .into_iter()
        .map(|proposal| CompletionItem {
            label: proposal.word.clone(),
            kind: Some(CompletionItemKind::TEXT),
            detail: Some(completion_detail(proposal.probability, display_name)),
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
