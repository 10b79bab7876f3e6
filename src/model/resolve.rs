//! Finding the model files: a local directory, the Hugging Face cache (Python's layout, so a model
//! downloaded with Python is reused), a download through hf-hub, or the bundled mini model.

use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};

use super::api::CancelFlag;
use super::ModelError;

pub const DEFAULT_MODEL: &str = "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract";
/// The name that selects the bundled mini model explicitly.
pub const BUNDLED_MODEL_NAME: &str = "bundled";
/// Long enough for a check's batch on a busy server, short enough that a dead one is noticed.
pub const DEFAULT_INFERENCE_TIMEOUT_MS: u64 = 30_000;

/// What the user asked for (command-line flags or editor settings).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelOptions {
    /// A Hugging Face repo id, a local directory, or `bundled`.
    pub model: String,
    pub revision: String,
    /// `auto`, `cpu`, `cuda[:N]`, `metal`.
    pub device: String,
    /// `auto`, `f32`, `q8`.
    pub precision: String,
    /// Never touch the network (also set by `HF_HUB_OFFLINE=1`).
    pub offline: bool,
    /// The model's endpoint on an Open Inference Protocol server (empty: run the model here).
    /// Then only the config and the tokenizer come from `model`, never the weights.
    pub inference_url: String,
    /// How long a request to the inference server may take, connecting included.
    pub inference_timeout_ms: u64,
    /// Sent as a bearer token to the inference server.
    pub inference_token: crate::secret::Secret,
    /// PEM certificates trusted for the inference server besides the system's.
    pub inference_ca_file: String,
    /// Plain HTTP to a host other than this machine.
    pub inference_allow_http: bool,
    /// The token-classification checkpoint that finds entity mentions: a Hugging Face repo id, a
    /// local directory, `bundled` (the bundled disease tagger) or `off`.
    pub entities_model: String,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            model: DEFAULT_MODEL.into(),
            revision: "main".into(),
            device: "auto".into(),
            precision: "auto".into(),
            offline: false,
            inference_url: String::new(),
            inference_timeout_ms: DEFAULT_INFERENCE_TIMEOUT_MS,
            inference_token: crate::secret::Secret::default(),
            inference_ca_file: String::new(),
            inference_allow_http: false,
            entities_model: BUNDLED_MODEL_NAME.into(),
        }
    }
}

/// The `entities.model` value that loads no entity tagger.
pub const NO_ENTITY_MODEL: &str = "off";

/// Where the model's files are.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelLocation {
    Directory(PathBuf),
    Bundled,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Resolution {
    pub location: ModelLocation,
    /// Set when the bundled model stands in for the requested one: what was tried and how to get it.
    pub fallback_warning: Option<String>,
}

/// Progress of a download: file name, bytes done, bytes in total.
pub type DownloadProgress<'a> = &'a (dyn Fn(&str, u64, u64) + Send + Sync);

/// Whether `HF_HUB_OFFLINE` asks for offline mode (as huggingface_hub reads it).
pub fn offline_from_environment() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|value| {
            matches!(
                value.trim().to_ascii_uppercase().as_str(),
                "1" | "ON" | "YES" | "TRUE"
            )
        })
        .unwrap_or(false)
}

