//! Model tests of what a writer sees on the bundled mini model, through the pipeline `check` and
//! the server share: typos are flagged with the right first suggestion, dictionary words are never
//! "in no dictionary", and a word an author writes in many sentences is not an alarm.

use biomed_lsp::analysis::document::{check_document, prepare_document};
use biomed_lsp::analysis::spelling::SpellingDictionaries;
use biomed_lsp::analysis::{
    lexicon_for_tokenizer, CheckSettings, CheckStatistics, Dictionary, Finding, FindingCode,
    SentenceCheckInputs,
};
use biomed_lsp::model::device::{DeviceChoice, Precision, PrecisionChoice};
use biomed_lsp::model::engine::load_bundled;
use biomed_lsp::model::fill::ModelRunner;
use biomed_lsp::prose::{Language, ProseOptions};

fn runner() -> ModelRunner {
    load_bundled(
        DeviceChoice::Cpu,
        PrecisionChoice::Exactly(Precision::Float),
    )
    .expect("the bundled model loads")
    .0
}

fn check(runner: &ModelRunner, text: &str) -> Vec<Finding> {
    let settings = CheckSettings::default();
    let lexicon = lexicon_for_tokenizer(&runner.tokenizer, &settings).unwrap();
    let dictionary = Dictionary::new();
    let inputs = SentenceCheckInputs {
        lexicon: &lexicon,
        dictionary: &dictionary,
        spelling: SpellingDictionaries::default(),
        settings: &settings,
    };
    let document = prepare_document(text, Language::Markdown, None, &ProseOptions::default());
    check_document(
        runner,
        &document,
        &inputs,
        &[],
        None,
        None,
        &mut CheckStatistics::default(),
        &mut |_, _| {},
    )
    .unwrap()
}

/// The words of a text's `unknown-term` findings.
fn unknown_words(runner: &ModelRunner, text: &str) -> Vec<String> {
    check(runner, text)
        .into_iter()
        .filter(|finding| finding.code == FindingCode::UnknownTerm)
        .map(|finding| finding.word)
        .collect()
}

#[test]
fn non_words_are_flagged_with_the_intended_word_first() {
    let runner = runner();
    for (text, typo, intended) in [
        (
            "This makes such tests vfar less useful than expected.",
            "vfar",
            "far",
        ),
        (
            "# Sierological testing in children",
            "Sierological",
            "Serological",
        ),
        (
            "Levels of troponin tend to dicrease after the first week.",
            "dicrease",
            "decrease",
        ),
        // Three letters: non-words are sought from three letters in lowercase.
        (
            "In previous studies, we hae found two common mutations in Caucasians.",
            "hae",
            "have",
        ),
        (
            "Mutations that lead to exon skipping wre also predominant in our mutants.",
            "wre",
            "were",
        ),
        // The model expects the correction itself here: the lower, supported bar.
        (
            "Three mutation detection techniques were used to determine if one metod was superior for this gene.",
            "metod",
            "method",
        ),
        (
            "The PAX3-FKHR protein has been shown to funtion as a transcriptional activator.",
            "funtion",
            "function",
        ),
    ] {
        let findings = check(&runner, text);
        let finding = findings
            .iter()
            .find(|finding| finding.word == typo)
            .unwrap_or_else(|| panic!("{typo} not flagged in {text:?}: {findings:?}"));
        assert_eq!(finding.code, FindingCode::UnknownTerm);
        assert_eq!(
            finding.suggestions.first().map(String::as_str),
            Some(intended),
            "{finding:?}"
        );
    }
}

#[test]
fn dictionary_words_are_never_unknown() {
    let runner = runner();
    let findings = check(
        &runner,
        "We did not find anything unusual in the myocardial infraction group.",
    );
    assert!(
        findings
            .iter()
            .all(|finding| finding.code != FindingCode::UnknownTerm),
        "{findings:?}"
    );
    // Every 97th stem of the bundled dictionaries, in a sentence: none is an unknown term.
    let stems: Vec<&str> = include_str!("../data/hunspell/en_US.dic")
        .lines()
        .skip(1)
        .step_by(97)
        .map(|line| line.split('/').next().unwrap_or(line))
        .filter(|stem| stem.chars().all(|c| c.is_ascii_lowercase()) && stem.len() >= 4)
        .collect();
    assert!(stems.len() > 200);
    let text: String = stems
        .chunks(8)
        .map(|words| format!("The {} were noted.\n\n", words.join(" and ")))
        .collect();
    let unknown: Vec<String> = check(&runner, &text)
        .into_iter()
        .filter(|finding| finding.code == FindingCode::UnknownTerm)
        .map(|finding| finding.word)
        .collect();
    assert!(unknown.is_empty(), "{unknown:?}");
}

