//! Whether two forms of a term-variant candidate name the same thing in this manuscript, decided
//! by the model's contextual embeddings: each form's occurrences are masked and the embedding of
//! the slot (the mean of the last layers at the `[MASK]`: what the context says belongs there) is
//! averaged over them; the two means, less the mean slot of words spread over the manuscript
//! (BERT's vectors share a large common direction), must point the same way: `tumour` and `tumor`
//! are written in the same contexts, two terms one letter apart mostly are not. The threshold and
//! the number of occurrences it needs are fitted on labelled pairs by `examples/eval_term_pairs.rs`.

use std::collections::HashMap;
use std::ops::Range;

use super::document::DocumentSentence;
use super::terminology::{SentenceCache, TermScorer};
use crate::model::embedding::{cosine_similarity, mean_vector, EmbedRequest};
use crate::model::CancelFlag;

/// The centred slot similarity two forms need to count as one term. Fitted on the develop half of
/// `data/term-pairs/labelled_pairs.tsv` (spelling and hyphenation variants against confusable and
/// near-concept pairs) by `eval_term_pairs`, which reports the test half.
pub const SAME_TERM_MIN_SIMILARITY: f32 = 0.10;
/// Occurrences of a form read, at most (its first ones).
pub const OCCURRENCES_PER_FORM: usize = 8;
/// Occurrences each form needs before the embeddings may veto a pair: from one context each the
/// decision is no better than chance (ROC AUC 0.49 on the labelled pairs), from four 0.69, from
/// up to eight 0.76 (`eval_term_pairs --occurrences N`). With fewer the rules decide alone.
pub const OCCURRENCES_TO_DECIDE: usize = 4;
/// Words of the manuscript whose masked slots make the centre.
pub const REFERENCE_SLOTS: usize = 32;

/// One form's places: (sentence index, byte range in the sentence's text).
pub type Places<'a> = &'a [(usize, Range<usize>)];
type FormPlaces = Vec<(usize, Range<usize>)>;

/// Decides whether a minority form names the same thing as its group's majority form.
pub trait SameTermJudge {
    fn same_term(&mut self, majority: Places, minority: Places) -> bool;
}

/// Without a model every candidate the rules pair counts (an inference server gives no hidden
/// states; tests of the rules alone).
pub struct EveryCandidate;

impl SameTermJudge for EveryCandidate {
    fn same_term(&mut self, _majority: Places, _minority: Places) -> bool {
        true
    }
}

/// The reference slots for the centre: from sentences spread evenly over `sentences`, the middle
/// word of at least four letters of each, masked; at most `count`.
pub fn reference_requests<'a>(
    sentences: impl ExactSizeIterator<Item = &'a str>,
    count: usize,
) -> Vec<EmbedRequest> {
    let step = sentences.len().div_ceil(count.max(1)).max(1);
    sentences
        .step_by(step)
        .filter_map(|text| {
            let words: Vec<Range<usize>> = super::abbreviations::words(text)
                .into_iter()
                .filter(|(_, word)| word.chars().filter(|c| c.is_alphabetic()).count() >= 4)
                .map(|(range, _)| range)
                .collect();
            let span = words.get(words.len() / 2)?.clone();
            Some(EmbedRequest {
                text: text.to_string(),
                span,
                mask_span: true,
                cancel: None,
            })
        })
        .take(count)
        .collect()
}

/// The judge that asks the model (see the module's comment). When the model gives no
/// embeddings, or fails, every candidate counts, as without a model.
pub struct EmbeddingJudge<'a> {
    scorer: &'a dyn TermScorer,
    cache: Option<&'a SentenceCache>,
    sentences: &'a [DocumentSentence],
    /// Not yet computed, or `Some(None)` when the model gives none.
    centre: Option<Option<Vec<f32>>>,
    /// Each form's mean slot embedding, by the places read (`None`: the model gave none).
    forms: HashMap<FormPlaces, Option<Vec<f32>>>,
    /// Set on every request: a cancelled check's embeddings are not computed.
    cancel: Option<CancelFlag>,
}

impl<'a> EmbeddingJudge<'a> {
    pub fn new(
        scorer: &'a dyn TermScorer,
        cache: Option<&'a SentenceCache>,
        sentences: &'a [DocumentSentence],
    ) -> Self {
        Self {
            scorer,
            cache,
            sentences,
            centre: None,
            forms: HashMap::new(),
            cancel: None,
        }
    }

    /// The judge's requests carry `cancel`.
    pub fn cancelled_by(mut self, cancel: Option<&CancelFlag>) -> Self {
        self.cancel = cancel.cloned();
        self
    }

    /// The mean slot embedding of these requests; `None` when the model gives none.
    fn mean_slot(&self, requests: Vec<EmbedRequest>) -> Option<Vec<f32>> {
        let model_id = self.scorer.model_id();
        let mut vectors = Vec::with_capacity(requests.len());
        let mut missing = Vec::new();
        for mut request in requests {
            request.cancel = self.cancel.clone();
            match self
                .cache
                .and_then(|cache| cache.slot_embedding(model_id, &request.text, &request.span))
            {
                Some(vector) => vectors.push(vector),
                None => missing.push(request),
            }
        }
        if !missing.is_empty() {
            let answers = self.scorer.embed(missing.clone()).ok()??.answers;
            if answers.len() != missing.len() {
                return None;
            }
            for (request, vector) in missing.iter().zip(answers) {
                if let Some(cache) = self.cache {
                    cache.store_slot_embedding(model_id, &request.text, &request.span, &vector);
                }
                vectors.push(vector);
            }
        }
        (!vectors.is_empty()).then(|| mean_vector(&vectors))
    }

    fn centre(&mut self) -> Option<Vec<f32>> {
        if self.centre.is_none() {
            let requests = reference_requests(
                self.sentences
                    .iter()
                    .map(|sentence| sentence.check.text.as_str()),
                REFERENCE_SLOTS,
            );
            self.centre = Some(self.mean_slot(requests));
        }
        self.centre.clone().flatten()
    }

    fn form(&mut self, places: Places) -> Option<Vec<f32>> {
        let key: FormPlaces = places.iter().take(OCCURRENCES_PER_FORM).cloned().collect();
        if let Some(vector) = self.forms.get(&key) {
            return vector.clone();
        }
        let requests = key
            .iter()
            .filter_map(|(sentence, span)| {
                let text = &self.sentences.get(*sentence)?.check.text;
                text.get(span.clone())?;
                Some(EmbedRequest {
                    text: text.clone(),
                    span: span.clone(),
                    mask_span: true,
                    cancel: None,
                })
            })
            .collect();
        let vector = self.mean_slot(requests);
        self.forms.insert(key, vector.clone());
        vector
    }

    /// The centred slot similarity of two forms; `None` without embeddings.
    pub fn similarity(&mut self, a: Places, b: Places) -> Option<f32> {
        let centre = self.centre()?;
        let centred = |vector: Vec<f32>| -> Vec<f32> {
            vector
                .iter()
                .zip(&centre)
                .map(|(value, mean)| value - mean)
                .collect()
        };
        let a = centred(self.form(a)?);
        let b = centred(self.form(b)?);
        Some(cosine_similarity(&a, &b))
    }
}

impl SameTermJudge for EmbeddingJudge<'_> {
    fn same_term(&mut self, majority: Places, minority: Places) -> bool {
        if majority.len().min(minority.len()) < OCCURRENCES_TO_DECIDE {
            return true;
        }
        self.similarity(majority, minority)
            .is_none_or(|similarity| similarity >= SAME_TERM_MIN_SIMILARITY)
    }
}
