//! Tests of the terminology check: the near-spelling index, dictionaries, settings and the cache as
//! pure code (with a scripted scorer), and the whole check on the bundled mini model.

use std::cell::RefCell;
use std::collections::HashMap;

use biomed_lsp::analysis::lexicon::osa_distance;
use biomed_lsp::analysis::terminology::GROUP_BYTES;
use biomed_lsp::analysis::{
    check_sentences, check_sentences_cached, check_sentences_with, lexicon_for_tokenizer,
    CheckError, CheckSettings, CheckStatistics, Dictionary, Finding, FindingCode, Lexicon,
    SentenceCache, SentenceCheckInputs, SentenceToCheck, Severity, TermScorer,
};
use biomed_lsp::model::device::{DeviceChoice, Precision, PrecisionChoice};
use biomed_lsp::model::embedded::bundled_model_directory;
use biomed_lsp::model::engine::load_bundled;
use biomed_lsp::model::fill::ModelRunner;
use biomed_lsp::model::tokenizer::WordTokenizer;
use biomed_lsp::model::{
    BatchAnswers, CancelFlag, EngineError, ScoreRequest, TokenProbability, TokenProbabilityRequest,
    TokenizedWord, WordScore,
};

// ---------------------------------------------------------------------------------------------
// Pure parts

#[test]
fn osa_distance_counts_transpositions_as_one_edit() {
    assert_eq!(osa_distance("infraction", "infarction"), 1);
    assert_eq!(osa_distance("ilium", "ileum"), 1);
    assert_eq!(osa_distance("prostrate", "prostate"), 1);
    assert_eq!(osa_distance("kitten", "sitting"), 3);
    assert_eq!(osa_distance("", "abc"), 3);
    assert_eq!(osa_distance("same", "same"), 0);
}

fn small_lexicon() -> Lexicon {
    let counts = "# test\ninfarction\t50\nprostate\t100\nileum\t2\ninfection\t80\nfraction\t5\n";
    Lexicon::build(counts, ["cells", "sells", "fraktion", "x"], 2).expect("a valid lexicon")
}

#[test]
fn near_words_come_from_the_deletion_index_nearest_first() {
    let lexicon = small_lexicon();
    let near = lexicon.near("infraction", 2);
    let words: Vec<&str> = near.iter().map(|near| near.word.as_str()).collect();
    assert_eq!(words.first(), Some(&"infarction"));
    assert!(words.contains(&"fraction"), "{words:?}");
    assert!(!words.contains(&"infraction"));
    assert!(near
        .windows(2)
        .all(|pair| pair[0].distance <= pair[1].distance));
    // One edit only: fraction (two deletions) is out.
    let one: Vec<String> = lexicon
        .near("infraction", 1)
        .into_iter()
        .map(|n| n.word)
        .collect();
    assert_eq!(one, vec!["infarction".to_string()]);
    // Single letters are not lexicon words; case does not matter.
    assert!(!lexicon.contains("x"));
    assert!(lexicon.contains("Prostate"));
    assert_eq!(lexicon.near("PROSTRATE", 1)[0].word, "prostate");
}

#[test]
fn the_deletion_index_finds_exactly_what_brute_force_finds() {
    let tokenizer = bundled_tokenizer();
    let lexicon =
        lexicon_for_tokenizer(&tokenizer, &CheckSettings::default()).expect("bundled lexicon");
    let words: Vec<String> = biomed_lsp::analysis::lexicon::BUNDLED_CORPUS_WORDS
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split('\t').next())
        .map(str::to_string)
        .collect();
    for query in [
        "infraction",
        "prostrate",
        "ilium",
        "sells",
        "hepatocelular",
        "diabetis",
    ] {
        let mut expected: Vec<String> = words
            .iter()
            .filter(|word| word.as_str() != query && osa_distance(query, word) <= 2)
            .cloned()
            .collect();
        expected.sort();
        let found: Vec<String> = lexicon.near(query, 2).into_iter().map(|n| n.word).collect();
        for word in &expected {
            assert!(found.contains(word), "{query}: index missed {word}");
        }
        for word in &found {
            assert!(osa_distance(query, word) <= 2, "{query}: {word} is too far");
        }
    }
}

#[test]
fn a_bad_lexicon_line_is_an_error_naming_the_line() {
    let error = Lexicon::build("word\t3\nbroken line\n", [], 1)
        .err()
        .expect("an error");
    assert!(error.to_string().contains("line 2"), "{error}");
}

#[test]
fn dictionaries_parse_comments_and_merge_case_insensitively() {
    let mut user = Dictionary::parse("# my words\nNeocarzinostatin\n\n  tetraploid  # note\n");
    let workspace = Dictionary::parse("\u{feff}minigenes\n#hidden\n");
    assert_eq!(user.len(), 2);
    assert!(user.contains("neocarzinostatin"));
    assert!(user.contains("TETRAPLOID"));
    assert!(!user.contains("hidden"));
    user.merge(&workspace);
    assert!(user.contains("Minigenes"));
    assert_eq!(user.len(), 3);
    assert!(!user.contains("#hidden"));
}

