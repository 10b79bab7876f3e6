//! Entity taggers (token-classification checkpoints): parity with transformers on the goldens of
//! `scripts/make_goldens.py`, the bundled disease tagger, sharing the fill-mask encoder, and the
//! errors a wrong checkpoint gets.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use biomed_lsp::model::engine::{load_model, LoadEvent, LoadedModel};
use biomed_lsp::model::entities::EntityRequest;
use biomed_lsp::model::{CancelFlag, ModelOptions};
use candle_core::{Device, Tensor};

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn load(entities_model: &str, precision: &str) -> LoadedModel {
    try_load("bundled", entities_model, precision).unwrap()
}

fn try_load(model: &str, entities_model: &str, precision: &str) -> anyhow::Result<LoadedModel> {
    Ok(load_with_warnings(
        model,
        entities_model,
        precision,
        &|_| {},
    )?)
}

fn load_with_warnings(
    model: &str,
    entities_model: &str,
    precision: &str,
    on_event: &(dyn Fn(LoadEvent) + Send + Sync),
) -> Result<LoadedModel, biomed_lsp::model::ModelError> {
    load_model(
        &ModelOptions {
            model: model.into(),
            entities_model: entities_model.into(),
            device: "cpu".into(),
            precision: precision.into(),
            offline: true,
            ..ModelOptions::default()
        },
        on_event,
        &CancelFlag::new(),
    )
}

/// The warning a tagger that does not load leaves; the fill-mask model loads all the same.
fn tagger_warning(entities_model: &str) -> String {
    let warnings = std::sync::Mutex::new(Vec::new());
    let loaded = load_with_warnings("bundled", entities_model, "auto", &|event| {
        if let LoadEvent::Warning(warning) = event {
            warnings.lock().unwrap().push(warning);
        }
    })
    .expect("the fill-mask model loads without its tagger");
    assert!(loaded.info.entities.is_none());
    let warnings = warnings.into_inner().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("no entity highlighting: the entity model"),
        "{warnings:?}"
    );
    warnings[0].clone()
}

fn requests(texts: &[&str]) -> Vec<EntityRequest> {
    texts
        .iter()
        .map(|text| EntityRequest {
            text: text.to_string(),
            cancel: None,
        })
        .collect()
}

fn mentions(loaded: &LoadedModel, text: &str) -> Vec<(String, String)> {
    loaded
        .runner
        .entities(&requests(&[text]))
        .unwrap()
        .answers
        .remove(0)
        .into_iter()
        .map(|mention| (text[mention.span].to_string(), mention.label))
        .collect()
}

/// The classifier's scores at each word's first piece equal transformers' (f32) for the bundled
/// tagger (safetensors, f16 on disk) and for a random BIOES checkpoint with its own vocabulary
/// (pytorch_model.bin).
#[test]
fn word_scores_match_transformers() {
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("tests/golden/entities_parity.json")).unwrap(),
    )
    .unwrap();
    for (checkpoint, sentences) in golden["checkpoints"].as_object().unwrap() {
        let entities_model = match checkpoint.as_str() {
            "models/biomed-mini-ner" => "bundled".to_string(),
            other => repo_path(other).display().to_string(),
        };
        let loaded = load(&entities_model, "f32");
        let texts: Vec<&str> = sentences
            .as_array()
            .unwrap()
            .iter()
            .map(|sentence| sentence["text"].as_str().unwrap())
            .collect();
        let answers = loaded
            .runner
            .entity_word_scores(&requests(&texts))
            .unwrap()
            .answers;
        let mut worst = 0f32;
        for (sentence, words) in sentences.as_array().unwrap().iter().zip(answers) {
            let expected = sentence["words"].as_array().unwrap();
            let text = sentence["text"].as_str().unwrap();
            assert_eq!(
                words.len(),
                expected.len(),
                "{checkpoint}: words of {text:?}"
            );
            for (word, expected) in words.iter().zip(expected) {
                let span = expected["start"].as_u64().unwrap() as usize
                    ..expected["end"].as_u64().unwrap() as usize;
                assert_eq!(word.span, span, "{checkpoint}: {text:?}");
                for (score, expected) in word
                    .scores
                    .iter()
                    .zip(expected["scores"].as_array().unwrap())
                {
                    let difference = (score - expected.as_f64().unwrap() as f32).abs();
                    worst = worst.max(difference);
                    assert!(
                        difference <= 1e-4,
                        "{checkpoint}: {text:?} {:?}: {score} vs transformers {expected}",
                        &text[span.clone()]
                    );
                }
            }
        }
        eprintln!("{checkpoint}: largest score difference from transformers {worst:e}");
    }
}

