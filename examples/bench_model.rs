//! Benchmark of the model engine: fill-mask latency and batched throughput on CPU, printed as JSON
//! lines for `scripts/bench_model.py`, which runs transformers on the same inputs and prints the
//! side-by-side table.
//!
//! cargo run --release --example bench_model -- --model DIR --input texts.json --repeats 20
//!     [--precision f32|q8] [--no-rescoring]

use std::path::PathBuf;
use std::time::Instant;

use biomed_lsp::model::device::{DeviceChoice, PrecisionChoice};
use biomed_lsp::model::engine::load_from_directory;
use biomed_lsp::model::FillRequest;

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

fn time_ms(repeats: usize, mut run: impl FnMut()) -> f64 {
    run(); // warm-up
    median_ms(
        (0..repeats)
            .map(|_| {
                let started = Instant::now();
                run();
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    )
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|arg| arg == name)
            .and_then(|index| args.get(index + 1))
            .cloned()
    };
    let model_dir =
        PathBuf::from(value("--model").ok_or_else(|| anyhow::anyhow!("--model DIR is required"))?);
    let input = value("--input").ok_or_else(|| anyhow::anyhow!("--input FILE is required"))?;
    let repeats: usize = value("--repeats").unwrap_or_else(|| "20".into()).parse()?;
    let inputs: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&input)?)?;

    let precision: PrecisionChoice = value("--precision")
        .unwrap_or_else(|| "f32".into())
        .parse()?;
    let (runner, device) = load_from_directory(&model_dir, DeviceChoice::Cpu, precision)?;
    eprintln!("bench_model: {} on {device}", model_dir.display());
    println!(
        "{}",
        serde_json::json!({"kind": "precision", "name": runner.model.precision_name()})
    );

    for case in inputs["latency"].as_array().into_iter().flatten() {
        let text = case["text"].as_str().unwrap_or_default().to_string();
        let Some(slot_start) = text.find("[MASK]") else {
            continue;
        };
        let slot = slot_start..slot_start + "[MASK]".len();
        let ids = runner.tokenizer.encode_for_model(&text)?;
        let mask_position = ids
            .iter()
            .position(|&id| id == runner.tokenizer.special.mask)
            .unwrap_or(0);
        let forward_ms = time_ms(repeats, || {
            runner
                .logits(&[ids.clone()], &[(0, mask_position)])
                .expect("forward pass");
        });
        let request = |max_pieces: usize, pll_rescoring: bool| FillRequest {
            text: text.clone(),
            slot: slot.clone(),
            top_k: 10,
            prefix: String::new(),
            min_pieces: 1,
            max_pieces,
            pll_rescoring,
            context_tokens: 0,
            cancel: None,
            extra_words: Vec::new(),
        };
        let fill_one_piece_ms = time_ms(repeats, || {
            runner.fill(&request(1, false)).expect("fill");
        });
        let fill_whole_words_ms = time_ms(repeats, || {
            runner.fill(&request(3, false)).expect("fill");
        });
        let fill_whole_words_rescored_ms = if args.iter().any(|arg| arg == "--no-rescoring") {
            f64::NAN
        } else {
            time_ms(repeats.div_ceil(4).max(2), || {
                runner.fill(&request(3, true)).expect("fill");
            })
        };
        println!(
            "{}",
            serde_json::json!({"kind": "latency", "tokens": ids.len(), "forward_ms": forward_ms,
                "fill_one_piece_ms": fill_one_piece_ms, "fill_whole_words_ms": fill_whole_words_ms,
                "fill_whole_words_rescored_ms": fill_whole_words_rescored_ms})
        );
    }

    for case in inputs["throughput"].as_array().into_iter().flatten() {
        let texts: Vec<String> = case["texts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        let rows: Vec<Vec<u32>> = texts
            .iter()
            .map(|text| runner.tokenizer.encode_for_model(text))
            .collect::<Result<_, _>>()?;
        // One MLM-head position per row (the mask a fill request asks about).
        let positions: Vec<(usize, usize)> = rows
            .iter()
            .enumerate()
            .map(|(row, ids)| (row, ids.len() / 2))
            .collect();
        let n_tokens: usize = rows.iter().map(Vec::len).sum();
        let batch_ms = time_ms(repeats.div_ceil(4).max(2), || {
            runner.logits(&rows, &positions).expect("forward pass");
        });
        println!(
            "{}",
            serde_json::json!({"kind": "throughput", "batch": rows.len(), "tokens": n_tokens, "batch_ms": batch_ms,
                "tokens_per_s": n_tokens as f64 / (batch_ms / 1000.0)})
        );
    }
    Ok(())
}
