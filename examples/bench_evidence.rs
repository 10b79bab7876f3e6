//! How faithful and how costly each evidence method is: the deletion test. For each slot the
//! method's top-k evidence words are masked and the drop in the candidate's log-probability is
//! compared with masking k random context words of the same sentence and the k nearest ones.
//!
//! Slots: NCBI-disease develop sentences with one injected confusable (the wrong word's slot,
//! explaining the intended word, as the terminology evaluation injects them), and words of the
//! manuscripts (each explaining itself, as a completion would).
//!
//! cargo run --release --example bench_evidence -- \
//!   --corpus ../shared/data/corpus/ncbi_disease/NCBIdevelopset_corpus.txt \
//!   --confusables ../shared/data/confusables/languagetool_confusion_sets_biomed_subset.txt \
//!   --manuscripts ../shared/data/manuscripts [--model DIR] [--max-slots 150] [--precision auto|f32|q8]

#[path = "support/bench_support.rs"]
mod bench_support;

use bench_support::letter_words;
use std::collections::HashMap;
use std::ops::Range;
use std::time::Instant;

use anyhow::{bail, Context};
use biomed_lsp::analysis::wording::match_case;
use biomed_lsp::model::device::{DeviceChoice, PrecisionChoice};
use biomed_lsp::model::engine::{load_bundled, load_from_directory};
use biomed_lsp::model::fill::ModelRunner;
use biomed_lsp::model::{EvidenceMethod, EvidenceWord, ExplainRequest};
use biomed_lsp::prose::{sentences, Language, ProseOptions};

/// The methods measured: each with the number of nearest content words it may name (None: all).
/// The first must consider every word: its words are the context the baselines draw from.
const METHODS: [(EvidenceMethod, Option<usize>); 7] = [
    (EvidenceMethod::Attention, None),
    (EvidenceMethod::Rollout, None),
    (EvidenceMethod::Occlusion, None),
    (EvidenceMethod::Occlusion, Some(6)),
    (EvidenceMethod::Occlusion, Some(4)),
    (EvidenceMethod::Occlusion, Some(3)),
    (EvidenceMethod::Occlusion, Some(2)),
];

fn label((method, max_words): (EvidenceMethod, Option<usize>)) -> String {
    match max_words {
        None => method.as_str().to_string(),
        Some(n) => format!("{}, nearest {n}", method.as_str()),
    }
}
/// Random draws per slot and k.
const RANDOM_DRAWS: usize = 5;

/// One slot to explain: a sentence, the word's range, and the word whose expectation is explained.
struct Slot {
    text: String,
    range: Range<usize>,
    candidate: String,
}

/// A small deterministic generator (xorshift), so that runs are repeatable.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// `k` distinct indices below `n`.
    fn choose(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut indices: Vec<usize> = (0..n).collect();
        for i in 0..k.min(n) {
            let j = i + self.below(n - i);
            indices.swap(i, j);
        }
        indices.truncate(k);
        indices
    }
}

fn confusable_slots(corpus: &str, confusables: &str, max: usize) -> Vec<Slot> {
    let mut confusion: HashMap<String, Vec<String>> = HashMap::new();
    for line in confusables.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(';').map(str::trim).collect();
        if let Some((wrong, intended)) = fields[0].split_once("->") {
            confusion
                .entry(intended.trim().to_string())
                .or_default()
                .push(wrong.trim().to_string());
        } else if fields.len() >= 2 {
            confusion
                .entry(fields[0].to_string())
                .or_default()
                .push(fields[1].to_string());
            confusion
                .entry(fields[1].to_string())
                .or_default()
                .push(fields[0].to_string());
        }
    }
    let mut slots = Vec::new();
    let texts = corpus.lines().filter_map(|line| {
        let mut parts = line.splitn(3, '|');
        let (_, kind, body) = (parts.next()?, parts.next()?, parts.next()?);
        (kind == "t" || kind == "a").then(|| body.to_string())
    });
    let mut sentence_idx = 0;
    for text in texts {
        for sentence in sentences(&text, Language::PlainText, &ProseOptions::default()) {
            let sentence = sentence.text;
            sentence_idx += 1;
            let targets: Vec<(Range<usize>, &Vec<String>)> = letter_words(&sentence)
                .into_iter()
                .filter_map(|range| {
                    confusion
                        .get(&sentence[range.clone()].to_lowercase())
                        .map(|wrong| (range, wrong))
                })
                .collect();
            if targets.is_empty() {
                continue;
            }
            // The evaluation's deterministic choice of the injected error.
            let (range, wrongs) = &targets[sentence_idx % targets.len()];
            let intended = sentence[range.clone()].to_string();
            let wrong = match_case(&wrongs[sentence_idx % wrongs.len()], &intended);
            let corrupted = format!(
                "{}{}{}",
                &sentence[..range.start],
                wrong,
                &sentence[range.end..]
            );
            slots.push(Slot {
                range: range.start..range.start + wrong.len(),
                text: corrupted,
                candidate: intended.to_lowercase(),
            });
            if slots.len() >= max {
                return slots;
            }
        }
    }
    slots
}

