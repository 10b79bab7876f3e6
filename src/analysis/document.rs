//! A whole manuscript through the terminology check: its extracted sentences, stand-ins skipped,
//! switches and ignored words honoured, findings mapped back to exact source ranges.

use std::ops::Range;

use super::switches::is_disabled;
use super::terminology::{
    check_sentences_with, CheckError, CheckStatistics, Finding, SentenceCache, SentenceCheckInputs,
    SentenceToCheck, TermScorer,
};
use crate::model::CancelFlag;
use crate::prose::{split_sentences, ProseChunk, SegmentKind};

/// One sentence of a document, as the checker receives it, and where it sits in the prose.
#[derive(Clone, Debug, PartialEq)]
pub struct DocumentSentence {
    pub check: SentenceToCheck,
    pub chunk_index: usize,
    /// The sentence's range in its chunk's prose text.
    pub prose_range: Range<usize>,
    /// The sentence's range in the source.
    pub source_range: Range<usize>,
}

/// The sentences of extracted prose; stand-ins (a formula's `X`, a reference's `1`) are marked
/// as ranges to skip, so they are never flagged.
pub fn document_sentences(chunks: &[ProseChunk]) -> Vec<DocumentSentence> {
    let mut sentences = Vec::new();
    for (chunk_index, chunk) in chunks.iter().enumerate() {
        for sentence in split_sentences(chunk, chunk_index) {
            let Some(text) = chunk.text.get(sentence.prose_range.clone()) else {
                continue;
            };
            let skip = chunk
                .segments
                .iter()
                .filter(|segment| {
                    segment.kind == SegmentKind::StandIn && !segment.prose_range.is_empty()
                })
                .filter(|segment| {
                    segment.prose_range.start < sentence.prose_range.end
                        && sentence.prose_range.start < segment.prose_range.end
                })
                .map(|segment| {
                    segment.prose_range.start.max(sentence.prose_range.start)
                        - sentence.prose_range.start
                        ..segment.prose_range.end.min(sentence.prose_range.end)
                            - sentence.prose_range.start
                })
                .collect();
            sentences.push(DocumentSentence {
                check: SentenceToCheck {
                    text: text.to_string(),
                    skip,
                },
                chunk_index,
                prose_range: sentence.prose_range.clone(),
                source_range: sentence.source_range.clone(),
            });
        }
    }
    sentences
}

/// What to leave out of a document's findings.
#[derive(Clone, Debug, Default)]
pub struct Suppressions {
    /// Source ranges switched off in the document (`% biomed-lsp: disable` …).
    pub disabled: Vec<Range<usize>>,
    /// Words the user chose to ignore in this document (compared case-insensitively).
    pub ignored_words: Vec<String>,
}

impl Suppressions {
    fn suppresses(&self, finding: &Finding) -> bool {
        let word = finding.word.to_lowercase();
        is_disabled(&self.disabled, &finding.range)
            || self
                .ignored_words
                .iter()
                .any(|ignored| ignored.to_lowercase() == word)
    }
}

/// Checks the sentences of a document (sentences already in the cache are not scored again);
/// findings carry source byte ranges. See [`check_sentences_with`] for `cancel` and
/// `on_progress(done, total)`.
#[allow(clippy::too_many_arguments)]
pub fn check_document(
    scorer: &dyn TermScorer,
    chunks: &[ProseChunk],
    sentences: &[DocumentSentence],
    inputs: &SentenceCheckInputs,
    suppressions: &Suppressions,
    cache: Option<&SentenceCache>,
    cancel: Option<&CancelFlag>,
    statistics: &mut CheckStatistics,
    on_progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Finding>, CheckError> {
    let checks: Vec<&SentenceToCheck> = sentences.iter().map(|sentence| &sentence.check).collect();
    let per_sentence = check_sentences_with(
        scorer,
        &checks,
        inputs,
        cache,
        cancel,
        statistics,
        on_progress,
    )?;
    let mut findings = Vec::new();
    for (sentence, sentence_findings) in sentences.iter().zip(per_sentence) {
        let chunk = &chunks[sentence.chunk_index];
        let to_source = |range: &Range<usize>| {
            chunk.source_range_of(
                sentence.prose_range.start + range.start..sentence.prose_range.start + range.end,
            )
        };
        for mut finding in sentence_findings {
            finding.range = to_source(&finding.range);
            for evidence in &mut finding.evidence {
                evidence.range = to_source(&evidence.range);
            }
            if !suppressions.suppresses(&finding) {
                findings.push(finding);
            }
        }
    }
    Ok(findings)
}
