//! The weights of completion's ranking. Written by `fit_completion` (see BENCHMARKS.md for the
//! command and the data); do not edit by hand.

use super::completion::RankingWeights;

pub const FITTED_WEIGHTS: RankingWeights = RankingWeights {
    model: 0.2699115,
    this_document: 0.5616173,
    other_documents: 0.5616173,
    recency: 1.143991,
    lexicon: 0.3089752,
    english: 0.0055368845,
    pieces: 1.1571863,
    after_previous_word: 1.4020904,
};
