//! Entity mentions of a document: its sentences through the entity tagger (each sentence text
//! once per model; the cache answers after an edit for every sentence it did not change), mapped
//! back to source ranges.

use std::collections::HashSet;
use std::ops::Range;

use super::document::PreparedDocument;
use super::lexicon::osa_distance;
use super::switches::is_disabled;
use super::terminology::{CheckError, Finding, FindingCode, SentenceCache, TermScorer, Urgency};
use crate::model::entities::{EntityMention, EntityRequest};
use crate::model::CancelFlag;

/// Sentences sent to the tagger together: the unit of cancellation.
const SENTENCES_PER_REQUEST: usize = 64;

/// A mention in a document.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DocumentEntity {
    /// Byte range in the source.
    pub range: Range<usize>,
    /// The entity type (`Disease`).
    pub label: String,
    /// The mention as the prose reads it (LaTeX commands and Markdown marks removed).
    pub text: String,
}

/// Which sentences of a document to tag.
pub enum SentenceSelection<'a> {
    All,
    /// Sentence indices into [`PreparedDocument::sentences`].
    Only(&'a HashSet<usize>),
    /// The sentence whose source range holds this source range (a hovered word).
    Holding(Range<usize>),
}

/// The mentions in the selected sentences of `document`, in document order; `None` when the
/// scorer has no entity model. Mentions in ranges switched off are left out.
pub fn document_entities(
    scorer: &dyn TermScorer,
    document: &PreparedDocument,
    selection: SentenceSelection,
    urgency: Urgency,
    cache: Option<&SentenceCache>,
    cancel: Option<&CancelFlag>,
) -> Result<Option<Vec<DocumentEntity>>, CheckError> {
    let model_id = scorer.model_id();
    let selected: Vec<usize> = (0..document.sentences.len())
        .filter(|&index| match &selection {
            SentenceSelection::All => true,
            SentenceSelection::Only(indices) => indices.contains(&index),
            SentenceSelection::Holding(range) => {
                let sentence = &document.sentences[index].source_range;
                sentence.start <= range.start && range.end <= sentence.end
            }
        })
        .collect();
    let mut per_sentence: Vec<Option<Vec<EntityMention>>> = selected
        .iter()
        .map(|&index| {
            cache.and_then(|cache| cache.entities(model_id, &document.sentences[index].check.text))
        })
        .collect();
    let missing: Vec<usize> = (0..selected.len())
        .filter(|&at| per_sentence[at].is_none())
        .collect();
    for group in missing.chunks(SENTENCES_PER_REQUEST) {
        if cancel.is_some_and(CancelFlag::is_cancelled) {
            return Err(crate::model::ModelError::Cancelled.into());
        }
        let requests: Vec<EntityRequest> = group
            .iter()
            .map(|&at| EntityRequest {
                text: document.sentences[selected[at]].check.text.clone(),
                cancel: cancel.cloned(),
            })
            .collect();
        let Some(answers) = scorer.entities(requests, urgency)? else {
            return Ok(None);
        };
        for (&at, mentions) in group.iter().zip(answers.answers) {
            if let Some(cache) = cache {
                cache.store_entities(
                    model_id,
                    &document.sentences[selected[at]].check.text,
                    &mentions,
                );
            }
            per_sentence[at] = Some(mentions);
        }
    }
    let mut entities = Vec::new();
    for (&index, mentions) in selected.iter().zip(per_sentence) {
        let sentence = &document.sentences[index];
        let chunk = &document.chunks[sentence.chunk_index];
        for mention in mentions.unwrap_or_default() {
            let Some(text) = sentence.check.text.get(mention.span.clone()) else {
                continue;
            };
            let range = chunk.source_range_of(
                sentence.prose_range.start + mention.span.start
                    ..sentence.prose_range.start + mention.span.end,
            );
            if range.is_empty() || is_disabled(&document.disabled, &range) {
                continue;
            }
            entities.push(DocumentEntity {
                range,
                label: mention.label,
                text: text.to_string(),
            });
        }
    }
    Ok(Some(entities))
}

