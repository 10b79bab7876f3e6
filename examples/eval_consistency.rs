//! Recall of the abbreviation and term-variant checks on inconsistencies injected into published
//! manuscripts (the deep-review, read as one manuscript, and the phyloseq article), one at a time,
//! and the findings on the manuscripts as published. The abbreviation checks are string work; the
//! term-variant candidates are decided by the bundled model's contextual embeddings (slot
//! embeddings kept across the injections, as the server keeps them across checks).
//!
//! Injections: an abbreviation's definition moved after its first use (the definition
//! `long form (SHORT)` becomes `SHORT` and the first later use becomes the definition: the
//! check must report `abbreviation-before-definition` for SHORT); a word of the manuscript
//! written once in the other spelling convention (`tumor` → `tumour` in one sentence) or with a
//! hyphen after its prefix (`nonlinear` → `non-linear`): the check must report `term-variant` on
//! it. Findings already there before the injection do not count.
//!
//! cargo run --release --example eval_consistency -- [--data ../shared/data] [--show N]
//!   [--model DIR] (the model whose embeddings decide term variants; the bundled one by default)

#[path = "support/bench_support.rs"]
mod bench_support;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use bench_support::{argument, letter_words};
use biomed_lsp::analysis::abbreviations::{find_definitions, AbbreviationIssue};
use biomed_lsp::analysis::document::{
    manuscript_consistency_findings, prepare_document, JudgeModel, PreparedDocument,
    VariantJudgeModel,
};
use biomed_lsp::analysis::spelling::spelling_convention;
use biomed_lsp::analysis::terminology::{Finding, FindingCode};
use biomed_lsp::analysis::CheckSettings;
use biomed_lsp::analysis::SentenceCache;
use biomed_lsp::model::device::{DeviceChoice, PrecisionChoice};
use biomed_lsp::model::engine::{load_bundled, load_from_directory};
use biomed_lsp::prose::{Language, ProseOptions};
use biomed_lsp::settings::Settings;

/// One file of a manuscript: its name, language and source.
struct File {
    name: String,
    language: Language,
    source: String,
}

/// A finding, as what it is about: (code, word); a term variant also as (code, the form it
/// suggests), since on a tie the form written first is the one kept.
fn keys(findings: &[(usize, Finding)]) -> HashSet<(String, String)> {
    let mut keys = HashSet::new();
    for (_, finding) in findings {
        let code = finding.code.as_str().to_string();
        if finding.code == FindingCode::TermVariant {
            if let Some(suggestion) = finding.suggestions.first() {
                keys.insert((code.clone(), suggestion.to_lowercase()));
            }
        }
        keys.insert((code, finding.word.clone()));
    }
    keys
}

/// The findings of the manuscript `prepared`, with file `replaced.0` read from `replaced.1`.
fn check(
    files: &[File],
    prepared: &[PreparedDocument],
    replaced: Option<(usize, &str)>,
    options: &ProseOptions,
    settings: &CheckSettings,
    judge_model: VariantJudgeModel,
) -> Vec<(usize, Finding)> {
    let changed = replaced.map(|(index, source)| {
        (
            index,
            prepare_document(source, files[index].language, None, options),
        )
    });
    let documents: Vec<&PreparedDocument> = prepared
        .iter()
        .enumerate()
        .map(|(index, document)| match &changed {
            Some((changed_index, changed)) if *changed_index == index => changed,
            _ => document,
        })
        .collect();
    manuscript_consistency_findings(&documents, settings, judge_model)
}

/// The other spelling convention's forms of an American word, those the dictionaries call
/// British (`tumor` → `tumour`, `characterize` → `characterise`, `center` → `centre`).
fn british_forms(word: &str) -> Vec<String> {
    let mut forms = Vec::new();
    for (american, british) in [
        ("or", "our"),
        ("ization", "isation"),
        ("ize", "ise"),
        ("izing", "ising"),
        ("ized", "ised"),
        ("yze", "yse"),
        ("yzed", "ysed"),
        ("ter", "tre"),
        ("eling", "elling"),
        ("eled", "elled"),
    ] {
        if let Some(stem) = word.strip_suffix(american) {
            forms.push(format!("{stem}{british}"));
        }
        if let Some(at) = word.find(american) {
            forms.push(format!(
                "{}{british}{}",
                &word[..at],
                &word[at + american.len()..]
            ));
        }
    }
    for (american, british) in [("hem", "haem"), ("edem", "oedem"), ("esoph", "oesoph")] {
        if word.starts_with(american) || word.contains(american) {
            forms.push(word.replacen(american, british, 1));
        }
    }
    forms.sort();
    forms.dedup();
    forms
        .into_iter()
        .filter(|form| form != word && spelling_convention(form) == Some("en_GB"))
        .collect()
}

