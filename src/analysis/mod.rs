//! Features as plain functions over plain data (no I/O, no LSP types): what completion and hover
//! ask the model and show, the quick fixes of a finding, the terminology check and what it needs
//! (lexicon, dictionaries, switches), whole documents through it, and how numbers and words are
//! written.

pub mod abbreviations;
pub mod completion;
mod completion_weights;
pub mod declared_abbreviations;
pub mod document;
pub mod document_names;
pub mod entities;
pub mod fixes;
pub mod frequency_list;
pub mod hover;
pub mod improbable_term;
pub mod lexicon;
pub mod manuscript_words;
pub mod morphology;
pub mod report;
pub mod same_term;
pub mod spelling;
pub mod switches;
pub mod term_variants;
pub mod terminology;
pub mod unknown_word;
pub mod wording;

pub use lexicon::{Dictionary, Lexicon, LexiconError, NearWord};
pub use report::{
    format_json, format_text, locate_entities, locate_evidence, locate_findings,
    locate_manuscript_findings, LocatedEntity, LocatedEvidence, LocatedFinding,
};
pub use terminology::{
    check_sentence, check_sentences, check_sentences_cached, check_sentences_with,
    lexicon_for_tokenizer, CheckError, CheckSettings, CheckStatistics, Finding, FindingCode,
    SentenceCache, SentenceCheckInputs, SentenceToCheck, Severity, TermScorer, Urgency,
};
