//! `textDocument/hover`: the word under the cursor, scored as the check scores it; what to score
//! and show is decided in `analysis::hover`.

use tower_lsp::jsonrpc;
use tower_lsp::lsp_types::{Hover, HoverContents, HoverParams, MarkupContent, MarkupKind};

use crate::analysis::hover::{
    hover_markdown, hover_score_request, ModelStatus, HOVER_CONTEXT_SENTENCES,
};
use crate::context::{context_for_position, hover_unit};
use crate::lsp::position::{offsets_to_range, position_to_offset};
use crate::model::api::{CancelFlag, EngineError};
use crate::model::bundled_tokenize;

use super::state::*;

impl Backend {
    pub(super) async fn hover_body(&self, params: HoverParams) -> jsonrpc::Result<Option<Hover>> {
        let uri = params.text_document_position_params.text_document.uri;
        let position = params.text_document_position_params.position;
        let encoding = self.encoding();
        // The document's own check settings: the hover scores as its check does.
        let check_settings = self.settings_for(&uri).check_settings();
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
        let markdown =
            |status: ModelStatus<'_>| hover_markdown(&unit_text, &words, status, finding.as_ref());
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
}
