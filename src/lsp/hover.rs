//! `textDocument/hover`: the word under the cursor, scored as the check scores it; what to score
//! and show is decided in `analysis::hover`.

use std::collections::HashMap;

use tower_lsp::jsonrpc;
use tower_lsp::lsp_types::{Hover, HoverContents, HoverParams, MarkupContent, MarkupKind, Url};

use crate::analysis::abbreviations::is_abbreviation_shape;
use crate::analysis::declared_abbreviations::declared_abbreviations;
use crate::analysis::document::{defined_abbreviations, definition_of, DefinedAbbreviation};
use crate::analysis::hover::{
    abbreviation_markdown, entity_markdown, hover_explain_request, hover_markdown,
    hover_score_request, HoverEvidence, ModelStatus, HOVER_CONTEXT_SENTENCES, HOVER_EVIDENCE_WORDS,
};
use crate::context::{context_for_position, hover_unit};
use crate::document::Document;
use crate::lsp::position::{offsets_to_range, position_to_offset};
use crate::model::api::{CancelFlag, EngineError};
use crate::model::bundled_tokenize;
use crate::prose::{extract, Language, ProseOptions};

use super::diagnostics::sibling_uris;

use super::state::*;

impl Backend {
    pub(super) async fn hover_body(&self, params: HoverParams) -> jsonrpc::Result<Option<Hover>> {
        let uri = params.text_document_position_params.text_document.uri;
        let position = params.text_document_position_params.position;
        let encoding = self.encoding();
        // The document's own check settings: the hover scores as its check does.
        let settings = self.settings_for(&uri);
        let check_settings = settings.check_settings();
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
            let abbreviation =
                abbreviation_definition(&documents, &uri, &window.text[unit.clone()]).map(
                    |(defined_in, definition)| {
                        let here = defined_in == uri;
                        let on_definition = here && definition.short_range == source_range;
                        let line = documents.get(&defined_in).map_or(0, |document| {
                            document.rope().byte_to_line(definition.short_range.start) as u32
                        });
                        let file = (!here).then(|| {
                            defined_in
                                .path_segments()
                                .and_then(|mut segments| segments.next_back())
                                .unwrap_or_default()
                                .to_string()
                        });
                        abbreviation_markdown(
                            &definition.short,
                            &definition.long,
                            file.as_deref(),
                            (!on_definition).then_some(line + 1),
                        )
                    },
                );
            (
                window,
                unit,
                source_range,
                hover_range,
                finding,
                abbreviation,
            )
        };
        let (window, unit, source_range, hover_range, finding, abbreviation) = prepared;
        let unit_text = window.text[unit.clone()].to_string();
        let engine = self.current_engine();
        let label_cancel = CancelFlag::new();
        let _label_cancel_guard = CancelOnDrop(label_cancel.clone());
        let entity_label = self
            .entity_label_now(&uri, source_range, &label_cancel)
            .await;
        let entity = entity_label.and_then(|label| {
            let engine = engine.as_ref().ok()?;
            let model = engine.info().entities.as_ref()?;
            Some(entity_markdown(&label, &model.name))
        });
        let words = match &engine {
            Ok(engine) => engine.tokenize(&unit_text),
            Err(_) => bundled_tokenize(&unit_text),
        };
        // A flagged word shows its finding's evidence; another word, what supports it here.
        let finding_evidence = finding.as_ref().and_then(|finding| {
            if !finding.code.is_about_a_word() {
                return None;
            }
            let candidate = finding.suggestions.first()?;
            Some(HoverEvidence {
                candidate,
                words: &finding.evidence,
            })
        });
        let markdown = |status: ModelStatus<'_>, evidence: Option<HoverEvidence<'_>>| {
            hover_markdown(&unit_text, &words, status, finding.as_ref(), evidence)
        };
        let markdown = match engine {
            Ok(engine) => {
                let cancel = CancelFlag::new();
                let _cancel_guard = CancelOnDrop(cancel.clone());
                let stand_ins = window.stand_in_ranges();
                let request = hover_score_request(
                    window.text.clone(),
                    unit.clone(),
                    &check_settings,
                    cancel.clone(),
                );
                match engine.score(request).await {
                    Ok(scores) => match scores.first() {
                        Some(score) => {
                            let explained = match (&finding, settings.hover_evidence) {
                                (None, Some(method)) => {
                                    let request = hover_explain_request(
                                        window.text,
                                        unit,
                                        method,
                                        &check_settings,
                                        stand_ins,
                                        cancel,
                                    );
                                    match engine.explain(request).await {
                                        Ok(mut explanation) => {
                                            explanation.words.retain(|word| word.weight > 0.0);
                                            explanation.words.truncate(HOVER_EVIDENCE_WORDS);
                                            Some(explanation.words)
                                        }
                                        Err(EngineError::Cancelled) => return Ok(None),
                                        Err(error) => {
                                            tracing::warn!("hover evidence failed: {error}");
                                            None
                                        }
                                    }
                                }
                                _ => None,
                            };
                            let evidence = match &explained {
                                Some(words) => Some(HoverEvidence {
                                    candidate: &unit_text,
                                    words,
                                }),
                                None => finding_evidence,
                            };
                            markdown(
                                ModelStatus::Scored {
                                    score,
                                    display_name: &engine.info().display_name,
                                    sent_to: engine.info().sent_to.as_deref(),
                                },
                                evidence,
                            )
                        }
                        None => markdown(ModelStatus::Unavailable("no score returned"), None),
                    },
                    Err(EngineError::Cancelled) => return Ok(None),
                    Err(error) => markdown(ModelStatus::Unavailable(&error.to_string()), None),
                }
            }
            Err(None) => markdown(ModelStatus::Loading, None),
            Err(Some(failure)) => markdown(ModelStatus::Unavailable(&failure), None),
        };
        let markdown = match abbreviation {
            Some(line) => format!("{line}\n\n{markdown}"),
            None => markdown,
        };
        let markdown = match entity {
            Some(line) => format!("{line}\n\n{markdown}"),
            None => markdown,
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

/// Where `word` is defined if it is an abbreviation: in the document `uri`, else in the first of
/// the other open files of its manuscript (its folder, its language; see `sibling_uris`).
pub(super) fn abbreviation_definition(
    documents: &HashMap<Url, Document>,
    uri: &Url,
    word: &str,
) -> Option<(Url, DefinedAbbreviation)> {
    let document = documents.get(uri)?;
    if let Some(definition) = abbreviation_at(document, word) {
        return Some((uri.clone(), definition));
    }
    sibling_uris(uri, document.language(), documents)
        .into_iter()
        .find_map(|other| {
            let definition = abbreviation_at(documents.get(&other)?, word)?;
            Some((other, definition))
        })
}

/// The definition of `word` if it is an abbreviation `document` defines in its prose.
pub(super) fn abbreviation_at(document: &Document, word: &str) -> Option<DefinedAbbreviation> {
    let singular = word.strip_suffix('s').unwrap_or(word);
    if !is_abbreviation_shape(word) && !is_abbreviation_shape(singular) {
        return None;
    }
    definition_of(&document_abbreviations(document), word).cloned()
}

/// The abbreviations `document` defines (in its prose, or declared in a LaTeX preamble).
pub(super) fn document_abbreviations(document: &Document) -> Vec<DefinedAbbreviation> {
    // The whole text is copied once, and only where it is needed: plain text has no prose kept,
    // LaTeX may declare abbreviations in its preamble.
    let extracted;
    let (chunks, declared) = match (document.prose(), document.language()) {
        (Some(prose), Language::Latex) => {
            (prose.chunks(), declared_abbreviations(&document.text()))
        }
        (Some(prose), _) => (prose.chunks(), Vec::new()),
        (None, _) => {
            extracted = extract(
                &document.text(),
                Language::PlainText,
                &ProseOptions::default(),
            );
            (extracted.as_slice(), Vec::new())
        }
    };
    defined_abbreviations(chunks, &declared)
}
