//! Benchmark of the terminology check on a whole manuscript: cold, then after one-word edits, with
//! the work counted in rows (sequences through the encoder) per word of prose.
//!
//! cargo run --release --example bench_check -- FILE [--model DIR] [--cost-model DIR] [--edits N]
//!   [--score-context TOKENS] [--batch-tokens TOKENS] [--evidence off|attention|rollout|occlusion]
//!   [--precision auto|f32|q8]
//!
//! Both models run at `--precision`, by default the CPU's default as the server runs it (8-bit
//! where an integer kernel runs); the report names it.
//!
//! The check runs the way the server runs it: prose extraction, sentences, the sentence cache;
//! after the cold check, each edit changes one word of the source (" the " → " this ", spread
//! over the file), extracts again and re-checks (only the changed sentence reaches the model).
//!
//! `--cost-model DIR` sends every model request of the check a second time to another model with
//! the same vocabulary and times it there. The deciding model (`--model`, default the bundled
//! one) chooses which words and alternatives are scored; the cost model does exactly that work.
//! This is how a BERT-base-shaped checkpoint with random weights gets a meaningful figure: with
//! random weights every word looks suspicious to the screen, which says nothing about a trained
//! model; run it as `--model` too to see that worst case.

use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use biomed_lsp::analysis::document::{check_document, prepare_document};
use biomed_lsp::analysis::terminology::{CheckError, TermScorer};
use biomed_lsp::analysis::{
    lexicon_for_tokenizer, CheckSettings, CheckStatistics, Dictionary, SentenceCache,
    SentenceCheckInputs,
};
use biomed_lsp::model::device::{DeviceChoice, PrecisionChoice};
use biomed_lsp::model::engine::{load_bundled, load_from_directory};
use biomed_lsp::model::fill::ModelRunner;
use biomed_lsp::model::{
    BatchAnswers, EvidenceMethod, ExplainRequest, Explanation, ScoreRequest, TokenProbability,
    TokenProbabilityRequest, TokenizedWord, WordScore,
};
use biomed_lsp::prose::{Language, ProseOptions};

/// Answers with the deciding model and, when there is one, replays each request on the cost model.
struct ReplayingScorer<'a> {
    deciding: &'a ModelRunner,
    cost: Option<&'a ModelRunner>,
    deciding_time: Cell<Duration>,
    /// The cost model's time on screening requests and on scoring requests.
    cost_screen_time: Cell<Duration>,
    cost_score_time: Cell<Duration>,
    /// The cost model's time finding the evidence of findings.
    cost_evidence_time: Cell<Duration>,
}

impl ReplayingScorer<'_> {
    fn timed<T>(
        &self,
        deciding: impl FnOnce(&ModelRunner) -> Result<T, CheckError>,
        cost: impl FnOnce(&ModelRunner) -> Result<T, CheckError>,
        cost_time: &Cell<Duration>,
    ) -> Result<T, CheckError> {
        let started = Instant::now();
        let answer = deciding(self.deciding)?;
        self.deciding_time
            .set(self.deciding_time.get() + started.elapsed());
        if let Some(cost_model) = self.cost {
            let started = Instant::now();
            cost(cost_model)?;
            cost_time.set(cost_time.get() + started.elapsed());
        }
        Ok(answer)
    }

    /// Deciding model's time, cost model's screening, scoring and evidence times since the last
    /// call.
    fn take_times(&self) -> (Duration, Duration, Duration, Duration) {
        (
            self.deciding_time.take(),
            self.cost_screen_time.take(),
            self.cost_score_time.take(),
            self.cost_evidence_time.take(),
        )
    }
}