fn manuscript_slots(directory: &std::path::Path, max: usize) -> anyhow::Result<Vec<Slot>> {
    let mut paths: Vec<_> = walk(directory)?
        .into_iter()
        .filter(|path| Language::from_path(&path.to_string_lossy()).is_some())
        .collect();
    paths.sort();
    let mut slots = Vec::new();
    let mut word_counter = 0usize;
    for path in paths {
        let source = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let language = Language::from_path(&path.to_string_lossy()).unwrap_or(Language::PlainText);
        for sentence in sentences(&source, language, &ProseOptions::default()) {
            let text = sentence.text;
            if text.len() < 60 {
                continue;
            }
            // One content word of five letters or more from every seventh sentence-word.
            for range in letter_words(&text) {
                word_counter += 1;
                if range.len() < 5 || !word_counter.is_multiple_of(7) {
                    continue;
                }
                slots.push(Slot {
                    candidate: text[range.clone()].to_lowercase(),
                    range,
                    text: text.clone(),
                });
                break;
            }
            if slots.len() >= max {
                return Ok(slots);
            }
        }
    }
    Ok(slots)
}

fn walk(directory: &std::path::Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(directory)
        .with_context(|| format!("reading the folder {}", directory.display()))?
    {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(walk(&path)?);
        } else {
            found.push(path);
        }
    }
    Ok(found)
}

/// Per method: drops when its top-k words are masked, and the baselines, per slot.
#[derive(Default)]
struct Tally {
    top: [Vec<f32>; 2],
    random: [Vec<f32>; 2],
    nearest: [Vec<f32>; 2],
    rows: usize,
    seconds: f64,
    explanations: usize,
}

fn mean(values: &[f32]) -> f32 {
    values.iter().sum::<f32>() / values.len().max(1) as f32
}

/// The mean of the paired differences (method minus baseline, per slot) and its 95 % bootstrap
/// interval over slots. A difference, not a ratio: a baseline whose mean drop is near zero (masking
/// random words can raise the candidate as often as it lowers it) makes a ratio's interval useless.
fn gain_with_interval(method: &[f32], baseline: &[f32], random: &mut Random) -> (f32, f32, f32) {
    let differences: Vec<f32> = method.iter().zip(baseline).map(|(m, b)| m - b).collect();
    let n = differences.len();
    let mut means: Vec<f32> = (0..1000)
        .map(|_| (0..n).map(|_| differences[random.below(n)]).sum::<f32>() / n.max(1) as f32)
        .collect();
    means.sort_by(f32::total_cmp);
    (mean(&differences), means[25], means[974])
}

fn measure(
    runner: &ModelRunner,
    slots: &[Slot],
    context_tokens: usize,
) -> anyhow::Result<(Vec<Tally>, usize)> {
    let mut tallies: Vec<Tally> = METHODS.iter().map(|_| Tally::default()).collect();
    let mut random = Random(0x9e3779b97f4a7c15);
    let mut used = 0;
    for slot in slots {
        let request = |(method, max_words): (EvidenceMethod, Option<usize>)| ExplainRequest {
            text: slot.text.clone(),
            slot: slot.range.clone(),
            candidate: slot.candidate.clone(),
            method,
            context_tokens,
            skip: Vec::new(),
            max_words,
            cancel: None,
        };
        let mut rankings: Vec<Vec<EvidenceWord>> = Vec::new();
        for (method_idx, &method) in METHODS.iter().enumerate() {
            let started = Instant::now();
            let batch = runner.explain_batch(&[request(method)])?;
            tallies[method_idx].seconds += started.elapsed().as_secs_f64();
            tallies[method_idx].rows += batch.rows;
            tallies[method_idx].explanations += 1;
            rankings.push(
                batch
                    .answers
                    .into_iter()
                    .next()
                    .map(|e| e.words)
                    .unwrap_or_default(),
            );
        }
        let context = &rankings[0];
        if context.len() < 4 {
            continue;
        }
        used += 1;
        // Sets to mask: nothing, each method's top 1 and top 3, the nearest 1 and 3, random draws.
        let ranges = |words: &[EvidenceWord], k: usize| -> Vec<Range<usize>> {
            words
                .iter()
                .take(k)
                .map(|word| word.range.clone())
                .collect()
        };
        let mut by_distance: Vec<EvidenceWord> = context.clone();
        let middle = (slot.range.start + slot.range.end) / 2;
        by_distance.sort_by_key(|word| ((word.range.start + word.range.end) / 2).abs_diff(middle));
        let mut sets = vec![Vec::new()];
        for ranking in &rankings {
            sets.push(ranges(ranking, 1));
            sets.push(ranges(ranking, 3));
        }
        sets.push(ranges(&by_distance, 1));
        sets.push(ranges(&by_distance, 3));
        for k in [1, 3] {
            for _ in 0..RANDOM_DRAWS {
                let chosen = random.choose(context.len(), k);
                sets.push(chosen.iter().map(|&i| context[i].range.clone()).collect());
            }
        }
        let scores = runner.candidate_log_probability_masked(&request(METHODS[0]), &sets)?;
        let drop = |set_idx: usize| scores[0] - scores[set_idx];
        let random_start = 1 + 2 * METHODS.len() + 2;
        for (method_idx, tally) in tallies.iter_mut().enumerate() {
            for (k_idx, _) in [1, 3].iter().enumerate() {
                tally.top[k_idx].push(drop(1 + 2 * method_idx + k_idx));
                tally.nearest[k_idx].push(drop(1 + 2 * METHODS.len() + k_idx));
                let draws =
                    random_start + k_idx * RANDOM_DRAWS..random_start + (k_idx + 1) * RANDOM_DRAWS;
                tally.random[k_idx].push(draws.map(drop).sum::<f32>() / RANDOM_DRAWS as f32);
            }
        }
    }
    Ok((tallies, used))
}

