//! The engine: one thread owns the model and tokenizer; async and blocking handles send it requests.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use tokio::sync::oneshot;

use super::api::{
    all_cancelled, BatchAnswers, CancelFlag, EngineCounters, EngineCounts, EngineError,
    EntityModelInfo, ExplainRequest, Explanation, FillRequest, ModelInfo, ScoreRequest,
    TokenProbability, TokenProbabilityRequest, TokenizedWord, WordPrediction, WordScore,
};
use super::bert::BertModel;
use super::config::BertConfig;
use super::device::{select_device, DeviceChoice, PrecisionChoice};
use super::embedded::{
    bundled_entity_model_directory, bundled_model_directory, embedded_entity_files, embedded_files,
};
use super::embedding::EmbedRequest;
use super::entities::{EntityMention, EntityRequest, EntityTagger, SharedEncoderCandidate};
use super::fill::ModelRunner;
use super::remote::{InferenceServer, RemoteEncoder, RemoteError};
use super::resolve::{
    resolve, ModelLocation, ModelOptions, BUNDLED_MODEL_NAME, DEFAULT_MODEL, NO_ENTITY_MODEL,
};
use super::slot_fill::{
    FillVocabulary, Lookup, SlotCache, SlotDistributions, SlotRows, SLOT_CACHE_CAPACITY,
};
use super::tokenizer::WordTokenizer;
use super::weights::WeightFile;
use super::ModelError;

/// What happens while a model loads, for progress reports.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadEvent {
    Message(String),
    Download {
        file: String,
        done_bytes: u64,
        total_bytes: u64,
    },
    /// Something the user must know, such as the bundled mini model standing in for the requested one.
    Warning(String),
}

/// A model ready to run, before it is handed to the engine thread (the CLI uses it directly).
pub struct LoadedModel {
    pub runner: ModelRunner,
    pub info: ModelInfo,
}

fn display_name(model: &str) -> String {
    if model == DEFAULT_MODEL || model.to_ascii_lowercase().contains("biomedbert") {
        return "BiomedBERT".into();
    }
    model
        .trim_end_matches('/')
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(model)
        .to_string()
}

/// Loads the model and tokenizer from a directory holding `config.json`, a tokenizer and weights.
/// Returns the runner and where it runs (`cpu`, `cuda:0`).
pub fn load_from_directory(
    directory: &Path,
    device_choice: DeviceChoice,
    precision_choice: PrecisionChoice,
) -> Result<(ModelRunner, String), ModelError> {
    if !directory.is_dir() {
        return Err(ModelError::NoSuchDirectory(directory.to_path_buf()));
    }
    let (config, tokenizer) =
        config_and_tokenizer(&ModelLocation::Directory(directory.to_path_buf()))?;
    let weights = WeightFile::open_in(directory)?;
    runner_on_device(
        &weights,
        &config,
        tokenizer,
        device_choice,
        precision_choice,
    )
    .map_err(|error| match error {
        ModelError::VocabularyMismatch { problem, .. } => ModelError::VocabularyMismatch {
            model: directory.display().to_string(),
            problem,
        },
        other => other,
    })
}

/// Loads the bundled mini model (from the binary when embedded, else from the source tree).
pub fn load_bundled(
    device_choice: DeviceChoice,
    precision_choice: PrecisionChoice,
) -> Result<(ModelRunner, String), ModelError> {
    if embedded_files().is_none() {
        return load_from_directory(&bundled_model_directory(), device_choice, precision_choice);
    }
    let (config, tokenizer) = config_and_tokenizer(&ModelLocation::Bundled)?;
    let weights = bundled_weights()?;
    runner_on_device(
        &weights,
        &config,
        tokenizer,
        device_choice,
        precision_choice,
    )
}

/// The model on the device and in the precision asked for, with its tokenizer.
fn runner_on_device(
    weights: &WeightFile,
    config: &BertConfig,
    tokenizer: WordTokenizer,
    device_choice: DeviceChoice,
    precision_choice: PrecisionChoice,
) -> Result<(ModelRunner, String), ModelError> {
    let selected = select_device(device_choice)?;
    let precision = precision_choice.on(&selected.device);
    let model = BertModel::load(weights, config, selected.dtype, &selected.device, precision)?;
    if !model.has_masked_lm_head() {
        return Err(ModelError::BadFile {
            path: weights.path(),
            problem: "no masked-language-model head (cls.predictions.*): a token-classification \
                      checkpoint finds entities (setting entities.model, --entities-model), it \
                      cannot fill masks (setting model, --model)"
                .into(),
        });
    }
    Ok((ModelRunner::new(model, Arc::new(tokenizer))?, selected.name))
}

