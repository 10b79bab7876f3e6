//! Evaluates the terminology check: injects confusable-word errors into real sentences and reports
//! precision, recall and F1 of `improbable-term`, false alarms per 1,000 clean words, and findings
//! per 1,000 words of a real manuscript.
//!
//! cargo run --example eval_terminology -- \
//!   --corpus ../shared/data/corpus/ncbi_disease/NCBIdevelopset_corpus.txt \
//!   --confusables ../shared/data/confusables/languagetool_confusion_sets_biomed_subset.txt \
//!   [--review ../shared/data/manuscripts/deep-review/04.study.md] [--max-sentences N]
//!   [--set min_margin=3.0 ...] [--show 20] [--model DIR] [--precision f32|q8]

#[path = "support/bench_support.rs"]
mod bench_support;

use bench_support::{letter_words, parse_confusables};
use std::ops::Range;
use std::time::Instant;

use anyhow::{bail, Context};
use biomed_lsp::analysis::wording::match_case;
use biomed_lsp::analysis::{
    check_sentence, lexicon_for_tokenizer, CheckSettings, CheckStatistics, Dictionary, FindingCode,
    SentenceToCheck,
};
use biomed_lsp::model::device::{DeviceChoice, Precision, PrecisionChoice};
use biomed_lsp::model::engine::{load_bundled, load_from_directory};

fn set_setting(settings: &mut CheckSettings, assignment: &str) -> anyhow::Result<()> {
    let (name, value) = assignment
        .split_once('=')
        .with_context(|| format!("--set wants name=value, got {assignment:?}"))?;
    let float = || {
        value
            .parse::<f32>()
            .with_context(|| format!("{name}: {value:?}"))
    };
    let int = || {
        value
            .parse::<usize>()
            .with_context(|| format!("{name}: {value:?}"))
    };
    match name {
        "min_word_length" => settings.min_word_length = int()?,
        "max_edit_distance" => settings.max_edit_distance = int()?,
        "min_length_for_two_edits" => settings.min_length_for_two_edits = int()?,
        "max_candidates" => settings.max_candidates = int()?,
        "always_score_nearest" => settings.always_score_nearest = int()?,
        "screen_max_log_probability" => settings.screen_max_log_probability = float()?,
        "screen_margin" => settings.screen_margin = float()?,
        "screen_top_k" => settings.screen_top_k = int()?,
        "score_context_tokens" => settings.score_context_tokens = int()?,
        "min_margin" => settings.min_margin = float()?,
        "confusable_min_margin" => settings.confusable_min_margin = float()?,
        "margin_per_extra_edit" => settings.margin_per_extra_edit = float()?,
        "frequency_weight" => settings.frequency_weight = float()?,
        "min_alternative_log_probability" => settings.min_alternative_log_probability = float()?,
        "strong_margin" => settings.strong_margin = float()?,
        "unknown_max_log_probability" => settings.unknown_max_log_probability = float()?,
        "unknown_min_pieces" => settings.unknown_min_pieces = int()?,
        "unknown_min_margin" => settings.unknown_min_margin = float()?,
        "unknown_edit_penalty" => settings.unknown_edit_penalty = float()?,
        "manuscript_weight" => settings.manuscript_weight = float()?,
        _ => bail!("unknown setting {name:?}"),
    }
    Ok(())
}

