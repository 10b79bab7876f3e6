//! The engine thread: async and blocking requests, cancellation before the model runs, bad requests.

use biomed_lsp::model::engine::{load_model, EngineHandle, LoadEvent};
use biomed_lsp::model::fill::ModelRunner;
use biomed_lsp::model::{
    CancelFlag, EngineError, FillRequest, ModelOptions, ScoreRequest, TokenProbabilityRequest,
    WordToScore,
};

fn engine() -> EngineHandle {
    let options = ModelOptions {
        model: "bundled".into(),
        device: "cpu".into(),
        ..ModelOptions::default()
    };
    let events = std::sync::Mutex::new(Vec::new());
    let loaded = load_model(
        &options,
        &|event: LoadEvent| events.lock().unwrap().push(event),
        &CancelFlag::new(),
    )
    .unwrap();
    let events = events.into_inner().unwrap();
    assert!(
        events
            .iter()
            .all(|event| !matches!(event, LoadEvent::Warning(_))),
        "an explicit bundled model is no fallback: {events:?}"
    );
    assert!(!loaded.info.is_fallback);
    assert_eq!(loaded.info.device, "cpu");
    EngineHandle::start(loaded)
}

/// The bundled mini model on the CPU, outside any engine.
fn bundled_runner() -> ModelRunner {
    load_model(
        &ModelOptions {
            model: "bundled".into(),
            device: "cpu".into(),
            ..ModelOptions::default()
        },
        &|_| {},
        &CancelFlag::new(),
    )
    .unwrap()
    .runner
}

