//! `textDocument/codeAction`: the quick fixes that travel with each diagnostic (which fixes, in
//! `analysis::fixes`).

use std::collections::HashMap;

use serde_json::Value;
use tower_lsp::lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, Command, Range, TextEdit,
    WorkspaceEdit,
};

use crate::analysis::fixes::{fixes_for, FixAction};

use super::commands::{COMMAND_ADD_TO_DICTIONARY, COMMAND_IGNORE_IN_DOCUMENT};
use super::state::*;

impl Backend {
    pub(super) fn code_actions(&self, params: &CodeActionParams) -> Vec<CodeActionOrCommand> {
        let uri = &params.text_document.uri;
        let mut actions = Vec::new();
        for diagnostic in &params.context.diagnostics {
            if diagnostic.source.as_deref() != Some("biomed-lsp") {
                continue;
            }
            let Some(data) = &diagnostic.data else {
                continue;
            };
            let word = data["word"].as_str().unwrap_or_default().to_string();
            let suggestions: Vec<String> = data["suggestions"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| item.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let has_workspace = self.folder_of(uri).is_some();
            // A fix made at several places (a variant form, a long form written out again).
            let same_fix_at: Vec<Range> = data["sameFixAt"]
                .as_array()
                .map(|ranges| {
                    ranges
                        .iter()
                        .filter_map(|range| serde_json::from_value(range.clone()).ok())
                        .collect()
                })
                .unwrap_or_default();
            for fix in fixes_for(&word, &suggestions, has_workspace) {
                let mut action = CodeAction {
                    title: fix.title.clone(),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic.clone()]),
                    ..CodeAction::default()
                };
                let command = |command: &str, arguments: Value| Command {
                    title: fix.title.clone(),
                    command: command.to_string(),
                    arguments: Some(vec![arguments]),
                };
                match fix.action {
                    FixAction::Replace { with, preferred } => {
                        let everywhere = preferred && !same_fix_at.is_empty();
                        let ranges = std::iter::once(diagnostic.range)
                            .chain(same_fix_at.iter().copied().filter(|_| everywhere));
                        let edits: Vec<TextEdit> = ranges
                            .map(|range| TextEdit {
                                range,
                                new_text: with.clone(),
                            })
                            .collect();
                        if everywhere {
                            action.title = format!("{} at all {} places", fix.title, edits.len());
                        }
                        action.edit = Some(WorkspaceEdit {
                            changes: Some(HashMap::from([(uri.clone(), edits)])),
                            ..WorkspaceEdit::default()
                        });
                        action.is_preferred = Some(preferred);
                    }
                    FixAction::AddToDictionary { word, scope } => {
                        action.command = Some(command(
                            COMMAND_ADD_TO_DICTIONARY,
                            serde_json::json!({"word": word, "scope": scope.as_str(), "uri": uri}),
                        ));
                    }
                    FixAction::IgnoreInDocument { word } => {
                        action.command = Some(command(
                            COMMAND_IGNORE_IN_DOCUMENT,
                            serde_json::json!({"word": word, "uri": uri}),
                        ));
                    }
                }
                actions.push(CodeActionOrCommand::CodeAction(action));
            }
        }
        actions
    }
}