#[test]
fn the_bundled_tagger_finds_disease_mentions_in_8_bit_and_f32() {
    for precision in ["auto", "f32"] {
        let loaded = load("bundled", precision);
        let info = loaded.info.entities.clone().expect("an entity model");
        assert_eq!(info.entity_types, ["Disease"]);
        assert!(
            !info.shares_encoder,
            "the tagger is the mini encoder fine-tuned"
        );
        assert_eq!(
            mentions(
                &loaded,
                "Patients with Duchenne muscular dystrophy were excluded from the trial."
            ),
            [(
                "Duchenne muscular dystrophy".to_string(),
                "Disease".to_string()
            )],
            "{precision}"
        );
        assert!(mentions(&loaded, "We measured blood pressure twice daily.").is_empty());
        assert!(mentions(&loaded, "").is_empty());
    }
}

#[test]
fn texts_tagged_together_get_what_each_gets_alone_and_long_texts_are_read_in_rows() {
    let loaded = load("bundled", "auto");
    let texts = [
        "Familial adenomatous polyposis is caused by mutations in the APC gene.",
        "Myocardial infarction, stroke and renal failure were the primary outcomes.",
        "Blood pressure.",
    ];
    let together = loaded.runner.entities(&requests(&texts)).unwrap().answers;
    for (text, mentions_together) in texts.iter().zip(&together) {
        let alone = loaded.runner.entities(&requests(&[text])).unwrap().answers;
        assert_eq!(&alone[0], mentions_together, "{text}");
    }
    // Several rows, cut between words: every mention lies on the text's word boundaries.
    let long = texts[0].repeat(80);
    let answer = loaded.runner.entities(&requests(&[&long])).unwrap();
    assert!(answer.rows > 1, "{} rows", answer.rows);
    assert!(!answer.answers[0].is_empty());
    for mention in &answer.answers[0] {
        let text = &long[mention.span.clone()];
        assert!(!text.starts_with(' ') && !text.ends_with(' '), "{text:?}");
    }
}

#[test]
fn a_tagger_whose_encoder_is_the_fill_mask_one_runs_on_it() {
    // The mini model's own tensors and a classifier: the same encoder, so it is shared.
    let directory = tempfile::tempdir().unwrap();
    let mini = repo_path("models/biomed-mini");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(mini.join("config.json")).unwrap()).unwrap();
    config["architectures"] = serde_json::json!(["BertForTokenClassification"]);
    config["id2label"] = serde_json::json!({"0": "O", "1": "B-Chemical", "2": "I-Chemical"});
    std::fs::write(directory.path().join("config.json"), config.to_string()).unwrap();
    for name in ["vocab.txt", "tokenizer_config.json"] {
        std::fs::copy(mini.join(name), directory.path().join(name)).unwrap();
    }
    let write_weights = |change_one: bool| {
        let mut tensors: HashMap<String, Tensor> =
            candle_core::safetensors::load(mini.join("model.safetensors"), &Device::Cpu)
                .unwrap()
                .into_iter()
                .filter(|(name, _)| name.starts_with("bert."))
                .collect();
        if change_one {
            let name = "bert.encoder.layer.0.output.dense.bias";
            let changed = (tensors[name].clone() + 0.5).unwrap();
            tensors.insert(name.into(), changed);
        }
        let weight: Vec<f32> = (0..3 * 128)
            .map(|i| ((i % 7) as f32 - 3.0) / 10.0)
            .collect();
        tensors.insert(
            "classifier.weight".into(),
            Tensor::from_vec(weight, (3, 128), &Device::Cpu).unwrap(),
        );
        tensors.insert(
            "classifier.bias".into(),
            Tensor::from_vec(vec![0.0f32, 0.1, 0.2], 3, &Device::Cpu).unwrap(),
        );
        candle_core::safetensors::save(&tensors, directory.path().join("model.safetensors"))
            .unwrap();
    };
    let path = directory.path().display().to_string();
    write_weights(false);
    let shared = load(&path, "f32");
    let info = shared.info.entities.clone().unwrap();
    assert!(info.shares_encoder, "{info:?}");
    assert_eq!(info.entity_types, ["Chemical"]);
    let text = "Aspirin and ibuprofen were given for fever.";
    let shared_scores = shared
        .runner
        .entity_word_scores(&requests(&[text]))
        .unwrap();
    // One tensor differs: its own encoder, and other scores.
    write_weights(true);
    let own = load(&path, "f32");
    assert!(!own.info.entities.clone().unwrap().shares_encoder);
    let own_scores = own.runner.entity_word_scores(&requests(&[text])).unwrap();
    assert_eq!(shared_scores.answers[0].len(), own_scores.answers[0].len());
    assert_ne!(shared_scores.answers, own_scores.answers);
}

