//! The weights of completion's ranking. Written by `fit_completion` (see BENCHMARKS.md for the
//! command and the data); do not edit by hand.

use super::completion::RankingWeights;

pub const FITTED_WEIGHTS: RankingWeights = RankingWeights {
    model: 0.2836,
    this_document: 0.578,
    other_documents: 0.578,
    recency: 1.0851,
    lexicon: 0.3434,
    english: -0.0067,
    pieces: 1.236,
    after_previous_word: 1.3709,
};