#[test]
fn settings_defaults_are_consistent() {
    let settings = CheckSettings::default();
    assert!(settings.min_margin > 0.0);
    assert!(settings.margin_per_extra_edit >= 0.0);
    assert!((0.0..=1.0).contains(&settings.frequency_weight));
    assert!(settings.max_edit_distance >= 1);
    assert!(settings.strong_severity.at_least(settings.weak_severity));
    assert_eq!(settings.strong_severity, Severity::Warning);
    assert!(settings.unknown_max_log_probability <= 0.0);
    assert!(settings.confusable_min_margin <= settings.min_margin);
    assert!(settings.max_suggestions >= 1);
    assert!(Severity::Error.at_least(Severity::Warning));
    assert!(!Severity::Hint.at_least(Severity::Information));
    assert_eq!(FindingCode::ImprobableTerm.as_str(), "improbable-term");
    assert_eq!(FindingCode::UnknownTerm.as_str(), "unknown-term");
}

// ---------------------------------------------------------------------------------------------
// The pipeline with a scripted scorer (no model): decisions, skipping, the cache

fn bundled_tokenizer() -> WordTokenizer {
    WordTokenizer::from_directory(&bundled_model_directory()).expect("the bundled vocabulary")
}

/// Scores from a script: words listed in `log_probabilities` get that log-probability in any slot
/// (others -2.0); the unmasked screen says every token fits badly, so every word is scored.
struct ScriptedScorer {
    tokenizer: WordTokenizer,
    log_probabilities: HashMap<String, f32>,
    scored_texts: RefCell<Vec<String>>,
    /// Calls of `score` that asked for bounds: one per group of sentences.
    bound_batches: std::cell::Cell<usize>,
    /// What the unmasked screen gives these words (shared out among their pieces); every other
    /// piece gets -9, below the screen's -8, so that its word is scored.
    screen_log_probabilities: HashMap<String, f32>,
}

impl ScriptedScorer {
    fn new(log_probabilities: &[(&str, f32)]) -> Self {
        Self {
            tokenizer: bundled_tokenizer(),
            log_probabilities: log_probabilities
                .iter()
                .map(|(word, lp)| (word.to_string(), *lp))
                .collect(),
            scored_texts: RefCell::new(Vec::new()),
            bound_batches: std::cell::Cell::new(0),
            screen_log_probabilities: HashMap::new(),
        }
    }

    fn lp(&self, word: &str) -> f32 {
        self.log_probabilities
            .get(&word.to_lowercase())
            .copied()
            .unwrap_or(-2.0)
    }
}

impl TermScorer for ScriptedScorer {
    fn model_id(&self) -> u64 {
        0
    }
    fn words(&self, text: &str) -> Result<Vec<TokenizedWord>, CheckError> {
        Ok(self.tokenizer.words(text)?)
    }
    fn token_probabilities(
        &self,
        requests: Vec<TokenProbabilityRequest>,
    ) -> Result<BatchAnswers<Vec<TokenProbability>>, CheckError> {
        let mut answers = Vec::new();
        for request in &requests {
            let (ids, offsets) = self.tokenizer.encode_with_offsets(&request.text)?;
            let words = self.tokenizer.words(&request.text)?;
            let screen_log_probability = |start: usize, end: usize| {
                words
                    .iter()
                    .find(|word| word.start <= start && end <= word.end)
                    .and_then(|word| {
                        let value = self
                            .screen_log_probabilities
                            .get(&word.text.to_lowercase())?;
                        Some(value / word.pieces.len().max(1) as f32)
                    })
                    .unwrap_or(-9.0)
            };
            answers.push(
                ids.iter()
                    .zip(offsets)
                    .map(|(&id, (start, end))| TokenProbability {
                        range: start..end,
                        piece: self.tokenizer.token(id).unwrap_or("").to_string(),
                        id,
                        log_probability: screen_log_probability(start, end),
                        top: Vec::new(),
                    })
                    .collect(),
            );
        }
        Ok(BatchAnswers {
            answers,
            rows: requests.len(),
        })
    }
    /// Exact scores whether or not bounds are asked for (an exact score is a valid bound).
    fn score(
        &self,
        requests: Vec<ScoreRequest>,
    ) -> Result<BatchAnswers<Vec<WordScore>>, CheckError> {
        if requests.iter().any(|request| request.candidate_bounds_only) {
            self.bound_batches.set(self.bound_batches.get() + 1);
        }
        let mut answers = Vec::new();
        for request in &requests {
            // Every sentence that reaches scoring goes through the bounds pass first.
            if request.candidate_bounds_only {
                self.scored_texts.borrow_mut().push(request.text.clone());
            }
            answers.push(
                request
                    .words
                    .iter()
                    .map(|word| WordScore {
                        range: word.range.clone(),
                        pieces: Vec::new(),
                        log_probability: self.lp(&request.text[word.range.clone()]),
                        alternatives: Vec::new(),
                        candidates: word
                            .candidates
                            .iter()
                            .map(|candidate| (candidate.clone(), self.lp(candidate)))
                            .collect(),
                    })
                    .collect(),
            );
        }
        Ok(BatchAnswers {
            answers,
            rows: requests.len(),
        })
    }
}

fn scripted_check(scorer: &ScriptedScorer, sentences: &[SentenceToCheck]) -> Vec<Vec<Finding>> {
    let settings = CheckSettings::default();
    let lexicon = lexicon_for_tokenizer(&scorer.tokenizer, &settings).expect("bundled lexicon");
    check_sentences(scorer, sentences, &lexicon, &Dictionary::new(), &settings).expect("a check")
}

