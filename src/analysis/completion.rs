//! Completion and fill, decided here for the server and the command line: what the model is asked
//! to fill in a slot, and how its answers become the words proposed.

use std::ops::Range;

use super::wording::match_case;
use crate::context::{CompletionSlot, SlotKind};
use crate::model::api::{CancelFlag, FillRequest, WordPrediction};

/// Tokens of context around a completion slot: half the engine's window, so that a keystroke's
/// forward pass stays near 100 ms on a CPU with BERT-base.
pub const COMPLETION_CONTEXT_TOKENS: usize = 32;

/// What the user's settings say about completion.
#[derive(Clone, Debug, PartialEq)]
pub struct CompletionSettings {
    pub top_k: usize,
    pub max_pieces: usize,
    /// Proposals less probable than this are left out.
    pub min_probability: f32,
}

/// A word proposed at the slot, in the order of `rank`.
#[derive(Clone, Debug, PartialEq)]
pub struct CompletionProposal {
    /// The word, capitalised like the prefix typed.
    pub word: String,
    pub probability: f32,
    pub rank: usize,
    /// What clients filter on: the text between the slot's start and the cursor, followed by
    /// the word (for a placeholder, the placeholder itself must not hide every item).
    pub filter_text: String,
}

/// The fill of a completion slot: whole words of up to `max_pieces` pieces starting with the typed
/// prefix, ranked in one forward pass (a keystroke cannot wait for PLL rescoring's k−1 more rows
/// per candidate on a CPU), in a narrow window.
pub fn completion_request(
    text: String,
    slot: &CompletionSlot,
    settings: &CompletionSettings,
    cancel: CancelFlag,
) -> FillRequest {
    FillRequest {
        text,
        slot: slot.range.clone(),
        top_k: settings.top_k,
        prefix: slot.prefix.clone(),
        min_pieces: 1,
        max_pieces: settings.max_pieces,
        pll_rescoring: false,
        context_tokens: COMPLETION_CONTEXT_TOKENS,
        cancel: Some(cancel),
    }
}

/// The proposals of a completion, from the model's predictions for the slot of `window_text`.
pub fn completion_proposals(
    predictions: &[WordPrediction],
    window_text: &str,
    slot: &CompletionSlot,
    settings: &CompletionSettings,
) -> Vec<CompletionProposal> {
    let placeholder_text = window_text.get(slot.range.clone()).unwrap_or_default();
    predictions
        .iter()
        .filter(|prediction| prediction.probability >= settings.min_probability)
        .enumerate()
        .map(|(rank, prediction)| {
            let word = match_case(&prediction.word, &slot.prefix);
            let filter_text = match slot.kind {
                SlotKind::Placeholder => format!("{placeholder_text}{word}"),
                SlotKind::Word => word.clone(),
            };
            CompletionProposal {
                word,
                probability: prediction.probability,
                rank,
                filter_text,
            }
        })
        .collect()
}

/// The fill of a `[MASK]` group for the `fill` command, where exactness beats speed: a single mask
/// is any whole word of 1..=`max_pieces` pieces, a group of n masks a word of n pieces, rescored
/// with PLL-word-l2r in the engine's whole window.
pub fn mask_fill_request(
    text: String,
    slot: Range<usize>,
    n_masks: usize,
    top_k: usize,
    max_pieces: usize,
) -> FillRequest {
    FillRequest {
        text,
        slot,
        top_k,
        prefix: String::new(),
        min_pieces: n_masks,
        max_pieces: if n_masks == 1 { max_pieces } else { n_masks },
        pll_rescoring: true,
        context_tokens: 0,
        cancel: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prediction(word: &str, probability: f32) -> WordPrediction {
        WordPrediction {
            word: word.to_string(),
            probability,
            pieces: vec![word.to_string()],
        }
    }

    #[test]
    fn proposals_keep_the_prefix_case_drop_improbable_words_and_filter_placeholders() {
        let settings = CompletionSettings {
            top_k: 10,
            max_pieces: 2,
            min_probability: 0.01,
        };
        let predictions = [
            prediction("infarction", 0.7),
            prediction("infection", 0.2),
            prediction("infusion", 0.001),
        ];
        let typed = CompletionSlot {
            range: 6..9,
            prefix: "Inf".to_string(),
            kind: SlotKind::Word,
        };
        let proposals = completion_proposals(&predictions, "Acute Inf", &typed, &settings);
        let words: Vec<(&str, usize, &str)> = proposals
            .iter()
            .map(|proposal| {
                (
                    proposal.word.as_str(),
                    proposal.rank,
                    proposal.filter_text.as_str(),
                )
            })
            .collect();
        assert_eq!(
            words,
            [
                ("Infarction", 0, "Infarction"),
                ("Infection", 1, "Infection")
            ]
        );
        let placeholder = CompletionSlot {
            range: 6..12,
            prefix: String::new(),
            kind: SlotKind::Placeholder,
        };
        let proposals = completion_proposals(&predictions, "Acute [MASK]", &placeholder, &settings);
        assert_eq!(proposals[0].filter_text, "[MASK]infarction");
        let request = completion_request(
            "Acute Inf".to_string(),
            &typed,
            &settings,
            CancelFlag::new(),
        );
        assert_eq!(
            (
                request.context_tokens,
                request.pll_rescoring,
                request.prefix.as_str()
            ),
            (COMPLETION_CONTEXT_TOKENS, false, "Inf")
        );
    }
}
