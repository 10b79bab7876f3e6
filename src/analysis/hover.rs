//! The hover of a word, decided here for every client: what is scored (the word in its sentence,
//! with the check's scoring window, so that the hover and the check give one probability for one
//! word in one place) and what is shown.

use std::ops::Range;

use super::terminology::{CheckSettings, Finding};
use super::wording::{format_probability, format_share};
use crate::model::api::{
    CancelFlag, EvidenceMethod, EvidenceWord, ExplainRequest, ScoreRequest, TokenizedWord,
    WordScore, WordToScore,
};

/// The hover reads the word's own sentence: the check scores sentence by sentence.
pub const HOVER_CONTEXT_SENTENCES: usize = 0;

/// How many of the model's own proposals for the slot the hover lists.
pub const HOVER_ALTERNATIVES: usize = 5;

/// The scoring of the word at `unit` of `sentence`: the same window of tokens as the check's.
pub fn hover_score_request(
    sentence: String,
    unit: Range<usize>,
    settings: &CheckSettings,
    cancel: CancelFlag,
) -> ScoreRequest {
    ScoreRequest {
        text: sentence,
        words: vec![WordToScore {
            range: unit,
            candidates: Vec::new(),
        }],
        top_k_alternatives: HOVER_ALTERNATIVES,
        candidate_bounds_only: false,
        context_tokens: settings.score_context_tokens,
        cancel: Some(cancel),
    }
}

/// How many evidence words the hover of a word that is not flagged lists.
pub const HOVER_EVIDENCE_WORDS: usize = 3;

/// The evidence of a hovered word that is not flagged: which context words make the model expect
/// the word itself here, in the same window as its score.
pub fn hover_explain_request(
    sentence: String,
    unit: Range<usize>,
    method: EvidenceMethod,
    settings: &CheckSettings,
    skip: Vec<Range<usize>>,
    cancel: CancelFlag,
) -> ExplainRequest {
    ExplainRequest {
        candidate: sentence[unit.clone()].to_string(),
        text: sentence,
        slot: unit,
        method,
        context_tokens: settings.score_context_tokens,
        skip,
        max_words: Some(super::terminology::EVIDENCE_NEAREST_WORDS),
        cancel: Some(cancel),
    }
}

/// The evidence a hover shows: for which word, and the supporting words, strongest first.
pub struct HoverEvidence<'a> {
    pub candidate: &'a str,
    pub words: &'a [EvidenceWord],
}