/// Prefixes whose closed compounds are also written with a hyphen.
const PREFIXES: &[&str] = &[
    "non", "pre", "multi", "sub", "co", "re", "anti", "inter", "post", "semi", "over", "under",
];

fn main() -> anyhow::Result<()> {
    let data = PathBuf::from(argument("--data").unwrap_or_else(|| "../shared/data".into()));
    let show: usize = argument("--show").map_or(0, |n| n.parse().expect("--show N"));
    let settings = Settings::default();
    let options = settings.prose_options();
    let check_settings = settings.check_settings();
    let (runner, _) = match argument("--model") {
        Some(directory) => load_from_directory(
            std::path::Path::new(&directory),
            DeviceChoice::Cpu,
            PrecisionChoice::Auto,
        )?,
        None => load_bundled(DeviceChoice::Cpu, PrecisionChoice::Auto)?,
    };
    let cache = SentenceCache::new();
    let judge_model: VariantJudgeModel = Some(JudgeModel {
        scorer: &runner,
        cache: Some(&cache),
        cancel: None,
    });
    let review = data.join("manuscripts/deep-review");
    let mut manuscripts: Vec<(&str, Vec<File>)> = Vec::new();
    let mut review_files = Vec::new();
    for name in [
        "01.abstract.md",
        "02.intro.md",
        "03.categorize.md",
        "04.study.md",
        "05.treat.md",
        "06.discussion.md",
        "07.conclusions.md",
        "08.methods.md",
    ] {
        review_files.push(File {
            name: name.to_string(),
            language: Language::Markdown,
            source: std::fs::read_to_string(review.join(name))?,
        });
    }
    manuscripts.push(("deep-review (8 Markdown files)", review_files));
    let phyloseq = "manuscripts/phyloseq-plos1-2013/phyloseq-plos1-2013.tex";
    manuscripts.push((
        "phyloseq article (LaTeX)",
        vec![File {
            name: "phyloseq-plos1-2013.tex".into(),
            language: Language::Latex,
            source: std::fs::read_to_string(data.join(phyloseq))?,
        }],
    ));

    println!("| manuscript | injection | injected | reported | recall |");
    println!("|---|---|---|---|---|");
    let mut missed: Vec<String> = Vec::new();
    let mut costs: Vec<String> = Vec::new();
    let mut published: Vec<String> = Vec::new();
    for (label, files) in &manuscripts {
        let started = Instant::now();
        let prepared: Vec<PreparedDocument> = files
            .iter()
            .map(|file| prepare_document(&file.source, file.language, None, &options))
            .collect();
        let preparing = started.elapsed();
        let started = Instant::now();
        let before = check(
            files,
            &prepared,
            None,
            &options,
            &check_settings,
            judge_model,
        );
        costs.push(format!(
            "{label}: extracting and splitting the prose {:.1} ms, the abbreviation and variant pass {:.1} ms",
            preparing.as_secs_f64() * 1000.0,
            started.elapsed().as_secs_f64() * 1000.0
        ));
        for (document, finding) in &before {
            published.push(format!(
                "{label} {}: {} [{}]",
                files[*document].name,
                finding.message,
                finding.code.as_str()
            ));
        }
        let before = keys(&before);

        // Abbreviations moved after their first use.
        let (mut injected, mut reported) = (0, 0);
        let mut seen = HashSet::new();
        for (index, file) in files.iter().enumerate() {
            let document = &prepared[index];
            let texts: Vec<&str> = document
                .sentences
                .iter()
                .map(|sentence| sentence.check.text.as_str())
                .collect();
            for definition in find_definitions(&texts) {
                if !definition.short_in_parentheses || !seen.insert(definition.short.clone()) {
                    continue;
                }
                let sentence = &document.sentences[definition.sentence];
                let chunk = &document.chunks[sentence.chunk_index];
                let to_source = |range: &std::ops::Range<usize>| {
                    chunk.source_range_of(
                        sentence.prose_range.start + range.start
                            ..sentence.prose_range.start + range.end,
                    )
                };
                let whole = to_source(&definition.whole_range);
                // The first later use of SHORT in the same file, as a whole word.
                let short = definition.short.as_str();
                let Some(later) = file.source[whole.end..]
                    .match_indices(short)
                    .map(|(at, _)| whole.end + at)
                    .find(|&at| {
                        let before_ok = !file.source[..at].ends_with(char::is_alphanumeric);
                        let after_ok =
                            !file.source[at + short.len()..].starts_with(char::is_alphanumeric);
                        before_ok && after_ok
                    })
                else {
                    continue;
                };
                let mut source = String::new();
                source.push_str(&file.source[..whole.start]);
                source.push_str(short);
                source.push_str(&file.source[whole.end..later]);
                source.push_str(&format!("{} ({short})", definition.long));
                source.push_str(&file.source[later + short.len()..]);
                let after = keys(&check(
                    files,
                    &prepared,
                    Some((index, &source)),
                    &options,
                    &check_settings,
                    judge_model,
                ));
                // A plural definition (`GANs`) defines the singular.
                let singular = short.strip_suffix('s').unwrap_or(short);
                let expected = (
                    FindingCode::Abbreviation(AbbreviationIssue::BeforeDefinition)
                        .as_str()
                        .to_string(),
                    singular.to_string(),
                );
                // Already used before its definition as published: nothing to inject.
                if before.contains(&expected) {
                    continue;
                }
                injected += 1;
                if after.contains(&expected) && !before.contains(&expected) {
                    reported += 1;
                } else {
                    missed.push(format!(
                        "{label}: {short} moved after its use in {}",
                        file.name
                    ));
                }
            }
        }
        println!(
            "| {label} | abbreviation moved after its first use | {injected} | {reported} | {:.2} |",
            reported as f64 / injected.max(1) as f64
        );

        // A variant written once: the other spelling convention, or a hyphen after a prefix.
        let (mut injected, mut reported) = (0, 0);
        let mut seen = HashSet::new();
        // How often the manuscript's prose writes each word.
        let mut uses: HashMap<&str, usize> = HashMap::new();
        for document in &prepared {
            for sentence in &document.sentences {
                for range in letter_words(&sentence.check.text) {
                    *uses.entry(&sentence.check.text[range]).or_default() += 1;
                }
            }
        }
        let expected_code = FindingCode::TermVariant.as_str().to_string();
        for (index, file) in files.iter().enumerate() {
            let document = &prepared[index];
            for sentence in &document.sentences {
                let chunk = &document.chunks[sentence.chunk_index];
                for range in letter_words(&sentence.check.text) {
                    let word = &sentence.check.text[range.clone()];
                    if word.len() < 5 || word.chars().any(|c| !c.is_ascii_lowercase()) {
                        continue;
                    }
                    let mut variants: Vec<String> = british_forms(word)
                        .into_iter()
                        .filter(|_| spelling_convention(word) == Some("en_US"))
                        .collect();
                    variants.extend(PREFIXES.iter().filter_map(|prefix| {
                        let rest = word.strip_prefix(prefix)?;
                        (rest.len() >= 4 && spelling_convention(rest).is_some())
                            .then(|| format!("{prefix}-{rest}"))
                    }));
                    let Some(variant) = variants.into_iter().next() else {
                        continue;
                    };
                    if !seen.insert(word.to_string()) {
                        continue;
                    }
                    let source_range = chunk.source_range_of(
                        sentence.prose_range.start + range.start
                            ..sentence.prose_range.start + range.end,
                    );
                    if file.source.get(source_range.clone()) != Some(word) {
                        continue;
                    }
                    // The word must be written elsewhere too, or the variant has nothing to
                    // differ from.
                    if uses.get(word).copied().unwrap_or(0) < 2 {
                        continue;
                    }
                    let mut source = file.source.clone();
                    source.replace_range(source_range, &variant);
                    let after = keys(&check(
                        files,
                        &prepared,
                        Some((index, &source)),
                        &options,
                        &check_settings,
                        judge_model,
                    ));
                    let expected = (expected_code.clone(), variant.clone());
                    injected += 1;
                    if after.contains(&expected) && !before.contains(&expected) {
                        reported += 1;
                    } else {
                        missed.push(format!("{label}: {word} → {variant} in {}", file.name));
                    }
                }
            }
        }
        println!(
            "| {label} | a word written once in another spelling or hyphenation | {injected} | {reported} | {:.2} |",
            reported as f64 / injected.max(1) as f64
        );
    }
    println!();
    for line in &costs {
        println!("{line}");
    }
    println!(
        "\nfindings on the manuscripts as published: {}",
        published.len()
    );
    for line in published.iter().take(show) {
        println!("  {line}");
    }
    println!("missed: {}", missed.len());
    for line in missed.iter().take(show) {
        println!("  {line}");
    }
    Ok(())
}
