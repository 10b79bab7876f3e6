//! Model tests of the term-variant decision on the bundled mini model: the contextual embeddings
//! of two forms' slots say whether they are one term, and decide only from enough occurrences.

use std::ops::Range;

use biomed_lsp::analysis::document::{manuscript_consistency_findings, prepare_document};
use biomed_lsp::analysis::same_term::{EmbeddingJudge, SameTermJudge, OCCURRENCES_TO_DECIDE};
use biomed_lsp::analysis::terminology::CheckError;
use biomed_lsp::analysis::{CheckSettings, FindingCode, TermScorer};
use biomed_lsp::model::device::{DeviceChoice, Precision, PrecisionChoice};
use biomed_lsp::model::embedding::EmbedRequest;
use biomed_lsp::model::engine::load_bundled;
use biomed_lsp::model::fill::ModelRunner;
use biomed_lsp::model::{
    BatchAnswers, CancelFlag, EngineError, ScoreRequest, TokenProbability, TokenProbabilityRequest,
    TokenizedWord, WordScore,
};
use biomed_lsp::prose::{Language, ProseOptions};

fn runner() -> ModelRunner {
    load_bundled(
        DeviceChoice::Cpu,
        PrecisionChoice::Exactly(Precision::Float),
    )
    .expect("the bundled model loads")
    .0
}

/// The places of `form` (lowercase) as a whole word in the sentences, in any case: (sentence, range).
fn places(
    sentences: &[biomed_lsp::analysis::document::DocumentSentence],
    form: &str,
) -> Vec<(usize, Range<usize>)> {
    let mut found = Vec::new();
    for (index, sentence) in sentences.iter().enumerate() {
        // The manuscripts' forms are compared in lowercase (ASCII here: the offsets stay).
        let text = sentence.check.text.to_ascii_lowercase();
        for (at, _) in text.match_indices(form) {
            let before = text[..at].chars().next_back();
            let after = text[at + form.len()..].chars().next();
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '-')
                && !after.is_some_and(|c| c.is_alphanumeric() || c == '-')
            {
                found.push((index, at..at + form.len()));
            }
        }
    }
    found
}

const MANUSCRIPT: &str = "\
Patients with a solid tumour were enrolled at three centres.
The tumour was resected and the margins were examined by two pathologists.
Tumour size was measured on computed tomography before surgery.
Recurrence of the tumour was assessed every six months.
Each tumor was staged according to the TNM classification.
The tumor response was assessed with RECIST criteria after two cycles.
Patients whose tumor progressed received second-line chemotherapy.
Biopsies of the tumor were stained for Ki-67.
Fractures of the ilium were fixed with screws in most patients.
The iliac crest and the ilium were exposed through an anterior approach.
Pain over the ilium persisted after pelvic fracture.
Bone grafts were harvested from the ilium under general anaesthesia.
The terminal ileum was inflamed in patients with Crohn disease.
Resection of the ileum led to bile acid malabsorption.
Ulcers of the ileum were seen at colonoscopy.
Biopsies of the ileum showed granulomas.
";

/// The rest of the manuscript: general prose, whose words centre the embeddings.
const OTHER_PROSE: &str = "\
Patients were randomly assigned to receive the drug or a placebo for twelve weeks.
The primary outcome was the change in blood pressure from baseline to the end of the study.
Samples were collected before treatment and stored at minus eighty degrees until analysis.
We sequenced the whole genome of each isolate and called variants against the reference.
Mice lacking the receptor developed severe inflammation of the colon within two weeks.
The sensitivity of the test was lower in children than in adults.
Adverse events were more frequent in the group that received the higher dose.
Expression of the gene was measured by quantitative polymerase chain reaction.
The cohort included women who had given birth at the hospital during the study period.
Images were segmented by two radiologists who were blinded to the clinical data.
Mortality at one year was higher among patients with chronic kidney disease.
Cells were cultured in medium supplemented with serum and antibiotics.
The model was trained on one hospital's records and validated on another's.
Participants completed a questionnaire about their diet and physical activity.
The protein binds to the promoter and represses transcription of its targets.
Infection rates fell after the vaccination programme was introduced in schools.
Surgery was followed by radiotherapy in most patients with advanced disease.
The authors declare that they have no competing interests.
Statistical significance was set at a two-sided p value below five percent.
The antibody was diluted and applied to the sections overnight at four degrees.
Older age and smoking were associated with a higher risk of stroke.
The trial was stopped early because of slow recruitment.
Neurons in the hippocampus fired more often during the learning task.
Bacterial load in the lungs decreased after three days of antibiotic treatment.
The survey was sent to all general practitioners in the region.
Blood glucose was measured after an overnight fast.
The mutation was inherited from the mother in both affected siblings.
Heart rate and oxygen saturation were recorded every hour.
The algorithm identified most of the lesions that the experts had marked.
Funding was provided by a national research council.
Children with asthma missed more days of school than their classmates.
The drug was well tolerated and no patient stopped treatment because of side effects.
";

