//! `textDocument/documentHighlight`: on a flagged word, the context words that make the model
//! expect its suggestion (kind Read), beside the word itself (kind Text).

use tower_lsp::lsp_types::{DocumentHighlight, DocumentHighlightKind, DocumentHighlightParams};

use crate::lsp::position::{offsets_to_range, position_to_offset};

use super::state::*;

impl Backend {
    pub(super) fn document_highlights(
        &self,
        params: &DocumentHighlightParams,
    ) -> Option<Vec<DocumentHighlight>> {
        let uri = &params.text_document_position_params.text_document.uri;
        let position = params.text_document_position_params.position;
        let encoding = self.encoding();
        let documents = lock(&self.shared.documents);
        let document = documents.get(uri)?;
        let offset = position_to_offset(document.rope(), position, encoding);
        let published = lock(&self.shared.checks.published);
        // Findings of an older version would point at moved text.
        let (version, findings) = published.get(uri)?;
        if *version != document.version() {
            return None;
        }
        let finding = findings
            .iter()
            .find(|finding| finding.range.start <= offset && offset <= finding.range.end)?;
        if finding.evidence.is_empty() {
            return None;
        }
        let highlight = |range: std::ops::Range<usize>, kind| DocumentHighlight {
            range: offsets_to_range(document.rope(), range, encoding),
            kind: Some(kind),
        };
        let mut highlights = vec![highlight(
            finding.range.clone(),
            DocumentHighlightKind::TEXT,
        )];
        highlights.extend(
            finding
                .evidence
                .iter()
                .map(|word| highlight(word.range.clone(), DocumentHighlightKind::READ)),
        );
        Some(highlights)
    }
}
