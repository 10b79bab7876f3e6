//! Evaluates the term-variant decision on labelled pairs of surface forms
//! (`data/term-pairs/labelled_pairs.tsv`: same concept or different): the model's contextual
//! embeddings (the mean over each form's occurrences in real abstracts, compared by cosine) against
//! a string-only baseline (one minus the normalised edit distance). Prints each decision's ROC AUC,
//! and its accuracy on the test half with the threshold that is best on the develop half (pairs
//! alternate between the halves in the file's order), overall and per kind of pair.
//!
//! cargo run --release --example eval_term_pairs -- [--data ../shared/data]
//!   [--pairs data/term-pairs/labelled_pairs.tsv] [--model DIR] [--occurrences 8] [--show]
//!
//! Contexts are the sentences of PubMedQA's and NCBI-disease's abstracts that contain the form as
//! a whole word (case-sensitive; the first `--occurrences` of them). Pairs with a form found in
//! fewer than `--min-occurrences` sentences (default: the check's `OCCURRENCES_TO_DECIDE`) are
//! left out, as the check leaves them to the rules.

#[path = "support/bench_support.rs"]
mod bench_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use bench_support::{argument, flag};
use biomed_lsp::analysis::same_term::{
    reference_requests, OCCURRENCES_PER_FORM, OCCURRENCES_TO_DECIDE, REFERENCE_SLOTS,
    SAME_TERM_MIN_SIMILARITY,
};
use biomed_lsp::analysis::term_variants::string_similarity;
use biomed_lsp::model::device::{DeviceChoice, PrecisionChoice};
use biomed_lsp::model::embedding::{cosine_similarity, mean_vector, EmbedRequest};
use biomed_lsp::model::engine::{load_bundled, load_from_directory};
use biomed_lsp::model::fill::ModelRunner;

struct Pair {
    form_a: String,
    form_b: String,
    same: bool,
    kind: String,
}

fn read_pairs(path: &Path) -> anyhow::Result<Vec<Pair>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut pairs = Vec::new();
    let mut header_seen = false;
    for (index, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !header_seen {
            header_seen = true;
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [form_a, form_b, label, kind, ..] = fields.as_slice() else {
            bail!(
                "{}:{}: expected form_a, form_b, label, kind, …",
                path.display(),
                index + 1
            );
        };
        let same = match *label {
            "same" => true,
            "different" => false,
            other => bail!(
                "{}:{}: label {other:?} is neither same nor different",
                path.display(),
                index + 1
            ),
        };
        pairs.push(Pair {
            form_a: form_a.to_string(),
            form_b: form_b.to_string(),
            same,
            kind: kind.to_string(),
        });
    }
    Ok(pairs)
}

/// The corpus's sentences (a simple split after `. `, `? `, `! `).
fn corpus_sentences(data: &Path) -> anyhow::Result<Vec<String>> {
    let mut sentences = Vec::new();
    for relative in [
        "corpus/pubmedqa/pqal_abstracts.txt",
        "corpus/ncbi_disease/ncbi_disease_abstracts.txt",
    ] {
        let path = data.join(relative);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        for line in text.lines() {
            let mut start = 0;
            for (at, _) in line.match_indices(['.', '?', '!']) {
                if line[at + 1..].starts_with(' ') {
                    sentences.push(line[start..=at].trim().to_string());
                    start = at + 2;
                }
            }
            if start < line.len() {
                sentences.push(line[start..].trim().to_string());
            }
        }
    }
    sentences.retain(|sentence| sentence.len() > 20);
    Ok(sentences)
}

/// Byte ranges where `form` occurs as a whole word (no letter, digit, `_` or hyphen on either
/// side: the list's own definition of an occurrence).
fn whole_word_matches(sentence: &str, form: &str) -> Vec<std::ops::Range<usize>> {
    let joins = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    sentence
        .match_indices(form)
        .filter(|(at, _)| {
            let before = sentence[..*at].chars().next_back();
            let after = sentence[at + form.len()..].chars().next();
            !before.is_some_and(joins) && !after.is_some_and(joins)
        })
        .map(|(at, _)| at..at + form.len())
        .collect()
}