#[test]
fn on_the_mini_model_one_term_reads_more_alike_than_two() {
    let runner = runner();
    let text = format!("{MANUSCRIPT}{OTHER_PROSE}");
    let document = prepare_document(&text, Language::PlainText, None, &ProseOptions::default());
    let sentences = &document.sentences;
    let mut judge = EmbeddingJudge::new(&runner, None, sentences);
    let tumour = places(sentences, "tumour");
    let tumor = places(sentences, "tumor");
    let ilium = places(sentences, "ilium");
    let ileum = places(sentences, "ileum");
    assert!(tumour.len() >= OCCURRENCES_TO_DECIDE && ilium.len() >= OCCURRENCES_TO_DECIDE);
    let same = judge
        .similarity(&tumour, &tumor)
        .expect("the model in this process gives embeddings");
    let different = judge.similarity(&ilium, &ileum).expect("embeddings");
    assert!(
        same > different,
        "tumour/tumor ({same}) should read more alike than ilium/ileum ({different})"
    );
    assert!(judge.same_term(&tumour, &tumor));
    // The manuscript check gives tumour/tumor as one term-variant finding.
    let findings = manuscript_consistency_findings(
        &[&document],
        &CheckSettings::default(),
        Some(biomed_lsp::analysis::document::JudgeModel {
            scorer: &runner,
            cache: None,
            cancel: None,
        }),
    );
    let variants: Vec<&str> = findings
        .iter()
        .filter(|(_, finding)| finding.code == FindingCode::TermVariant)
        .map(|(_, finding)| finding.word.as_str())
        .collect();
    assert_eq!(variants.len(), 1, "{variants:?}");
    assert!(
        variants[0].eq_ignore_ascii_case("tumour") || variants[0].eq_ignore_ascii_case("tumor")
    );
}

/// A stand-in model whose slot embedding is chosen by the masked word: each of `forms` has its
/// own vector, every other word the zero vector (so the centre is near the origin).
struct SlotsByWord {
    forms: Vec<(&'static str, Vec<f32>)>,
    with_embeddings: bool,
}

impl TermScorer for SlotsByWord {
    fn model_id(&self) -> u64 {
        7
    }
    fn words(&self, _text: &str) -> Result<Vec<TokenizedWord>, CheckError> {
        Ok(Vec::new())
    }
    fn token_probabilities(
        &self,
        _requests: Vec<TokenProbabilityRequest>,
    ) -> Result<BatchAnswers<Vec<TokenProbability>>, CheckError> {
        Ok(BatchAnswers {
            answers: Vec::new(),
            rows: 0,
        })
    }
    fn score(
        &self,
        _requests: Vec<ScoreRequest>,
    ) -> Result<BatchAnswers<Vec<WordScore>>, CheckError> {
        Ok(BatchAnswers {
            answers: Vec::new(),
            rows: 0,
        })
    }
    fn embed(
        &self,
        requests: Vec<EmbedRequest>,
    ) -> Result<Option<BatchAnswers<Vec<f32>>>, CheckError> {
        if !self.with_embeddings {
            return Ok(None);
        }
        // As the engine does: requests nobody waits for any more are not computed.
        if requests.iter().all(|request| {
            request
                .cancel
                .as_ref()
                .is_some_and(CancelFlag::is_cancelled)
        }) {
            return Err(EngineError::Cancelled.into());
        }
        let answers = requests
            .iter()
            .map(|request| {
                let word = request.text[request.span.clone()].to_lowercase();
                self.forms
                    .iter()
                    .find(|(form, _)| *form == word)
                    .map_or(vec![0.0, 0.0, 0.0], |(_, vector)| vector.clone())
            })
            .collect();
        Ok(Some(BatchAnswers {
            answers,
            rows: requests.len(),
        }))
    }
}

#[test]
fn the_embeddings_veto_a_pair_read_in_other_contexts_and_only_from_enough_occurrences() {
    let text = format!("{MANUSCRIPT}{OTHER_PROSE}");
    let document = prepare_document(&text, Language::PlainText, None, &ProseOptions::default());
    let sentences = &document.sentences;
    let scorer = SlotsByWord {
        forms: vec![
            ("tumour", vec![1.0, 0.0, 0.0]),
            ("tumor", vec![1.0, 0.1, 0.0]),
            ("ilium", vec![1.0, 0.0, 0.0]),
            ("ileum", vec![0.0, 1.0, 0.0]),
        ],
        with_embeddings: true,
    };
    let mut judge = EmbeddingJudge::new(&scorer, None, sentences);
    let (tumour, tumor) = (places(sentences, "tumour"), places(sentences, "tumor"));
    let (ilium, ileum) = (places(sentences, "ilium"), places(sentences, "ileum"));
    assert!(judge.same_term(&tumour, &tumor));
    assert!(!judge.same_term(&ilium, &ileum));
    // From fewer occurrences than it takes to decide, the rules alone decide.
    assert!(judge.same_term(&ilium[..OCCURRENCES_TO_DECIDE - 1], &ileum));
    // A model that gives no embeddings (an inference server) leaves the rules to decide.
    let without = SlotsByWord {
        forms: Vec::new(),
        with_embeddings: false,
    };
    let mut judge = EmbeddingJudge::new(&without, None, sentences);
    assert_eq!(judge.similarity(&ilium, &ileum), None);
    assert!(judge.same_term(&ilium, &ileum));
}

#[test]
fn a_cancelled_check_asks_for_no_embeddings() {
    let text = format!("{MANUSCRIPT}{OTHER_PROSE}");
    let document = prepare_document(&text, Language::PlainText, None, &ProseOptions::default());
    let sentences = &document.sentences;
    let scorer = SlotsByWord {
        forms: vec![
            ("ilium", vec![1.0, 0.0, 0.0]),
            ("ileum", vec![0.0, 1.0, 0.0]),
        ],
        with_embeddings: true,
    };
    let (ilium, ileum) = (places(sentences, "ilium"), places(sentences, "ileum"));
    let running = CancelFlag::new();
    let mut judge = EmbeddingJudge::new(&scorer, None, sentences).cancelled_by(Some(&running));
    assert!(judge.similarity(&ilium, &ileum).is_some());
    let cancelled = CancelFlag::new();
    cancelled.cancel();
    let mut judge = EmbeddingJudge::new(&scorer, None, sentences).cancelled_by(Some(&cancelled));
    assert_eq!(judge.similarity(&ilium, &ileum), None);
}