/// The hub cache directory, in huggingface_hub's order: `HF_HUB_CACHE`, `HF_HOME/hub`,
/// `XDG_CACHE_HOME/huggingface/hub`, `~/.cache/huggingface/hub`. Always absolute: a language
/// server's working directory is the user's workspace.
pub fn hub_cache_directory() -> PathBuf {
    let from = |name: &str| {
        std::env::var_os(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    if let Some(path) = from("HF_HUB_CACHE").or_else(|| from("HUGGINGFACE_HUB_CACHE")) {
        return path;
    }
    if let Some(home) = from("HF_HOME") {
        return home.join("hub");
    }
    if let Some(cache) = from("XDG_CACHE_HOME") {
        return cache.join("huggingface").join("hub");
    }
    let home = from("HOME")
        .or_else(|| from("USERPROFILE"))
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("huggingface").join("hub")
}

fn looks_like_path(model: &str) -> bool {
    model.starts_with('/')
        || model.starts_with('.')
        || model.starts_with('~')
        || model.contains('\\')
        || model.matches('/').count() > 1
        || Path::new(model).is_absolute()
}

fn check_repo_id(model: &str) -> Result<(), ModelError> {
    let valid = !model.is_empty()
        && model.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    if valid {
        Ok(())
    } else {
        Err(ModelError::Resolve(format!(
            "\"{model}\" is neither an existing directory nor a Hugging Face repo id (like {DEFAULT_MODEL})"
        )))
    }
}

/// The weight and tokenizer files a model needs, in order of preference.
const WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

/// Looks the model up in the cache without touching the network; the snapshot directory when
/// `config.json`, a tokenizer and (when `with_weights`) weights are all there.
pub fn find_in_cache(
    cache_dir: &Path,
    model: &str,
    revision: &str,
    with_weights: bool,
) -> Option<PathBuf> {
    let repo = Cache::new(cache_dir.to_path_buf()).repo(Repo::with_revision(
        model.into(),
        RepoType::Model,
        revision.into(),
    ));
    let config = repo.get("config.json")?;
    let snapshot = config.parent()?.to_path_buf();
    let has_tokenizer =
        snapshot.join("tokenizer.json").is_file() || snapshot.join("vocab.txt").is_file();
    let has_weights = WEIGHT_FILES
        .iter()
        .any(|name| snapshot.join(name).is_file());
    (has_tokenizer && (has_weights || !with_weights)).then_some(snapshot)
}

struct ProgressAdapter<'a> {
    report: DownloadProgress<'a>,
    cancel: &'a CancelFlag,
    file: String,
    total: u64,
    done: u64,
}

/// The unwinding payload that stops a download the user cancelled (see [`download`]).
struct DownloadCancelled;

impl hf_hub::api::Progress for ProgressAdapter<'_> {
    fn init(&mut self, size: usize, filename: &str) {
        self.file = filename.to_string();
        self.total = size as u64;
        self.done = 0;
        (self.report)(&self.file, 0, self.total);
    }
    fn update(&mut self, size: usize) {
        // hf-hub's blocking client has no way to stop a transfer but the progress callback,
        // called after every read: unwinding from here (without the panic hook: nothing is
        // printed) leaves the partial `.part` file, which the next download resumes.
        if self.cancel.is_cancelled() {
            std::panic::resume_unwind(Box::new(DownloadCancelled));
        }
        self.done += size as u64;
        (self.report)(&self.file, self.done, self.total);
    }
    fn finish(&mut self) {
        (self.report)(&self.file, self.total, self.total);
    }
}