/// The config and tokenizer of a model found by [`resolve`], without its weights (which an
/// inference server holds, or which are loaded next).
fn config_and_tokenizer(
    location: &ModelLocation,
) -> Result<(BertConfig, WordTokenizer), ModelError> {
    let directory = match location {
        ModelLocation::Directory(directory) => directory.clone(),
        ModelLocation::Bundled => match embedded_files() {
            Some(files) => {
                let name = Path::new("<bundled mini model>");
                let config = BertConfig::from_json(files.config_json).map_err(|problem| {
                    ModelError::BadFile {
                        path: name.join("config.json"),
                        problem,
                    }
                })?;
                let tokenizer = WordTokenizer::from_vocab_and_config(
                    files.vocab_txt,
                    files.tokenizer_config_json,
                    name,
                )?;
                return Ok((config, tokenizer));
            }
            None => bundled_model_directory(),
        },
    };
    let config_path = directory.join("config.json");
    if !config_path.is_file() {
        return Err(ModelError::MissingFile {
            path: directory,
            what: "config.json".into(),
        });
    }
    Ok((
        BertConfig::from_file(&config_path)?,
        WordTokenizer::from_directory(&directory)?,
    ))
}

/// The model of `options` on its inference server: the local config and tokenizer, the served
/// weights.
fn load_remote(
    options: &ModelOptions,
    resolution: &super::resolve::Resolution,
    on_event: &(dyn Fn(LoadEvent) + Send + Sync),
    cancel: &CancelFlag,
) -> Result<LoadedModel, ModelError> {
    let (config, tokenizer) = config_and_tokenizer(&resolution.location)?;
    let server = InferenceServer {
        url: options.inference_url.trim().to_string(),
        timeout: std::time::Duration::from_millis(options.inference_timeout_ms),
        token: options.inference_token.clone(),
        ca_file: (!options.inference_ca_file.trim().is_empty())
            .then(|| std::path::PathBuf::from(options.inference_ca_file.trim())),
        allow_http: options.inference_allow_http,
    };
    on_event(LoadEvent::Message(format!(
        "connecting to the inference server at {}: the text to check is sent there…",
        server.url
    )));
    let remote = RemoteEncoder::connect(server, &config)?;
    let display = match resolution.location {
        ModelLocation::Bundled => "mini model".to_string(),
        ModelLocation::Directory(_) => display_name(&options.model),
    };
    let device = remote.url().to_string();
    let runner = ModelRunner::new(remote, Arc::new(tokenizer))?;
    on_event(LoadEvent::Message(format!("{display} ready on {device}")));
    let info = ModelInfo {
        requested: options.model.clone(),
        loaded: format!("{} (served at {device})", options.model),
        is_fallback: resolution.fallback_warning.is_some(),
        precision: runner.model.precision_name(),
        display_name: display,
        sent_to: Some(device.clone()),
        device,
        entities: None,
    };
    let mut loaded = LoadedModel { runner, info };
    load_entity_tagger_or_warn(options, &resolution.location, &mut loaded, on_event, cancel);
    Ok(loaded)
}