#[test]
fn a_word_that_fits_the_unmasked_screen_is_not_scored() {
    // Not a known confusable pair (those are always scored): fever written as fewer.
    let text = "The children had a high fewer after surgery.";
    let doubtful = ScriptedScorer::new(&[("fewer", -24.0), ("fever", -0.5)]);
    let findings = scripted_check(&doubtful, &[SentenceToCheck::new(text)]);
    assert_eq!(findings[0].len(), 1, "{findings:?}");
    assert_eq!(doubtful.scored_texts.borrow().len(), 1);

    // The same scores, but the screen finds every word of the sentence probable as written.
    let mut fitting = ScriptedScorer::new(&[("fewer", -24.0), ("fever", -0.5)]);
    fitting.screen_log_probabilities = [
        "the", "children", "had", "a", "high", "fewer", "after", "surgery",
    ]
    .iter()
    .map(|word| (word.to_string(), -1.0))
    .collect();
    let findings = scripted_check(&fitting, &[SentenceToCheck::new(text)]);
    assert!(findings[0].is_empty(), "{findings:?}");
    assert!(
        fitting.scored_texts.borrow().is_empty(),
        "the screen let a word through"
    );
}

#[test]
fn a_much_more_probable_neighbour_is_flagged_with_evidence_and_a_suggestion() {
    let scorer = ScriptedScorer::new(&[("ilium", -9.0), ("ileum", -0.5)]);
    let text = "Biopsies of the terminal ilium were taken.";
    let findings = scripted_check(&scorer, &[SentenceToCheck::new(text)]);
    assert_eq!(findings.len(), 1);
    let flagged: Vec<&Finding> = findings[0]
        .iter()
        .filter(|finding| finding.word == "ilium")
        .collect();
    assert_eq!(flagged.len(), 1, "{:?}", findings[0]);
    let finding = flagged[0];
    assert_eq!(finding.code, FindingCode::ImprobableTerm);
    assert_eq!(&text[finding.range.clone()], "ilium");
    assert_eq!(finding.suggestions[0], "ileum");
    assert_eq!(finding.severity, Severity::Warning);
    assert!(
        finding.message.contains("\"ileum\" fits"),
        "{}",
        finding.message
    );
    // Nothing else in the sentence: every other neighbour is as improbable as its word.
    assert_eq!(findings[0].len(), 1, "{:?}", findings[0]);
}

#[test]
fn another_form_of_the_written_word_is_never_the_alternative() {
    // This scorer finds the plural, the prefixed form and the British spelling very improbable
    // and their other forms very probable: number, prefix and spelling convention are the
    // writer's choices, so none of those forms may be the flag's reason.
    let scorer = ScriptedScorer::new(&[
        ("roles", -15.0),
        ("role", -0.1),
        ("infrequent", -15.0),
        ("frequent", -0.1),
        ("tumour", -15.0),
        ("tumor", -0.1),
    ]);
    let findings = scripted_check(
        &scorer,
        &[SentenceToCheck::new(
            "The roles of infrequent tumour types were studied.",
        )],
    );
    for finding in &findings[0] {
        for form in ["role", "frequent", "tumor"] {
            assert!(
                !finding
                    .suggestions
                    .iter()
                    .any(|suggestion| suggestion == form),
                "{finding:?}"
            );
        }
    }
}

#[test]
fn a_known_word_with_a_regular_prefix_is_not_an_unknown_word() {
    let scorer = ScriptedScorer::new(&[("unmeasured", -30.0)]);
    let findings = scripted_check(
        &scorer,
        &[SentenceToCheck::new(
            "Confounding by unmeasured factors remains.",
        )],
    );
    assert!(
        !findings[0]
            .iter()
            .any(|finding| finding.code == FindingCode::UnknownTerm),
        "{:?}",
        findings[0]
    );
}

#[test]
fn sentences_are_checked_in_groups_with_progress_and_can_be_cancelled() {
    let scorer = ScriptedScorer::new(&[("ilium", -9.0), ("ileum", -0.5)]);
    let settings = CheckSettings::default();
    let lexicon = lexicon_for_tokenizer(&scorer.tokenizer, &settings).expect("bundled lexicon");
    let dictionary = Dictionary::new();
    let inputs = SentenceCheckInputs {
        lexicon: &lexicon,
        dictionary: &dictionary,
        spelling: biomed_lsp::analysis::spelling::SpellingDictionaries::default(),
        settings: &settings,
    };
    // Enough text for several groups.
    let sentences: Vec<SentenceToCheck> = (0..3 * GROUP_BYTES / 40)
        .map(|idx| SentenceToCheck::new(format!("Biopsy {idx} of the terminal ilium was taken.")))
        .collect();
    let references: Vec<&SentenceToCheck> = sentences.iter().collect();
    let mut progress = Vec::new();
    let findings = check_sentences_with(
        &scorer,
        &references,
        &inputs,
        None,
        None,
        &mut CheckStatistics::default(),
        &mut |done, total| progress.push((done, total)),
    )
    .expect("a check");
    assert_eq!(findings.len(), sentences.len());
    assert!(findings
        .iter()
        .all(|found| found.len() == 1 && found[0].word == "ilium"));
    assert!(progress.len() >= 3, "{progress:?}");
    assert!(progress.windows(2).all(|pair| pair[0].0 < pair[1].0));
    assert_eq!(progress.last(), Some(&(sentences.len(), sentences.len())));
    // Every sentence is scored once, and a group's sentences share one batch.
    assert_eq!(scorer.scored_texts.borrow().len(), sentences.len());
    let batches = scorer.bound_batches.get();
    assert!(
        batches >= 3 && batches < sentences.len() / 4,
        "{batches} batches"
    );

    let cancel = CancelFlag::new();
    cancel.cancel();
    let cancelled = check_sentences_with(
        &scorer,
        &references,
        &inputs,
        None,
        Some(&cancel),
        &mut CheckStatistics::default(),
        &mut |_, _| {},
    );
    assert!(matches!(
        cancelled,
        Err(CheckError::Engine(EngineError::Cancelled))
    ));
}