/// What the hover can say about the model.
pub enum ModelStatus<'a> {
    Scored {
        score: &'a WordScore,
        display_name: &'a str,
        /// The inference server the text was sent to, when it left this machine.
        sent_to: Option<&'a str>,
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

/// The hover of a word: how the vocabulary splits it, its probability in its sentence and the
/// model's alternatives, and the finding the check made of it, if any, in the check's own words.
/// The hover's line for an abbreviation the manuscript defines: its long form and where (`line` is
/// 1-based, `file` the name of another file of the manuscript; `None` when the hover is on the
/// definition itself).
pub fn abbreviation_markdown(
    short: &str,
    long: &str,
    file: Option<&str>,
    line: Option<u32>,
) -> String {
    let place = match (file, line) {
        (Some(file), Some(line)) => format!("defined in {file}, line {line}"),
        (None, Some(line)) => format!("defined on line {line}"),
        _ => "defined here".to_string(),
    };
    format!(
        "**{}** = {} · *{place}*",
        escape_markdown(short),
        escape_markdown(long)
    )
}

/// The hover's line for a word inside an entity mention: its type and the model that found it.
pub fn entity_markdown(label: &str, model_name: &str) -> String {
    format!(
        "**{}** · *entity found by the {}*",
        escape_markdown(label),
        escape_markdown(model_name)
    )
}

pub fn hover_markdown(
    unit_text: &str,
    words: &[TokenizedWord],
    status: ModelStatus<'_>,
    finding: Option<&Finding>,
    evidence: Option<HoverEvidence<'_>>,
) -> String {
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
            sent_to,
        } => {
            // A flagged word shows the probability its finding gives: one number for one word in
            // one place, whatever the batch it was computed in.
            // (An abbreviation or variant finding has no probability: the score's stands.)
            let probability = finding
                .filter(|finding| finding.code.is_about_a_word())
                .map_or(score.log_probability, |finding| finding.log_probability)
                .exp();
            markdown.push_str(&format!(
                "p = {} in this context · {}",
                format_probability(probability),
                escape_markdown(display_name)
            ));
            if let Some(url) = sent_to {
                markdown.push_str(&format!(" · text sent to {}", escape_markdown(url)));
            }
            markdown.push('\n');
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
    if let Some(finding) = finding {
        markdown.push_str(&format!(
            "\n**{}** [{}]\n",
            escape_markdown(&finding.message),
            finding.code.as_str()
        ));
    }
    if let Some(evidence) = evidence.filter(|evidence| !evidence.words.is_empty()) {
        let words: Vec<String> = evidence
            .words
            .iter()
            .map(|word| {
                format!(
                    "**{}** {}",
                    escape_markdown(&word.word),
                    format_share(word.weight)
                )
            })
            .collect();
        markdown.push_str(&format!(
            "\nEvidence for \"{}\": {}\n",
            escape_markdown(evidence.candidate),
            words.join(" · ")
        ));
    }
    markdown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_line_says_where_the_text_was_sent() {
        let words = [TokenizedWord {
            text: "troponin".into(),
            start: 0,
            end: 8,
            pieces: vec!["troponin".into()],
            ids: vec![1],
            in_vocabulary: true,
        }];
        let score = crate::model::api::WordScore {
            range: 0..8,
            pieces: vec!["troponin".into()],
            log_probability: -1.0,
            alternatives: Vec::new(),
            candidates: Vec::new(),
        };
        let hover = |sent_to| {
            hover_markdown(
                "troponin",
                &words,
                ModelStatus::Scored {
                    score: &score,
                    display_name: "BiomedBERT",
                    sent_to,
                },
                None,
                None,
            )
        };
        let remote = hover(Some("https://gpu-box:8000/v2/models/biomedbert"));
        assert!(
            remote.contains("in this context · BiomedBERT · text sent to https://gpu-box:8000/v2/models/biomedbert"),
            "{remote}"
        );
        let local = hover(None);
        assert!(!local.contains("sent to"), "{local}");
    }

    #[test]
    fn an_abbreviation_finding_leaves_the_probability_to_the_model() {
        let words = [TokenizedWord {
            text: "LVEF".into(),
            start: 0,
            end: 4,
            pieces: vec!["lv".into(), "##ef".into()],
            ids: vec![1, 2],
            in_vocabulary: false,
        }];
        let score = crate::model::api::WordScore {
            range: 0..4,
            pieces: vec!["lv".into(), "##ef".into()],
            log_probability: (0.25f32).ln(),
            alternatives: Vec::new(),
            candidates: Vec::new(),
        };
        let finding = Finding {
            range: 0..4,
            code: crate::analysis::FindingCode::Abbreviation(
                crate::analysis::abbreviations::AbbreviationIssue::Redefined,
            ),
            severity: crate::analysis::Severity::Information,
            word: "LVEF".into(),
            message: "LVEF is defined again here".into(),
            suggestions: vec!["LVEF".into()],
            score: 0.0,
            margin_over_threshold: 0.0,
            log_probability: 0.0,
            evidence: Vec::new(),
            related: Vec::new(),
        };
        let hover = hover_markdown(
            "LVEF",
            &words,
            ModelStatus::Scored {
                score: &score,
                display_name: "mini model",
                sent_to: None,
            },
            Some(&finding),
            None,
        );
        assert!(hover.contains("p = 0.25 in this context"), "{hover}");
        assert!(hover.contains("LVEF is defined again here"), "{hover}");
    }
}
