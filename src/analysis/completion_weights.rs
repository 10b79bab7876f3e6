//! The weights of completion's ranking. Written by `fit_completion` (see BENCHMARKS.md for the
//! command and the data); do not edit by hand.

use super::completion::RankingWeights;

pub const FITTED_WEIGHTS: RankingWeights = RankingWeights {
    model: 0.3798873,
    this_document: 0.54535395,
    other_documents: 0.54535395,
    recency: 1.1360512,
    lexicon: 0.36614025,
    pieces: 1.5978597,
};