#[test]
fn a_small_margin_is_not_enough() {
    let scorer = ScriptedScorer::new(&[("paint", -2.0), ("pain", -1.0)]);
    let findings = scripted_check(
        &scorer,
        &[SentenceToCheck::new("The patient reported chest paint.")],
    );
    assert!(findings[0].is_empty(), "{:?}", findings[0]);
}

#[test]
fn a_known_confusable_pair_needs_only_a_preference() {
    // ileum/ilium is a known confusable pair: the model's preference is enough by default.
    let scorer = ScriptedScorer::new(&[("ilium", -2.0), ("ileum", -1.0)]);
    let sentence = SentenceToCheck::new("Biopsies of the terminal ilium were taken.");
    let findings = scripted_check(&scorer, std::slice::from_ref(&sentence));
    assert_eq!(findings[0].len(), 1, "{:?}", findings[0]);
    assert_eq!(
        findings[0][0].suggestions.first().map(String::as_str),
        Some("ileum")
    );
    // The same pair with the written word preferred: nothing.
    let scorer = ScriptedScorer::new(&[("ilium", -1.0), ("ileum", -2.0)]);
    assert!(scripted_check(&scorer, &[sentence])[0].is_empty());
}

#[test]
fn symbols_abbreviations_numbers_dictionary_words_and_skipped_ranges_are_not_checked() {
    // Every word looks wrong to this scorer, and every neighbour looks right.
    let scorer = ScriptedScorer::new(&[
        ("brca", -20.0),
        ("bran", -0.1),
        ("cells", -20.0),
        ("calls", -0.1),
        ("cell", -0.1),
    ]);
    let settings = CheckSettings::default();
    let lexicon = lexicon_for_tokenizer(&scorer.tokenizer, &settings).expect("bundled lexicon");
    let text = "BRCA cells [cells] mRNA 12cells";
    let skip_start = text.find('[').unwrap_or(0);
    let sentence = SentenceToCheck {
        text: text.to_string(),
        skip: vec![skip_start..skip_start + "[cells]".len()],
    };
    let findings = check_sentences(
        &scorer,
        &[sentence.clone()],
        &lexicon,
        &Dictionary::new(),
        &settings,
    )
    .expect("a check");
    let flagged: Vec<&str> = findings[0]
        .iter()
        .map(|finding| &text[finding.range.clone()])
        .collect();
    // Only the free-standing prose word "cells" (position 5) is checked.
    assert_eq!(flagged, vec!["cells"]);
    assert_eq!(findings[0][0].range.start, 5);
    let dictionary = Dictionary::parse("cells\n");
    let findings =
        check_sentences(&scorer, &[sentence], &lexicon, &dictionary, &settings).expect("a check");
    assert!(findings[0].is_empty(), "{:?}", findings[0]);
}

#[test]
fn the_frequency_correction_keeps_a_rare_right_word_quiet() {
    // The observed word is rare, its neighbour very frequent, and the model prefers the neighbour
    // by a modest margin: without the correction it is flagged, with it not.
    let scorer = ScriptedScorer::new(&[("ileum", -6.0), ("ilium", -2.0)]);
    let lexicon = Lexicon::build(
        "ileum\t1\nilium\t1000000\nbiopsies\t5\nterminal\t5\ntaken\t5\n",
        [],
        2,
    )
    .expect("a valid lexicon");
    let sentence = [SentenceToCheck::new(
        "Biopsies of the terminal ileum were taken.",
    )];
    let flagged = |frequency_weight: f32| {
        // A fixed margin of 3 nats (under the 4-nat preference), whatever the tuned default.
        let settings = CheckSettings {
            frequency_weight,
            min_margin: 3.0,
            confusable_min_margin: 3.0,
            ..CheckSettings::default()
        };
        check_sentences(&scorer, &sentence, &lexicon, &Dictionary::new(), &settings)
            .expect("a check")[0]
            .iter()
            .any(|finding| finding.word == "ileum")
    };
    assert!(flagged(0.0));
    assert!(!flagged(0.5));
}

#[test]
fn unknown_fragmented_words_get_spelling_suggestions() {
    // The better spelling fits better than the word, but not enough for an improbable-term
    // finding (below `min_alternative_log_probability`): an unknown-term finding suggests it.
    // The correction is 21 nats more probable than the non-word: above the 19-nat default.
    let scorer = ScriptedScorer::new(&[("hepatocelular", -30.0), ("hepatocellular", -9.0)]);
    let text = "Patients with hepatocelular carcinoma were enrolled.";
    let findings = scripted_check(&scorer, &[SentenceToCheck::new(text)]);
    let finding = findings[0]
        .iter()
        .find(|finding| finding.word == "hepatocelular")
        .expect("the unknown word is flagged");
    assert_eq!(finding.code, FindingCode::UnknownTerm);
    assert_eq!(
        finding.suggestions.first().map(String::as_str),
        Some("hepatocellular")
    );
}