fn pubtator_texts(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, '|');
            let _id = parts.next()?;
            let kind = parts.next()?;
            let body = parts.next()?;
            (kind == "t" || kind == "a").then(|| body.to_string())
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let mut corpus = None;
    let mut confusables = None;
    let mut review = None;
    let mut model = None;
    let mut max_sentences = usize::MAX;
    let mut show = 0usize;
    let mut sweep = false;
    let mut debug_sentences: Vec<String> = Vec::new();
    let mut settings = CheckSettings::default();
    let mut precision = PrecisionChoice::Exactly(Precision::Float);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--corpus" => corpus = Some(value()?),
            "--confusables" => confusables = Some(value()?),
            "--review" => review = Some(value()?),
            "--model" => model = Some(value()?),
            "--precision" => precision = value()?.parse()?,
            "--max-sentences" => max_sentences = value()?.parse()?,
            "--show" => show = value()?.parse()?,
            "--sweep" => sweep = true,
            "--debug" => debug_sentences.push(value()?),
            "--set" => set_setting(&mut settings, &value()?)?,
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
    println!("model on {device} ({})", runner.model.precision_name());
    let started = Instant::now();
    let lexicon = lexicon_for_tokenizer(&runner.tokenizer, &settings)?;
    eprintln!(
        "lexicon: {} words, built in {:.2?}",
        lexicon.len(),
        started.elapsed()
    );
    let dictionary = Dictionary::new();
    println!("settings: {settings:?}");
    for sentence in &debug_sentences {
        let tokens = runner.token_probabilities(&biomed_lsp::model::TokenProbabilityRequest {
            text: sentence.clone(),
            top_k: 5,
            top_k_ranges: None,
            ranges: None,
            cancel: None,
        })?;
        for token in &tokens {
            println!(
                "  {:>16} {:8.3}  top {:?}",
                token.piece, token.log_probability, token.top
            );
        }
        let words = runner.tokenizer.words(sentence)?;
        for word in &words {
            let near = lexicon.near(&word.text, 2);
            if near.is_empty() {
                continue;
            }
            let request = biomed_lsp::model::ScoreRequest {
                text: sentence.clone(),
                words: vec![biomed_lsp::model::WordToScore {
                    range: word.start..word.end,
                    candidates: near.iter().take(8).map(|n| n.word.clone()).collect(),
                }],
                top_k_alternatives: 3,
                candidate_bounds_only: false,
                context_tokens: 0,
                cancel: None,
            };
            let score = runner.score(&request)?;
            println!(
                "  {} {:.3} cands {:?}",
                word.text, score[0].log_probability, score[0].candidates
            );
        }
        let mut statistics = CheckStatistics::default();
        let findings = check_sentence(
            &runner,
            &SentenceToCheck::new(sentence.clone()),
            &lexicon,
            &dictionary,
            &settings,
            &mut statistics,
        )?;
        println!("findings {findings:#?} {statistics:?}");
    }

    if let (Some(corpus), Some(confusables)) = (&corpus, &confusables) {
        let corpus_text =
            std::fs::read_to_string(corpus).with_context(|| format!("reading {corpus}"))?;
        let confusion = parse_confusables(
            &std::fs::read_to_string(confusables)
                .with_context(|| format!("reading {confusables}"))?,
        );
        let mut sentences: Vec<String> = Vec::new();
        for text in pubtator_texts(&corpus_text) {
            let options = biomed_lsp::prose::ProseOptions::default();
            for sentence in biomed_lsp::prose::sentences(
                &text,
                biomed_lsp::prose::Language::PlainText,
                &options,
            ) {
                sentences.push(sentence.text);
            }
        }
        sentences.truncate(max_sentences);
        let mut clean_words = 0usize;
        let mut clean_findings = 0usize;
        let mut clean_improbable = 0usize;
        // For the threshold sweep: scores of improbable-term findings on clean sentences, at the
        // injected error, and elsewhere in corrupted sentences; and the count of unknown-term
        // findings on clean sentences.
        let mut sweep_clean: Vec<f32> = Vec::new();
        let mut sweep_hits: Vec<f32> = Vec::new();
        let mut sweep_elsewhere: Vec<f32> = Vec::new();
        let mut clean_unknown = 0usize;
        let mut true_positives = 0usize;
        let mut right_suggestion = 0usize;
        let mut found_as_unknown = 0usize;
        let mut corrupted_false_positives = 0usize;
        // Every finding of every check run, clean and corrupted sentences alike, and those of
        // them at an injected error (of either code): precision is the share of the latter.
        let mut all_findings = 0usize;
        let mut findings_at_error = 0usize;
        let mut injected = 0usize;
        let mut statistics = CheckStatistics::default();
        let mut shown = 0usize;
        let started = Instant::now();
        for (sentence_idx, sentence) in sentences.iter().enumerate() {
            clean_words += letter_words(sentence).len();
            let findings = check_sentence(
                &runner,
                &SentenceToCheck::new(sentence.clone()),
                &lexicon,
                &dictionary,
                &settings,
                &mut statistics,
            )?;
            clean_findings += findings.len();
            all_findings += findings.len();
            for finding in &findings {
                match finding.code {
                    FindingCode::ImprobableTerm => sweep_clean.push(finding.score),
                    FindingCode::UnknownTerm => clean_unknown += 1,
                    // Document-level only: never found sentence by sentence.
                    FindingCode::Abbreviation(_) | FindingCode::TermVariant => {}
                }
            }
            clean_improbable += findings
                .iter()
                .filter(|f| f.code == FindingCode::ImprobableTerm)
                .count();
            for finding in &findings {
                if shown < show {
                    shown += 1;
                    println!(
                        "false alarm: {} [{}] in: {}",
                        finding.message,
                        finding.code.as_str(),
                        sentence
                    );
                }
            }
            // Inject one error: a deterministic choice among the sentence's confusable words.
            let targets: Vec<(Range<usize>, &Vec<String>)> = letter_words(sentence)
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
            let (range, wrongs) = &targets[sentence_idx % targets.len()];
            let intended = &sentence[range.clone()];
            let wrong = match_case(&wrongs[sentence_idx % wrongs.len()], intended);
            let corrupted = format!(
                "{}{}{}",
                &sentence[..range.start],
                wrong,
                &sentence[range.end..]
            );
            let error_range = range.start..range.start + wrong.len();
            injected += 1;
            let findings = check_sentence(
                &runner,
                &SentenceToCheck::new(corrupted.clone()),
                &lexicon,
                &dictionary,
                &settings,
                &mut statistics,
            )?;
            let mut detected = false;
            all_findings += findings.len();
            for finding in &findings {
                let at_error =
                    finding.range.start < error_range.end && error_range.start < finding.range.end;
                findings_at_error += usize::from(at_error);
                match (finding.code, at_error) {
                    (FindingCode::ImprobableTerm, true) => {
                        detected = true;
                        sweep_hits.push(finding.score);
                        if finding
                            .suggestions
                            .first()
                            .is_some_and(|s| s.eq_ignore_ascii_case(intended))
                        {
                            right_suggestion += 1;
                        }
                    }
                    (FindingCode::ImprobableTerm, false) => {
                        corrupted_false_positives += 1;
                        sweep_elsewhere.push(finding.score);
                    }
                    (FindingCode::UnknownTerm, true) => found_as_unknown += 1,
                    _ => {}
                }
            }
            if detected {
                true_positives += 1;
            } else if shown < show {
                shown += 1;
                println!("missed: {intended} -> {wrong} in: {corrupted}");
            }
        }
        let elapsed = started.elapsed();
        let precision = findings_at_error as f64 / all_findings.max(1) as f64;
        let recall = true_positives as f64 / injected.max(1) as f64;
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        if sweep {
            // Findings' scores are corrected margins: a stricter threshold T keeps those above T
            // (exact when the run used min_margin 0 and margin_per_extra_edit 0).
            for step in 0..=24 {
                let threshold = step as f32 * 0.5;
                let above = |scores: &Vec<f32>| scores.iter().filter(|&&s| s > threshold).count();
                let tp = above(&sweep_hits);
                // False alarms on clean sentences count too (unknown-term findings do not
                // depend on the threshold).
                let fp = above(&sweep_elsewhere) + above(&sweep_clean) + clean_unknown;
                let precision = tp as f64 / (tp + fp).max(1) as f64;
                let recall = tp as f64 / injected.max(1) as f64;
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                let alarms = above(&sweep_clean) + clean_unknown;
                println!(
                    "sweep T={threshold:4.1}: P {precision:.3} R {recall:.3} F1 {f1:.3}  false alarms {:.2}/1000 words ({} improbable, {} unknown)",
                    alarms as f64 * 1000.0 / clean_words.max(1) as f64,
                    above(&sweep_clean),
                    clean_unknown
                );
            }
        }
        println!("corpus: {corpus}");
        println!(
            "sentences: {} clean ({} words), {} with an injected error",
            sentences.len(),
            clean_words,
            injected
        );
        println!(
            "precision {:.3} over every finding ({} at an injected error of {} findings, clean sentences included); improbable-term recall {:.3}; F1 {:.3}",
            precision, findings_at_error, all_findings, recall, f1
        );
        println!(
            "  (improbable-term tp {}, improbable-term findings elsewhere in corrupted sentences {}, right first suggestion {}, flagged unknown instead {})",
            true_positives, corrupted_false_positives, right_suggestion, found_as_unknown
        );
        println!(
            "false alarms on clean sentences: {} ({} improbable-term) = {:.2} per 1000 words",
            clean_findings,
            clean_improbable,
            clean_findings as f64 * 1000.0 / clean_words.max(1) as f64
        );
        println!(
            "work: {} words seen, {} checked, {} scored; rows: screening {} + scoring {} = {:.3} rows per word; {:.1?} total",
            statistics.words,
            statistics.checked_words,
            statistics.scored_words,
            statistics.screening_rows,
            statistics.scoring_rows,
            (statistics.screening_rows + statistics.scoring_rows) as f64 / statistics.words.max(1) as f64,
            elapsed
        );
    }

    if let Some(review) = &review {
        let text = std::fs::read_to_string(review).with_context(|| format!("reading {review}"))?;
        // The prose a reader reads, as the server and `check` see it: no citations, code, tables'
        // markup or front matter.
        let chunks = biomed_lsp::prose::extract(
            &text,
            biomed_lsp::prose::Language::Markdown,
            &biomed_lsp::prose::ProseOptions::default(),
        );
        let document_sentences = biomed_lsp::analysis::document::document_sentences(&chunks);
        let mut statistics = CheckStatistics::default();
        let mut words = 0usize;
        let mut findings_total = 0usize;
        let started = Instant::now();
        for sentence in &document_sentences {
            words += letter_words(&sentence.check.text).len();
            let findings = check_sentence(
                &runner,
                &sentence.check,
                &lexicon,
                &dictionary,
                &settings,
                &mut statistics,
            )?;
            for finding in &findings {
                if show > 0 {
                    println!(
                        "review finding: {} [{}]",
                        finding.message,
                        finding.code.as_str()
                    );
                }
            }
            findings_total += findings.len();
        }
        println!(
            "review {review}: {} words, {} findings = {:.2} per 1000 words; rows {:.3} per word; {:.1?}",
            words,
            findings_total,
            findings_total as f64 * 1000.0 / words.max(1) as f64,
            (statistics.screening_rows + statistics.scoring_rows) as f64 / statistics.words.max(1) as f64,
            started.elapsed()
        );
        // Re-check after a one-word edit: every sentence is cached, one sentence changes.
        let sentences: Vec<SentenceToCheck> = document_sentences
            .iter()
            .map(|sentence| sentence.check.clone())
            .collect();
        let cache = biomed_lsp::analysis::SentenceCache::new();
        biomed_lsp::analysis::check_sentences_cached(
            &runner,
            &sentences,
            &lexicon,
            &dictionary,
            &settings,
            &cache,
        )?;
        let mut latencies = Vec::new();
        for edit_idx in 0..10 {
            let mut edited = sentences.clone();
            let target = (edit_idx * 37) % edited.len().max(1);
            if let Some(sentence) = edited.get_mut(target) {
                sentence.text = sentence.text.replacen(" the ", " this ", 1) + " ";
            }
            let started = Instant::now();
            biomed_lsp::analysis::check_sentences_cached(
                &runner,
                &edited,
                &lexicon,
                &dictionary,
                &settings,
                &cache,
            )?;
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        latencies.sort_by(|a, b| a.total_cmp(b));
        println!(
            "re-check of the whole review after a one-word edit ({} sentences, 10 edits): median {:.0} ms, max {:.0} ms",
            sentences.len(),
            latencies[latencies.len() / 2],
            latencies[latencies.len() - 1]
        );
    }
    Ok(())
}