#[test]
fn a_word_written_in_ten_sentences_is_not_an_alarm() {
    let runner = runner();
    let text = [
        "Patient privacy matters in every study.",
        "We protect the privacy of participants.",
        "Data privacy rules apply to the hospital.",
        "Privacy laws differ by country.",
        "The privacy of records was kept.",
        "Researchers must respect privacy.",
        "Privacy concerns limit data sharing.",
        "Differential privacy adds noise to the data.",
        "Privacy was preserved by design.",
        "The privacy budget was small.",
    ]
    .join("\n\n");
    let findings = check(&runner, &text);
    assert!(
        findings
            .iter()
            .all(|finding| finding.word.to_lowercase() != "privacy"),
        "{findings:?}"
    );
}

#[test]
fn a_non_word_written_in_several_sentences_is_one_finding() {
    let runner = runner();
    let text = "We used phyloseq to import the data.\n\nThen phyloseq merged the tables.\n\n\
                Plots were drawn with phyloseq.";
    let findings: Vec<Finding> = check(&runner, text)
        .into_iter()
        .filter(|finding| finding.word == "phyloseq")
        .collect();
    assert!(findings.len() <= 1, "{findings:?}");
}

#[test]
fn a_name_the_document_cites_or_gives_as_author_is_not_unknown_a_typo_beside_it_is() {
    let runner = runner();
    let text = "Gomes et al. compared the trees with distory [@tag:distory2012].\n\n\
                Levels of troponin tend to dicrease after the first week, in `igraph` and igraph.";
    let findings = check(&runner, text);
    let words: Vec<&str> = findings
        .iter()
        .map(|finding| finding.word.as_str())
        .collect();
    assert!(words.contains(&"dicrease"), "{findings:?}");
    for name in ["Gomes", "distory", "igraph"] {
        assert!(!words.contains(&name), "{name}: {findings:?}");
    }
}

#[test]
fn a_surname_before_et_al_or_a_citation_is_never_read_as_a_word() {
    let runner = runner();
    // Without the rule the model reads "Roth" as a slip for "Both" (p = 1e-11 against 0.002),
    // and "Dwork" as a word no dictionary knows.
    let text = "Roth et al. compared 2D, 2.5D, and 3D CNNs on a number of tasks for \
                computer-aided detection from CT scans.\n\n\
                Both groups of patients were treated with aspirin.\n\n\
                Dwork and Roth [@doi:10.1561/0400000042] demonstrate the ability to expose \
                individual level information.";
    let findings = check(&runner, text);
    assert!(
        !findings
            .iter()
            .any(|finding| finding.word == "Roth" || finding.word == "Dwork"),
        "{findings:?}"
    );
    // Only the surnames are skipped: the model still reads them as context, every other word is
    // checked.
    let document = prepare_document(text, Language::Markdown, None, &ProseOptions::default());
    assert_eq!(document.sentences[0].check.skip, [0..4]);
    assert!(document.sentences[1].check.skip.is_empty());
    assert_eq!(document.sentences[2].check.skip, [0..5, 10..14]);
    let latex = "Dwork and Roth~\\cite{dwork2014} demonstrate it, as Smith~et~al. did.";
    let document = prepare_document(latex, Language::Latex, None, &ProseOptions::default());
    let sentence = &document.sentences[0].check;
    let skipped: Vec<&str> = sentence
        .skip
        .iter()
        .map(|range| &sentence.text[range.clone()])
        .collect();
    assert_eq!(skipped, ["Smith", "Dwork", "Roth"]);
}

#[test]
fn a_compound_with_a_symbol_or_a_combining_form_is_not_an_unknown_word() {
    let runner = runner();
    let unknown = |text: &str| unknown_words(&runner, text);
    assert_eq!(
        unknown("We compared it with a baseline, gkm-SVM, on children in hemato-oncology wards."),
        Vec::<String>::new()
    );
    // Spaced, the same letters are words of the prose again.
    assert!(
        unknown("We compared it with a gkm baseline on the wards.").contains(&"gkm".to_string())
    );
}

#[test]
fn a_latin_phrase_is_not_an_unknown_word() {
    let runner = runner();
    let unknown = |text: &str| unknown_words(&runner, text);
    assert_eq!(
        unknown("It became the de facto standard for analyses in silico."),
        Vec::<String>::new()
    );
}

#[test]
fn a_confusable_written_in_three_sentences_is_flagged_three_times() {
    let runner = runner();
    let text = "Men with prostrate cancer were enrolled from three clinics.\n\n\
                Serum PSA predicts prostrate cancer in older men.\n\n\
                Screening for prostrate cancer remains debated.";
    let flagged: Vec<Finding> = check(&runner, text)
        .into_iter()
        .filter(|finding| finding.word == "prostrate")
        .collect();
    assert_eq!(flagged.len(), 3, "{flagged:?}");
    assert!(flagged
        .iter()
        .all(|finding| finding.suggestions.first().map(String::as_str) == Some("prostate")));
}