#[test]
fn unknown_words_without_a_better_spelling_need_the_setting() {
    let scorer = ScriptedScorer::new(&[("hepatocelular", -25.0), ("hepatocellular", -30.0)]);
    let tokenizer = bundled_tokenizer();
    let lexicon =
        lexicon_for_tokenizer(&tokenizer, &CheckSettings::default()).expect("bundled lexicon");
    let sentence = [SentenceToCheck::new(
        "Patients with hepatocelular carcinoma were enrolled.",
    )];
    let flagged = |unknown_min_margin: f32| {
        let settings = CheckSettings {
            unknown_min_margin,
            ..CheckSettings::default()
        };
        check_sentences(&scorer, &sentence, &lexicon, &Dictionary::new(), &settings)
            .expect("a check")[0]
            .iter()
            .any(|finding| finding.word == "hepatocelular")
    };
    assert!(!flagged(0.0));
    assert!(flagged(f32::NEG_INFINITY));
}

#[test]
fn the_cache_rescores_only_changed_sentences() {
    let scorer = ScriptedScorer::new(&[("ilium", -9.0), ("ileum", -0.5)]);
    let settings = CheckSettings::default();
    let lexicon = lexicon_for_tokenizer(&scorer.tokenizer, &settings).expect("bundled lexicon");
    let dictionary = Dictionary::new();
    let cache = SentenceCache::new();
    let mut sentences = vec![
        SentenceToCheck::new("Biopsies of the terminal ilium were taken."),
        SentenceToCheck::new("The patients were followed for two years."),
        SentenceToCheck::new("Samples were stored frozen."),
    ];
    let first = check_sentences_cached(
        &scorer,
        &sentences,
        &lexicon,
        &dictionary,
        &settings,
        &cache,
    )
    .expect("a check");
    let scored_first = scorer.scored_texts.borrow().len();
    assert_eq!(scored_first, 3);
    sentences[1] = SentenceToCheck::new("The patients were followed for three years.");
    let second = check_sentences_cached(
        &scorer,
        &sentences,
        &lexicon,
        &dictionary,
        &settings,
        &cache,
    )
    .expect("a check");
    assert_eq!(scorer.scored_texts.borrow().len(), scored_first + 1);
    assert_eq!(
        scorer.scored_texts.borrow().last().map(String::as_str),
        Some("The patients were followed for three years.")
    );
    assert_eq!(first[0], second[0]);
    assert_eq!(cache.hits_and_misses().0, 2);
    // Other settings: nothing cached applies.
    let mut stricter = settings.clone();
    stricter.min_margin += 1.0;
    check_sentences_cached(
        &scorer,
        &sentences,
        &lexicon,
        &dictionary,
        &stricter,
        &cache,
    )
    .expect("a check");
    assert_eq!(scorer.scored_texts.borrow().len(), scored_first + 4);
}

/// A scorer for another model (id 1) that, once its check has started, lets the scripted model
/// (id 0) check the same sentences through the same cache: a model reload in the middle of a check.
struct ReloadedMidCheck<'a> {
    inner: &'a ScriptedScorer,
    during_check: RefCell<Option<Box<dyn FnOnce() + 'a>>>,
}

impl TermScorer for ReloadedMidCheck<'_> {
    fn model_id(&self) -> u64 {
        1
    }
    fn words(&self, text: &str) -> Result<Vec<TokenizedWord>, CheckError> {
        self.inner.words(text)
    }
    fn token_probabilities(
        &self,
        requests: Vec<TokenProbabilityRequest>,
    ) -> Result<BatchAnswers<Vec<TokenProbability>>, CheckError> {
        if let Some(newer_check) = self.during_check.borrow_mut().take() {
            newer_check();
        }
        self.inner.token_probabilities(requests)
    }
    fn score(
        &self,
        requests: Vec<ScoreRequest>,
    ) -> Result<BatchAnswers<Vec<WordScore>>, CheckError> {
        self.inner.score(requests)
    }
}

#[test]
fn every_sentence_cache_is_bounded() {
    assert_eq!(SentenceCache::default().max_entries(), 20_000);
    assert_eq!(SentenceCache::new().max_entries(), 20_000);
}

#[test]
fn a_check_on_the_previous_model_does_not_fill_the_cache_of_the_new_one() {
    let scorer = ScriptedScorer::new(&[("ilium", -9.0), ("ileum", -0.5)]);
    let settings = CheckSettings::default();
    let lexicon = lexicon_for_tokenizer(&scorer.tokenizer, &settings).expect("bundled lexicon");
    let dictionary = Dictionary::new();
    let cache = SentenceCache::new();
    let sentences = vec![
        SentenceToCheck::new("Biopsies of the terminal ilium were taken."),
        SentenceToCheck::new("Samples were stored frozen."),
    ];
    let check = |model: &dyn TermScorer| {
        check_sentences_cached(model, &sentences, &lexicon, &dictionary, &settings, &cache)
            .expect("a check")
    };
    let previous_model = ReloadedMidCheck {
        inner: &scorer,
        during_check: RefCell::new(Some(Box::new(|| {
            check(&scorer);
        }))),
    };
    check(&previous_model);
    let scored = scorer.scored_texts.borrow().len();
    let (_, misses) = cache.hits_and_misses();
    assert_eq!(
        misses, 4,
        "each model looked every sentence up once and missed"
    );
    // The new model's findings are in the cache; the previous model's were not stored over them.
    check(&scorer);
    assert_eq!(cache.hits_and_misses(), (2, 4));
    assert_eq!(scorer.scored_texts.borrow().len(), scored);
    // And the previous model finds nothing of its own there.
    check(&ReloadedMidCheck {
        inner: &scorer,
        during_check: RefCell::new(None),
    });
    assert_eq!(cache.hits_and_misses(), (2, 6));
}

