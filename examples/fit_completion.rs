//! Fits the weights of completion's ranking (`analysis::completion::RankingWeights`) on public
//! text: the NCBI-disease *develop* split, the phyloseq article (LaTeX) and the deep-review's
//! section on treatment (Markdown), long manuscripts whose own words and phrases recur, typed word by word, each word seen after 0–3 of its
//! letters, with what the server would know then (the text before it, the words it used). The
//! fit maximises the probability of the word being typed among the candidates (a conditional
//! logit), then prints how often it is among the first three, with the fitted weights and with
//! the model alone, and with `--write` stores the weights in `src/analysis/completion_weights.rs`.
//! The test split and the deep-review's introduction are left for `bench_completion`.
//!
//! cargo run --release --example fit_completion -- [--data ../shared/data] [--abstracts N] [--write]

#[path = "support/bench_support.rs"]
mod bench_support;

use std::path::{Path, PathBuf};

use bench_support::{argument, flag, manuscript_prose, ncbi_abstracts};
use biomed_lsp::analysis::completion::{
    completion_request, ranked_candidates, weights_for_prefix, CompletionSettings,
    ManuscriptContext, RankingFeatures, RankingWeights,
};
use biomed_lsp::analysis::manuscript_words::{previous_term, ManuscriptWordsBuilder};
use biomed_lsp::context::{completion_slot, sentence_window, CompletionSlot, SlotKind};
use biomed_lsp::model::api::CancelFlag;
use biomed_lsp::model::device::{DeviceChoice, PrecisionChoice};
use biomed_lsp::model::engine::load_bundled;
use biomed_lsp::prose::Language;
use biomed_lsp::settings::Settings;

/// How many features a candidate has (see `RankingFeatures`).
const FEATURES: usize = 8;

/// Prefix lengths each word is seen at.
const PREFIX_LENGTHS: [usize; 4] = [0, 1, 2, 3];

/// One completion request: the features of its candidates and which one the writer wanted.
struct Sample {
    candidates: Vec<[f32; FEATURES]>,
    wanted: usize,
    prefix_chars: usize,
}

fn features(f: &RankingFeatures) -> [f32; FEATURES] {
    [
        f.model,
        f.this_document,
        f.other_documents,
        f.recency,
        f.lexicon,
        f.pieces,
        f.after_previous_word,
        f.english,
    ]
}

fn weights_of(w: &[f64; FEATURES]) -> RankingWeights {
    RankingWeights {
        model: w[0] as f32,
        this_document: w[1] as f32,
        other_documents: w[2] as f32,
        recency: w[3] as f32,
        lexicon: w[4] as f32,
        pieces: w[5] as f32,
        after_previous_word: w[6] as f32,
        english: w[7] as f32,
    }
}

fn develop_abstracts(data: &Path, limit: usize) -> Vec<String> {
    let documents = ncbi_abstracts(
        &data.join("corpus/ncbi_disease/NCBIdevelopset_corpus.txt"),
        limit,
    );
    documents
}

/// The mean log-likelihood of the wanted candidates and its gradient.
fn log_likelihood(samples: &[&Sample], w: &[f64; FEATURES]) -> (f64, [f64; FEATURES]) {
    let mut total = 0.0;
    let mut gradient = [0.0; FEATURES];
    for sample in samples {
        let scores: Vec<f64> = sample
            .candidates
            .iter()
            .map(|f| f.iter().zip(w).map(|(x, w)| *x as f64 * w).sum())
            .collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let partition: f64 = scores.iter().map(|s| (s - max).exp()).sum();
        total += scores[sample.wanted] - max - partition.ln();
        for (candidate, score) in sample.candidates.iter().zip(&scores) {
            let probability = (score - max).exp() / partition;
            for k in 0..FEATURES {
                gradient[k] -= probability * candidate[k] as f64;
            }
        }
        for k in 0..FEATURES {
            gradient[k] += sample.candidates[sample.wanted][k] as f64;
        }
    }
    let n = samples.len().max(1) as f64;
    (total / n, gradient.map(|g| g / n))
}

/// Gradient ascent with a backtracking step (the objective is concave in the weights): the
/// weights and the mean log-likelihood they reach.
fn fit(samples: &[&Sample]) -> ([f64; FEATURES], f64) {
    let mut w = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let (mut value, mut gradient) = log_likelihood(samples, &w);
    let mut step = 0.5;
    for _ in 0..200 {
        let candidate: [f64; FEATURES] = std::array::from_fn(|k| w[k] + step * gradient[k]);
        let (next_value, next_gradient) = log_likelihood(samples, &candidate);
        if next_value > value {
            w = candidate;
            value = next_value;
            gradient = next_gradient;
            step *= 1.2;
        } else {
            step *= 0.5;
            if step < 1e-6 {
                break;
            }
        }
    }
    (w, value)
}