/// Finds, downloads if needed, and loads the model the options name. Blocking. Setting `cancel`
/// stops a download (the bundled mini model then stands in, with a warning). With an inference
/// URL the forward passes run on that server; a server that cannot be reached leaves the model
/// to run here (with a warning), one that serves another model is an error naming both.
pub fn load_model(
    options: &ModelOptions,
    on_event: &(dyn Fn(LoadEvent) + Send + Sync),
    cancel: &CancelFlag,
) -> Result<LoadedModel, ModelError> {
    let progress = |file: &str, done: u64, total: u64| {
        on_event(LoadEvent::Download {
            file: file.to_string(),
            done_bytes: done,
            total_bytes: total,
        })
    };
    if !options.inference_url.trim().is_empty() {
        let resolution = resolve(options, &progress, cancel)?;
        if let Some(warning) = &resolution.fallback_warning {
            on_event(LoadEvent::Warning(warning.clone()));
        }
        match load_remote(options, &resolution, on_event, cancel) {
            // The text stays here when the server cannot be reached or may not be used.
            Err(ModelError::Remote(
                error @ (RemoteError::Unreachable { .. }
                | RemoteError::InsecureHttp { .. }
                | RemoteError::BadCaFile { .. }),
            )) => {
                on_event(LoadEvent::Warning(format!(
                    "{error}; the model runs in this process instead (restart or change a \
                     setting to try the server again)"
                )));
                let local = ModelOptions {
                    inference_url: String::new(),
                    ..options.clone()
                };
                return load_model(&local, on_event, cancel);
            }
            other => return other,
        }
    }
    let device_choice: DeviceChoice = options.device.parse()?;
    let precision_choice: PrecisionChoice = options.precision.parse()?;
    let selected = select_device(device_choice)?;
    if let Some(note) = &selected.note {
        on_event(LoadEvent::Warning(note.clone()));
    }
    let resolution = resolve(options, &progress, cancel)?;
    if let Some(warning) = &resolution.fallback_warning {
        on_event(LoadEvent::Warning(warning.clone()));
    }
    let (runner, device, loaded, display) = match &resolution.location {
        ModelLocation::Directory(directory) => {
            on_event(LoadEvent::Message(format!(
                "loading {}…",
                display_name(&options.model)
            )));
            let (runner, device) = load_from_directory(directory, device_choice, precision_choice)?;
            (
                runner,
                device,
                directory.display().to_string(),
                display_name(&options.model),
            )
        }
        ModelLocation::Bundled => {
            on_event(LoadEvent::Message("loading the bundled mini model…".into()));
            let (runner, device) = load_bundled(device_choice, precision_choice)?;
            (
                runner,
                device,
                "bundled mini model".to_string(),
                "mini model".to_string(),
            )
        }
    };
    let precision = runner.model.precision_name();
    on_event(LoadEvent::Message(format!(
        "{display} ready on {device} ({precision})"
    )));
    let info = ModelInfo {
        requested: options.model.clone(),
        loaded,
        is_fallback: resolution.fallback_warning.is_some(),
        device,
        precision,
        display_name: display,
        sent_to: None,
        entities: None,
    };
    let mut loaded = LoadedModel { runner, info };
    load_entity_tagger_or_warn(options, &resolution.location, &mut loaded, on_event, cancel);
    Ok(loaded)
}

/// [`load_entity_tagger`]; a tagger that cannot load is a warning, never a reason to go without
/// the fill-mask model.
fn load_entity_tagger_or_warn(
    options: &ModelOptions,
    fill_mask_location: &ModelLocation,
    loaded: &mut LoadedModel,
    on_event: &(dyn Fn(LoadEvent) + Send + Sync),
    cancel: &CancelFlag,
) {
    if let Err(error) = load_entity_tagger(options, fill_mask_location, loaded, on_event, cancel) {
        on_event(LoadEvent::Warning(format!(
            "no entity highlighting: the entity model ({}) did not load: {error}",
            options.entities_model.trim()
        )));
    }
}

