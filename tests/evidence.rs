//! Evidence on the bundled mini model: the context word that decides a slot ranks first, every
//! method gives shares that add up, and evidence found in LaTeX and Markdown points at the exact
//! source characters of its words.

use biomed_lsp::analysis::document::{check_document, prepare_document};
use biomed_lsp::analysis::{
    lexicon_for_tokenizer, CheckSettings, CheckStatistics, Dictionary, SentenceCheckInputs,
};
use biomed_lsp::model::device::{DeviceChoice, Precision, PrecisionChoice};
use biomed_lsp::model::engine::load_bundled;
use biomed_lsp::model::fill::ModelRunner;
use biomed_lsp::model::{EvidenceMethod, ExplainRequest};
use biomed_lsp::prose::{Language, ProseOptions};

fn runner() -> ModelRunner {
    load_bundled(
        DeviceChoice::Cpu,
        PrecisionChoice::Exactly(Precision::Float),
    )
    .unwrap()
    .0
}

fn request(text: &str, word: &str, candidate: &str, method: EvidenceMethod) -> ExplainRequest {
    let start = text.find(word).unwrap();
    ExplainRequest {
        text: text.to_string(),
        slot: start..start + word.len(),
        candidate: candidate.to_string(),
        method,
        context_tokens: 0,
        skip: Vec::new(),
        max_words: None,
        cancel: None,
    }
}

const METHODS: [EvidenceMethod; 3] = [
    EvidenceMethod::Occlusion,
    EvidenceMethod::Attention,
    EvidenceMethod::Rollout,
];

#[test]
fn the_word_that_decides_the_slot_is_the_first_evidence() {
    let runner = runner();
    // "mellitus" is what makes "diabetes" the word here; the other content words would take
    // many diseases.
    let text = "Many patients with diabetes mellitus were seen in the clinic last year.";
    let explanation = runner
        .explain(&request(
            text,
            "diabetes",
            "diabetes",
            EvidenceMethod::Occlusion,
        ))
        .unwrap();
    let words: Vec<&str> = explanation.words.iter().map(|w| w.word.as_str()).collect();
    assert_eq!(words.first(), Some(&"mellitus"), "{explanation:?}");
    // Function words are never evidence, the slot itself neither.
    for absent in ["with", "were", "in", "the", "diabetes"] {
        assert!(!words.contains(&absent), "{absent} in {words:?}");
    }
    // Masking "mellitus" is what the occlusion measured: the candidate's score drops by its raw.
    let start = text.find("mellitus").unwrap();
    let mellitus = start..start + "mellitus".len();
    let masked = runner
        .candidate_log_probability_masked(
            &request(text, "diabetes", "diabetes", EvidenceMethod::Occlusion),
            &[Vec::new(), vec![mellitus]],
        )
        .unwrap();
    assert!(
        (masked[0] - masked[1] - explanation.words[0].raw).abs() < 1e-3,
        "{masked:?} vs {explanation:?}"
    );
    assert!((masked[0] - explanation.candidate_log_probability).abs() < 1e-4);
}

#[test]
fn every_method_gives_shares_that_add_up_and_ranges_of_the_text() {
    let runner = runner();
    let text = "Acute myocardial infraction was confirmed by elevated troponin levels.";
    for method in METHODS {
        let explanation = runner
            .explain(&request(text, "infraction", "infarction", method))
            .unwrap();
        let total: f32 = explanation.words.iter().map(|word| word.weight).sum();
        assert!((total - 1.0).abs() < 1e-4, "{method:?}: {explanation:?}");
        for pair in explanation.words.windows(2) {
            assert!(
                pair[0].raw >= pair[1].raw,
                "{method:?}: not strongest first"
            );
        }
        for word in &explanation.words {
            assert_eq!(&text[word.range.clone()], word.word, "{method:?}");
        }
        let words: Vec<&str> = explanation.words.iter().map(|w| w.word.as_str()).collect();
        assert!(
            words.contains(&"myocardial") && words.contains(&"troponin"),
            "{method:?}: {words:?}"
        );
    }
}

