//! `textDocument/completion`: the slot at the cursor, filled by the engine; what to ask and what to
//! propose is decided in `analysis::completion`.

use tower_lsp::jsonrpc;
use tower_lsp::lsp_types::{
    CompletionItem, CompletionItemKind, CompletionList, CompletionParams, CompletionResponse,
    CompletionTextEdit, TextEdit,
};

use crate::analysis::completion::{completion_proposals, completion_request};
use crate::context::{completion_slot, context_for_position};
use crate::lsp::position::{offsets_to_range, position_to_offset};
use crate::lsp::render::completion_detail;
use crate::model::api::{CancelFlag, EngineError};

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
}