#[test]
fn wrong_checkpoints_say_what_is_wrong_without_stopping_the_fill_mask_model() {
    assert!(load("off", "auto").info.entities.is_none());
    assert!(load("off", "auto")
        .runner
        .entities(&requests(&["a"]))
        .is_err());
    // A fill-mask checkpoint is no tagger.
    let error = tagger_warning(&repo_path("models/biomed-mini").display().to_string());
    assert!(
        error.contains("config.json") && error.contains("id2label"),
        "{error}"
    );
    // A tagger is no fill-mask model.
    let tiny = repo_path("tests/golden/tiny-token-classification");
    let error = try_load(&tiny.display().to_string(), "off", "f32")
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("pytorch_model.bin") && error.contains("no masked-language-model head"),
        "{error}"
    );
    // Labels that are not BIO/BIOES.
    let directory = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&tiny).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), directory.path().join(entry.file_name())).unwrap();
    }
    let config_path = directory.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["id2label"] = serde_json::json!({"0": "LABEL_0", "1": "LABEL_1"});
    std::fs::write(&config_path, config.to_string()).unwrap();
    let error = tagger_warning(&directory.path().display().to_string());
    assert!(
        error.contains("LABEL_0") && error.contains("config.json"),
        "{error}"
    );
    // A directory that does not exist.
    let error = tagger_warning("/nonexistent/tagger");
    assert!(error.contains("/nonexistent/tagger"), "{error}");
}

/// Counts the texts sent to the tagger; everything else goes to the runner.
struct CountingTagger<'a> {
    runner: &'a biomed_lsp::model::fill::ModelRunner,
    tagged: std::cell::RefCell<Vec<String>>,
}

impl biomed_lsp::analysis::TermScorer for CountingTagger<'_> {
    fn model_id(&self) -> u64 {
        self.runner.id
    }
    fn words(
        &self,
        text: &str,
    ) -> Result<Vec<biomed_lsp::model::TokenizedWord>, biomed_lsp::analysis::CheckError> {
        biomed_lsp::analysis::TermScorer::words(self.runner, text)
    }
    fn token_probabilities(
        &self,
        requests: Vec<biomed_lsp::model::TokenProbabilityRequest>,
    ) -> Result<
        biomed_lsp::model::BatchAnswers<Vec<biomed_lsp::model::TokenProbability>>,
        biomed_lsp::analysis::CheckError,
    > {
        biomed_lsp::analysis::TermScorer::token_probabilities(self.runner, requests)
    }
    fn score(
        &self,
        requests: Vec<biomed_lsp::model::ScoreRequest>,
    ) -> Result<
        biomed_lsp::model::BatchAnswers<Vec<biomed_lsp::model::WordScore>>,
        biomed_lsp::analysis::CheckError,
    > {
        biomed_lsp::analysis::TermScorer::score(self.runner, requests)
    }
    fn entities(
        &self,
        requests: Vec<EntityRequest>,
        urgency: biomed_lsp::analysis::Urgency,
    ) -> Result<
        Option<biomed_lsp::model::BatchAnswers<Vec<biomed_lsp::model::entities::EntityMention>>>,
        biomed_lsp::analysis::CheckError,
    > {
        self.tagged
            .borrow_mut()
            .extend(requests.iter().map(|request| request.text.clone()));
        biomed_lsp::analysis::TermScorer::entities(self.runner, requests, urgency)
    }
}

#[test]
fn after_an_edit_only_the_changed_sentence_is_tagged_again() {
    use biomed_lsp::analysis::document::prepare_document;
    use biomed_lsp::analysis::entities::{document_entities, SentenceSelection};
    use biomed_lsp::analysis::SentenceCache;
    use biomed_lsp::prose::{Language, ProseOptions};
    let loaded = load("bundled", "auto");
    let scorer = CountingTagger {
        runner: &loaded.runner,
        tagged: Default::default(),
    };
    let cache = SentenceCache::new();
    let entities_of = |text: &str| {
        let document = prepare_document(text, Language::Markdown, None, &ProseOptions::default());
        document_entities(
            &scorer,
            &document,
            SentenceSelection::All,
            biomed_lsp::analysis::Urgency::Background,
            Some(&cache),
            None,
        )
        .unwrap()
        .expect("a tagger")
    };
    let before = "# Results\n\nPatients with Duchenne muscular dystrophy were excluded.\n\n\
                  Blood pressure was normal. Gout was rare.\n";
    let found = entities_of(before);
    assert_eq!(
        scorer.tagged.borrow().len(),
        4,
        "{:?}",
        scorer.tagged.borrow()
    );
    let dystrophy = found
        .iter()
        .find(|entity| entity.text == "Duchenne muscular dystrophy")
        .expect("the mention");
    assert_eq!(
        &before[dystrophy.range.clone()],
        "Duchenne muscular dystrophy"
    );
    assert_eq!(dystrophy.label, "Disease");
    scorer.tagged.borrow_mut().clear();
    // One sentence changed, the others moved: only the changed one reaches the tagger, and the
    // others' mentions follow them.
    let after = "# Results and discussion\n\nPatients with Duchenne muscular dystrophy were \
                 excluded.\n\nBlood pressure was high. Gout was rare.\n";
    let found = entities_of(after);
    assert_eq!(
        *scorer.tagged.borrow(),
        ["Results and discussion", "Blood pressure was high."]
    );
    let dystrophy = found
        .iter()
        .find(|entity| entity.text == "Duchenne muscular dystrophy")
        .expect("the mention");
    assert_eq!(
        &after[dystrophy.range.clone()],
        "Duchenne muscular dystrophy"
    );
}
