//! What the bundled mini model has learned: sensible whole-word fills on sentences of the kind it
//! was trained on (PubMedQA and NCBI-disease training abstracts).

use biomed_lsp::model::device::{DeviceChoice, Precision, PrecisionChoice};
use biomed_lsp::model::engine::load_bundled;
use biomed_lsp::model::fill::ModelRunner;
use biomed_lsp::model::{FillRequest, ScoreRequest, TokenProbabilityRequest, WordToScore};

fn runner() -> ModelRunner {
    load_bundled(
        DeviceChoice::Cpu,
        PrecisionChoice::Exactly(Precision::Float),
    )
    .unwrap()
    .0
}

fn fill(runner: &ModelRunner, text: &str, top_k: usize) -> Vec<String> {
    let start = text.find("[MASK]").unwrap();
    let request = FillRequest {
        text: text.to_string(),
        slot: start..start + "[MASK]".len(),
        top_k,
        prefix: String::new(),
        min_pieces: 1,
        pll_rescoring: true,
        context_tokens: 0,
        max_pieces: 3,
        cancel: None,
        extra_words: Vec::new(),
    };
    runner
        .fill(&request)
        .unwrap()
        .into_iter()
        .map(|prediction| prediction.word)
        .collect()
}

#[test]
fn the_mini_model_recovers_frequent_disease_and_anatomy_terms() {
    let runner = runner();
    // Each expected word is a frequent collocation of the training abstracts.
    let cases = [
        (
            "Type 2 diabetes [MASK] is a risk factor for cardiovascular disease.",
            "mellitus",
        ),
        (
            "Patients with [MASK] cancer received androgen deprivation therapy.",
            "prostate",
        ),
        (
            "Duchenne muscular [MASK] is caused by mutations in the dystrophin gene.",
            "dystrophy",
        ),
        (
            "Women with [MASK] cancer carrying BRCA1 mutations were studied.",
            "breast",
        ),
        (
            "The odds [MASK] was 2.1 with a 95% confidence interval of 1.2 to 3.5.",
            "ratio",
        ),
    ];
    let mut failures = Vec::new();
    for (text, expected) in cases {
        let words = fill(&runner, text, 5);
        if !words.iter().any(|word| word == expected) {
            failures.push(format!(
                "{text}: expected {expected:?} in the top 5, got {words:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_typed_prefix_restricts_fills_to_words_starting_with_it() {
    let runner = runner();
    let text = "Acute myocardial infarction was confirmed by troponin.";
    let start = text.find("infarction").unwrap();
    let request = FillRequest {
        text: text.to_string(),
        slot: start..start + "infarction".len(),
        top_k: 5,
        prefix: "infa".into(),
        min_pieces: 1,
        pll_rescoring: true,
        context_tokens: 0,
        max_pieces: 3,
        cancel: None,
        extra_words: Vec::new(),
    };
    let predictions = runner.fill(&request).unwrap();
    assert!(!predictions.is_empty());
    assert!(
        predictions
            .iter()
            .all(|prediction| prediction.word.starts_with("infa")),
        "{predictions:?}"
    );
    assert_eq!(predictions[0].word, "infarction", "{predictions:?}");
}

#[test]
fn words_of_several_pieces_can_be_proposed_and_scored() {
    let runner = runner();
    // "infraction" is three pieces (infra ##ct ##ion); scoring it uses PLL-word-l2r over three
    // masked copies and must rank it below the in-vocabulary "infarction" in this context.
    let text = "Acute myocardial infraction was confirmed by troponin.";
    let start = text.find("infraction").unwrap();
    let request = ScoreRequest {
        text: text.to_string(),
        words: vec![WordToScore {
            range: start..start + "infraction".len(),
            candidates: vec!["infarction".into()],
        }],
        top_k_alternatives: 5,
        candidate_bounds_only: false,
        context_tokens: 0,
        cancel: None,
    };
    let scores = runner.score(&request).unwrap();
    assert_eq!(scores[0].pieces, ["infra", "##ct", "##ion"]);
    let (candidate, candidate_log_probability) = &scores[0].candidates[0];
    assert_eq!(candidate, "infarction");
    assert!(
        *candidate_log_probability > scores[0].log_probability + 2.0,
        "infarction {candidate_log_probability} should be far more probable than infraction {}",
        scores[0].log_probability
    );
}

#[test]
fn identical_rows_run_once_and_first_piece_bounds_hold() {
    let runner = runner();
    let text = "Patients with prostrate cancer received radiotherapy after surgery.";
    let start = text.find("prostrate").unwrap();
    let candidates: Vec<String> = ["prostate", "prostatic", "prosthetic", "frustrate"]
        .map(String::from)
        .to_vec();
    let request = |candidate_bounds_only| ScoreRequest {
        text: text.to_string(),
        words: vec![WordToScore {
            range: start..start + "prostrate".len(),
            candidates: candidates.clone(),
        }],
        top_k_alternatives: 0,
        candidate_bounds_only,
        context_tokens: 0,
        cancel: None,
    };
    let exact_batch = runner.score_batch(&[request(false)]).unwrap();
    let bounds_batch = runner.score_batch(&[request(true)]).unwrap();
    let exact = exact_batch.answers[0][0].clone();
    let bounds = bounds_batch.answers[0][0].clone();
    let piece_counts: Vec<usize> = candidates
        .iter()
        .map(|candidate| runner.tokenizer.word_pieces(candidate).unwrap().len())
        .collect();
    let observed_pieces = exact.pieces.len();
    // Exact: the word's k rows, plus each candidate's pieces, where all candidates of the same
    // piece count share their first (all-masked) row, and the word's first row too.
    let mut first_rows: Vec<usize> = piece_counts.clone();
    first_rows.push(observed_pieces);
    first_rows.sort_unstable();
    first_rows.dedup();
    let later_rows: usize =
        piece_counts.iter().map(|count| count - 1).sum::<usize>() + (observed_pieces - 1);
    // No single-token alternatives are asked for, so no extra single-mask row.
    assert_eq!(exact_batch.rows, first_rows.len() + later_rows);
    // Bounds: only the first rows besides the word's own.
    assert_eq!(bounds_batch.rows, first_rows.len() + (observed_pieces - 1));
    assert_eq!(bounds.log_probability, exact.log_probability);
    for (((word, bound), (_, exact_score)), pieces) in bounds
        .candidates
        .iter()
        .zip(&exact.candidates)
        .zip(&piece_counts)
    {
        if *pieces == 1 {
            assert!(
                (bound - exact_score).abs() < 1e-5,
                "{word}: {bound} vs {exact_score}"
            );
        } else {
            assert!(
                bound >= exact_score,
                "{word}: bound {bound} below {exact_score}"
            );
        }
    }
}

#[test]
fn split_forward_passes_give_the_same_logits_in_the_same_order() {
    let mut runner = runner();
    let texts = [
        "Acute myocardial infarction was confirmed by troponin.",
        "Type 2 diabetes mellitus is a risk factor.",
        "Patients with prostate cancer received radiotherapy after surgery and were followed.",
    ];
    let rows: Vec<Vec<u32>> = texts
        .iter()
        .map(|text| {
            let mut row = vec![runner.tokenizer.special.cls];
            row.extend(runner.tokenizer.encode_with_offsets(text).unwrap().0);
            row.push(runner.tokenizer.special.sep);
            row
        })
        .collect();
    // Positions in an order that is not the rows' order.
    let positions = [(2, 3), (0, 1), (1, 2), (2, 1), (0, 4)];
    let together = runner.logits(&rows, &positions).unwrap();
    runner.max_batch_tokens = 1; // one row per pass
    let split = runner.logits(&rows, &positions).unwrap();
    let together = together
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let split = split
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    assert_eq!(together.len(), positions.len());
    for (a, b) in together.iter().zip(&split) {
        let largest = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(largest < 1e-3, "split passes differ by {largest}");
    }
    // Rows of different lengths really are in different positions' answers.
    assert_ne!(together[0], together[1]);
}

#[test]
fn token_probabilities_can_be_limited_to_ranges() {
    let runner = runner();
    let text = "Acute myocardial infarction was confirmed by troponin.";
    let request = |ranges: Option<Vec<std::ops::Range<usize>>>| TokenProbabilityRequest {
        text: text.to_string(),
        top_k: 3,
        top_k_ranges: None,
        ranges,
        cancel: None,
    };
    let all = runner.token_probabilities(&request(None)).unwrap();
    let start = text.find("infarction").unwrap();
    let only = runner
        .token_probabilities(&request(Some(vec![start..start + "infarction".len()])))
        .unwrap();
    let expected: Vec<_> = all
        .iter()
        .filter(|token| token.range.start >= start && token.range.start < start + 10)
        .collect();
    assert!(!only.is_empty());
    assert_eq!(only.len(), expected.len());
    for (a, b) in only.iter().zip(expected) {
        assert_eq!(a.range, b.range);
        assert_eq!(a.id, b.id);
        assert!((a.log_probability - b.log_probability).abs() < 1e-4);
        assert_eq!(a.top.len(), 3);
    }
}