/// Downloads the files the model needs into the cache (skipping those already there) and returns
/// the snapshot directory. Setting `cancel` stops the transfer within one read with
/// [`ModelError::Cancelled`]; what was received is kept and the next download resumes from there.
pub fn download(
    cache_dir: &Path,
    model: &str,
    revision: &str,
    with_weights: bool,
    progress: DownloadProgress,
    cancel: &CancelFlag,
) -> Result<PathBuf, ModelError> {
    check_repo_id(model)?;
    let failed = |what: &str, error: String| {
        ModelError::Resolve(format!("downloading {model} ({revision}): {what}: {error}"))
    };
    let mut builder =
        hf_hub::api::sync::ApiBuilder::from_cache(Cache::new(cache_dir.to_path_buf()))
            .with_progress(false);
    if let Ok(endpoint) = std::env::var("HF_ENDPOINT") {
        builder = builder.with_endpoint(endpoint);
    }
    if let Ok(token) = std::env::var("HF_TOKEN") {
        builder = builder.with_token(Some(token));
    }
    let api = builder
        .build()
        .map_err(|error| failed("cannot start the client", error.to_string()))?;
    let repo = api.repo(Repo::with_revision(
        model.into(),
        RepoType::Model,
        revision.into(),
    ));
    let info = repo
        .info()
        .map_err(|error| failed("cannot list the repository", error.to_string()))?;
    let has = |name: &str| {
        info.siblings
            .iter()
            .any(|sibling| sibling.rfilename == name)
    };
    let mut files = vec!["config.json"];
    if has("tokenizer.json") {
        files.push("tokenizer.json");
    } else if has("vocab.txt") {
        files.push("vocab.txt");
    } else {
        return Err(failed(
            "no tokenizer",
            "the repository has neither tokenizer.json nor vocab.txt".into(),
        ));
    }
    if has("tokenizer_config.json") {
        files.push("tokenizer_config.json");
    }
    match WEIGHT_FILES.iter().find(|name| has(name)) {
        _ if !with_weights => {}
        Some(name) => files.push(name),
        None => {
            return Err(failed(
                "no weights",
                "the repository has neither model.safetensors nor pytorch_model.bin".into(),
            ))
        }
    }
    let mut snapshot = None;
    for file in files {
        if cancel.is_cancelled() {
            return Err(ModelError::Cancelled);
        }
        let adapter = ProgressAdapter {
            report: progress,
            cancel,
            file: file.into(),
            total: 0,
            done: 0,
        };
        let transfer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            repo.download_with_progress(file, adapter)
        }));
        let path = match transfer {
            Ok(Ok(path)) => path,
            Ok(Err(error)) => return Err(failed(file, error.to_string())),
            Err(payload) if payload.is::<DownloadCancelled>() => return Err(ModelError::Cancelled),
            Err(payload) => std::panic::resume_unwind(payload),
        };
        snapshot = path.parent().map(Path::to_path_buf);
    }
    snapshot.ok_or_else(|| failed("no files", "nothing was downloaded".into()))
}

/// Whether [`resolve`] would download: a Hub model, not in the cache, with the network allowed.
/// Only looks at the cache on disk.
pub fn may_download(options: &ModelOptions) -> bool {
    let model = options.model.trim();
    model != BUNDLED_MODEL_NAME
        && !Path::new(model).exists()
        && !looks_like_path(model)
        && check_repo_id(model).is_ok()
        && !(options.offline || offline_from_environment())
        && find_in_cache(
            &hub_cache_directory(),
            model,
            &options.revision,
            options.inference_url.is_empty(),
        )
        .is_none()
}

