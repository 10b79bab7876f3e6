//! `didOpen`, `didChange` and `didClose`: the documents the server holds, edit by edit.

use tower_lsp::lsp_types::{
    DidChangeTextDocumentParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams,
};

use crate::document::Document;
use crate::lsp::position::range_to_offsets;

use super::completion::WordEdit;
use super::state::*;

impl Backend {
    /// Applies a change; returns where the cursor is when the change typed one character that
    /// ends a word (whitespace or punctuation) or wrote a whole word at once (a completion
    /// accepted), for the prefetch of the next word's slot.
    pub(super) fn did_change_body(
        &self,
        params: DidChangeTextDocumentParams,
    ) -> Option<(usize, WordEdit)> {
        let uri = params.text_document.uri;
        let encoding = self.encoding();
        if let Some(flag) = lock(&self.shared.completion_cancels).get(&uri) {
            // The text changed under a running completion: its answer is stale.
            flag.cancel();
        }
        let mut documents = lock(&self.shared.documents);
        let Some(document) = documents.get_mut(&uri) else {
            tracing::warn!("change for unknown document {uri}; ignored");
            return None;
        };
        if let Err(error) = document.advance_version(params.text_document.version) {
            tracing::warn!("change for {uri} ignored: {error}");
            return None;
        }
        let typed_one_change = params.content_changes.len() == 1;
        let mut word_ended_at = None;
        for change in params.content_changes {
            match change.range {
                None => document.replace_all(&change.text),
                Some(range) => {
                    let offsets = range_to_offsets(document.rope(), range, encoding);
                    let start = offsets.start;
                    match document.apply_edit(offsets, &change.text) {
                        Ok(()) if typed_one_change && ends_a_word(&change.text) => {
                            word_ended_at = Some((start + change.text.len(), WordEdit::Ended));
                        }
                        // A whole word written where the writer is writing (at a line's end): a
                        // completion accepted, after which a space comes next.
                        Ok(())
                            if typed_one_change
                                && is_a_whole_word(&change.text)
                                && at_line_end(document, start + change.text.len()) =>
                        {
                            word_ended_at = Some((start + change.text.len(), WordEdit::Inserted));
                        }
                        Ok(()) => {}
                        Err(error) => tracing::warn!("edit of {uri} ignored: {error}"),
                    }
                }
            }
        }
        word_ended_at
    }

    /// A document opened: keep it, with its prose extracted, and check it.
    pub(super) fn did_open_body(&self, params: DidOpenTextDocumentParams) {
        let item = params.text_document;
        let options = self.settings_for(&item.uri).prose_options();
        let document =
            Document::with_prose_options(&item.text, item.version, &item.language_id, options);
        lock(&self.shared.documents).insert(item.uri.clone(), document);
        self.schedule_sibling_checks(&item.uri);
        self.schedule_check(item.uri, false);
    }

    /// A document closed: forget it and everything about it, and clear its diagnostics.
    pub(super) async fn did_close_body(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        // The manuscript's other open files lose this one's definitions and forms.
        self.schedule_sibling_checks(&uri);
        lock(&self.shared.documents).remove(&uri);
        lock(&self.shared.manuscript_words).remove(&uri);
        lock(&self.shared.dictionary_words).remove(&uri);
        if let Some(flag) = lock(&self.shared.completion_cancels).remove(&uri) {
            flag.cancel();
        }
        if let Some(flag) = lock(&self.shared.prefetch_cancels).remove(&uri) {
            flag.cancel();
        }
        if let Some(flag) = lock(&self.shared.checks.cancels).remove(&uri) {
            flag.cancel();
        }
        lock(&self.shared.checks.ignored_words).remove(&uri);
        lock(&self.shared.checks.published).remove(&uri);
        self.forget_entities(&uri);
        // A closed document's findings would go stale: clear them.
        self.client.publish_diagnostics(uri, Vec::new(), None).await;
    }
}

/// Whether an edit's text is one typed character that ends a word: whitespace or punctuation.
/// Text of a completion item: two or more characters of a word (letters, digits, inner hyphens).
fn is_a_whole_word(text: &str) -> bool {
    text.chars().count() >= 2
        && text.chars().next().is_some_and(char::is_alphanumeric)
        && text.chars().last().is_some_and(char::is_alphanumeric)
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '\'' | '’'))
}

/// Whether nothing but a line break (or the end) follows byte `offset`.
fn at_line_end(document: &Document, offset: usize) -> bool {
    let next = document.text_in(offset..offset + 1);
    next.is_empty() || next == "\n" || next == "\r"
}

fn ends_a_word(text: &str) -> bool {
    let mut characters = text.chars();
    matches!(
        (characters.next(), characters.next()),
        (Some(character), None) if !character.is_alphanumeric()
    )
}