/// Share of samples whose wanted word ranks among the first three.
fn top3(samples: &[&Sample], w: &[f64; FEATURES]) -> f64 {
    let hits = samples
        .iter()
        .filter(|sample| {
            let score =
                |f: &[f32; FEATURES]| -> f64 { f.iter().zip(w).map(|(x, w)| *x as f64 * w).sum() };
            let wanted = score(&sample.candidates[sample.wanted]);
            sample
                .candidates
                .iter()
                .filter(|f| score(f) > wanted)
                .count()
                < 3
        })
        .count();
    hits as f64 / samples.len().max(1) as f64
}

fn main() -> anyhow::Result<()> {
    let data = PathBuf::from(argument("--data").unwrap_or_else(|| "../shared/data".into()));
    let limit: usize =
        argument("--abstracts").map_or(usize::MAX, |n| n.parse().expect("--abstracts N"));
    let (runner, _) = load_bundled(DeviceChoice::Cpu, PrecisionChoice::Auto)?;
    let server_settings = Settings::default();
    let settings: CompletionSettings = server_settings.completion_settings();
    let mut samples = Vec::new();
    let mut requests = 0usize;
    let abstracts = develop_abstracts(&data, limit);
    // Two long manuscripts, where the writer's own words and phrases come back again and again:
    // the article on phyloseq (LaTeX) and the deep-review's section on treatment (Markdown; the
    // benchmark types that review's introduction, a different file, which no fit sees).
    let long_documents = [
        manuscript_prose(
            &data.join("manuscripts/phyloseq-plos1-2013/phyloseq-plos1-2013.tex"),
            Language::Latex,
        ),
        manuscript_prose(
            &data.join("manuscripts/deep-review/05.treat.md"),
            Language::Markdown,
        ),
    ];
    let long_document_words: usize = long_documents
        .iter()
        .map(|document| document.split_whitespace().count())
        .sum();
    let documents: Vec<&String> = abstracts.iter().chain(&long_documents).collect();
    for document in documents {
        let mut at = 0;
        while at < document.len() {
            let character = document[at..].chars().next().expect("a character");
            let starts_word = character.is_alphanumeric()
                && !document[..at]
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphanumeric);
            if !starts_word {
                at += character.len_utf8();
                continue;
            }
            let word_range = completion_slot(document, at + character.len_utf8()).range;
            let word = &document[word_range.clone()];
            at = word_range.end;
            if word.chars().count() < 2 {
                continue;
            }
            let before = &document[..word_range.start];
            let mut builder = ManuscriptWordsBuilder::default();
            builder.add_text(before, |range| Some(range.start));
            let this_document = builder.build();
            let manuscript = ManuscriptContext {
                this_document: &this_document,
                others: Vec::new(),
                slot_source_start: word_range.start,
                previous_word: previous_term(before, before.len()),
                compound_head: String::new(),
            };
            // The server's window: the sentences before the cursor (the writer types at the end).
            let window = sentence_window(
                before,
                before.len(),
                server_settings.context_sentences,
                false,
                false,
            );
            let window_text = &before[window.clone()];
            let mut distributions = None;
            for prefix_chars in PREFIX_LENGTHS {
                if prefix_chars >= word.chars().count() {
                    break;
                }
                let prefix: String = word.chars().take(prefix_chars).collect();
                let text = format!("{window_text}{prefix}");
                let slot = CompletionSlot {
                    range: window_text.len()..text.len(),
                    prefix: prefix.clone(),
                    kind: SlotKind::Word,
                };
                let request = completion_request(
                    text,
                    &slot,
                    &settings,
                    CancelFlag::new(),
                    manuscript.candidates(&prefix),
                );
                // While a word is typed the slot's model input does not change: one pass a word.
                if distributions.is_none() {
                    distributions =
                        Some(runner.slot_distributions(&runner.vocabulary.slot_rows(&request)?)?);
                }
                let distributions = distributions.as_ref().expect("computed above");
                let proposals = runner.vocabulary.proposals(distributions, &request);
                let predictions = runner.vocabulary.predictions(proposals, request.top_k);
                let ranked =
                    ranked_candidates(&predictions, &manuscript, weights_for_prefix(&prefix));
                requests += 1;
                let key = word.to_lowercase();
                if let Some(wanted) = ranked.iter().position(|candidate| candidate.key == key) {
                    samples.push(Sample {
                        candidates: ranked.iter().map(|c| features(&c.features)).collect(),
                        wanted,
                        prefix_chars,
                    });
                }
            }
        }
    }
    println!(
        "{} abstracts of the NCBI-disease develop split, the phyloseq article and the deep-review's \
         section on treatment ({long_document_words} words); {requests} requests (prefixes of 0–3 \
         letters), the word among the candidates in {} ({:.1} %)",
        abstracts.len(),
        samples.len(),
        100.0 * samples.len() as f64 / requests.max(1) as f64
    );
    let names = [
        "model",
        "this_document",
        "other_documents",
        "recency",
        "lexicon",
        "pieces",
        "after_previous_word",
        "english",
    ];
    // One set of weights per number of letters typed: before the first letter the model and the
    // word pairs decide, after three letters the document's own words do.
    let groups: Vec<Vec<&Sample>> = PREFIX_LENGTHS
        .iter()
        .map(|&length| {
            samples
                .iter()
                .filter(|s| s.prefix_chars == length)
                .collect()
        })
        .collect();
    let (pooled, pooled_value) = fit(&samples.iter().collect::<Vec<_>>());
    let by_letters: Vec<[f64; FEATURES]> = groups
        .iter()
        .map(|group| {
            let (mut w, _) = fit(group);
            // The develop split has one document at a time: the other documents' weight cannot
            // be fitted there, and takes this document's (a word used elsewhere in the
            // manuscript counts as one used here, without the recency).
            w[2] = w[1];
            w
        })
        .collect();
    // Mean log-likelihood and top-3 share over all samples, each group with its own weights.
    let evaluate = |weights_of_group: &dyn Fn(usize) -> [f64; FEATURES]| -> (f64, f64) {
        let (mut value, mut hits) = (0.0, 0.0);
        for (index, group) in groups.iter().enumerate() {
            let w = weights_of_group(index);
            value += log_likelihood(group, &w).0 * group.len() as f64;
            hits += top3(group, &w) * group.len() as f64;
        }
        let n = samples.len().max(1) as f64;
        (value / n, hits / n)
    };
    let model_only = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    println!("\n| weights | log-likelihood per request | wanted word in the first 3 |");
    println!("|---|---|---|");
    let row = |label: &str, (value, hits): (f64, f64)| {
        println!("| {label} | {value:.3} | {:.1} % |", 100.0 * hits);
    };
    row("model alone", evaluate(&|_| model_only));
    row(
        "one set for every prefix",
        (pooled_value, evaluate(&|_| pooled).1),
    );
    row(
        "one set per letters typed",
        evaluate(&|index| by_letters[index]),
    );
    for drop in [1, 3, 4, 5, 6, 7] {
        row(
            &format!("… without {}", names[drop]),
            evaluate(&|index| {
                let mut w = by_letters[index];
                w[drop] = 0.0;
                if drop == 1 {
                    w[2] = 0.0;
                }
                w
            }),
        );
    }
    println!("\n| letters typed | requests | {} |", names.join(" | "));
    println!("|---|---|{}", "---|".repeat(FEATURES));
    for ((length, group), w) in PREFIX_LENGTHS.iter().zip(&groups).zip(&by_letters) {
        let cells: Vec<String> = w.iter().map(|weight| format!("{weight:.3}")).collect();
        println!(
            "| {length}{} | {} | {} |",
            if *length == 3 { "+" } else { "" },
            group.len(),
            cells.join(" | ")
        );
    }
    if flag("--write") {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/analysis/completion_weights.rs");
        let mut source = String::from(
            "//! The weights of completion's ranking, one set per number of letters typed (0, 1, 2, 3 or\n\
             //! more). Written by `fit_completion` (see BENCHMARKS.md for the command and the data); do\n\
             //! not edit by hand.\n\n\
             use super::completion::RankingWeights;\n\n\
             pub const FITTED_WEIGHTS: [RankingWeights; 4] = [\n",
        );
        for w in &by_letters {
            let fitted = weights_of(w);
            source.push_str(&format!(
                "    RankingWeights {{\n        model: {:?},\n        this_document: {:?},\n        other_documents: {:?},\n        recency: {:?},\n        lexicon: {:?},\n        english: {:?},\n        pieces: {:?},\n        after_previous_word: {:?},\n    }},\n",
                fitted.model, fitted.this_document, fitted.other_documents, fitted.recency,
                fitted.lexicon, fitted.english, fitted.pieces, fitted.after_previous_word
            ));
        }
        source.push_str("];\n");
        std::fs::write(&path, source)?;
        println!("written to {}", path.display());
    }
    Ok(())
}
