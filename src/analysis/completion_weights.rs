//! The weights of completion's ranking. Written by `fit_completion` (see BENCHMARKS.md for the
//! command and the data); do not edit by hand.

use super::completion::RankingWeights;

pub const FITTED_WEIGHTS: RankingWeights = RankingWeights {
    model: 0.28360936,
    this_document: 0.5779793,
    other_documents: 0.5779793,
    recency: 1.0850596,
    lexicon: 0.34341878,
    english: -0.0066725845,
    pieces: 1.2359966,
    after_previous_word: 1.370917,
};