impl TermScorer for ReplayingScorer<'_> {
    fn model_id(&self) -> u64 {
        TermScorer::model_id(self.deciding)
    }
    fn words(&self, text: &str) -> Result<Vec<TokenizedWord>, CheckError> {
        TermScorer::words(self.deciding, text)
    }

    fn token_probabilities(
        &self,
        requests: Vec<TokenProbabilityRequest>,
    ) -> Result<BatchAnswers<Vec<TokenProbability>>, CheckError> {
        self.timed(
            |model| TermScorer::token_probabilities(model, requests.clone()),
            |model| TermScorer::token_probabilities(model, requests.clone()),
            &self.cost_screen_time,
        )
    }

    fn score(
        &self,
        requests: Vec<ScoreRequest>,
    ) -> Result<BatchAnswers<Vec<WordScore>>, CheckError> {
        self.timed(
            |model| TermScorer::score(model, requests.clone()),
            |model| TermScorer::score(model, requests.clone()),
            &self.cost_score_time,
        )
    }

    fn explain(
        &self,
        requests: Vec<ExplainRequest>,
    ) -> Result<BatchAnswers<Explanation>, CheckError> {
        self.timed(
            |model| TermScorer::explain(model, requests.clone()),
            |model| TermScorer::explain(model, requests.clone()),
            &self.cost_evidence_time,
        )
    }
}

fn load(directory: Option<&str>, precision: PrecisionChoice) -> anyhow::Result<ModelRunner> {
    Ok(match directory {
        Some(directory) => {
            load_from_directory(Path::new(directory), DeviceChoice::Cpu, precision)?.0
        }
        None => load_bundled(DeviceChoice::Cpu, precision)?.0,
    })
}

fn language_of(path: &str) -> Language {
    match Path::new(path).extension().and_then(|ext| ext.to_str()) {
        Some("md" | "markdown") => Language::Markdown,
        Some("tex") => Language::Latex,
        _ => Language::PlainText,
    }
}