// ---------------------------------------------------------------------------------------------
// The bundled mini model

fn mini_model() -> (ModelRunner, Lexicon) {
    let (runner, _) = load_bundled(
        DeviceChoice::Cpu,
        PrecisionChoice::Exactly(Precision::Float),
    )
    .expect("the bundled mini model loads");
    let lexicon =
        lexicon_for_tokenizer(&runner.tokenizer, &CheckSettings::default()).expect("lexicon");
    (runner, lexicon)
}

fn mini_findings(runner: &ModelRunner, lexicon: &Lexicon, text: &str) -> Vec<Finding> {
    check_sentences(
        runner,
        &[SentenceToCheck::new(text)],
        lexicon,
        &Dictionary::new(),
        &CheckSettings::default(),
    )
    .expect("a check")
    .remove(0)
}

#[test]
fn mini_model_flags_improbable_terms_with_the_right_suggestion() {
    let (runner, lexicon) = mini_model();
    for (text, wrong, right) in [
        (
            "Acute myocardial infraction was confirmed by elevated troponin levels.",
            "infraction",
            "infarction",
        ),
        (
            "Patients with prostrate cancer received androgen deprivation therapy.",
            "prostrate",
            "prostate",
        ),
        // Homophones: a slip by ear, flagged on the confusable pairs' lower bar.
        (
            "The sell membrane was disrupted by the toxin.",
            "sell",
            "cell",
        ),
        (
            "The presents of mutations was confirmed by direct sequencing.",
            "presents",
            "presence",
        ),
    ] {
        let findings = mini_findings(&runner, &lexicon, text);
        let finding = findings
            .iter()
            .find(|finding| finding.word == wrong)
            .unwrap_or_else(|| panic!("{wrong} is not flagged in {text:?}: {findings:?}"));
        assert_eq!(finding.code, FindingCode::ImprobableTerm, "{finding:?}");
        assert_eq!(finding.suggestions.first().map(String::as_str), Some(right));
    }
}

#[test]
fn mini_model_stays_quiet_on_correct_prose_rare_terms_drugs_and_symbols() {
    let (runner, lexicon) = mini_model();
    for text in [
        "Acute myocardial infarction was confirmed by elevated troponin levels.",
        "Patients with prostate cancer received androgen deprivation therapy.",
        "Germline mutations in BRCA1 and BRCA2 confer a high risk of breast and ovarian cancer.",
        "Serum IL-6 and TNF levels were measured by ELISA in all patients.",
        "Type 2 diabetes mellitus was treated with metformin and insulin.",
        "Duchenne muscular dystrophy is caused by mutations in the dystrophin gene.",
        "The cell membrane was disrupted by the toxin.",
        "The presence of mutations was confirmed by direct sequencing.",
        "The patient presents with chest pain and dyspnoea.",
        "We were unsure whether the mutation was pathogenic.",
        // British spellings: the writer's convention, not a slip for the American one.
        "The signalling pathway was labelled in grey by the organisation's judgement.",
    ] {
        let findings = mini_findings(&runner, &lexicon, text);
        assert!(findings.is_empty(), "false alarm in {text:?}: {findings:?}");
    }
}

#[test]
fn the_engine_gives_the_same_findings_as_the_runner_and_the_same_screen() {
    let (runner, lexicon) = mini_model();
    let sentences = vec![
        SentenceToCheck::new("Acute myocardial infraction was confirmed by elevated troponin."),
        SentenceToCheck::new("Patients with prostrate cancer received therapy."),
    ];
    let settings = CheckSettings::default();
    let direct = check_sentences(&runner, &sentences, &lexicon, &Dictionary::new(), &settings)
        .expect("a check");
    let direct_tokens = runner
        .token_probabilities(&TokenProbabilityRequest {
            text: sentences[0].text.clone(),
            top_k: 3,
            top_k_ranges: None,
            ranges: None,
            cancel: None,
        })
        .expect("token probabilities");
    assert_eq!(
        direct_tokens.len(),
        runner
            .tokenizer
            .words(&sentences[0].text)
            .map(|w| w.iter().map(|w| w.ids.len()).sum::<usize>())
            .unwrap_or(0)
    );
    assert!(direct_tokens
        .iter()
        .all(|token| token.log_probability <= 0.0 && token.top.len() == 3));
    let (engine_runner, _) = load_bundled(
        DeviceChoice::Cpu,
        PrecisionChoice::Exactly(Precision::Float),
    )
    .expect("the bundled mini model");
    let engine = biomed_lsp::model::EngineHandle::start(biomed_lsp::model::LoadedModel {
        runner: engine_runner,
        info: biomed_lsp::model::ModelInfo {
            requested: "bundled".into(),
            loaded: "bundled mini model".into(),
            is_fallback: false,
            device: "cpu".into(),
            precision: "f32".into(),
            display_name: "mini model".into(),
            sent_to: None,
            entities: None,
        },
    });
    let through_engine =
        check_sentences(&engine, &sentences, &lexicon, &Dictionary::new(), &settings)
            .expect("a check through the engine");
    assert_eq!(direct.len(), through_engine.len());
    for (a, b) in direct.iter().zip(&through_engine) {
        let words_a: Vec<(&str, FindingCode)> =
            a.iter().map(|f| (f.word.as_str(), f.code)).collect();
        let words_b: Vec<(&str, FindingCode)> =
            b.iter().map(|f| (f.word.as_str(), f.code)).collect();
        assert_eq!(words_a, words_b);
    }
}

