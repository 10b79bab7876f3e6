//! Command-line interface: `serve` (the default), `check`, `config`, `prose`, `fill`, `tokenize`,
//! `fetch-model`.

use std::io::Write;
use std::ops::Range;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::analysis::wording::format_probability;
use crate::config_file::LayeredSettings;
use crate::model::engine::{load_model, LoadEvent};
use crate::model::resolve::{
    download, find_in_cache, hub_cache_directory, resolve, ModelLocation, DEFAULT_MODEL,
};
use crate::model::tokenizer::WordTokenizer;
use crate::model::{CancelFlag, EvidenceMethod, ExplainRequest, ModelOptions, TokenizedWord};
use crate::settings::Settings;

#[derive(Parser)]
#[command(
    name = "biomed-lsp",
    version,
    about = "A language server for biomedical manuscripts, driven by BiomedBERT"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Accepted and ignored: language clients add it to say "speak over stdio", which is all
    /// `serve` does.
    #[arg(long, global = true, hide = true)]
    pub stdio: bool,
}

#[derive(Subcommand)]
pub enum Command {
    /// Speak the Language Server Protocol over stdio (what editors run; the default).
    Serve,
    /// Fill `[MASK]` in a sentence with whole words and their probabilities.
    Fill {
        /// The text, with one or more `[MASK]` (adjacent masks form one group: a word of that many pieces).
        text: String,
        #[arg(long, default_value_t = 10)]
        top_k: usize,
        /// The most WordPiece pieces a proposed word may have.
        #[arg(long, default_value_t = 3)]
        max_pieces: usize,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Under each proposed word, the context words that make the model expect it:
        /// occlusion (default), attention or rollout.
        #[arg(long, value_name = "METHOD", num_args = 0..=1, require_equals = true, default_missing_value = "occlusion")]
        explain: Option<String>,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Show how the model's vocabulary splits a text into words and pieces.
    Tokenize {
        text: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Check files for improbable terminology and unknown words (plain text, split into sentences).
    Check {
        files: Vec<std::path::PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Exit with status 1 when a finding is at least this severe.
        #[arg(long, value_enum, default_value_t = FailOn::Warning)]
        fail_on: FailOn,
        /// A word list (one word per line, `#` comments) of accepted words; may be repeated.
        #[arg(long)]
        dictionary: Vec<std::path::PathBuf>,
        /// Under each finding, the context words that make the model expect its suggestion, by
        /// the `diagnostics.evidence` method (or the one named: occlusion, attention, rollout).
        #[arg(long, value_name = "METHOD", num_args = 0..=1, require_equals = true, default_missing_value = "")]
        explain: Option<String>,
        /// Also list the entity mentions the entity model finds (diseases with the bundled
        /// tagger): `entity` lines, or an `entities` array in JSON.
        #[arg(long)]
        entities: bool,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Print the settings `check` would use here, and where each comes from (a default, the
    /// project's `.biomed-lsp/config.json`, or `--set`).
    Config {
        /// A file or folder of the project (by default the current folder).
        path: Option<std::path::PathBuf>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Print the prose the checker sees in a manuscript, sentence by sentence, with source ranges.
    Prose {
        file: std::path::PathBuf,
        /// latex, markdown or plaintext; by default from the file extension (.tex, .md, .qmd, .Rmd, .txt).
        #[arg(long)]
        language: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Download a model into the Hugging Face cache (with a progress bar on stderr).
    FetchModel {
        #[arg(long, default_value = DEFAULT_MODEL)]
        model: String,
        #[arg(long, default_value = "main")]
        revision: String,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FailOn {
    Error,
    Warning,
    Information,
    Hint,
    None,
}

#[derive(Args, Clone)]
pub struct ModelArgs {
    /// A Hugging Face repo id, a local model directory, or `bundled` for the bundled mini model
    /// [default: the `model` setting, else BiomedBERT-abstract].
    #[arg(long)]
    pub model: Option<String>,
    /// [default: the `revision` setting, else main]
    #[arg(long)]
    pub revision: Option<String>,
    /// auto, cpu, cuda, cuda:N or metal [default: the `device` setting, else auto].
    #[arg(long)]
    pub device: Option<String>,
    /// f32, or q8 for 8-bit weights on the CPU (faster, slightly less exact) [default: the
    /// `precision` setting, else auto: the device's default].
    #[arg(long)]
    pub precision: Option<String>,
    /// Never touch the network (also HF_HUB_OFFLINE=1, or the `offline` setting).
    #[arg(long)]
    pub offline: bool,
    /// Run the model's forward passes on an Open Inference Protocol server (Triton, KServe,
    /// MLServer), e.g. http://gpu-box:8000/v2/models/biomedbert; `--model` then only gives the
    /// config and the tokenizer [default: the `inference.url` setting, else the model runs here].
    #[arg(long, value_name = "URL")]
    pub inference_url: Option<String>,
    /// The entity tagger: a Hugging Face token-classification checkpoint (repo id or directory),
    /// `bundled` for the bundled disease tagger, or `off` [default: the `entities.model` setting,
    /// else bundled]. Also `--ner-model`.
    #[arg(long, value_name = "MODEL", alias = "ner-model")]
    pub entities_model: Option<String>,
}

impl ModelArgs {
    /// The model the command line names, with the default settings for what it leaves out.
    pub fn options(&self) -> ModelOptions {
        self.options_with(&Settings::default())
    }

    /// The model the command line names, with `settings` for what it leaves out.
    pub fn options_with(&self, settings: &Settings) -> ModelOptions {
        let mut options = settings.model_options();
        let overrides = [
            (&self.model, &mut options.model),
            (&self.revision, &mut options.revision),
            (&self.device, &mut options.device),
            (&self.precision, &mut options.precision),
            (&self.inference_url, &mut options.inference_url),
            (&self.entities_model, &mut options.entities_model),
        ];
        for (given, option) in overrides {
            if let Some(value) = given {
                *option = value.clone();
            }
        }
        options.offline |= self.offline;
        options
    }
}

/// The project configuration and one-off overrides, for `check` and `config`.
#[derive(Args, Clone)]
pub struct ConfigArgs {
    /// A configuration file (JSON, the editor settings' keys) instead of the project's
    /// `.biomed-lsp/config.json`, which is otherwise looked for in the checked file's folder and
    /// the folders above it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// One setting, over the configuration file: `--set diagnostics.minMargin=6`; may be
    /// repeated.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub assignments: Vec<String>,
}

/// The settings for a project holding `start`: defaults, the user's configuration file, the
/// configuration file named on the command line (the user's choice) or else the project's (a
/// workspace's: its machine settings are ignored, with a warning on stderr), then the
/// assignments. Every mistake in them is an error naming the file or assignment, the key and
/// what is expected. Returns the project folder too.
pub fn project_settings(
    config: &ConfigArgs,
    start: &std::path::Path,
) -> anyhow::Result<(LayeredSettings, Option<std::path::PathBuf>)> {
    use crate::settings::SettingsOrigin;
    let mut layered = LayeredSettings::default();
    let user_file = crate::config_file::user_config_file().filter(|path| path.is_file());
    let file = match &config.config {
        Some(path) => {
            if !path.is_file() {
                bail!("configuration file {} does not exist", path.display());
            }
            Some((path.clone(), SettingsOrigin::User))
        }
        None => crate::config_file::find_config_file(start)
            .map(|path| (path, SettingsOrigin::Workspace)),
    };
    let user_file = user_file.map(|path| (path, SettingsOrigin::User));
    for (file, origin) in user_file.iter().chain(file.iter()) {
        if let Err(errors) = layered.apply_file(file, *origin) {
            let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
            bail!("{}", messages.join("\n"));
        }
    }
    for warning in layered.ignored_warnings() {
        eprintln!("biomed-lsp: warning: {warning}");
    }
    for assignment in &config.assignments {
        layered.apply_assignment(assignment)?;
    }
    Ok((layered, crate::config_file::find_project_folder(start)))
}

/// Prints load events on stderr: messages and warnings as lines, downloads as a progress bar.
fn stderr_events() -> impl Fn(LoadEvent) + Send + Sync {
    let bar = std::sync::Mutex::new(None::<(String, indicatif::ProgressBar)>);
    move |event| match event {
        LoadEvent::Message(message) => eprintln!("biomed-lsp: {message}"),
        LoadEvent::Warning(warning) => eprintln!("biomed-lsp: warning: {warning}"),
        LoadEvent::Download {
            file,
            done_bytes,
            total_bytes,
        } => {
            let Ok(mut bar) = bar.lock() else { return };
            if bar.as_ref().map(|(name, _)| name != &file).unwrap_or(true) {
                let progress = indicatif::ProgressBar::new(total_bytes);
                progress.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                progress.set_message(file.clone());
                *bar = Some((file.clone(), progress));
            }
            if let Some((_, progress)) = bar.as_ref() {
                progress.set_position(done_bytes);
                if done_bytes >= total_bytes {
                    progress.finish();
                }
            }
        }
    }
}

/// Groups of adjacent `[MASK]` (separated only by white space) in a text: their byte range and size.
pub fn mask_groups(text: &str) -> Vec<(Range<usize>, usize)> {
    const MASK: &str = "[MASK]";
    let mut groups: Vec<(Range<usize>, usize)> = Vec::new();
    let mut search_from = 0;
    while let Some(found) = text[search_from..].find(MASK) {
        let start = search_from + found;
        let end = start + MASK.len();
        match groups.last_mut() {
            Some((range, count)) if text[range.end..start].trim().is_empty() => {
                range.end = end;
                *count += 1;
            }
            _ => groups.push((start..end, 1)),
        }
        search_from = end;
    }
    groups
}

/// The evidence method a `--explain` names.
fn explain_method(name: &str) -> anyhow::Result<EvidenceMethod> {
    EvidenceMethod::parse(name).ok_or_else(|| {
        anyhow::anyhow!(
            "--explain={name:?} is not one of {}",
            EvidenceMethod::NAMES.join(", ")
        )
    })
}

/// How many evidence words `fill --explain` prints per proposed word.
const FILL_EVIDENCE_WORDS: usize = 3;

pub fn run_fill(
    text: &str,
    top_k: usize,
    max_pieces: usize,
    format: Format,
    explain: Option<&str>,
    model: &ModelArgs,
) -> anyhow::Result<String> {
    let groups = mask_groups(text);
    if groups.is_empty() {
        bail!("the text has no [MASK] to fill: {text:?}");
    }
    let explain = explain.map(explain_method).transpose()?;
    let loaded = load_model(&model.options(), &stderr_events(), &CancelFlag::new())?;
    let mut masks = Vec::new();
    for (slot, n_pieces) in groups {
        let request = crate::analysis::completion::mask_fill_request(
            text.to_string(),
            slot.clone(),
            n_pieces,
            top_k,
            max_pieces,
        );
        let predictions = loaded.runner.fill(&request)?;
        let mut evidence = Vec::new();
        if let Some(method) = explain {
            let requests: Vec<ExplainRequest> = predictions
                .iter()
                .map(|prediction| ExplainRequest {
                    text: text.to_string(),
                    slot: slot.clone(),
                    candidate: prediction.word.clone(),
                    method,
                    context_tokens: 0,
                    // The other masks are no evidence.
                    skip: mask_groups(text)
                        .into_iter()
                        .map(|(range, _)| range)
                        .collect(),
                    max_words: Some(crate::analysis::terminology::EVIDENCE_NEAREST_WORDS),
                    cancel: None,
                })
                .collect();
            evidence = loaded
                .runner
                .explain_batch(&requests)?
                .answers
                .into_iter()
                .map(|explanation| {
                    let words = explanation
                        .words
                        .into_iter()
                        .filter(|word| word.weight > 0.0);
                    words.take(FILL_EVIDENCE_WORDS).collect::<Vec<_>>()
                })
                .collect();
        }
        masks.push((predictions, evidence));
    }
    if format == Format::Json {
        let masks: Vec<serde_json::Value> = masks
            .iter()
            .map(|(predictions, evidence)| {
                let predictions: Vec<serde_json::Value> = predictions
                    .iter()
                    .enumerate()
                    .map(|(idx, p)| {
                        let mut prediction = serde_json::json!({
                            "word": p.word, "probability": p.probability, "pieces": p.pieces
                        });
                        if let Some(words) = evidence.get(idx) {
                            prediction["evidence"] =
                                serde_json::to_value(crate::analysis::locate_evidence(text, words))
                                    .unwrap_or_default();
                        }
                        prediction
                    })
                    .collect();
                serde_json::json!({ "predictions": predictions })
            })
            .collect();
        return Ok(format!("{}\n", serde_json::json!({ "masks": masks })));
    }
    let mut out = String::new();
    for (group_idx, (predictions, evidence)) in masks.iter().enumerate() {
        if masks.len() > 1 {
            out.push_str(&format!("mask {}:\n", group_idx + 1));
        }
        for (prediction_idx, prediction) in predictions.iter().enumerate() {
            let split = if prediction.pieces.len() > 1 {
                format!("  ({})", prediction.pieces.join(" · "))
            } else {
                String::new()
            };
            out.push_str(&format!(
                "{:>9}  {}{}\n",
                format_probability(prediction.probability),
                prediction.word,
                split
            ));
            if let Some(words) = evidence
                .get(prediction_idx)
                .filter(|words| !words.is_empty())
            {
                out.push_str(&format!(
                    "{:>9}  evidence: {}\n",
                    "",
                    crate::analysis::wording::evidence_line(words)
                ));
            }
        }
    }
    Ok(out)
}

/// The tokenizer of the model the options name, without loading its weights.
fn tokenizer_for(model: &ModelArgs) -> anyhow::Result<WordTokenizer> {
    let resolution = resolve(&model.options(), &|_, _, _| {}, &CancelFlag::new())?;
    if let Some(warning) = &resolution.fallback_warning {
        eprintln!("biomed-lsp: warning: {warning}");
    }
    Ok(match resolution.location {
        ModelLocation::Directory(directory) => WordTokenizer::from_directory(&directory)?,
        ModelLocation::Bundled => match crate::model::embedded::embedded_files() {
            Some(files) => WordTokenizer::from_vocab_and_config(
                files.vocab_txt,
                files.tokenizer_config_json,
                std::path::Path::new("<bundled mini model>"),
            )?,
            None => {
                WordTokenizer::from_directory(&crate::model::embedded::bundled_model_directory())?
            }
        },
    })
}

pub fn run_tokenize(text: &str, format: Format, model: &ModelArgs) -> anyhow::Result<String> {
    let words: Vec<TokenizedWord> = tokenizer_for(model)?.words(text)?;
    if format == Format::Json {
        let words: Vec<serde_json::Value> = words
            .iter()
            .map(|word| {
                serde_json::json!({"text": word.text, "start": word.start, "end": word.end,
                    "pieces": word.pieces, "in_vocabulary": word.in_vocabulary})
            })
            .collect();
        return Ok(format!("{}\n", serde_json::json!({ "words": words })));
    }
    let mut out = String::new();
    for word in &words {
        let note = if word.in_vocabulary {
            "in vocabulary"
        } else {
            "not a single vocabulary token"
        };
        out.push_str(&format!(
            "{}\t{}\t{}\n",
            word.text,
            word.pieces.join(" · "),
            note
        ));
    }
    Ok(out)
}

pub fn run_fetch_model(model: &str, revision: &str) -> anyhow::Result<String> {
    let cache_dir = hub_cache_directory();
    if let Some(snapshot) = find_in_cache(&cache_dir, model, revision, true) {
        return Ok(format!(
            "{model} ({revision}) is already in the cache: {}\n",
            snapshot.display()
        ));
    }
    let events = stderr_events();
    let progress = |file: &str, done: u64, total: u64| {
        events(LoadEvent::Download {
            file: file.to_string(),
            done_bytes: done,
            total_bytes: total,
        })
    };
    let snapshot = download(
        &cache_dir,
        model,
        revision,
        true,
        &progress,
        &CancelFlag::new(),
    )
    .with_context(|| format!("fetching {model}"))?;
    Ok(format!(
        "{model} ({revision}) downloaded to {}\n",
        snapshot.display()
    ))
}

/// Reads a manuscript as UTF-8 text; the error names the file and what is wrong.
pub fn read_manuscript(path: &std::path::Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    String::from_utf8(bytes).map_err(|error| {
        anyhow::anyhow!(
            "{} is not UTF-8 text (invalid byte at offset {})",
            path.display(),
            error.utf8_error().valid_up_to()
        )
    })
}

/// The manuscript language: the `--language` value, else the file extension, else plain text.
pub fn manuscript_language(
    path: &std::path::Path,
    language: Option<&str>,
) -> anyhow::Result<crate::prose::Language> {
    match language {
        Some(name) => crate::prose::Language::from_language_id(name).ok_or_else(|| {
            anyhow::anyhow!("--language {name:?} is not one of latex, markdown, plaintext")
        }),
        None => Ok(crate::prose::Language::from_path(&path.to_string_lossy())
            .unwrap_or(crate::prose::Language::PlainText)),
    }
}

pub fn run_prose(
    path: &std::path::Path,
    language: Option<&str>,
    format: Format,
) -> anyhow::Result<String> {
    let source = read_manuscript(path)?;
    let language = manuscript_language(path, language)?;
    let sentences =
        crate::prose::sentences(&source, language, &crate::prose::ProseOptions::default());
    Ok(crate::prose::render_report(
        &source,
        &sentences,
        format == Format::Json,
    ))
}

/// Runs the language server on stdio until the client says `exit`; returns the exit status.
fn serve() -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("biomed-lsp: error: cannot start the async runtime: {error}");
            return 1;
        }
    };
    let exit_code = runtime.block_on(crate::serve_stdio());
    // Exit at once: tokio's stdin reader sits in a blocking read that would hold up runtime drop.
    std::process::exit(exit_code);
}

/// What `check` prints: its format, and whether the entity mentions too.
#[derive(Clone, Copy)]
pub struct CheckOutput {
    pub format: Format,
    pub entities: bool,
}

/// `check`: findings on stdout, status 1 when one is at least `fail_on`, 2 on errors.
pub fn run_check(
    files: &[std::path::PathBuf],
    output: CheckOutput,
    fail_on: FailOn,
    dictionaries: &[std::path::PathBuf],
    explain: Option<&str>,
    model: &ModelArgs,
    config: &ConfigArgs,
) -> anyhow::Result<(String, bool)> {
    use crate::analysis;
    use std::io::IsTerminal;
    if files.is_empty() {
        bail!("no file to check");
    }
    let (layered, project_folder) = project_settings(config, &files[0])?;
    let settings = layered.settings;
    // Evidence is found only when it is shown.
    let evidence = match explain {
        None => None,
        Some("") => settings
            .check
            .evidence
            .or(Some(analysis::terminology::DEFAULT_EVIDENCE)),
        Some(name) => Some(explain_method(name)?),
    };
    // The word lists named on the command line must exist; the user's (the one the editor's
    // "Add to user dictionary" writes) and the team's, committed beside the manuscript, count
    // when they do.
    for path in dictionaries {
        if !path.is_file() {
            bail!(
                "dictionary {} does not exist or is not a file",
                path.display()
            );
        }
    }
    let mut dictionary_paths = dictionaries.to_vec();
    dictionary_paths.extend(crate::dictionary_files::user_dictionary_path(
        &settings.dictionary_user_file,
    ));
    if let Some(folder) = &project_folder {
        dictionary_paths.push(folder.join(crate::dictionary_files::DICTIONARY_FILE_NAME));
    }
    let (dictionary, errors) =
        crate::dictionary_files::read_dictionaries(&dictionary_paths, &settings.dictionary_words);
    if let Some(error) = errors.into_iter().next() {
        return Err(error.into());
    }
    let (installed_hunspell, hunspell_errors) =
        crate::dictionary_files::installed_hunspell_dictionaries();
    for error in hunspell_errors {
        eprintln!("warning: {error}");
    }
    let mut sources = Vec::new();
    for path in files {
        let text = read_manuscript(path)?;
        let language = manuscript_language(path, None)?;
        let document =
            analysis::document::prepare_document(&text, language, None, &settings.prose_options());
        sources.push((path.display().to_string(), text, document));
    }
    let mut loaded = load_model(
        &model.options_with(&settings),
        &stderr_events(),
        &CancelFlag::new(),
    )?;
    // Nothing interactive waits behind this check: larger forward passes cost less per token.
    loaded.runner.max_batch_tokens = crate::model::fill::BATCH_TOKENS_WITHOUT_INTERACTIVE_WORK;
    let mut check_settings = settings.check_settings();
    check_settings.evidence = evidence;
    // Several files are one manuscript: its abbreviations and term variants are read across
    // them, in order, after the files' own checks.
    let consistency = check_settings.abbreviations.clone();
    let whole_manuscript = sources.len() > 1 && (consistency.enabled || consistency.term_variants);
    if whole_manuscript {
        check_settings.abbreviations.enabled = false;
        check_settings.abbreviations.term_variants = false;
    }
    let lexicon = analysis::lexicon_for_tokenizer(&loaded.runner.tokenizer, &check_settings)?;
    let total: usize = sources.iter().map(|source| source.2.sentences.len()).sum();
    let progress = if std::io::stderr().is_terminal() && total > 20 {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "checking [{bar:30}] {pos}/{len} sentences {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let mut located = Vec::new();
    let mut statistics = analysis::CheckStatistics::default();
    // Sentences of the files before this one: the bar counts sentences across all files.
    let mut sentences_before = 0;
    for (path, text, document) in &sources {
        let inputs = analysis::SentenceCheckInputs {
            lexicon: &lexicon,
            dictionary: &dictionary,
            spelling: analysis::spelling::SpellingDictionaries::with_installed(installed_hunspell),
            settings: &check_settings,
        };
        let findings = analysis::document::check_document(
            &loaded.runner,
            document,
            &inputs,
            &[],
            None,
            None,
            &mut statistics,
            &mut |done, _| {
                if let Some(bar) = &progress {
                    show_sentences_done(bar, sentences_before, done);
                }
            },
        )
        .with_context(|| format!("checking {path}"))?;
        sentences_before += document.sentences.len();
        located.extend(analysis::locate_findings(path, text, findings));
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if whole_manuscript {
        check_settings.abbreviations = consistency;
        let documents: Vec<&analysis::document::PreparedDocument> =
            sources.iter().map(|(_, _, document)| document).collect();
        let files: Vec<(&str, &str)> = sources
            .iter()
            .map(|(path, text, _)| (path.as_str(), text.as_str()))
            .collect();
        located.extend(analysis::locate_manuscript_findings(
            &files,
            analysis::document::manuscript_consistency_findings(
                &documents,
                &check_settings,
                Some(analysis::document::JudgeModel {
                    scorer: &loaded.runner,
                    cache: None,
                    cancel: None,
                }),
            ),
        ));
        // Each file's findings together, in the order of their places.
        located.sort_by_key(|finding| {
            (
                files.iter().position(|(path, _)| *path == finding.path),
                finding.finding.range.start,
            )
        });
    }
    // An abbreviation "never used again" may be used in a section of its folder not given.
    let mut other_files: std::collections::HashMap<String, Vec<String>> = Default::default();
    located.retain(|located| {
        if !analysis::document::is_unused_abbreviation(&located.finding) {
            return true;
        }
        let path = std::path::Path::new(&located.path);
        let others = other_files.entry(located.path.clone()).or_insert_with(|| {
            let language =
                manuscript_language(path, None).unwrap_or(crate::prose::Language::PlainText);
            crate::manuscript_folder::other_files_of_folder(path, language, files)
        });
        !analysis::document::is_unused_but_written_in(&located.finding, others)
    });
    let threshold = match fail_on {
        FailOn::Error => Some(analysis::Severity::Error),
        FailOn::Warning => Some(analysis::Severity::Warning),
        FailOn::Information => Some(analysis::Severity::Information),
        FailOn::Hint => Some(analysis::Severity::Hint),
        FailOn::None => None,
    };
    let failed = threshold.is_some_and(|threshold| {
        located
            .iter()
            .any(|finding| finding.finding.severity.at_least(threshold))
    });
    let entities = if output.entities {
        let mut located_entities = Vec::new();
        for (path, text, document) in &sources {
            let Some(entities) = analysis::entities::document_entities(
                &loaded.runner,
                document,
                analysis::entities::SentenceSelection::All,
                analysis::Urgency::Background,
                None,
                None,
            )
            .with_context(|| format!("finding the entities of {path}"))?
            else {
                bail!(
                    "--entities: no entity model is loaded (the setting entities.model is off, \
                     or its model did not load: see the warning above)"
                );
            };
            located_entities.extend(analysis::locate_entities(path, text, entities));
        }
        Some(located_entities)
    } else {
        None
    };
    let printed = match output.format {
        Format::Json => analysis::format_json(&located, entities.as_deref()),
        Format::Text => analysis::format_text(&located, entities.as_deref()),
    };
    Ok((printed, failed))
}

/// Runs the command line; returns the process exit status.
pub fn main_with_args(cli: Cli) -> i32 {
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => return serve(),
        Command::Fill {
            text,
            top_k,
            max_pieces,
            format,
            explain,
            model,
        } => run_fill(&text, top_k, max_pieces, format, explain.as_deref(), &model),
        Command::Tokenize {
            text,
            format,
            model,
        } => run_tokenize(&text, format, &model),
        Command::FetchModel { model, revision } => run_fetch_model(&model, &revision),
        Command::Config { path, config } => run_config(path.as_deref(), &config),
        Command::Prose {
            file,
            language,
            format,
        } => run_prose(&file, language.as_deref(), format),
        Command::Check {
            files,
            format,
            fail_on,
            dictionary,
            explain,
            entities,
            model,
            config,
        } => match run_check(
            &files,
            CheckOutput { format, entities },
            fail_on,
            &dictionary,
            explain.as_deref(),
            &model,
            &config,
        ) {
            Ok((output, failed)) => {
                let mut stdout = std::io::stdout().lock();
                if stdout
                    .write_all(output.as_bytes())
                    .and_then(|_| stdout.flush())
                    .is_err()
                {
                    return 2;
                }
                return i32::from(failed);
            }
            Err(error) => Err(error),
        },
    };
    match result {
        Ok(output) => {
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(output.as_bytes())
                .and_then(|_| stdout.flush())
                .is_err()
            {
                return 2;
            }
            0
        }
        Err(error) => {
            eprintln!("biomed-lsp: error: {error:#}");
            2
        }
    }
}

/// `config`: the settings in force for a project folder and where each comes from.
fn run_config(path: Option<&std::path::Path>, config: &ConfigArgs) -> anyhow::Result<String> {
    let start = path.unwrap_or(std::path::Path::new("."));
    let (layered, project_folder) = project_settings(config, start)?;
    let mut out = match &project_folder {
        Some(folder) => format!("# project folder: {}\n", folder.display()),
        None => "# no .biomed-lsp folder here or above: defaults, and --set\n".to_string(),
    };
    out.push_str(&layered.describe());
    Ok(out)
}

/// Moves the check's bar to the sentences done so far: `done` of this file (the check reports it
/// once per group of sentences) after `sentences_before` of the files before it.
fn show_sentences_done(bar: &indicatif::ProgressBar, sentences_before: usize, done: usize) {
    bar.set_position((sentences_before + done) as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_bar_counts_sentences_across_files() {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_length(30);
        // Progress as check_document reports it: sentences done, after each group.
        for done in [4, 9, 10] {
            show_sentences_done(&bar, 0, done);
        }
        assert_eq!(bar.position(), 10);
        for done in [12, 20] {
            show_sentences_done(&bar, 10, done);
        }
        assert_eq!(bar.position(), 30);
    }

    #[test]
    fn adjacent_masks_form_one_group() {
        let text = "a [MASK] b [MASK] [MASK] c";
        let groups = mask_groups(text);
        assert_eq!(groups.len(), 2);
        assert_eq!(&text[groups[0].0.clone()], "[MASK]");
        assert_eq!(groups[0].1, 1);
        assert_eq!(&text[groups[1].0.clone()], "[MASK] [MASK]");
        assert_eq!(groups[1].1, 2);
        assert!(mask_groups("no masks").is_empty());
    }
}
