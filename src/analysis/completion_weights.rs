//! The weights of completion's ranking, one set per number of letters typed (0, 1, 2, 3 or
//! more). Written by `fit_completion` (see BENCHMARKS.md for the command and the data); do
//! not edit by hand.

use super::completion::RankingWeights;

pub const FITTED_WEIGHTS: [RankingWeights; 4] = [
    RankingWeights {
        model: 0.11740512,
        this_document: 0.301897,
        other_documents: 0.301897,
        recency: 0.11678493,
        lexicon: 0.37601498,
        english: -0.018567417,
        pieces: 0.72934896,
        after_previous_word: 1.908307,
    },
    RankingWeights {
        model: 0.25387603,
        this_document: 0.40000314,
        other_documents: 0.40000314,
        recency: 1.4005543,
        lexicon: 0.41422924,
        english: 0.003066286,
        pieces: 1.4196662,
        after_previous_word: 1.4188391,
    },
    RankingWeights {
        model: 0.2985422,
        this_document: 1.1620922,
        other_documents: 1.1620922,
        recency: 1.467876,
        lexicon: 0.23413704,
        english: 0.021189552,
        pieces: 1.3105106,
        after_previous_word: 1.0932811,
    },
    RankingWeights {
        model: 0.27138868,
        this_document: 1.2411343,
        other_documents: 1.2411343,
        recency: 1.1550266,
        lexicon: 0.29275173,
        english: 0.035533465,
        pieces: 0.9596453,
        after_previous_word: 0.80696976,
    },
];