// ---------------------------------------------------------------------------------------------
// The `check` command

/// `biomed-lsp check` with the bundled model and no user dictionary (an empty config folder).
fn biomed_lsp_check(args: &[&str]) -> std::process::Output {
    let config_home = tempfile::tempdir().expect("a temporary directory");
    std::process::Command::new(env!("CARGO_BIN_EXE_biomed-lsp"))
        .arg("check")
        .args(args)
        .args(["--model", "bundled", "--device", "cpu"])
        .env("XDG_CONFIG_HOME", config_home.path())
        .output()
        .expect("the binary runs")
}

#[test]
fn check_prints_json_findings_with_one_based_character_positions() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let path = directory.path().join("draft.txt");
    let text = "Introduction.\n\nAcute myocardial infraction was confirmed by troponin.\n";
    std::fs::write(&path, text).expect("write the draft");
    let path_text = path.display().to_string();
    let output = biomed_lsp_check(&[&path_text, "--format", "json", "--fail-on", "none"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON document");
    let findings = json["findings"].as_array().expect("a findings array");
    for finding in findings {
        assert_eq!(finding["path"], path_text.as_str());
        let line = finding["line"].as_u64().expect("a line") as usize;
        let column = finding["column"].as_u64().expect("a column") as usize;
        let end_column = finding["end_column"].as_u64().expect("an end column") as usize;
        let source_line = text.lines().nth(line - 1).expect("the line exists");
        let covered: String = source_line
            .chars()
            .skip(column - 1)
            .take(end_column - column)
            .collect();
        assert_eq!(covered, finding["word"].as_str().expect("a word"));
        assert!(
            ["improbable-term", "unknown-term"].contains(&finding["code"].as_str().unwrap_or(""))
        );
        assert!(finding["suggestions"].is_array());
        assert!(finding["score"].is_number());
    }
    // The mini model flags the misspelt term (as the protocol tests also require), so the loop
    // above ran on a real finding.
    let infraction = findings
        .iter()
        .find(|finding| finding["word"] == "infraction")
        .unwrap_or_else(|| panic!("no finding for \"infraction\": {json}"));
    assert_eq!(
        (infraction["line"].as_u64(), infraction["column"].as_u64()),
        (Some(3), Some(18))
    );
    assert_eq!(
        (
            infraction["end_line"].as_u64(),
            infraction["end_column"].as_u64()
        ),
        (Some(3), Some(28))
    );
    // Evidence is found only with --explain.
    assert_eq!(infraction["evidence"], serde_json::json!([]));
    assert!(
        infraction["suggestions"]
            .as_array()
            .is_some_and(|suggestions| suggestions.contains(&serde_json::json!("infarction"))),
        "{infraction}"
    );
    let mut keys: Vec<&str> = infraction
        .as_object()
        .map(|object| object.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "code",
            "column",
            "end_column",
            "end_line",
            "evidence",
            "line",
            "message",
            "path",
            "related",
            "score",
            "severity",
            "suggestions",
            "word"
        ]
    );
    assert_eq!(infraction["related"], serde_json::json!([]));
}