/// Decides where the model comes from. A local directory must exist (no fallback: the user asked
/// for that model). A Hub model comes from the cache, else (unless offline) from a download; when
/// neither works, the bundled mini model stands in, with a warning that says why.
pub fn resolve(
    options: &ModelOptions,
    progress: DownloadProgress,
    cancel: &CancelFlag,
) -> Result<Resolution, ModelError> {
    let model = options.model.trim();
    if model == BUNDLED_MODEL_NAME {
        return Ok(Resolution {
            location: ModelLocation::Bundled,
            fallback_warning: None,
        });
    }
    let as_path = Path::new(model);
    if as_path.is_dir() {
        let directory = as_path
            .canonicalize()
            .unwrap_or_else(|_| as_path.to_path_buf());
        return Ok(Resolution {
            location: ModelLocation::Directory(directory),
            fallback_warning: None,
        });
    }
    if looks_like_path(model) || as_path.exists() {
        return Err(ModelError::NoSuchDirectory(as_path.to_path_buf()));
    }
    check_repo_id(model)?;
    let cache_dir = hub_cache_directory();
    // With an inference server the weights are the server's business.
    let with_weights = options.inference_url.is_empty();
    if let Some(snapshot) = find_in_cache(&cache_dir, model, &options.revision, with_weights) {
        return Ok(Resolution {
            location: ModelLocation::Directory(snapshot),
            fallback_warning: None,
        });
    }
    let how_to_get = format!(
        "run `biomed-lsp fetch-model --model {model}` where the network is reachable (or download it with Python's huggingface_hub into {})",
        cache_dir.display()
    );
    if options.offline || offline_from_environment() {
        return Ok(Resolution {
            location: ModelLocation::Bundled,
            fallback_warning: Some(format!(
                "{model} ({}) is not in the Hugging Face cache at {} and offline mode is on; using the bundled mini model, which is far less accurate. To get the real model, {how_to_get}",
                options.revision,
                cache_dir.display()
            )),
        });
    }
    match download(
        &cache_dir,
        model,
        &options.revision,
        with_weights,
        progress,
        cancel,
    ) {
        Ok(snapshot) => Ok(Resolution { location: ModelLocation::Directory(snapshot), fallback_warning: None }),
        Err(ModelError::Cancelled) => Ok(Resolution {
            location: ModelLocation::Bundled,
            fallback_warning: Some(format!(
                "the download of {model} was cancelled; using the bundled mini model, which is far less accurate. What was downloaded is kept in {} and the next start (or `biomed-lsp fetch-model --model {model}`) resumes the download",
                cache_dir.display()
            )),
        }),
        Err(error) => Ok(Resolution {
            location: ModelLocation::Bundled,
            fallback_warning: Some(format!(
                "{model} is not in the Hugging Face cache at {} and the download failed ({error}); using the bundled mini model, which is far less accurate. To get the real model, {how_to_get}",
                cache_dir.display()
            )),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_and_paths_are_told_apart() {
        assert!(!looks_like_path(DEFAULT_MODEL));
        assert!(looks_like_path("./models/x"));
        assert!(looks_like_path("/opt/models/biomedbert"));
        assert!(looks_like_path("a/b/c"));
        assert!(check_repo_id("bad id with spaces").is_err());
        assert!(check_repo_id("org/name-1.0_x").is_ok());
    }

    #[test]
    fn a_missing_local_directory_is_an_error_not_a_fallback() {
        let options = ModelOptions {
            model: "/no/such/model/dir".into(),
            ..ModelOptions::default()
        };
        let error = resolve(&options, &|_, _, _| {}, &CancelFlag::new())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("/no/such/model/dir") && error.contains("does not exist"),
            "{error}"
        );
    }

    #[test]
    fn offline_and_not_cached_falls_back_with_a_warning_naming_the_model() {
        let empty_cache = tempfile::tempdir().unwrap();
        assert_eq!(
            find_in_cache(empty_cache.path(), DEFAULT_MODEL, "main", true),
            None
        );
        // The cache directory comes from the environment; point it at the empty one.
        std::env::set_var("HF_HUB_CACHE", empty_cache.path());
        let options = ModelOptions {
            offline: true,
            ..ModelOptions::default()
        };
        let resolution = resolve(&options, &|_, _, _| {}, &CancelFlag::new()).unwrap();
        std::env::remove_var("HF_HUB_CACHE");
        assert_eq!(resolution.location, ModelLocation::Bundled);
        let warning = resolution.fallback_warning.unwrap();
        assert!(
            warning.contains(DEFAULT_MODEL)
                && warning.contains("offline")
                && warning.contains("fetch-model"),
            "{warning}"
        );
    }

    #[test]
    fn a_model_in_the_python_cache_layout_is_found_offline() {
        let cache = tempfile::tempdir().unwrap();
        let repo_dir = cache.path().join("models--org--name");
        let snapshot = repo_dir.join("snapshots").join("abc123");
        std::fs::create_dir_all(&snapshot).unwrap();
        std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
        std::fs::write(repo_dir.join("refs").join("main"), "abc123").unwrap();
        for name in ["config.json", "vocab.txt", "pytorch_model.bin"] {
            std::fs::write(snapshot.join(name), "x").unwrap();
        }
        assert_eq!(
            find_in_cache(cache.path(), "org/name", "main", true),
            Some(snapshot.clone())
        );
        std::fs::remove_file(snapshot.join("pytorch_model.bin")).unwrap();
        assert_eq!(
            find_in_cache(cache.path(), "org/name", "main", true),
            None,
            "weights are required"
        );
    }
}