fn report(name: &str, tallies: &[Tally], used: usize) {
    let mut random = Random(42);
    println!("\n### {name}: {used} slots\n");
    println!("| method | k | mean drop (nats) | random k | nearest k | gain over random [95 % CI] | gain over nearest [95 % CI] | ratio to random | ratio to nearest | slots where top > random |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (&method, tally) in METHODS.iter().zip(tallies) {
        for (k_idx, k) in [1, 3].iter().enumerate() {
            let (top, random_drop, nearest) = (
                mean(&tally.top[k_idx]),
                mean(&tally.random[k_idx]),
                mean(&tally.nearest[k_idx]),
            );
            let (over_random, low_r, high_r) =
                gain_with_interval(&tally.top[k_idx], &tally.random[k_idx], &mut random);
            let (over_nearest, low_n, high_n) =
                gain_with_interval(&tally.top[k_idx], &tally.nearest[k_idx], &mut random);
            let wins = tally.top[k_idx]
                .iter()
                .zip(&tally.random[k_idx])
                .filter(|(top, random)| top > random)
                .count();
            println!(
                "| {} | {k} | {top:.2} | {random_drop:.2} | {nearest:.2} | {over_random:+.2} [{low_r:+.2}, {high_r:+.2}] | {over_nearest:+.2} [{low_n:+.2}, {high_n:+.2}] | {:.1} | {:.1} | {:.0} % |",
                label(method),
                top / random_drop,
                top / nearest,
                100.0 * wins as f32 / tally.top[k_idx].len().max(1) as f32,
            );
        }
    }
}

fn main() -> anyhow::Result<()> {
    let mut corpus = None;
    let mut confusables = None;
    let mut manuscripts = None;
    let mut model = None;
    let mut max_slots = 150usize;
    let mut context_tokens = 24usize;
    let mut precision = PrecisionChoice::Auto;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--corpus" => corpus = Some(value()?),
            "--confusables" => confusables = Some(value()?),
            "--manuscripts" => manuscripts = Some(value()?),
            "--model" => model = Some(value()?),
            "--max-slots" => max_slots = value()?.parse()?,
            "--context-tokens" => context_tokens = value()?.parse()?,
            "--precision" => precision = value()?.parse()?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    let (runner, device) = match &model {
        Some(directory) => load_from_directory(
            std::path::Path::new(directory),
            DeviceChoice::Cpu,
            precision,
        )?,
        None => load_bundled(DeviceChoice::Cpu, precision)?,
    };
    println!(
        "model: {} on {device} ({}); context window {context_tokens} tokens; {RANDOM_DRAWS} random draws per slot",
        model.as_deref().unwrap_or("bundled mini model"),
        runner.model.precision_name()
    );
    let mut all: Vec<Tally> = METHODS.iter().map(|_| Tally::default()).collect();
    let mut sets: Vec<(&str, Vec<Slot>)> = Vec::new();
    if let (Some(corpus), Some(confusables)) = (&corpus, &confusables) {
        let corpus =
            std::fs::read_to_string(corpus).with_context(|| format!("reading {corpus}"))?;
        let confusables = std::fs::read_to_string(confusables)
            .with_context(|| format!("reading {confusables}"))?;
        sets.push((
            "NCBI-disease develop, injected confusables (explaining the intended word)",
            confusable_slots(&corpus, &confusables, max_slots),
        ));
    }
    if let Some(directory) = &manuscripts {
        sets.push((
            "manuscript words (explaining the word itself)",
            manuscript_slots(std::path::Path::new(directory), max_slots)?,
        ));
    }
    if sets.is_empty() {
        bail!("give --corpus and --confusables, or --manuscripts");
    }
    for (name, slots) in &sets {
        let (tallies, used) = measure(&runner, slots, context_tokens)?;
        report(name, &tallies, used);
        for (total, tally) in all.iter_mut().zip(tallies) {
            total.rows += tally.rows;
            total.seconds += tally.seconds;
            total.explanations += tally.explanations;
        }
    }
    println!("\n### Cost per explanation\n");
    println!("| method | rows | ms |");
    println!("|---|---|---|");
    for (&method, tally) in METHODS.iter().zip(&all) {
        let n = tally.explanations.max(1) as f64;
        println!(
            "| {} | {:.1} | {:.1} |",
            label(method),
            tally.rows as f64 / n,
            1000.0 * tally.seconds / n
        );
    }
    Ok(())
}