#[test]
fn evidence_limited_to_the_nearest_words_considers_only_those() {
    let runner = runner();
    let text = "Acute myocardial infraction was confirmed by elevated troponin levels.";
    let mut limited = request(text, "infraction", "infarction", EvidenceMethod::Occlusion);
    limited.max_words = Some(2);
    let explanation = runner.explain(&limited).unwrap();
    let mut words: Vec<&str> = explanation.words.iter().map(|w| w.word.as_str()).collect();
    words.sort_unstable();
    // The content words on either side ("was" is too common to be evidence).
    assert_eq!(words, ["confirmed", "myocardial"], "{explanation:?}");
}

#[test]
fn a_bad_slot_or_candidate_is_an_error_that_names_it() {
    let runner = runner();
    let text = "Acute myocardial infarction.";
    let mut bad = request(text, "infarction", "infarction", EvidenceMethod::Attention);
    bad.slot = 3..200;
    let error = runner.explain(&bad).unwrap_err().to_string();
    assert!(error.contains("3..200"), "{error}");
    let mut bad = request(text, "infarction", "", EvidenceMethod::Occlusion);
    bad.candidate = "   ".into();
    let error = runner.explain(&bad).unwrap_err().to_string();
    assert!(error.contains("candidate"), "{error}");
}

/// Checks `source` with evidence on and returns, for each evidence word of the finding on
/// `flagged`, the source text its range covers and the word.
fn evidence_in_source(
    runner: &ModelRunner,
    source: &str,
    language: Language,
    flagged: &str,
) -> Vec<(String, String)> {
    let document = prepare_document(source, language, None, &ProseOptions::default());
    let settings = CheckSettings {
        evidence: Some(EvidenceMethod::Occlusion),
        evidence_words: 10,
        ..CheckSettings::default()
    };
    let lexicon = lexicon_for_tokenizer(&runner.tokenizer, &settings).unwrap();
    let dictionary = Dictionary::new();
    let inputs = SentenceCheckInputs {
        lexicon: &lexicon,
        dictionary: &dictionary,
        spelling: biomed_lsp::analysis::spelling::SpellingDictionaries::default(),
        settings: &settings,
    };
    let findings = check_document(
        runner,
        &document,
        &inputs,
        &[],
        None,
        None,
        &mut CheckStatistics::default(),
        &mut |_, _| {},
    )
    .unwrap();
    let finding = findings
        .iter()
        .find(|finding| finding.word == flagged)
        .unwrap_or_else(|| panic!("{flagged} is not flagged in {source:?}: {findings:?}"));
    assert!(!finding.evidence.is_empty(), "{finding:?}");
    finding
        .evidence
        .iter()
        .map(|word| (source[word.range.clone()].to_string(), word.word.clone()))
        .collect()
}

#[test]
fn evidence_points_at_the_exact_source_characters_in_latex_and_markdown() {
    let runner = runner();
    let latex = "Acute \\emph{myocardial} infraction~\\cite{smith2020} was confirmed by elevated \\textbf{troponin} levels.\n";
    let markdown = "Acute *myocardial* infraction [@smith2020] was confirmed by elevated **troponin** levels.\n";
    for (source, language) in [(latex, Language::Latex), (markdown, Language::Markdown)] {
        let evidence = evidence_in_source(&runner, source, language, "infraction");
        for (in_source, word) in &evidence {
            assert_eq!(in_source, word, "{language:?}: {evidence:?}");
        }
        let words: Vec<&str> = evidence.iter().map(|(_, word)| word.as_str()).collect();
        assert!(words.contains(&"myocardial"), "{language:?}: {words:?}");
        // The citation's stand-in is no evidence.
        assert!(
            !words.iter().any(|word| word.contains("smith")),
            "{language:?}: {words:?}"
        );
    }
}