#[test]
fn check_explain_prints_evidence_at_the_words_it_names() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let path = directory.path().join("draft.tex");
    let text = "\\section{Results}\n\nAcute \\emph{myocardial} infraction was confirmed by elevated troponin levels.\n";
    std::fs::write(&path, text).expect("write the draft");
    let path_text = path.display().to_string();
    for method in ["", "=attention", "=rollout"] {
        let explain = format!("--explain{method}");
        let output = biomed_lsp_check(&[
            &path_text,
            "--format",
            "json",
            "--fail-on",
            "none",
            &explain,
        ]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("one JSON document");
        let findings = json["findings"].as_array().expect("a findings array");
        let infraction = findings
            .iter()
            .find(|finding| finding["word"] == "infraction")
            .unwrap_or_else(|| panic!("no finding for \"infraction\": {json}"));
        let evidence = infraction["evidence"]
            .as_array()
            .expect("an evidence array");
        assert!(
            !evidence.is_empty() && evidence.len() <= 3,
            "{explain}: {evidence:?}"
        );
        let mut total = 0.0;
        for word in evidence {
            let line = word["line"].as_u64().expect("a line") as usize;
            let column = word["column"].as_u64().expect("a column") as usize;
            let name = word["word"].as_str().expect("a word");
            let at: String = text
                .lines()
                .nth(line - 1)
                .expect("the line")
                .chars()
                .skip(column - 1)
                .take(name.chars().count())
                .collect();
            assert_eq!(at, name, "{explain}: {word}");
            total += word["weight"].as_f64().expect("a weight");
        }
        assert!(
            total > 0.0 && total <= 1.0 + 1e-6,
            "{explain}: {evidence:?}"
        );
    }
    let output = biomed_lsp_check(&[&path_text, "--fail-on", "none", "--explain"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("  evidence for \"infarction\": "),
        "{stdout}"
    );
    let output = biomed_lsp_check(&[&path_text, "--explain=magic"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--explain=\"magic\" is not one of attention, rollout, occlusion"),
        "{stderr}"
    );
}

#[test]
fn check_exit_status_follows_fail_on_and_errors_name_the_file() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let path = directory.path().join("draft.txt");
    std::fs::write(
        &path,
        "Acute myocardial infraction was confirmed by troponin.\n",
    )
    .expect("write the draft");
    let path_text = path.display().to_string();
    // The mini model flags "infraction" (see the test above): a finding of some severity, so
    // failing on hints fails, failing on nothing does not.
    let lenient = biomed_lsp_check(&[&path_text, "--fail-on", "none"]);
    assert_eq!(lenient.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&lenient.stdout).contains("infraction"));
    let strict = biomed_lsp_check(&[&path_text, "--fail-on", "hint"]);
    assert_eq!(strict.status.code(), Some(1));
    let missing = directory.path().join("missing.txt");
    let output = biomed_lsp_check(&[&missing.display().to_string()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing.txt"));
    let clean = directory.path().join("clean.txt");
    std::fs::write(&clean, "BRCA1 and IL-6 in 12 samples.\n").expect("write");
    let output = biomed_lsp_check(&[&clean.display().to_string()]);
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty());
}

#[test]
fn check_reads_the_user_dictionary_the_editor_writes() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let path = directory.path().join("draft.txt");
    std::fs::write(
        &path,
        "Acute myocardial infraction was confirmed by troponin.\n",
    )
    .expect("write the draft");
    let config_home = directory.path().join("config");
    let check = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_biomed-lsp"))
            .args([
                "check",
                "--model",
                "bundled",
                "--offline",
                "--fail-on",
                "none",
            ])
            .arg(&path)
            .current_dir(directory.path())
            .env("XDG_CONFIG_HOME", &config_home)
            .output()
            .expect("run check")
    };
    let before = check();
    assert!(String::from_utf8_lossy(&before.stdout).contains("infraction"));
    // What "Add to user dictionary" in the editor writes.
    biomed_lsp::dictionary_files::append_word(
        &config_home.join("biomed-lsp").join("dictionary.txt"),
        "infraction",
        None,
    )
    .expect("write the user dictionary");
    let after = check();
    assert_eq!(after.status.code(), Some(0));
    assert!(
        !String::from_utf8_lossy(&after.stdout).contains("infraction"),
        "{}",
        String::from_utf8_lossy(&after.stdout)
    );
}

#[test]
fn check_takes_the_project_configuration_and_one_off_overrides() {
    let project = tempfile::tempdir().expect("a temporary directory");
    let chapters = project.path().join("chapters");
    std::fs::create_dir_all(&chapters).expect("a folder");
    std::fs::create_dir_all(project.path().join(".biomed-lsp")).expect("a folder");
    let config = project.path().join(".biomed-lsp").join("config.json");
    std::fs::write(&config, r#"{"dictionary": {"words": ["infraction"]}}"#).expect("write");
    let draft = chapters.join("draft.txt");
    std::fs::write(
        &draft,
        "Acute myocardial infraction was confirmed by troponin.\n",
    )
    .expect("write the draft");
    let draft_text = draft.display().to_string();

    // The configuration two folders up accepts the word.
    let output = biomed_lsp_check(&[&draft_text, "--fail-on", "hint"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // A one-off override wins over the file.
    let output = biomed_lsp_check(&[
        &draft_text,
        "--fail-on",
        "hint",
        "--set",
        "dictionary.words=[]",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("infraction"));

    // Mistakes name the file or the assignment, the key and what is expected.
    std::fs::write(&config, r#"{"diagnostics": {"minMargn": 6}}"#).expect("write");
    let output = biomed_lsp_check(&[&draft_text]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("config.json")
            && stderr.contains("diagnostics.minMargn")
            && stderr.contains("did you mean diagnostics.minMargin"),
        "{stderr}"
    );
    let output = biomed_lsp_check(&[
        &draft_text,
        "--config",
        &project.path().join("missing.json").display().to_string(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing.json"));
    std::fs::write(&config, r#"{"diagnostics": {"minMargin": 6}}"#).expect("write");
    let output = biomed_lsp_check(&[&draft_text, "--set", "diagnostics.maxEditDistance=5"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--set diagnostics.maxEditDistance=5")
            && stderr.contains("between 1 and 2"),
        "{stderr}"
    );

    // `config` says what is in force and where it came from.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_biomed-lsp"))
        .args(["config", "--set", "completion.topK=4"])
        .arg(&chapters)
        .output()
        .expect("run config");
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("completion.topK = 4  (--set)"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("diagnostics.minMargin = 6")
                && line.ends_with("config.json)")),
        "{stdout}"
    );
    assert!(stdout.contains("model = \"microsoft/"), "{stdout}");
}