/// Whether an `unknown-term` finding is on a word inside an entity mention (a drug, a gene, a
/// disease is no misspelling because no dictionary lists it) and no correction of it is one edit
/// away. The tagger reads a misspelt disease as a disease all the same (`brest cancer`), and a
/// one-edit typo is what the check exists to catch: exempting every recognised word lowered the
/// recall of injected typos from 0.966 to 0.844 (`eval_findings --split test`).
pub fn is_recognised_entity(finding: &Finding, entities: &[DocumentEntity]) -> bool {
    if finding.code != FindingCode::UnknownTerm {
        return false;
    }
    let word = finding.word.to_lowercase();
    let reads_as_typo = finding
        .suggestions
        .iter()
        .any(|suggestion| osa_distance(&word, &suggestion.to_lowercase()) <= 1);
    !reads_as_typo
        && entities.iter().any(|entity| {
            entity.range.start <= finding.range.start && finding.range.end <= entity.range.end
        })
}

/// The kinds of entity the editor tells apart (the semantic token types of the protocol edge),
/// `entity` for a label none of the others names.
pub const ENTITY_KINDS: [&str; 8] = [
    "disease", "chemical", "gene", "species", "cellLine", "cellType", "mutation", "entity",
];

/// The index into [`ENTITY_KINDS`] of a checkpoint's label, whatever its spelling (`Disease`,
/// `DISEASE`, `Chemical`/`Drug`, `Gene`/`GENE_OR_GENE_PRODUCT`/`protein`, `Species`/`Organism`,
/// `cell_line`, `CellType`, `Mutation`/`variant`).
pub fn entity_kind(label: &str) -> usize {
    let key: String = label
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    let kind = match key.as_str() {
        "disease" | "diseases" | "disorder" | "diseaseclass" | "specificdisease" => "disease",
        "chemical" | "chemicals" | "drug" | "drugs" | "chem" | "simplechemical" => "chemical",
        "gene" | "genes" | "protein" | "geneorgeneproduct" | "geneprotein" | "dna" | "rna" => {
            "gene"
        }
        "species" | "organism" | "taxon" => "species",
        "cellline" => "cellLine",
        "celltype" => "cellType",
        "mutation" | "variant" | "sequencevariant" | "dnamutation" | "proteinmutation" => {
            "mutation"
        }
        _ => "entity",
    };
    ENTITY_KINDS
        .iter()
        .position(|known| *known == kind)
        .unwrap_or(ENTITY_KINDS.len() - 1)
}

/// The entity types of `entities` in order of first appearance, each with its mentions grouped
/// by text (case-insensitively; the first spelling names the group) in order of first
/// appearance: what an outline lists.
pub fn group_entities(entities: &[DocumentEntity]) -> Vec<EntityGroup> {
    let mut groups: Vec<EntityGroup> = Vec::new();
    for entity in entities {
        let group = match groups.iter().position(|group| group.label == entity.label) {
            Some(at) => &mut groups[at],
            None => {
                groups.push(EntityGroup {
                    label: entity.label.clone(),
                    terms: Vec::new(),
                });
                groups.last_mut().expect("just pushed")
            }
        };
        let key = entity.text.to_lowercase();
        match group
            .terms
            .iter_mut()
            .find(|term| term.text.to_lowercase() == key)
        {
            Some(term) => term.ranges.push(entity.range.clone()),
            None => group.terms.push(EntityTerm {
                text: entity.text.clone(),
                ranges: vec![entity.range.clone()],
            }),
        }
    }
    groups
}

/// The mentions of one entity type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityGroup {
    pub label: String,
    pub terms: Vec<EntityTerm>,
}

impl EntityGroup {
    pub fn mention_count(&self) -> usize {
        self.terms.iter().map(|term| term.ranges.len()).sum()
    }
}

