//! Numeric and tokenizer parity with Hugging Face transformers, against committed golden files
//! made by `scripts/make_goldens.py`.

use std::path::{Path, PathBuf};

use biomed_lsp::model::device::{DeviceChoice, Precision, PrecisionChoice};
use biomed_lsp::model::engine::{load_bundled, load_from_directory};
use biomed_lsp::model::fill::ModelRunner;
use biomed_lsp::model::tokenizer::WordTokenizer;

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn shared_data() -> PathBuf {
    let dir = std::env::var_os("BIOMED_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_path("../shared/data"));
    assert!(
        dir.is_dir(),
        "the shared data directory {} does not exist: put the shared data beside the checkout \
         or set BIOMED_SHARED_DATA",
        dir.display()
    );
    dir
}

fn golden(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo_path("tests/golden").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ids_of(value: &serde_json::Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_u64().unwrap() as u32)
        .collect()
}

fn check_tokenizer(tokenizer: &WordTokenizer, source: &str) {
    let golden = golden("tokenizer_parity.json");
    let sentences = golden["sentences"].as_array().unwrap();
    assert!(
        sentences.len() >= 300,
        "the golden file should hold a few hundred sentences"
    );
    let mut mismatches = Vec::new();
    for sentence in sentences {
        let text = sentence["text"].as_str().unwrap();
        let expected = ids_of(&sentence["ids"]);
        let actual = tokenizer.encode_for_model(text).unwrap();
        if actual != expected {
            mismatches.push(format!(
                "{text:?}\n  expected {expected:?}\n  actual   {actual:?}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{source}: {} of {} sentences differ:\n{}",
        mismatches.len(),
        sentences.len(),
        mismatches.join("\n")
    );
}

#[test]
fn tokenizer_built_from_vocab_txt_matches_bert_tokenizer_fast() {
    let tokenizer = WordTokenizer::from_directory(&repo_path("models/biomed-mini")).unwrap();
    assert_eq!(tokenizer.vocab_len(), 28895);
    assert_eq!(tokenizer.special.mask, 4, "BiomedBERT's [MASK] is id 4");
    assert_eq!(tokenizer.special.cls, 2);
    check_tokenizer(&tokenizer, "vocab.txt");
}

#[test]
fn tokenizer_from_tokenizer_json_matches_too_and_ignores_its_fixed_padding() {
    // The shared tokenizer.json pads to 256 tokens; the loader must switch that off.
    let vocab_dir = shared_data().join("vocab/biomedbert-abstract");
    let directory = tempfile::tempdir().unwrap();
    std::fs::copy(
        vocab_dir.join("tokenizer.json"),
        directory.path().join("tokenizer.json"),
    )
    .unwrap();
    std::fs::copy(
        vocab_dir.join("tokenizer_config.json"),
        directory.path().join("tokenizer_config.json"),
    )
    .unwrap();
    let tokenizer = WordTokenizer::from_directory(directory.path()).unwrap();
    check_tokenizer(&tokenizer, "tokenizer.json");
}

fn check_logits(runner: &ModelRunner, source: &str) {
    let golden = golden("logits_parity.json");
    let vocab_ids = ids_of(&golden["vocab_ids"]);
    let mut worst = 0.0f32;
    for sentence in golden["sentences"].as_array().unwrap() {
        let text = sentence["text"].as_str().unwrap();
        let ids = ids_of(&sentence["ids"]);
        assert_eq!(
            runner.tokenizer.encode_for_model(text).unwrap(),
            ids,
            "{source}: token ids of {text:?}"
        );
        let positions: Vec<(usize, usize)> =
            (0..ids.len()).map(|token_idx| (0, token_idx)).collect();
        let logits = runner
            .logits(&[ids.clone()], &positions)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for (token_idx, row) in logits.iter().enumerate() {
            assert!(
                row.iter().all(|value| value.is_finite()),
                "{source}: non-finite logits in {text:?}"
            );
            let expected_row = sentence["logits"][token_idx].as_array().unwrap();
            for (column, &vocab_id) in vocab_ids.iter().enumerate() {
                let expected = expected_row[column].as_f64().unwrap() as f32;
                let difference = (row[vocab_id as usize] - expected).abs();
                worst = worst.max(difference);
                assert!(
                    difference <= 1e-4,
                    "{source}: {text:?} token {token_idx} id {vocab_id}: {} vs transformers {expected}",
                    row[vocab_id as usize]
                );
            }
            let (argmax, max) = row
                .iter()
                .enumerate()
                .fold((0, f32::MIN), |best, (id, &value)| {
                    if value > best.1 {
                        (id, value)
                    } else {
                        best
                    }
                });
            let expected_max = sentence["max"][token_idx].as_f64().unwrap() as f32;
            assert!(
                (max - expected_max).abs() <= 1e-4,
                "{source}: {text:?} token {token_idx}: max logit {max} vs {expected_max}"
            );
            assert_eq!(
                argmax as u64,
                sentence["argmax"][token_idx].as_u64().unwrap(),
                "{source}: {text:?} token {token_idx}: arg-max"
            );
        }
    }
    eprintln!("{source}: largest logit difference from transformers {worst:e}");
}

#[test]
fn mini_model_logits_match_transformers_from_safetensors() {
    let (runner, device) = load_from_directory(
        &repo_path("models/biomed-mini"),
        DeviceChoice::Cpu,
        PrecisionChoice::Exactly(Precision::Float),
    )
    .unwrap();
    assert_eq!(device, "cpu");
    check_logits(&runner, "model.safetensors");
}

#[test]
fn mini_model_logits_match_transformers_from_pytorch_bin() {
    // The .bin variant stores the tied decoder weight explicitly; the safetensors one does not.
    let directory = repo_path("models/biomed-mini-bin");
    assert!(
        directory.join("pytorch_model.bin").is_file()
            && !directory.join("model.safetensors").exists()
    );
    let (runner, _) = load_from_directory(
        &directory,
        DeviceChoice::Cpu,
        PrecisionChoice::Exactly(Precision::Float),
    )
    .unwrap();
    check_logits(&runner, "pytorch_model.bin");
}

#[test]
fn bundled_model_is_the_committed_mini_model() {
    let (runner, _) = load_bundled(
        DeviceChoice::Cpu,
        PrecisionChoice::Exactly(Precision::Float),
    )
    .unwrap();
    check_logits(&runner, "bundled");
}

/// Measured on the mini model (0.992 and 0.24 nats when written); the bounds leave room for other
/// CPUs and kernels.
const Q8_TOP1_AGREEMENT: f32 = 0.97;
const Q8_MAX_LOG_PROBABILITY_DIFFERENCE: f32 = 0.5;

/// 8-bit weights against f32 on the goldens' inputs, every position: how often the most probable
/// token is the same, and how far the log-probabilities of the tokens that matter (log p ≥ −10 in
/// f32) move.
#[test]
fn q8_weights_keep_the_f32_predictions() {
    let load = |precision| {
        load_from_directory(
            &repo_path("models/biomed-mini"),
            DeviceChoice::Cpu,
            PrecisionChoice::Exactly(precision),
        )
        .unwrap()
    };
    let (float, _) = load(Precision::Float);
    let (quantized, _) = load(Precision::Q8);
    assert!(
        quantized.model.precision_name().starts_with("q8 · "),
        "{}",
        quantized.model.precision_name()
    );
    let golden = golden("logits_parity.json");
    let (mut positions_seen, mut same_top, mut worst) = (0usize, 0usize, 0f32);
    for sentence in golden["sentences"].as_array().unwrap() {
        let ids = ids_of(&sentence["ids"]);
        let positions: Vec<(usize, usize)> =
            (0..ids.len()).map(|token_idx| (0, token_idx)).collect();
        let rows = [ids.clone()];
        let expected = float.log_probabilities_at(&rows, &positions).unwrap();
        let actual = quantized.log_probabilities_at(&rows, &positions).unwrap();
        for (expected, actual) in expected.iter().zip(&actual) {
            let top = |row: &[f32]| {
                (0..row.len())
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap()
            };
            positions_seen += 1;
            same_top += usize::from(top(expected) == top(actual));
            for (e, a) in expected.iter().zip(actual) {
                assert!(a.is_finite(), "non-finite q8 log-probability");
                if *e >= -10.0 {
                    worst = worst.max((e - a).abs());
                }
            }
        }
    }
    let agreement = same_top as f32 / positions_seen as f32;
    eprintln!("q8 against f32: top-1 agreement {agreement:.3} over {positions_seen} positions, largest log-probability difference {worst:.3}");
    assert!(
        agreement >= Q8_TOP1_AGREEMENT,
        "top-1 agreement {agreement}"
    );
    assert!(
        worst <= Q8_MAX_LOG_PROBABILITY_DIFFERENCE,
        "largest difference {worst}"
    );
}
