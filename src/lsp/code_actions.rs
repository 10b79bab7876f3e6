//! `textDocument/codeAction`: the quick fixes that travel with each diagnostic.

use std::collections::HashMap;

use serde_json::Value;
use tower_lsp::lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, Command, TextEdit,
    WorkspaceEdit,
};

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
            for (rank, suggestion) in suggestions.iter().enumerate() {
                let edit = TextEdit {
                    range: diagnostic.range,
                    new_text: suggestion.clone(),
                };
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: format!("Replace with \"{suggestion}\""),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic.clone()]),
                    edit: Some(WorkspaceEdit {
                        changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                        ..WorkspaceEdit::default()
                    }),
                    is_preferred: Some(rank == 0),
                    ..CodeAction::default()
                }));
            }
            if word.is_empty() {
                continue;
            }
            let command_action = |title: String, command: &str, arguments: Value| {
                CodeActionOrCommand::CodeAction(CodeAction {
                    title: title.clone(),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic.clone()]),
                    command: Some(Command {
                        title,
                        command: command.to_string(),
                        arguments: Some(vec![arguments]),
                    }),
                    ..CodeAction::default()
                })
            };
            actions.push(command_action(
                format!("Add \"{word}\" to user dictionary"),
                COMMAND_ADD_TO_DICTIONARY,
                serde_json::json!({"word": word, "scope": "user", "uri": uri}),
            ));
            if lock(&self.shared.workspace_root).is_some() {
                actions.push(command_action(
                    format!("Add \"{word}\" to workspace dictionary"),
                    COMMAND_ADD_TO_DICTIONARY,
                    serde_json::json!({"word": word, "scope": "workspace", "uri": uri}),
                ));
            }
            actions.push(command_action(
                format!("Ignore \"{word}\" in this document"),
                COMMAND_IGNORE_IN_DOCUMENT,
                serde_json::json!({"word": word, "uri": uri}),
            ));
        }
        actions
    }
}
