//! Trains an entity head: a linear token-classification layer (`O`, `B-Disease`, `I-Disease`) on
//! the bundled mini model's encoder, left as it is, from the NCBI-disease training abstracts;
//! reports entity-level precision, recall and F1 (exact span match) on the develop and test
//! abstracts, and writes the head in transformers' layout.
//!
//! What it gives (2 cores, 36 s in all, 1.2 s of it training): F1 0.236 on the develop split,
//! 0.278 on the test split; 40 epochs instead of 8 give less (0.227), the mean of the last 2 or
//! 4 layers as the state little more (0.292, 0.302). The mini encoder's states, trained for
//! fill-mask only, do not separate disease mentions linearly: the head to ship needs the encoder
//! fine-tuned with it (a second mini encoder; `scripts/train_entity_model.py` does that: 0.587).
//!
//! cargo run --release --example train_entity_head -- [--corpus DIR] [--out DIR] [--epochs N]
//!     [--evaluate-only]
//!
//! `--corpus` is the NCBI-disease directory (default `../shared/data/corpus/ncbi_disease`);
//! `--out` where the head goes (default `target/entity-head`); `--evaluate-only` reads
//! the head there and only evaluates it. Every mention type of the corpus (SpecificDisease,
//! DiseaseClass, Modifier, CompositeMention) is `Disease`, as in the usual NER benchmark. The
//! encoder runs at the CPU's default precision, as the server runs it.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use biomed_lsp::model::device::{DeviceChoice, PrecisionChoice};
use biomed_lsp::model::engine::load_bundled;
use biomed_lsp::model::entities::{EntityHead, WordState};
use biomed_lsp::model::fill::ModelRunner;

const LABELS: [&str; 3] = ["O", "B-Disease", "I-Disease"];

/// A document's words with their states, and each word's gold label.
type Example = (Vec<WordState>, Vec<usize>);

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

/// Each word's gold label: `B-Disease` for the first word inside a mention, `I-Disease` for the
/// others, `O` outside.
fn gold_labels(words: &[WordState], mentions: &[Range<usize>]) -> Vec<usize> {
    let mut labels = vec![0; words.len()];
    for mention in mentions {
        let mut first = true;
        for (label, word) in labels.iter_mut().zip(words) {
            if word.word.start < mention.end && word.word.end > mention.start {
                *label = if first { 1 } else { 2 };
                first = false;
            }
        }
    }
    labels
}

/// The words of every document with their hidden states and gold labels.
fn featurize(runner: &ModelRunner, documents: &[Document]) -> anyhow::Result<Vec<Example>> {
    documents
        .iter()
        .map(|document| {
            let words = runner.word_states(&document.text)?;
            let labels = gold_labels(&words, &document.mentions);
            Ok((words, labels))
        })
        .collect()
}

/// Softmax regression by Adam on every word of the training documents.
fn train(examples: &[Example], hidden: usize, epochs: usize) -> EntityHead {
    let classes = LABELS.len();
    let rows: Vec<(&[f32], usize)> = examples
        .iter()
        .flat_map(|(words, labels)| {
            words
                .iter()
                .zip(labels)
                .map(|(word, &label)| (word.state.as_slice(), label))
        })
        .collect();
    let parameters = classes * (hidden + 1);
    let mut weights = vec![0f32; parameters];
    let (mut first_moment, mut second_moment) = (vec![0f32; parameters], vec![0f32; parameters]);
    let (learning_rate, beta1, beta2, l2, batch) = (2e-3f32, 0.9f32, 0.999f32, 1e-4f32, 256);
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut state = 0x2545_f491_u64;
    let mut step = 0i32;
    for _ in 0..epochs {
        // A fixed-seed shuffle, so that the head is the same from run to run.
        for i in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        for chunk in order.chunks(batch) {
            let mut gradient = vec![0f32; parameters];
            for &row in chunk {
                let (x, label) = rows[row];
                let scores: Vec<f32> = (0..classes)
                    .map(|c| {
                        let w = &weights[c * (hidden + 1)..(c + 1) * (hidden + 1)];
                        w[..hidden].iter().zip(x).map(|(a, b)| a * b).sum::<f32>() + w[hidden]
                    })
                    .collect();
                let largest = scores.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                let exps: Vec<f32> = scores.iter().map(|s| (s - largest).exp()).collect();
                let total: f32 = exps.iter().sum();
                for c in 0..classes {
                    let error = exps[c] / total - if c == label { 1.0 } else { 0.0 };
                    let g = &mut gradient[c * (hidden + 1)..(c + 1) * (hidden + 1)];
                    for (gi, &xi) in g[..hidden].iter_mut().zip(x) {
                        *gi += error * xi;
                    }
                    g[hidden] += error;
                }
            }
            step += 1;
            let scale = 1.0 / chunk.len() as f32;
            for i in 0..parameters {
                let g = gradient[i] * scale + l2 * weights[i];
                first_moment[i] = beta1 * first_moment[i] + (1.0 - beta1) * g;
                second_moment[i] = beta2 * second_moment[i] + (1.0 - beta2) * g * g;
                let m = first_moment[i] / (1.0 - beta1.powi(step));
                let v = second_moment[i] / (1.0 - beta2.powi(step));
                weights[i] -= learning_rate * m / (v.sqrt() + 1e-8);
            }
        }
    }
    let mut weight = Vec::with_capacity(classes * hidden);
    let mut bias = Vec::with_capacity(classes);
    for c in 0..classes {
        weight.extend_from_slice(&weights[c * (hidden + 1)..c * (hidden + 1) + hidden]);
        bias.push(weights[c * (hidden + 1) + hidden]);
    }
    EntityHead::new(LABELS.iter().map(|l| l.to_string()).collect(), weight, bias)
        .expect("three BIO labels")
}

