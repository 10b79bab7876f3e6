//! `textDocument/definition`: from an abbreviation to where the manuscript defines it.

use tower_lsp::lsp_types::{GotoDefinitionParams, GotoDefinitionResponse, Location};

use crate::context::{context_for_position, hover_unit};
use crate::lsp::hover::abbreviation_definition;
use crate::lsp::position::{offsets_to_range, position_to_offset};

use super::state::*;

impl Backend {
    pub(super) fn definition(
        &self,
        params: &GotoDefinitionParams,
    ) -> Option<GotoDefinitionResponse> {
        let uri = &params.text_document_position_params.text_document.uri;
        let position = params.text_document_position_params.position;
        let encoding = self.encoding();
        let documents = lock(&self.shared.documents);
        let document = documents.get(uri)?;
        let offset = position_to_offset(document.rope(), position, encoding);
        let window = context_for_position(document, offset, 0)?;
        let unit = hover_unit(&window.text, window.to_text(offset)?)?;
        let (defined_in, definition) =
            abbreviation_definition(&documents, uri, &window.text[unit])?;
        let rope = documents.get(&defined_in)?.rope();
        Some(GotoDefinitionResponse::Scalar(Location {
            range: offsets_to_range(rope, definition.short_range, encoding),
            uri: defined_in,
        }))
    }
}
