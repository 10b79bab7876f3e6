//! Text shown to the user: hover Markdown, completion details, progress messages.

use crate::analysis::wording::format_probability;
use crate::model::api::{TokenizedWord, WordScore};

pub fn completion_detail(probability: f32, display_name: &str) -> String {
    format!("p = {} · {}", format_probability(probability), display_name)
}

/// What the hover can say about the model.
pub enum ModelStatus<'a> {
    Scored {
        score: &'a WordScore,
        display_name: &'a str,
    },
    Loading,
    Unavailable(&'a str),
}

fn escape_markdown(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(
            character,
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '<' | '>' | '#'
        ) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

fn code_span(text: &str) -> String {
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

pub fn hover_markdown(unit_text: &str, words: &[TokenizedWord], status: ModelStatus<'_>) -> String {
    let pieces: Vec<String> = words
        .iter()
        .flat_map(|word| word.pieces.iter())
        .map(|piece| code_span(piece))
        .collect();
    let is_single_token = words.len() == 1 && words[0].in_vocabulary;
    let mut markdown = format!("**{}**\n\n", escape_markdown(unit_text));
    markdown.push_str(&pieces.join(" · "));
    markdown.push_str(if is_single_token {
        " — *single vocabulary token*"
    } else {
        " — *not a single vocabulary token*"
    });
    markdown.push_str("\n\n");
    match status {
        ModelStatus::Scored {
            score,
            display_name,
        } => {
            let probability = score.log_probability.exp();
            markdown.push_str(&format!(
                "p = {} in this context · {}\n",
                format_probability(probability),
                escape_markdown(display_name)
            ));
            if !score.alternatives.is_empty() {
                markdown.push_str("\n| alternative | p |\n|---|---|\n");
                for alternative in &score.alternatives {
                    markdown.push_str(&format!(
                        "| {} | {} |\n",
                        escape_markdown(&alternative.word),
                        format_probability(alternative.probability)
                    ));
                }
            }
        }
        ModelStatus::Loading => {
            markdown.push_str("*the model is loading; probabilities follow when it is ready*\n")
        }
        ModelStatus::Unavailable(reason) => markdown.push_str(&format!(
            "*model unavailable: {}*\n",
            escape_markdown(reason)
        )),
    }
    markdown
}