/// Loads the entity tagger `options.entities_model` names (none for `off`) into `loaded`'s
/// runner, on the fill-mask model's device and at its precision. A Hub checkpoint that is neither
/// cached nor downloadable leaves the bundled tagger standing in, with a warning, as for the
/// fill-mask model.
fn load_entity_tagger(
    options: &ModelOptions,
    fill_mask_location: &ModelLocation,
    loaded: &mut LoadedModel,
    on_event: &(dyn Fn(LoadEvent) + Send + Sync),
    cancel: &CancelFlag,
) -> Result<(), ModelError> {
    let requested = options.entities_model.trim();
    if requested.is_empty() || requested == NO_ENTITY_MODEL {
        return Ok(());
    }
    let progress = |file: &str, done: u64, total: u64| {
        on_event(LoadEvent::Download {
            file: file.to_string(),
            done_bytes: done,
            total_bytes: total,
        })
    };
    let resolution = resolve(
        &ModelOptions {
            model: requested.to_string(),
            revision: "main".into(),
            inference_url: String::new(),
            ..options.clone()
        },
        &progress,
        cancel,
    )?;
    if let Some(warning) = &resolution.fallback_warning {
        on_event(LoadEvent::Warning(format!("entities.model: {warning}")));
    }
    // The fill-mask model's weights, to tell whether the checkpoint's encoder is the same (never
    // for a model on an inference server: the tagger needs hidden states here).
    let fill_mask_weights = match (&loaded.runner.model, fill_mask_location) {
        (super::encoder::Encoder::Remote(_), _) => None,
        (_, ModelLocation::Directory(directory)) => Some(WeightFile::open_in(directory)?),
        (_, ModelLocation::Bundled) => Some(bundled_weights()?),
    };
    let (device, dtype, precision) = match &loaded.runner.model {
        super::encoder::Encoder::Local(model) => {
            (model.device().clone(), model.dtype(), model.precision())
        }
        super::encoder::Encoder::Remote(_) => {
            let device_choice: DeviceChoice = options.device.parse()?;
            let selected = select_device(device_choice)?;
            let precision = options
                .precision
                .parse::<PrecisionChoice>()?
                .on(&selected.device);
            (selected.device, selected.dtype, precision)
        }
    };
    let fill_mask = fill_mask_weights
        .as_ref()
        .map(|weights| SharedEncoderCandidate {
            weights,
            config: loaded.runner.model.config(),
            tokenizer: &loaded.runner.tokenizer,
        });
    let tagger = match &resolution.location {
        ModelLocation::Bundled => {
            let (config_text, config_path, weights) = bundled_entity_files()?;
            let (_, tokenizer) = config_and_tokenizer(&ModelLocation::Bundled)?;
            let name = if requested == BUNDLED_MODEL_NAME {
                "bundled disease tagger".to_string()
            } else {
                format!("bundled disease tagger (standing in for {requested})")
            };
            EntityTagger::load(
                name,
                &config_text,
                &config_path,
                &weights,
                tokenizer,
                fill_mask,
                dtype,
                &device,
                precision,
            )?
        }
        ModelLocation::Directory(directory) => {
            let config_path = directory.join("config.json");
            let config_text =
                std::fs::read_to_string(&config_path).map_err(|source| ModelError::Io {
                    path: config_path.clone(),
                    source,
                })?;
            EntityTagger::load(
                display_name(requested),
                &config_text,
                &config_path,
                &WeightFile::open_in(directory)?,
                WordTokenizer::from_directory(directory)?,
                fill_mask,
                dtype,
                &device,
                precision,
            )?
        }
    };
    let info = EntityModelInfo {
        name: tagger.name.clone(),
        entity_types: tagger.head().entity_types(),
        shares_encoder: tagger.shares_encoder(),
    };
    on_event(LoadEvent::Message(format!(
        "entity tagger ready: {} ({}; {})",
        info.name,
        info.entity_types.join(", "),
        if info.shares_encoder {
            "on the fill-mask model's encoder"
        } else {
            "its own encoder"
        }
    )));
    loaded.info.entities = Some(info);
    loaded.runner.entity_tagger = Some(tagger);
    Ok(())
}

/// The bundled mini model's weights (from the binary when embedded, else from the source tree).
fn bundled_weights() -> Result<WeightFile, ModelError> {
    match embedded_files() {
        Some(files) => WeightFile::open_safetensors_bytes(
            "<bundled mini model>/model.safetensors",
            files.model_safetensors,
        ),
        None => WeightFile::open_in(&bundled_model_directory()),
    }
}

/// The bundled entity tagger's `config.json` (text and name) and weights.
fn bundled_entity_files() -> Result<(String, std::path::PathBuf, WeightFile), ModelError> {
    match embedded_entity_files() {
        Some(files) => Ok((
            files.config_json.to_string(),
            "<bundled entity model>/config.json".into(),
            WeightFile::open_safetensors_bytes(
                "<bundled entity model>/model.safetensors",
                files.model_safetensors,
            )?,
        )),
        None => {
            let directory = bundled_entity_model_directory();
            if !directory.join("model.safetensors").is_file() {
                return Err(ModelError::Resolve(
                    "this build has no bundled entity tagger (the crates.io package leaves it \
                     out for crates.io's size limit): install a release binary, name a \
                     token-classification checkpoint in the setting entities.model, or set it \
                     to off"
                        .into(),
                ));
            }
            let config_path = directory.join("config.json");
            let config_text =
                std::fs::read_to_string(&config_path).map_err(|source| ModelError::Io {
                    path: config_path.clone(),
                    source,
                })?;
            Ok((config_text, config_path, WeightFile::open_in(&directory)?))
        }
    }
}

/// Loads the model and starts the engine thread.
pub fn load_engine(
    options: &ModelOptions,
    on_event: &(dyn Fn(LoadEvent) + Send + Sync),
    cancel: &CancelFlag,
) -> anyhow::Result<EngineHandle> {
    let loaded = load_model(options, on_event, cancel)?;
    Ok(EngineHandle::start(loaded))
}