fn fill_request(text: &str, cancel: Option<CancelFlag>) -> FillRequest {
    let start = text.find("[MASK]").unwrap();
    FillRequest {
        text: text.into(),
        slot: start..start + 6,
        top_k: 3,
        prefix: String::new(),
        min_pieces: 1,
        pll_rescoring: false,
        context_tokens: 0,
        max_pieces: 2,
        cancel,
        extra_words: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_requests_of_both_priorities_are_answered() {
    let engine = engine();
    let fill = engine.fill(fill_request("Type 2 [MASK] mellitus.", None));
    let text = "Blood pressure was measured.";
    let score = engine.score_background(ScoreRequest {
        text: text.into(),
        words: vec![WordToScore {
            range: 0..5,
            candidates: vec!["flood".into()],
        }],
        top_k_alternatives: 3,
        candidate_bounds_only: false,
        context_tokens: 0,
        cancel: None,
    });
    let (fill, score) = tokio::join!(fill, score);
    assert_eq!(fill.unwrap().len(), 3);
    let score = score.unwrap();
    assert_eq!(score[0].pieces, ["blood"]);
    assert_eq!(score[0].alternatives.len(), 3);
    assert_eq!(score[0].candidates[0].0, "flood");
}

#[test]
fn a_cancelled_request_is_dropped_before_it_reaches_the_model() {
    let engine = engine();
    let cancel = CancelFlag::new();
    cancel.cancel();
    let result = engine.fill_blocking(fill_request("Type 2 [MASK] mellitus.", Some(cancel)));
    assert!(matches!(result, Err(EngineError::Cancelled)), "{result:?}");
    // The engine goes on serving.
    assert!(engine
        .fill_blocking(fill_request("Type 2 [MASK] mellitus.", None))
        .is_ok());
}

#[test]
fn bad_ranges_are_errors_not_panics() {
    let engine = engine();
    let mut request = fill_request("Type 2 [MASK] mellitus.", None);
    request.slot = 10..500;
    let error = engine.fill_blocking(request).unwrap_err().to_string();
    assert!(error.contains("slot"), "{error}");
    let mut request = fill_request("ö [MASK]", None);
    request.slot = 1..2; // inside the two bytes of "ö"
    assert!(engine.fill_blocking(request).is_err());
    let result = engine.score_batch_blocking(vec![ScoreRequest {
        text: "short".into(),
        words: vec![WordToScore {
            range: 40..45,
            candidates: vec![],
        }],
        top_k_alternatives: 1,
        candidate_bounds_only: false,
        context_tokens: 0,
        cancel: None,
    }]);
    assert!(result.is_err());
    // Still alive afterwards.
    assert!(engine
        .fill_blocking(fill_request("Type 2 [MASK] mellitus.", None))
        .is_ok());
}

#[test]
fn a_long_text_is_windowed_around_the_slot() {
    let engine = engine();
    let sentence = "The patients were followed for five years after surgery. ";
    let text = format!(
        "{}Type 2 [MASK] mellitus. {}",
        sentence.repeat(200),
        sentence.repeat(200)
    );
    let predictions = engine.fill_blocking(fill_request(&text, None)).unwrap();
    assert_eq!(predictions.len(), 3);
}

/// `sentences` screening requests of one long sentence: a batch of many forward passes.
fn long_batch(sentences: usize, cancel: Option<CancelFlag>) -> Vec<TokenProbabilityRequest> {
    let text = "Acute myocardial infarction was confirmed by elevated troponin levels in the \
                emergency department, and the patients were treated with aspirin and heparin.";
    (0..sentences)
        .map(|_| TokenProbabilityRequest {
            text: text.into(),
            top_k: 0,
            top_k_ranges: None,
            ranges: None,
            cancel: cancel.clone(),
        })
        .collect()
}

#[test]
fn an_interactive_request_runs_between_the_forward_passes_of_a_long_background_batch() {
    let engine = engine();
    // About a second of work for the mini model, in many forward passes.
    let requests = long_batch(600, None);
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let background = {
        let engine = engine.clone();
        let order = order.clone();
        std::thread::spawn(move || {
            let answers = engine.token_probabilities_batch_blocking(requests);
            order.lock().unwrap().push("background");
            answers
        })
    };
    // Let the background batch start before the interactive request arrives.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let fill = engine.fill_blocking(fill_request("Type 2 [MASK] mellitus.", None));
    order.lock().unwrap().push("interactive");
    assert!(fill.is_ok());
    let answers = background.join().unwrap().expect("the background batch");
    assert_eq!(answers.answers.len(), 600);
    assert!(answers.rows >= 600);
    assert_eq!(*order.lock().unwrap(), ["interactive", "background"]);
}

#[test]
fn a_background_batch_cancelled_while_it_runs_stops_between_forward_passes() {
    let engine = engine();
    let cancel = CancelFlag::new();
    // Several seconds of work for the mini model, in many forward passes.
    let requests = long_batch(3000, Some(cancel.clone()));
    let background = {
        let engine = engine.clone();
        std::thread::spawn(move || engine.token_probabilities_batch_blocking(requests))
    };
    // Cancel once the batch is running: it cannot finish all its passes by then.
    std::thread::sleep(std::time::Duration::from_millis(200));
    cancel.cancel();
    let result = background.join().unwrap();
    assert!(
        matches!(result, Err(EngineError::Cancelled)),
        "{:?}",
        result.map(|answers| answers.rows)
    );
    // The engine goes on.
    assert!(engine
        .fill_blocking(fill_request("Type 2 [MASK] mellitus.", None))
        .is_ok());
}

/// A completion slot while a word is typed ("…type 2 dia| mellitus…"): the same slot, other prefixes.
fn typed(prefix: &str) -> FillRequest {
    let start = "Patients with type 2 ".len();
    FillRequest {
        text: format!("Patients with type 2 {prefix} mellitus were enrolled."),
        slot: start..start + prefix.len(),
        top_k: 5,
        prefix: prefix.into(),
        min_pieces: 1,
        max_pieces: 2,
        pll_rescoring: false,
        context_tokens: 32,
        cancel: None,
        extra_words: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystrokes_in_one_word_share_one_forward_pass_and_get_what_a_fresh_fill_gets() {
    let engine = engine();
    let reference = bundled_runner();
    let before = engine.counts();
    for prefix in ["d", "di", "dia", "diab"] {
        let cached = engine.fill(typed(prefix)).await.unwrap();
        let fresh = reference.fill(&typed(prefix)).unwrap();
        assert_eq!(cached, fresh, "prefix {prefix:?}");
        assert!(
            cached.iter().all(|p| p.word.starts_with(prefix)),
            "{cached:?}"
        );
    }
    let after = engine.counts();
    assert_eq!(after.forward_passes - before.forward_passes, 1, "{after:?}");
    assert_eq!(
        after.fills_from_cache - before.fills_from_cache,
        3,
        "{after:?}"
    );

    // Another context is another slot: one more pass.
    let mut elsewhere = typed("dia");
    elsewhere.text = elsewhere.text.replace("Patients", "Children");
    engine.fill(elsewhere).await.unwrap();
    assert_eq!(engine.counts().forward_passes - before.forward_passes, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefetched_slot_answers_the_first_keystroke_and_a_cancelled_prefetch_never_runs() {
    let engine = engine();
    let mut cancelled = typed("");
    let flag = CancelFlag::new();
    flag.cancel();
    cancelled.cancel = Some(flag);
    cancelled.text = cancelled.text.replace("Patients", "Adults");
    engine.prefetch_fill(cancelled).unwrap();

    let mut prefetch = typed("");
    prefetch.cancel = Some(CancelFlag::new());
    engine.prefetch_fill(prefetch).unwrap();
    // The keystroke joins the prefetch (or finds it done): one pass in all, for the live prefetch.
    let predictions = engine.fill(typed("d")).await.unwrap();
    assert!(predictions.iter().all(|p| p.word.starts_with('d')));
    let counts = engine.counts();
    assert_eq!(counts.prefetches, 2);
    assert_eq!(counts.forward_passes, 1, "{counts:?}");
    assert_eq!(
        counts.fills_from_cache + counts.fills_joined,
        1,
        "{counts:?}"
    );
}

#[test]
fn a_background_forward_pass_lets_waiting_requests_in_between_its_layers() {
    let mut runner = bundled_runner();
    let layers = runner.model.config().num_hidden_layers;
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    runner.set_yield_point(Box::new(move |_| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }));
    runner.allow_yield(true);
    let requests = long_batch(1, None);
    runner.token_probabilities_batch(&requests).unwrap();
    assert_eq!(runner.counters.read().forward_passes, 1);
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        layers - 1,
        "one chance between each two layers of the one pass"
    );
    // An interactive request (the engine does not yield) leaves no chance.
    runner.allow_yield(false);
    runner.token_probabilities_batch(&requests).unwrap();
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), layers - 1);
}