/// One term and every place it is mentioned (source ranges, in order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityTerm {
    pub text: String,
    pub ranges: Vec<Range<usize>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_word_inside_a_mention_is_no_finding_unless_it_reads_as_a_typo() {
        use crate::analysis::Severity;
        let text = "Patients with brest cancer or Smertz dysplasia were seen.";
        let mention = |words: &str| {
            let start = text.find(words).unwrap();
            DocumentEntity {
                range: start..start + words.len(),
                label: "Disease".into(),
                text: words.into(),
            }
        };
        let finding = |word: &str, code: FindingCode, suggestions: &[&str]| {
            let start = text.find(word).unwrap();
            Finding {
                range: start..start + word.len(),
                code,
                severity: Severity::Information,
                word: word.into(),
                message: String::new(),
                suggestions: suggestions.iter().map(|s| s.to_string()).collect(),
                score: 0.0,
                margin_over_threshold: 0.0,
                log_probability: -20.0,
                evidence: Vec::new(),
                related: Vec::new(),
            }
        };
        let entities = [mention("brest cancer"), mention("Smertz dysplasia")];
        // (finding, recognised)
        let cases = [
            // One edit from "breast": a typo, tagged or not.
            (
                finding("brest", FindingCode::UnknownTerm, &["breast", "bret"]),
                false,
            ),
            // Nothing one edit away, inside a mention: the tagger's word.
            (
                finding("Smertz", FindingCode::UnknownTerm, &["Smarts"]),
                true,
            ),
            (finding("Smertz", FindingCode::UnknownTerm, &[]), true),
            // Outside every mention.
            (finding("Patients", FindingCode::UnknownTerm, &[]), false),
            // Only unknown words.
            (
                finding("dysplasia", FindingCode::ImprobableTerm, &["displays"]),
                false,
            ),
        ];
        for (finding, recognised) in cases {
            assert_eq!(
                is_recognised_entity(&finding, &entities),
                recognised,
                "{} {:?}",
                finding.word,
                finding.suggestions
            );
        }
        assert!(!is_recognised_entity(
            &finding("Smertz", FindingCode::UnknownTerm, &[]),
            &[]
        ));
    }

    #[test]
    fn labels_of_common_checkpoints_map_to_their_kind() {
        // (label, kind)
        let cases = [
            ("Disease", "disease"),
            ("DISEASE", "disease"),
            ("SpecificDisease", "disease"),
            ("Chemical", "chemical"),
            ("Drug", "chemical"),
            ("GENE_OR_GENE_PRODUCT", "gene"),
            ("Gene", "gene"),
            ("protein", "gene"),
            ("DNA", "gene"),
            ("Species", "species"),
            ("ORGANISM", "species"),
            ("cell_line", "cellLine"),
            ("CellType", "cellType"),
            ("Mutation", "mutation"),
            ("SequenceVariant", "mutation"),
            ("Anatomy", "entity"),
            ("", "entity"),
        ];
        for (label, kind) in cases {
            assert_eq!(ENTITY_KINDS[entity_kind(label)], kind, "{label}");
        }
    }

    #[test]
    fn mentions_group_by_type_then_by_term_whatever_the_case() {
        let entity = |start: usize, text: &str, label: &str| DocumentEntity {
            range: start..start + text.len(),
            label: label.into(),
            text: text.into(),
        };
        let groups = group_entities(&[
            entity(0, "Breast cancer", "Disease"),
            entity(20, "tamoxifen", "Chemical"),
            entity(40, "breast cancer", "Disease"),
            entity(60, "gout", "Disease"),
        ]);
        let summary: Vec<(String, usize, Vec<(String, usize)>)> = groups
            .iter()
            .map(|group| {
                (
                    group.label.clone(),
                    group.mention_count(),
                    group
                        .terms
                        .iter()
                        .map(|term| (term.text.clone(), term.ranges.len()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "Disease".to_string(),
                    3,
                    vec![("Breast cancer".to_string(), 2), ("gout".to_string(), 1)]
                ),
                (
                    "Chemical".to_string(),
                    1,
                    vec![("tamoxifen".to_string(), 1)]
                ),
            ]
        );
        assert!(group_entities(&[]).is_empty());
    }
}