/// The bundled model's tokenizer (the real BiomedBERT-abstract vocabulary), available before any
/// model has loaded: hovers show tokenization while the model loads.
pub fn bundled_tokenize(text: &str) -> Vec<TokenizedWord> {
    static TOKENIZER: OnceLock<Option<WordTokenizer>> = OnceLock::new();
    let tokenizer = TOKENIZER.get_or_init(|| match embedded_files() {
        Some(files) => WordTokenizer::from_vocab_and_config(
            files.vocab_txt,
            files.tokenizer_config_json,
            Path::new("<bundled>"),
        )
        .ok(),
        None => WordTokenizer::from_directory(&bundled_model_directory()).ok(),
    });
    tokenizer
        .as_ref()
        .and_then(|tokenizer| tokenizer.words(text).ok())
        .unwrap_or_default()
}

enum Job {
    Fill(
        FillRequest,
        oneshot::Sender<Result<Vec<WordPrediction>, EngineError>>,
    ),
    Score(
        ScoreRequest,
        oneshot::Sender<Result<Vec<WordScore>, EngineError>>,
    ),
    ScoreBatch(
        Vec<ScoreRequest>,
        oneshot::Sender<Result<BatchAnswers<Vec<WordScore>>, EngineError>>,
    ),
    TokenProbabilitiesBatch(
        Vec<TokenProbabilityRequest>,
        oneshot::Sender<Result<BatchAnswers<Vec<TokenProbability>>, EngineError>>,
    ),
    ExplainBatch(
        Vec<ExplainRequest>,
        oneshot::Sender<Result<BatchAnswers<Explanation>, EngineError>>,
    ),
    EmbedBatch(
        Vec<EmbedRequest>,
        oneshot::Sender<Result<BatchAnswers<Vec<f32>>, EngineError>>,
    ),
    EntitiesBatch(
        Vec<EntityRequest>,
        oneshot::Sender<Result<BatchAnswers<Vec<EntityMention>>, EngineError>>,
    ),
    /// A completion slot's distributions, for everyone waiting on it in the slot cache.
    SlotFill(SlotRows, Arc<SlotCache>),
}

impl Job {
    /// Whether nobody waits for the answer any more (for a batch: for any part of it).
    fn is_cancelled(&self) -> bool {
        let cancelled =
            |flag: &Option<CancelFlag>| flag.as_ref().is_some_and(CancelFlag::is_cancelled);
        match self {
            Job::Fill(request, _) => cancelled(&request.cancel),
            Job::Score(request, _) => cancelled(&request.cancel),
            Job::ScoreBatch(requests, _) => all_cancelled(requests.iter().map(|r| &r.cancel)),
            Job::TokenProbabilitiesBatch(requests, _) => {
                all_cancelled(requests.iter().map(|r| &r.cancel))
            }
            Job::ExplainBatch(requests, _) => all_cancelled(requests.iter().map(|r| &r.cancel)),
            Job::EmbedBatch(requests, _) => all_cancelled(requests.iter().map(|r| &r.cancel)),
            Job::EntitiesBatch(requests, _) => all_cancelled(requests.iter().map(|r| &r.cancel)),
            Job::SlotFill(key, cache) => cache.is_abandoned(key),
        }
    }

    fn cancel(self) {
        match self {
            Job::Fill(_, reply) => drop(reply.send(Err(EngineError::Cancelled))),
            Job::Score(_, reply) => drop(reply.send(Err(EngineError::Cancelled))),
            Job::ScoreBatch(_, reply) => drop(reply.send(Err(EngineError::Cancelled))),
            Job::TokenProbabilitiesBatch(_, reply) => drop(reply.send(Err(EngineError::Cancelled))),
            Job::ExplainBatch(_, reply) => drop(reply.send(Err(EngineError::Cancelled))),
            Job::EmbedBatch(_, reply) => drop(reply.send(Err(EngineError::Cancelled))),
            Job::EntitiesBatch(_, reply) => drop(reply.send(Err(EngineError::Cancelled))),
            Job::SlotFill(key, cache) => cache.complete(&key, Err(EngineError::Cancelled)),
        }
    }