/// Entity-level precision, recall and F1, a predicted mention counting only with the exact span.
fn evaluate(head: &EntityHead, documents: &[Document], examples: &[Example]) -> (f64, f64, f64) {
    let (mut found, mut gold, mut right) = (0usize, 0usize, 0usize);
    for (document, (words, _)) in documents.iter().zip(examples) {
        let predicted = head.mentions(words, &head.label_words(words));
        // A gold mention that ends inside a word ("cancer" in "cancers") cannot be matched
        // exactly by a tagger of words: it counts as missed.
        gold += document.mentions.len();
        found += predicted.len();
        right += predicted
            .iter()
            .filter(|mention| document.mentions.contains(&mention.span))
            .count();
    }
    let precision = right as f64 / found.max(1) as f64;
    let recall = right as f64 / gold.max(1) as f64;
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    (precision, recall, f1)
}

fn main() -> anyhow::Result<()> {
    let mut corpus = PathBuf::from("../shared/data/corpus/ncbi_disease");
    let mut out = PathBuf::from("target/entity-head");
    let mut epochs = 8usize;
    let mut evaluate_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--corpus" => corpus = PathBuf::from(value()?),
            "--out" => out = PathBuf::from(value()?),
            "--epochs" => epochs = value()?.parse().context("--epochs wants a number")?,
            "--evaluate-only" => evaluate_only = true,
            other => bail!("unknown argument {other:?}"),
        }
    }
    let started = Instant::now();
    let (runner, device) = load_bundled(DeviceChoice::Cpu, PrecisionChoice::Auto)?;
    println!(
        "encoder: bundled mini model on {device} ({}), hidden size {}",
        runner.model.precision_name(),
        runner.model.config().hidden_size
    );
    let split = |name: &str| -> anyhow::Result<(Vec<Document>, Vec<Example>)> {
        let documents = read_corpus(&corpus.join(name))?;
        let examples = featurize(&runner, &documents)?;
        Ok((documents, examples))
    };
    let head = if evaluate_only {
        EntityHead::load(&out)?
    } else {
        let (documents, examples) = split("NCBItrainset_corpus.txt")?;
        let words: usize = examples.iter().map(|(words, _)| words.len()).sum();
        let featurized = started.elapsed();
        let head = train(&examples, runner.model.config().hidden_size, epochs);
        println!(
            "trained on {} abstracts, {} words, {} mentions; {epochs} epochs; hidden states {:.1} s, \
             training {:.1} s",
            documents.len(),
            words,
            documents.iter().map(|d| d.mentions.len()).sum::<usize>(),
            featurized.as_secs_f64(),
            (started.elapsed() - featurized).as_secs_f64()
        );
        head.save(&out)?;
        println!("wrote {}", out.display());
        head
    };
    for (name, file) in [
        ("develop", "NCBIdevelopset_corpus.txt"),
        ("test", "NCBItestset_corpus.txt"),
    ] {
        let (documents, examples) = split(file)?;
        let (precision, recall, f1) = evaluate(&head, &documents, &examples);
        println!(
            "{name}: {} abstracts, {} mentions: precision {precision:.3}, recall {recall:.3}, F1 {f1:.3} \
             (entity level, exact span)",
            documents.len(),
            documents.iter().map(|d| d.mentions.len()).sum::<usize>()
        );
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
