//! Half precision: the attention mask stays finite in f16 and bf16 (candle-transformers' BERT turns
//! it into NaN), and the logits stay close to f32. Run on the CPU so it is tested without a GPU.

use std::path::Path;
use std::sync::Arc;

use biomed_lsp::model::bert::BertModel;
use biomed_lsp::model::config::BertConfig;
use biomed_lsp::model::device::Precision;
use biomed_lsp::model::fill::ModelRunner;
use biomed_lsp::model::tokenizer::WordTokenizer;
use biomed_lsp::model::weights::WeightFile;
use candle_core::{DType, Device};

fn runner(dtype: DType) -> ModelRunner {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/biomed-mini");
    let config = BertConfig::from_file(&directory.join("config.json")).unwrap();
    let weights = WeightFile::open_in(&directory).unwrap();
    let model = BertModel::load(&weights, &config, dtype, &Device::Cpu, Precision::Float).unwrap();
    ModelRunner::new(
        model,
        Arc::new(WordTokenizer::from_directory(&directory).unwrap()),
    )
    .unwrap()
}

#[test]
fn half_precision_logits_are_finite_and_close_to_f32_with_padding_in_the_batch() {
    let reference = runner(DType::F32);
    let texts = [
        "Acute myocardial [MASK] was confirmed by troponin.",
        "Type 2 [MASK] mellitus.",
    ];
    // Two rows of different lengths: the shorter one is padded, so the mask matters.
    let rows: Vec<Vec<u32>> = texts
        .iter()
        .map(|text| reference.tokenizer.encode_for_model(text).unwrap())
        .collect();
    let positions: Vec<(usize, usize)> = rows
        .iter()
        .enumerate()
        .flat_map(|(row_idx, row)| (0..row.len()).map(move |token_idx| (row_idx, token_idx)))
        .collect();
    let expected = reference
        .logits(&rows, &positions)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    // Tolerances: f16 keeps ~3 decimal digits, bf16 ~2; logits of this model are of order 10.
    for (dtype, tolerance) in [(DType::F16, 0.05f32), (DType::BF16, 0.35f32)] {
        let actual = runner(dtype)
            .logits(&rows, &positions)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let mut worst = 0.0f32;
        for (actual_row, expected_row) in actual.iter().zip(&expected) {
            for (a, e) in actual_row.iter().zip(expected_row) {
                assert!(a.is_finite(), "{dtype:?}: non-finite logit");
                worst = worst.max((a - e).abs());
            }
        }
        assert!(
            worst <= tolerance,
            "{dtype:?}: largest difference from f32 is {worst}"
        );
        eprintln!("{dtype:?}: largest logit difference from f32 {worst}");
    }
}