    /// Runs the job on the model and sends the answer; a panic in the model code fails only
    /// this job.
    fn run(self, runner: &ModelRunner) {
        let model_error = |error: super::ModelError| match error {
            super::ModelError::Cancelled => EngineError::Cancelled,
            super::ModelError::Remote(error) => EngineError::Remote(error.to_string()),
            other => EngineError::Model(other.to_string()),
        };
        let run = std::panic::AssertUnwindSafe(|| match self {
            Job::Fill(request, reply) => {
                drop(reply.send(runner.fill(&request).map_err(model_error)));
            }
            Job::Score(request, reply) => {
                drop(reply.send(runner.score(&request).map_err(model_error)));
            }
            Job::ScoreBatch(requests, reply) => {
                drop(reply.send(runner.score_batch(&requests).map_err(model_error)));
            }
            Job::TokenProbabilitiesBatch(requests, reply) => {
                let result = runner
                    .token_probabilities_batch(&requests)
                    .map_err(model_error);
                drop(reply.send(result));
            }
            Job::ExplainBatch(requests, reply) => {
                drop(reply.send(runner.explain_batch(&requests).map_err(model_error)));
            }
            Job::EmbedBatch(requests, reply) => {
                drop(reply.send(runner.embed_batch(&requests).map_err(model_error)));
            }
            Job::EntitiesBatch(requests, reply) => {
                drop(reply.send(runner.entities(&requests).map_err(model_error)));
            }
            Job::SlotFill(key, cache) => {
                // Completed even when the model panics, so that no waiter waits forever.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    runner.slot_distributions(&key)
                }))
                .unwrap_or_else(|_| Err(super::ModelError::Compute("the model panicked".into())));
                cache.complete(&key, result.map_err(model_error));
            }
        });
        if std::panic::catch_unwind(run).is_err() {
            tracing::error!(
                "the model panicked on a request; the request failed, the engine goes on"
            );
        }
    }
}

/// Two queues: interactive requests (completion, hover) always run before background ones
/// (document checks), so a keystroke waits at most for the one request already running.
#[derive(Default)]
struct Queues {
    interactive: VecDeque<Job>,
    background: VecDeque<Job>,
    stopped: bool,
}

struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
}

/// A cheap, cloneable handle to the engine thread.
#[derive(Clone)]
pub struct EngineHandle {
    /// The loaded model's [`ModelRunner::id`].
    model_id: u64,
    shared: Arc<Shared>,
    info: Arc<ModelInfo>,
    tokenizer: Arc<WordTokenizer>,
    vocabulary: Arc<FillVocabulary>,
    slot_cache: Arc<SlotCache>,
    counters: Arc<EngineCounters>,
    _owner: Arc<StopOnDrop>,
}

/// Stops the engine thread when the last handle goes away.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Ok(mut queues) = self.0.queues.lock() {
            queues.stopped = true;
        }
        self.0.ready.notify_all();
    }
}

