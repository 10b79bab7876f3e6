//! The fixes offered for a finding, decided here for every client: replace the word with each
//! suggestion (the first preferred), accept it in a dictionary, or ignore it in the document.

/// Where an accepted word is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DictionaryScope {
    User,
    Workspace,
}

impl DictionaryScope {
    pub fn as_str(self) -> &'static str {
        match self {
            DictionaryScope::User => "user",
            DictionaryScope::Workspace => "workspace",
        }
    }
}

/// What a fix does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FixAction {
    Replace {
        with: String,
        preferred: bool,
    },
    AddToDictionary {
        word: String,
        scope: DictionaryScope,
    },
    IgnoreInDocument {
        word: String,
    },
}

/// A fix with the title a person reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub action: FixAction,
}

/// The fixes of a finding on `word` with these suggestions; the workspace dictionary is offered
/// only when there is a workspace to hold it.
pub fn fixes_for(word: &str, suggestions: &[String], has_workspace: bool) -> Vec<Fix> {
    let mut fixes: Vec<Fix> = suggestions
        .iter()
        .enumerate()
        .map(|(rank, suggestion)| Fix {
            title: format!("Replace with \"{suggestion}\""),
            action: FixAction::Replace {
                with: suggestion.clone(),
                preferred: rank == 0,
            },
        })
        .collect();
    if word.is_empty() {
        return fixes;
    }
    let mut scopes = vec![DictionaryScope::User];
    if has_workspace {
        scopes.push(DictionaryScope::Workspace);
    }
    for scope in scopes {
        fixes.push(Fix {
            title: format!("Add \"{word}\" to {} dictionary", scope.as_str()),
            action: FixAction::AddToDictionary {
                word: word.to_string(),
                scope,
            },
        });
    }
    fixes.push(Fix {
        title: format!("Ignore \"{word}\" in this document"),
        action: FixAction::IgnoreInDocument {
            word: word.to_string(),
        },
    });
    fixes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_come_first_then_dictionaries_then_ignoring() {
        let titles =
            |fixes: Vec<Fix>| -> Vec<String> { fixes.into_iter().map(|fix| fix.title).collect() };
        let suggestions = ["infarction".to_string(), "infraction".to_string()];
        assert_eq!(
            titles(fixes_for("infraction", &suggestions[..1], true)),
            [
                "Replace with \"infarction\"",
                "Add \"infraction\" to user dictionary",
                "Add \"infraction\" to workspace dictionary",
                "Ignore \"infraction\" in this document"
            ]
        );
        let fixes = fixes_for("infraction", &suggestions, false);
        assert_eq!(
            fixes[1].action,
            FixAction::Replace {
                with: "infraction".to_string(),
                preferred: false
            }
        );
        assert!(!titles(fixes)
            .iter()
            .any(|title| title.contains("workspace")));
        assert!(fixes_for("", &[], true).is_empty());
    }
}
