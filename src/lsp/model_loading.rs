//! Loading the model on a thread of its own, with progress; the previous engine answers meanwhile.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tower_lsp::lsp_types::MessageType;

use crate::model::{load_engine, CancelFlag, LoadEvent};

use super::progress::ProgressReporter;
use super::state::*;

impl Backend {
    /// Loads the engine on a dedicated thread and reports progress; the previous engine (if any)
    /// keeps answering until the new one is ready.
    pub(super) fn start_model_load(&self) {
        let generation = self.shared.load_generation.fetch_add(1, Ordering::SeqCst) + 1;
        let settings = lock(&self.shared.settings).clone();
        let options = settings.model_options();
        let supports_progress = lock(&self.shared.client_support).work_done_progress;
        let client = self.client.clone();
        let shared = Arc::clone(&self.shared);
        // The client's cancel button stops a download; the bundled model then stands in.
        let download_cancel = CancelFlag::new();
        let loader_cancel = download_cancel.clone();
        tokio::spawn(async move {
            // A look at the cache on disk: whether the cancel button can mean anything.
            let cache_options = options.clone();
            let may_download = tokio::task::spawn_blocking(move || {
                crate::model::resolve::may_download(&cache_options)
            })
            .await
            .unwrap_or(false);
            let (event_sender, mut event_receiver) =
                tokio::sync::mpsc::unbounded_channel::<LoadEvent>();
            let (result_sender, result_receiver) = tokio::sync::oneshot::channel();
            let spawned = std::thread::Builder::new()
                .name("biomed-lsp-model-load".to_string())
                .spawn(move || {
                    let on_event = move |event: LoadEvent| {
                        // The receiver only goes away when the server stops; nothing to report then.
                        let _ = event_sender.send(event);
                    };
                    // The engine thread and the compute pools start from here and inherit it.
                    crate::model::priority::lower_current_thread_priority();
                    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        crate::test_hooks::delay_model_load();
                        load_engine(&options, &on_event, &loader_cancel)
                    }))
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("the model loader panicked")));
                    let _ = result_sender.send(result);
                });
            // The loader runs while the client is asked for a progress token; its events wait.
            let reporter = ProgressReporter::create(&client, "model-load", supports_progress).await;
            let cancels = &shared.progress_cancels;
            if may_download {
                reporter
                    .begin_cancellable("loading the model…", download_cancel, cancels)
                    .await;
            } else {
                reporter.begin("loading the model…").await;
            }
            if let Err(error) = spawned {
                reporter
                    .end_and_forget(&format!("cannot start the model loader: {error}"), cancels)
                    .await;
                return;
            }
            let mut last_percentage = None;
            while let Some(event) = event_receiver.recv().await {
                match event {
                    LoadEvent::Message(message) => {
                        // Past the download: loading from disk cannot be cancelled.
                        reporter.stop_being_cancellable();
                        reporter.report(&message, None).await
                    }
                    LoadEvent::Download {
                        file,
                        done_bytes,
                        total_bytes,
                    } => {
                        let percentage = done_bytes
                            .saturating_mul(100)
                            .checked_div(total_bytes)
                            .map(|percent| percent.min(100) as u32);
                        // Downloads report often; the client needs one message per percent.
                        if percentage.is_some() && percentage == last_percentage {
                            continue;
                        }
                        last_percentage = percentage;
                        let message = format!(
                            "downloading {file}: {} of {} MB",
                            done_bytes / 1_000_000,
                            total_bytes / 1_000_000
                        );
                        reporter.report(&message, percentage).await;
                    }
                    LoadEvent::Warning(warning) => {
                        tracing::warn!("{warning}");
                        if lock(&shared.reported_load_warnings).insert(warning.clone()) {
                            client.show_message(MessageType::WARNING, warning).await;
                        }
                    }
                }
            }
            let result = result_receiver.await.unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "the model loader stopped without an answer"
                ))
            });
            if shared.load_generation.load(Ordering::SeqCst) != generation {
                reporter
                    .end_and_forget("superseded by a newer model setting", cancels)
                    .await;
                return;
            }
            match result {
                Ok(engine) => {
                    let info = engine.info();
                    let message = format!(
                        "{} ready on {} ({})",
                        info.display_name, info.device, info.precision
                    );
                    tracing::info!("{message} ({})", info.loaded);
                    {
                        let mut slot = lock(&shared.engine);
                        slot.current = Some(engine);
                        slot.failure = None;
                    }
                    // Cached findings and the lexicon are keyed by model: nothing to clear.
                    reporter.end_and_forget(&message, cancels).await;
                    Backend {
                        client: client.clone(),
                        shared: Arc::clone(&shared),
                    }
                    .schedule_all_checks();
                }
                Err(error) => {
                    let message = format!("model {} failed to load: {error:#}", settings.model);
                    tracing::error!("{message}");
                    lock(&shared.engine).failure = Some(message.clone());
                    reporter.end_and_forget(&message, cancels).await;
                    client.show_message(MessageType::ERROR, message).await;
                }
            }
        });
    }
}