impl EngineHandle {
    pub fn start(loaded: LoadedModel) -> Self {
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            ready: Condvar::new(),
        });
        let tokenizer = loaded.runner.tokenizer.clone();
        let vocabulary = loaded.runner.vocabulary.clone();
        let counters = loaded.runner.counters.clone();
        let info = Arc::new(loaded.info);
        let thread_shared = shared.clone();
        let mut runner = loaded.runner;
        let model_id = runner.id;
        // Between the layers of a background request's forward passes, waiting interactive
        // requests run first.
        let yield_shared = shared.clone();
        runner.set_yield_point(Box::new(move |runner| loop {
            let job = match yield_shared.queues.lock() {
                Ok(mut queues) if !queues.stopped => queues.interactive.pop_front(),
                _ => None,
            };
            match job {
                Some(job) if job.is_cancelled() => job.cancel(),
                Some(job) => job.run(runner),
                None => break,
            }
        }));
        std::thread::Builder::new()
            .name("biomed-lsp-model".into())
            .spawn(move || run_engine(thread_shared, runner))
            .expect("the operating system refused to start the model thread");
        Self {
            model_id,
            shared: shared.clone(),
            info,
            tokenizer,
            vocabulary,
            slot_cache: Arc::new(SlotCache::new(SLOT_CACHE_CAPACITY)),
            counters,
            _owner: Arc::new(StopOnDrop(shared)),
        }
    }

    /// What the engine has done so far (forward passes, cached fills).
    pub fn counts(&self) -> EngineCounts {
        self.counters.read()
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Which loaded model this engine runs (unique in the process).
    pub fn model_id(&self) -> u64 {
        self.model_id
    }

    pub fn tokenize(&self, text: &str) -> Vec<TokenizedWord> {
        self.tokenizer.words(text).unwrap_or_default()
    }

    fn submit(&self, job: Job, interactive: bool) -> Result<(), EngineError> {
        let mut queues = self
            .shared
            .queues
            .lock()
            .map_err(|_| EngineError::Stopped)?;
        if queues.stopped {
            return Err(EngineError::Stopped);
        }
        if interactive {
            queues.interactive.push_back(job);
        } else {
            queues.background.push_back(job);
        }
        self.shared.ready.notify_one();
        Ok(())
    }

    /// Fills a slot at interactive priority. Without PLL rescoring (completion) the slot's
    /// distributions come from the slot cache when the same slot was filled or prefetched before,
    /// whatever prefix was typed: no forward pass, no wait for the model thread.
    pub async fn fill(&self, request: FillRequest) -> Result<Vec<WordPrediction>, EngineError> {
        if request.pll_rescoring {
            let (sender, receiver) = oneshot::channel();
            self.submit(Job::Fill(request, sender), true)?;
            return receiver.await.map_err(|_| EngineError::Stopped)?;
        }
        let key = self
            .vocabulary
            .slot_rows(&request)
            .map_err(|error| EngineError::InvalidRequest(error.to_string()))?;
        let distributions: SlotDistributions =
            match self.slot_cache.look_up(&key, request.cancel.clone(), true) {
                Lookup::Ready(distributions) => {
                    EngineCounters::add(&self.counters.fills_from_cache);
                    distributions
                }
                Lookup::Joined(receiver) => {
                    EngineCounters::add(&self.counters.fills_joined);
                    wait_for_slot(receiver).await?
                }
                Lookup::MustCompute(receiver) => {
                    self.submit_slot_fill(key)?;
                    wait_for_slot(receiver).await?
                }
            };
        // A request superseded while it waited (a newer keystroke) gets no stale answer.
        if request
            .cancel
            .as_ref()
            .is_some_and(CancelFlag::is_cancelled)
        {
            return Err(EngineError::Cancelled);
        }
        let proposals = self.vocabulary.proposals(&distributions, &request);
        Ok(self.vocabulary.predictions(proposals, request.top_k))
    }

    /// Starts the fill of a slot ahead of the keystroke that will ask for it (a writer typed a
    /// space: the next word's slot is known) unless it is cached or under way; answers it when it
    /// is cached. The fill runs at interactive priority unless `cancel` is set before it starts;
    /// its result waits in the slot cache.
    pub fn prefetch_fill(
        &self,
        request: FillRequest,
    ) -> Result<Option<Vec<WordPrediction>>, EngineError> {
        EngineCounters::add(&self.counters.prefetches);
        let key = self
            .vocabulary
            .slot_rows(&request)
            .map_err(|error| EngineError::InvalidRequest(error.to_string()))?;
        match self.slot_cache.look_up(&key, request.cancel.clone(), false) {
            Lookup::Ready(distributions) => {
                EngineCounters::add(&self.counters.fills_from_cache);
                let proposals = self.vocabulary.proposals(&distributions, &request);
                Ok(Some(self.vocabulary.predictions(proposals, request.top_k)))
            }
            Lookup::Joined(_) => Ok(None),
            Lookup::MustCompute(_) => self.submit_slot_fill(key).map(|()| None),
        }
    }

    fn submit_slot_fill(&self, key: SlotRows) -> Result<(), EngineError> {
        EngineCounters::add(&self.counters.slot_computations);
        let result = self.submit(Job::SlotFill(key.clone(), self.slot_cache.clone()), true);
        if let Err(error) = &result {
            self.slot_cache.complete(&key, Err(EngineError::Stopped));
            tracing::debug!("slot fill not submitted: {error}");
        }
        result
    }

    /// Scores words at interactive priority (hover).
    pub async fn score(&self, request: ScoreRequest) -> Result<Vec<WordScore>, EngineError> {
        let (sender, receiver) = oneshot::channel();
        self.submit(Job::Score(request, sender), true)?;
        receiver.await.map_err(|_| EngineError::Stopped)?
    }

    /// Scores words at background priority (document checks): runs only when no interactive
    /// request waits.
    pub async fn score_background(
        &self,
        request: ScoreRequest,
    ) -> Result<Vec<WordScore>, EngineError> {
        let (sender, receiver) = oneshot::channel();
        self.submit(Job::Score(request, sender), false)?;
        receiver.await.map_err(|_| EngineError::Stopped)?
    }

    pub fn fill_blocking(&self, request: FillRequest) -> Result<Vec<WordPrediction>, EngineError> {
        let (sender, receiver) = oneshot::channel();
        self.submit(Job::Fill(request, sender), true)?;
        receiver.blocking_recv().map_err(|_| EngineError::Stopped)?
    }

    /// Scores the words of several texts together, at background priority (document checks).
    pub fn score_batch_blocking(
        &self,
        requests: Vec<ScoreRequest>,
    ) -> Result<BatchAnswers<Vec<WordScore>>, EngineError> {
        let (sender, receiver) = oneshot::channel();
        self.submit(Job::ScoreBatch(requests, sender), false)?;
        receiver.blocking_recv().map_err(|_| EngineError::Stopped)?
    }

    /// Evidence for one slot at interactive priority (hover, fill).
    pub async fn explain(&self, request: ExplainRequest) -> Result<Explanation, EngineError> {
        let (sender, receiver) = oneshot::channel();
        self.submit(Job::ExplainBatch(vec![request], sender), true)?;
        let mut batch = receiver.await.map_err(|_| EngineError::Stopped)??;
        batch
            .answers
            .pop()
            .ok_or_else(|| EngineError::Model("no explanation came back".into()))
    }

    /// Evidence for several slots together, at background priority (the findings of a check).
    pub fn explain_batch_blocking(
        &self,
        requests: Vec<ExplainRequest>,
    ) -> Result<BatchAnswers<Explanation>, EngineError> {
        let (sender, receiver) = oneshot::channel();
        self.submit(Job::ExplainBatch(requests, sender), false)?;
        receiver.blocking_recv().map_err(|_| EngineError::Stopped)?
    }

    /// Contextual embeddings of spans, at background priority (the term-variant decision).
    pub fn embed_batch_blocking(
        &self,
        requests: Vec<EmbedRequest>,
    ) -> Result<BatchAnswers<Vec<f32>>, EngineError> {
        let (sender, receiver) = oneshot::channel();
        self.submit(Job::EmbedBatch(requests, sender), false)?;
        receiver.blocking_recv().map_err(|_| EngineError::Stopped)?
    }

    /// The entity mentions of several texts, at background priority (after the checks queued
    /// before, never before a completion) unless `interactive` (a reader waits: a hover). An
    /// error when no entity model is loaded.
    pub fn entities_batch_blocking(
        &self,
        requests: Vec<EntityRequest>,
        interactive: bool,
    ) -> Result<BatchAnswers<Vec<EntityMention>>, EngineError> {
        let (sender, receiver) = oneshot::channel();
        self.submit(Job::EntitiesBatch(requests, sender), interactive)?;
        receiver.blocking_recv().map_err(|_| EngineError::Stopped)?
    }

    /// The tokenizer of the loaded model (for vocabulary-derived data such as the lexicon).
    pub fn tokenizer(&self) -> &Arc<WordTokenizer> {
        &self.tokenizer
    }

    /// Every token's probability in one unmasked pass per text, several texts together, at
    /// background priority (document checks).
    pub fn token_probabilities_batch_blocking(
        &self,
        requests: Vec<TokenProbabilityRequest>,
    ) -> Result<BatchAnswers<Vec<TokenProbability>>, EngineError> {
        let (sender, receiver) = oneshot::channel();
        self.submit(Job::TokenProbabilitiesBatch(requests, sender), false)?;
        receiver.blocking_recv().map_err(|_| EngineError::Stopped)?
    }
}

