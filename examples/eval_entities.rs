//! Measures an entity tagger as the server runs it, sentence by sentence: entity-level precision,
//! recall and F1 (exact span) on the NCBI-disease develop and test abstracts, and what tagging
//! costs per 1,000 words.
//!
//! cargo run --release --example eval_entities -- [--model M] [--entities-model E]
//!     [--precision P] [--corpus DIR] [--rounds N]
//!
//! `--model` is the fill-mask model (default `bundled`: the tagger's encoder is compared with it
//! and shared when the same), `--entities-model` the token-classification checkpoint (default
//! `bundled`, the disease tagger `scripts/train_entity_model.py` makes), `--precision` as the
//! server's setting (default auto), `--corpus` the NCBI-disease directory (default
//! `../shared/data/corpus/ncbi_disease`). Cost: every test abstract tagged sentence by sentence
//! (as the editor asks), `--rounds` times (default 3), the best round reported; the engine's
//! per-sentence cache is not used, so this is the cost of a cold document.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use biomed_lsp::model::engine::load_model;
use biomed_lsp::model::entities::EntityRequest;
use biomed_lsp::model::{CancelFlag, ModelOptions};

/// One abstract: its title and text joined by a space (the corpus's offsets count that way) and
/// its disease mentions.
struct Document {
    text: String,
    mentions: Vec<Range<usize>>,
}

fn read_corpus(path: &Path) -> anyhow::Result<Vec<Document>> {
    let corpus =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut documents: Vec<Document> = Vec::new();
    for line in corpus.lines() {
        let mut bars = line.splitn(3, '|');
        match (bars.next(), bars.next(), bars.next()) {
            (Some(_), Some("t"), Some(title)) => documents.push(Document {
                text: title.to_string(),
                mentions: Vec::new(),
            }),
            (Some(_), Some("a"), Some(text)) => {
                if let Some(document) = documents.last_mut() {
                    document.text.push(' ');
                    document.text.push_str(text);
                }
            }
            _ => {
                let fields: Vec<&str> = line.split('\t').collect();
                if fields.len() >= 5 {
                    let (start, end): (usize, usize) = (fields[1].parse()?, fields[2].parse()?);
                    let Some(document) = documents.last_mut() else {
                        bail!("{}: a mention before any abstract", path.display());
                    };
                    // Offsets count characters; the corpus is ASCII but for a few letters.
                    let byte = |chars: usize| {
                        document
                            .text
                            .char_indices()
                            .nth(chars)
                            .map_or(document.text.len(), |(at, _)| at)
                    };
                    let span = byte(start)..byte(end);
                    // (A few mentions carry spaces past their span in the mention column.)
                    if document.text.get(span.clone()).map(str::trim) != Some(fields[3].trim()) {
                        bail!(
                            "{}: mention {:?} at {start}..{end} reads {:?}",
                            path.display(),
                            fields[3],
                            document.text.get(span)
                        );
                    }
                    document.mentions.push(span);
                }
            }
        }
    }
    Ok(documents)
}

/// Entity-level precision, recall and F1 of the tagger on `documents`, a predicted mention
/// counting only with the exact span. A gold mention that ends inside a word ("cancer" in
/// "cancers") cannot be matched by a tagger of words: it counts as missed.
fn evaluate(
    runner: &biomed_lsp::model::fill::ModelRunner,
    documents: &[Document],
) -> anyhow::Result<(f64, f64, f64)> {
    // Sentence by sentence, as the editor asks.
    let mut requests = Vec::new();
    let mut places = Vec::new();
    for (index, document) in documents.iter().enumerate() {
        for (start, text) in sentences(&document.text) {
            requests.push(EntityRequest {
                text: text.to_string(),
                cancel: None,
            });
            places.push((index, start));
        }
    }
    let answers = runner.entities(&requests)?.answers;
    let (mut found, mut right) = (0usize, 0usize);
    for ((document, start), predicted) in places.iter().zip(&answers) {
        let gold = &documents[*document].mentions;
        found += predicted.len();
        right += predicted
            .iter()
            .filter(|mention| {
                gold.contains(&(start + mention.span.start..start + mention.span.end))
            })
            .count();
    }
    let gold: usize = documents
        .iter()
        .map(|document| document.mentions.len())
        .sum();
    let precision = right as f64 / found.max(1) as f64;
    let recall = right as f64 / gold.max(1) as f64;
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    Ok((precision, recall, f1))
}

/// The sentences of a text with their byte offsets, as the editor sends them.
fn sentences(text: &str) -> Vec<(usize, &str)> {
    use biomed_lsp::prose::{sentences, Language, ProseOptions};
    sentences(text, Language::PlainText, &ProseOptions::default())
        .into_iter()
        .filter_map(|sentence| {
            let range = sentence.source_range;
            Some((range.start, text.get(range)?))
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let mut corpus = PathBuf::from("../shared/data/corpus/ncbi_disease");
    let mut options = ModelOptions {
        model: "bundled".into(),
        ..ModelOptions::default()
    };
    let mut rounds = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--corpus" => corpus = PathBuf::from(value()?),
            "--model" => options.model = value()?,
            "--entities-model" => options.entities_model = value()?,
            "--precision" => options.precision = value()?,
            "--rounds" => rounds = value()?.parse().context("--rounds wants a number")?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    let loaded = load_model(&options, &|_| {}, &CancelFlag::new())?;
    let Some(entities) = &loaded.info.entities else {
        bail!("no entity model loaded (--entities-model off?)");
    };
    println!(
        "fill-mask model: {} on {} ({}); entity model: {} ({}; {})",
        loaded.info.display_name,
        loaded.info.device,
        loaded.info.precision,
        entities.name,
        entities.entity_types.join(", "),
        if entities.shares_encoder {
            "shares the fill-mask encoder"
        } else {
            "its own encoder"
        }
    );
    let runner = &loaded.runner;
    let mut test_documents = Vec::new();
    for (name, file) in [
        ("develop", "NCBIdevelopset_corpus.txt"),
        ("test", "NCBItestset_corpus.txt"),
    ] {
        let documents = read_corpus(&corpus.join(file))?;
        let (precision, recall, f1) = evaluate(runner, &documents)?;
        println!(
            "{name}: {} abstracts, {} mentions: precision {precision:.3}, recall {recall:.3}, \
             F1 {f1:.3} (entity level, exact span)",
            documents.len(),
            documents.iter().map(|d| d.mentions.len()).sum::<usize>()
        );
        test_documents = documents;
    }
    let requests: Vec<EntityRequest> = test_documents
        .iter()
        .flat_map(|document| sentences(&document.text))
        .map(|(_, text)| EntityRequest {
            text: text.to_string(),
            cancel: None,
        })
        .collect();
    let words: usize = test_documents
        .iter()
        .map(|document| document.text.split_whitespace().count())
        .sum();
    let mut best = f64::INFINITY;
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        runner.entities(&requests)?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!(
        "cost: {words} words in {} sentences tagged in {:.2} s (best of {rounds}): {:.0} ms per \
         1,000 words",
        requests.len(),
        best,
        best * 1000.0 / (words as f64 / 1000.0)
    );
    Ok(())
}