fn main() -> anyhow::Result<()> {
    let mut file = None;
    let mut model = None;
    let mut cost_model = None;
    let mut edits = 10usize;
    let mut score_context: Option<usize> = None;
    let mut batch_tokens: Option<usize> = None;
    let mut evidence = None;
    let mut precision = PrecisionChoice::Auto;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--model" => model = Some(value()?),
            "--cost-model" => cost_model = Some(value()?),
            "--precision" => precision = value()?.parse()?,
            "--edits" => edits = value()?.parse().context("--edits wants a number")?,
            "--batch-tokens" => {
                batch_tokens = Some(value()?.parse().context("--batch-tokens wants a number")?)
            }
            "--score-context" => {
                score_context = Some(value()?.parse().context("--score-context wants a number")?)
            }
            "--evidence" => {
                let name = value()?;
                evidence = match name.as_str() {
                    "off" => None,
                    other => Some(EvidenceMethod::parse(other).with_context(|| {
                        format!("--evidence {other:?} is not off, attention, rollout or occlusion")
                    })?),
                }
            }
            other if !other.starts_with("--") && file.is_none() => file = Some(other.to_string()),
            other => bail!("unknown argument {other:?}"),
        }
    }
    let Some(file) = file else {
        bail!(
            "usage: bench_check FILE [--model DIR] [--cost-model DIR] [--edits N] [--score-context TOKENS] [--batch-tokens TOKENS]"
        );
    };
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?;
    let language = language_of(&file);
    let mut deciding = load(model.as_deref(), precision)?;
    let mut cost = cost_model
        .as_deref()
        .map(|dir| load(Some(dir), precision))
        .transpose()?;
    if let Some(tokens) = batch_tokens {
        deciding.max_batch_tokens = tokens;
        if let Some(cost) = &mut cost {
            cost.max_batch_tokens = tokens;
        }
    }
    if let Some(cost) = &cost {
        if cost.tokenizer.vocab_len() != deciding.tokenizer.vocab_len() {
            bail!("the cost model's vocabulary differs from the deciding model's");
        }
    }
    let mut settings = CheckSettings {
        evidence,
        ..CheckSettings::default()
    };
    if let Some(tokens) = score_context {
        settings.score_context_tokens = tokens;
    }
    let lexicon = lexicon_for_tokenizer(&deciding.tokenizer, &settings)?;
    let dictionary = Dictionary::new();
    let inputs = SentenceCheckInputs {
        lexicon: &lexicon,
        dictionary: &dictionary,
        spelling: biomed_lsp::analysis::spelling::SpellingDictionaries::default(),
        settings: &settings,
    };
    let scorer = ReplayingScorer {
        deciding: &deciding,
        cost: cost.as_ref(),
        deciding_time: Cell::default(),
        cost_screen_time: Cell::default(),
        cost_score_time: Cell::default(),
        cost_evidence_time: Cell::default(),
    };
    let cache = SentenceCache::new();
    let options = ProseOptions::default();

    let check =
        |source: &str, statistics: &mut CheckStatistics| -> anyhow::Result<(usize, Duration)> {
            let started = Instant::now();
            let document = prepare_document(source, language, None, &options);
            let findings = check_document(
                &scorer,
                &document,
                &inputs,
                &[],
                Some(&cache),
                None,
                statistics,
                &mut |_, _| {},
            )?;
            Ok((findings.len(), started.elapsed()))
        };

    println!("file: {file}");
    println!(
        "deciding model: {}; cost model: {}; evidence: {}",
        model.as_deref().unwrap_or("bundled mini model"),
        cost_model.as_deref().unwrap_or("none"),
        evidence.map_or("off", EvidenceMethod::as_str)
    );
    let mut cold = CheckStatistics::default();
    let (findings, wall) = check(&text, &mut cold)?;
    let (deciding_time, cost_screen, cost_score, cost_evidence) = scorer.take_times();
    let words = cold.words.max(1) as f64;
    println!(
        "cold: {} sentences, {} words, {} checked, {} scored; rows: screening {} + scoring {} = {:.3} per word, evidence {}; {} findings",
        cold.sentences,
        cold.words,
        cold.checked_words,
        cold.scored_words,
        cold.screening_rows,
        cold.scoring_rows,
        (cold.screening_rows + cold.scoring_rows) as f64 / words,
        cold.evidence_rows,
        findings
    );
    println!(
        "cold: wall {:.1} s (deciding model {:.1} s{})",
        wall.as_secs_f64(),
        deciding_time.as_secs_f64(),
        if cost.is_some() {
            format!(
                ", cost model on the same requests {:.1} s: screen {:.1} s, scoring {:.1} s, evidence {:.1} s",
                (cost_screen + cost_score + cost_evidence).as_secs_f64(),
                cost_screen.as_secs_f64(),
                cost_score.as_secs_f64(),
                cost_evidence.as_secs_f64()
            )
        } else {
            String::new()
        }
    );

    // One-word edits spread over the file, each re-checked from the edited text.
    let positions: Vec<usize> = text.match_indices(" the ").map(|(at, _)| at).collect();
    let mut deciding_ms = Vec::new();
    let mut cost_ms = Vec::new();
    let mut rows = Vec::new();
    for edit_idx in 0..edits.min(positions.len()) {
        let at = positions[edit_idx * positions.len() / edits.min(positions.len())];
        let edited = format!("{} this {}", &text[..at], &text[at + 5..]);
        let mut statistics = CheckStatistics::default();
        check(&edited, &mut statistics)?;
        let (deciding_time, cost_screen, cost_score, cost_evidence) = scorer.take_times();
        deciding_ms.push(deciding_time.as_secs_f64() * 1000.0);
        cost_ms.push((cost_screen + cost_score + cost_evidence).as_secs_f64() * 1000.0);
        rows.push(statistics.screening_rows + statistics.scoring_rows);
    }
    let summary = |mut samples: Vec<f64>| {
        samples.sort_by(f64::total_cmp);
        match samples.as_slice() {
            [] => "no edits".to_string(),
            _ => format!(
                "median {:.0} ms, max {:.0} ms",
                samples[samples.len() / 2],
                samples[samples.len() - 1]
            ),
        }
    };
    rows.sort_unstable();
    println!(
        "after a one-word edit ({} edits, model time): deciding model {}; rows median {}, max {}",
        deciding_ms.len(),
        summary(deciding_ms),
        rows.get(rows.len() / 2).copied().unwrap_or(0),
        rows.last().copied().unwrap_or(0)
    );
    if cost.is_some() {
        println!(
            "after a one-word edit: cost model on the same requests {}",
            summary(cost_ms)
        );
    }
    Ok(())
}