async fn wait_for_slot(
    receiver: Option<oneshot::Receiver<Result<SlotDistributions, EngineError>>>,
) -> Result<SlotDistributions, EngineError> {
    match receiver {
        Some(receiver) => receiver.await.map_err(|_| EngineError::Stopped)?,
        None => Err(EngineError::Stopped),
    }
}

fn run_engine(shared: Arc<Shared>, runner: ModelRunner) {
    let engine_delay = crate::test_hooks::engine_delay();
    loop {
        let (job, interactive) = {
            let Ok(mut queues) = shared.queues.lock() else {
                return;
            };
            loop {
                if queues.stopped {
                    return;
                }
                if let Some(job) = queues.interactive.pop_front() {
                    break (job, true);
                }
                if let Some(job) = queues.background.pop_front() {
                    break (job, false);
                }
                queues = match shared.ready.wait(queues) {
                    Ok(queues) => queues,
                    Err(_) => return,
                };
            }
        };
        if let Some(delay) = engine_delay {
            std::thread::sleep(delay);
        }
        // Work nobody waits for any more (a newer keystroke, a newer document version) is dropped
        // before it reaches the model.
        if job.is_cancelled() {
            job.cancel();
            continue;
        }
        runner.allow_yield(!interactive);
        job.run(&runner);
        runner.allow_yield(false);
    }
}