/// The ROC AUC of scores for positives against negatives (ties count half).
fn roc_auc(positives: &[f32], negatives: &[f32]) -> f64 {
    let mut wins = 0.0f64;
    for p in positives {
        for n in negatives {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (positives.len() * negatives.len()).max(1) as f64
}

/// The threshold (score ≥ it: same) with the best accuracy on `fit`, and its accuracy on `test`.
fn fitted_accuracy(fit: &[(f32, bool)], test: &[(f32, bool)]) -> (f32, f64, f64) {
    let accuracy = |threshold: f32, set: &[(f32, bool)]| {
        set.iter()
            .filter(|(score, same)| (*score >= threshold) == *same)
            .count() as f64
            / set.len().max(1) as f64
    };
    let mut best = (f32::INFINITY, accuracy(f32::INFINITY, fit));
    for (threshold, _) in fit {
        let fitted = accuracy(*threshold, fit);
        if fitted > best.1 {
            best = (*threshold, fitted);
        }
    }
    (best.0, best.1, accuracy(best.0, test))
}

fn main() -> anyhow::Result<()> {
    let data = PathBuf::from(argument("--data").unwrap_or_else(|| "../shared/data".into()));
    let pairs_path = PathBuf::from(
        argument("--pairs").unwrap_or_else(|| "data/term-pairs/labelled_pairs.tsv".into()),
    );
    let occurrences: usize = argument("--occurrences")
        .map(|value| value.parse())
        .transpose()
        .context("--occurrences wants a number")?
        .unwrap_or(OCCURRENCES_PER_FORM);
    let min_occurrences: usize = argument("--min-occurrences")
        .map(|value| value.parse())
        .transpose()
        .context("--min-occurrences wants a number")?
        .unwrap_or(OCCURRENCES_TO_DECIDE);
    let (runner, _): (ModelRunner, _) = match argument("--model") {
        Some(directory) => load_from_directory(
            Path::new(&directory),
            DeviceChoice::Cpu,
            PrecisionChoice::Auto,
        )?,
        None => load_bundled(DeviceChoice::Cpu, PrecisionChoice::Auto)?,
    };
    let pairs = read_pairs(&pairs_path)?;
    let sentences = corpus_sentences(&data)?;
    let started = Instant::now();

    // Each form's occurrences, embedded once.
    let mut forms: Vec<&str> = pairs
        .iter()
        .flat_map(|pair| [pair.form_a.as_str(), pair.form_b.as_str()])
        .collect();
    forms.sort_unstable();
    forms.dedup();
    let mut embeddings: HashMap<&str, Vec<f32>> = HashMap::new();
    let mut contexts: HashMap<&str, Vec<f32>> = HashMap::new();
    let mut spans = 0usize;
    for form in &forms {
        let mut requests: Vec<EmbedRequest> = sentences
            .iter()
            .flat_map(|sentence| {
                whole_word_matches(sentence, form)
                    .into_iter()
                    .take(1)
                    .map(|span| EmbedRequest {
                        text: sentence.clone(),
                        span,
                        mask_span: false,
                        cancel: None,
                    })
            })
            .take(occurrences)
            .collect();
        if requests.len() < min_occurrences.max(1) {
            continue;
        }
        spans += requests.len();
        let vectors = runner.embed_batch(&requests)?.answers;
        embeddings.insert(form, mean_vector(&vectors));
        requests
            .iter_mut()
            .for_each(|request| request.mask_span = true);
        let vectors = runner.embed_batch(&requests)?.answers;
        contexts.insert(form, mean_vector(&vectors));
    }
    // Centred as the check centres them: less the mean slot of words spread over the text (here
    // the corpus; in the check the manuscript).
    let references = reference_requests(sentences.iter().map(String::as_str), REFERENCE_SLOTS);
    let centre = mean_vector(&runner.embed_batch(&references)?.answers);
    let mut centred_contexts = contexts.clone();
    for vector in centred_contexts.values_mut() {
        vector
            .iter_mut()
            .zip(&centre)
            .for_each(|(value, mean)| *value -= mean);
    }
    let elapsed = started.elapsed();

    // Each decision's score for the pairs whose forms were both found.
    struct Scored<'a> {
        pair: &'a Pair,
        forms: f32,
        slots: f32,
        slots_centred: f32,
        string: f32,
    }
    let cosine = |map: &HashMap<&str, Vec<f32>>, pair: &Pair| {
        cosine_similarity(&map[pair.form_a.as_str()], &map[pair.form_b.as_str()])
    };
    let mut scored: Vec<Scored> = Vec::new();
    let mut skipped = 0;
    for pair in &pairs {
        if !embeddings.contains_key(pair.form_a.as_str())
            || !embeddings.contains_key(pair.form_b.as_str())
        {
            skipped += 1;
            continue;
        }
        scored.push(Scored {
            pair,
            forms: cosine(&embeddings, pair),
            slots: cosine(&contexts, pair),
            slots_centred: cosine(&centred_contexts, pair),
            string: string_similarity(&pair.form_a, &pair.form_b),
        });
    }
    println!(
        "{} pairs ({} same, {} different), {skipped} left out (a form in fewer than {min_occurrences} sentences); {} forms, {spans} occurrences embedded twice (the form; the form masked) in {:.1} s",
        scored.len(),
        scored.iter().filter(|s| s.pair.same).count(),
        scored.iter().filter(|s| !s.pair.same).count(),
        embeddings.len(),
        elapsed.as_secs_f64()
    );
    // Develop and test halves: pairs alternate in the file's order.
    let develop: Vec<&Scored> = scored.iter().step_by(2).collect();
    let test: Vec<&Scored> = scored.iter().skip(1).step_by(2).collect();
    // The combination: string + weight × context-centred cosine, the weight fitted on develop.
    let combined = |s: &Scored, weight: f32| s.string + weight * s.slots_centred;
    let auc_of = |set: &[&Scored], score: &dyn Fn(&Scored) -> f32| {
        let positives: Vec<f32> = set
            .iter()
            .filter(|s| s.pair.same)
            .map(|s| score(s))
            .collect();
        let negatives: Vec<f32> = set
            .iter()
            .filter(|s| !s.pair.same)
            .map(|s| score(s))
            .collect();
        if positives.is_empty() || negatives.is_empty() {
            None
        } else {
            Some(roc_auc(&positives, &negatives))
        }
    };
    let weight = (0..=40)
        .map(|step| step as f32 * 0.1)
        .max_by(|a, b| {
            let auc = |w: f32| auc_of(&develop, &|s| combined(s, w)).unwrap_or(0.0);
            auc(*a).total_cmp(&auc(*b))
        })
        .unwrap_or(0.0);
    type Decision<'a> = (String, Box<dyn Fn(&Scored) -> f32 + 'a>);
    let decisions: Vec<Decision> = vec![
        (
            "string only: 1 − edit distance / length".into(),
            Box::new(|s: &Scored| s.string),
        ),
        (
            "embeddings of the forms".into(),
            Box::new(|s: &Scored| s.forms),
        ),
        (
            "embeddings of the slots (form masked)".into(),
            Box::new(|s: &Scored| s.slots),
        ),
        (
            "embeddings of the slots, centred".into(),
            Box::new(|s: &Scored| s.slots_centred),
        ),
        (
            format!("string + {weight:.1} × slots, centred (weight fitted on develop)"),
            Box::new(move |s: &Scored| combined(s, weight)),
        ),
    ];
    println!();
    println!("| decision | ROC AUC, all pairs | ROC AUC, test half | accuracy, test half (threshold fitted on develop) |");
    println!("|---|---|---|---|");
    for (name, score) in &decisions {
        let fit: Vec<(f32, bool)> = develop.iter().map(|s| (score(s), s.pair.same)).collect();
        let held: Vec<(f32, bool)> = test.iter().map(|s| (score(s), s.pair.same)).collect();
        let (threshold, _, test_accuracy) = fitted_accuracy(&fit, &held);
        let all: Vec<&Scored> = scored.iter().collect();
        println!(
            "| {name} | {:.3} | {:.3} | {test_accuracy:.3} (≥ {threshold:.3}) |",
            auc_of(&all, score.as_ref()).unwrap_or(f64::NAN),
            auc_of(&test, score.as_ref()).unwrap_or(f64::NAN),
        );
    }
    // The check's decision: candidates the rules pair (spelling and hyphenation variants) kept,
    // different terms (confusable and near-concept pairs) vetoed, by the centred slot similarity.
    let candidate_like = |set: &[&Scored]| -> Vec<(f32, bool)> {
        set.iter()
            .filter(|s| {
                matches!(
                    s.pair.kind.as_str(),
                    "spelling" | "hyphenation" | "confusable" | "near-concept"
                )
            })
            .map(|s| (s.slots_centred, s.pair.same))
            .collect()
    };
    // The veto keeps 95 % of the develop half's true variants: the fifth percentile of their
    // scores.
    let mut develop_same: Vec<f32> = candidate_like(&develop)
        .into_iter()
        .filter(|(_, same)| *same)
        .map(|(score, _)| score)
        .collect();
    develop_same.sort_by(f32::total_cmp);
    let fitted = develop_same
        .get(develop_same.len() / 20)
        .copied()
        .unwrap_or(f32::NEG_INFINITY);
    let shares = |set: &[(f32, bool)], threshold: f32| {
        let same: Vec<f32> = set
            .iter()
            .filter(|(_, same)| *same)
            .map(|(score, _)| *score)
            .collect();
        let different: Vec<f32> = set
            .iter()
            .filter(|(_, same)| !*same)
            .map(|(score, _)| *score)
            .collect();
        (
            same.iter().filter(|score| **score >= threshold).count() as f64
                / same.len().max(1) as f64,
            different.iter().filter(|score| **score < threshold).count() as f64
                / different.len().max(1) as f64,
        )
    };
    println!(
        "\nthe check's veto (centred slots; spelling and hyphenation variants against confusable and near-concept pairs): the threshold keeping 95 % of the develop half's variants is {fitted:.3}"
    );
    for (name, threshold) in [
        ("fitted", fitted),
        (
            "the check's SAME_TERM_MIN_SIMILARITY",
            SAME_TERM_MIN_SIMILARITY,
        ),
    ] {
        for (half, set) in [
            ("develop", candidate_like(&develop)),
            ("test", candidate_like(&test)),
        ] {
            let (kept, vetoed) = shares(&set, threshold);
            println!("  {name} {threshold:.3}, {half} half: variants kept {kept:.3}, different terms vetoed {vetoed:.3}");
        }
    }
    // Per kind: how each decision scores that kind's pairs (mean), against the other label.
    let mut kinds: Vec<(&str, bool)> = scored
        .iter()
        .map(|s| (s.pair.kind.as_str(), s.pair.same))
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    println!();
    println!("| kind | label | pairs | mean score: string / slots centred / combined |");
    println!("|---|---|---|---|");
    for (kind, same) in kinds {
        let members: Vec<&Scored> = scored.iter().filter(|s| s.pair.kind == kind).collect();
        let mean = |score: &dyn Fn(&Scored) -> f32| {
            members.iter().map(|s| score(s)).sum::<f32>() / members.len() as f32
        };
        println!(
            "| {kind} | {} | {} | {:.3} / {:.3} / {:.3} |",
            if same { "same" } else { "different" },
            members.len(),
            mean(&|s| s.string),
            mean(&|s| s.slots_centred),
            mean(&|s| combined(s, weight)),
        );
    }
    if flag("--show") {
        println!();
        let mut sorted: Vec<&Scored> = scored.iter().collect();
        sorted.sort_by(|a, b| b.slots_centred.total_cmp(&a.slots_centred));
        for s in sorted {
            println!(
                "slots centred {:.3}  string {:.3}  {} {} {} / {}",
                s.slots_centred,
                s.string,
                if s.pair.same { "same" } else { "different" },
                s.pair.kind,
                s.pair.form_a,
                s.pair.form_b
            );
        }
    }
    Ok(())
}
