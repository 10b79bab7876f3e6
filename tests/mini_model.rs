//! What the bundled mini model has learned: sensible whole-word fills on sentences of the kind it
//! was trained on (PubMedQA and NCBI-disease training abstracts).

use biomed_lsp::model::device::DeviceChoice;
use biomed_lsp::model::engine::load_bundled;
use biomed_lsp::model::fill::ModelRunner;
use biomed_lsp::model::{FillRequest, ScoreRequest, WordToScore};

fn runner() -> ModelRunner {
    load_bundled(DeviceChoice::Cpu).unwrap().0
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
