//! A whole manuscript through the terminology check: its extracted sentences, stand-ins and
//! surnames (before `et al.` or a citation) skipped, switches and ignored words honoured, unknown
//! words an entity tagger recognises let through, findings mapped back to exact source ranges;
//! and the abbreviations a document defines, for the hover and go-to-definition.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::abbreviations::{
    abbreviation_findings, find_definitions, is_written_in, AbbreviationIssue,
};
use super::declared_abbreviations::{declared_abbreviations, DeclaredAbbreviation};
use super::document_names::{
    author_ranges_before_citation, author_ranges_before_et_al, DocumentNames,
};
use super::entities::{document_entities, is_recognised_entity, SentenceSelection};
use super::improbable_term::keep_despite_repetition;
use super::same_term::{EmbeddingJudge, EveryCandidate, SameTermJudge};
use super::switches::{disabled_ranges, is_disabled};
use super::term_variants::term_variant_findings;
use super::terminology::{
    check_sentences_with, CheckError, CheckStatistics, Finding, FindingCode, RelatedPlace,
    SentenceCache, SentenceCheckInputs, SentenceToCheck, Severity, TermScorer, Urgency,
};
use super::unknown_word::merge_own_terms;
use crate::model::CancelFlag;
use crate::prose::{extract, split_sentences, Language, ProseChunk, ProseOptions, SegmentKind};

/// A document ready for the check: its prose, its sentences and the ranges switched off. The
/// server and `check` both build it with [`prepare_document`].
#[derive(Clone, Debug)]
pub struct PreparedDocument {
    pub chunks: Vec<ProseChunk>,
    pub sentences: Vec<DocumentSentence>,
    /// Source ranges switched off in the document (`% biomed-lsp: disable` …).
    pub disabled: Vec<Range<usize>>,
    /// What the document names outside its prose and as authors: no `unknown-term` there.
    pub names: DocumentNames,
    /// Abbreviations a LaTeX document declares with the acronym, acro or glossaries packages.
    pub declared: Vec<DeclaredAbbreviation>,
}

/// Extracts the prose of `source` (unless the caller has it already, as the server does for the
/// documents it keeps), splits it into sentences and finds the ranges switched off.
pub fn prepare_document(
    source: &str,
    language: Language,
    chunks: Option<Vec<ProseChunk>>,
    options: &ProseOptions,
) -> PreparedDocument {
    let chunks = chunks.unwrap_or_else(|| extract(source, language, options));
    let sentences = document_sentences(&chunks);
    PreparedDocument {
        names: DocumentNames::from_source(source, &chunks),
        declared: if language == Language::Latex {
            declared_abbreviations(source)
        } else {
            Vec::new()
        },
        chunks,
        sentences,
        disabled: disabled_ranges(source, language),
    }
}

/// One sentence of a document, as the checker receives it, and where it sits in the prose.
#[derive(Clone, Debug, PartialEq)]
pub struct DocumentSentence {
    pub check: SentenceToCheck,
    pub chunk_index: usize,
    /// The sentence's range in its chunk's prose text.
    pub prose_range: Range<usize>,
    /// The sentence's range in the source.
    pub source_range: Range<usize>,
}

/// The sentences of extracted prose; stand-ins (a formula's `X`, a reference's `1`) and the
/// surnames before `et al.` or a citation are marked as ranges to skip, so they are never flagged.
pub fn document_sentences(chunks: &[ProseChunk]) -> Vec<DocumentSentence> {
    let mut sentences = Vec::new();
    for (chunk_index, chunk) in chunks.iter().enumerate() {
        for sentence in split_sentences(chunk, chunk_index) {
            let Some(text) = chunk.text.get(sentence.prose_range.clone()) else {
                continue;
            };
            let mut skip: Vec<Range<usize>> = chunk
                .segments
                .iter()
                .filter(|segment| {
                    segment.kind == SegmentKind::StandIn && !segment.prose_range.is_empty()
                })
                .filter(|segment| {
                    segment.prose_range.start < sentence.prose_range.end
                        && sentence.prose_range.start < segment.prose_range.end
                })
                .map(|segment| {
                    segment.prose_range.start.max(sentence.prose_range.start)
                        - sentence.prose_range.start
                        ..segment.prose_range.end.min(sentence.prose_range.end)
                            - sentence.prose_range.start
                })
                .collect();
            skip.extend(author_ranges_before_et_al(text));
            // A construct that leaves no text — a citation (`[@key]`, `\cite{key}`), also a
            // footnote or an unknown LaTeX command: the authors named before it.
            for segment in &chunk.segments {
                let at = segment.prose_range.start;
                if segment.kind == SegmentKind::StandIn
                    && segment.prose_range.is_empty()
                    && sentence.prose_range.start < at
                    && at <= sentence.prose_range.end
                {
                    skip.extend(author_ranges_before_citation(
                        text,
                        at - sentence.prose_range.start,
                    ));
                }
            }
            sentences.push(DocumentSentence {
                check: SentenceToCheck {
                    text: text.to_string(),
                    skip,
                },
                chunk_index,
                prose_range: sentence.prose_range.clone(),
                source_range: sentence.source_range.clone(),
            });
        }
    }
    sentences
}

/// Whether a finding is switched off in the document or its word ignored (case-insensitively).
fn suppressed(document: &PreparedDocument, ignored_words: &[String], finding: &Finding) -> bool {
    let word = finding.word.to_lowercase();
    (finding.code == FindingCode::UnknownTerm && document.names.contains(&word))
        || is_disabled(&document.disabled, &finding.range)
        || ignored_words
            .iter()
            .any(|ignored| ignored.to_lowercase() == word)
}

/// Checks the sentences of a document (sentences already in the cache are not scored again);
/// findings carry source byte ranges. See [`check_sentences_with`] for `cancel` and
/// `on_progress(done, total)`.
#[allow(clippy::too_many_arguments)]
pub fn check_document(
    scorer: &dyn TermScorer,
    document: &PreparedDocument,
    inputs: &SentenceCheckInputs,
    ignored_words: &[String],
    cache: Option<&SentenceCache>,
    cancel: Option<&CancelFlag>,
    statistics: &mut CheckStatistics,
    on_progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Finding>, CheckError> {
    let checks: Vec<&SentenceToCheck> = document
        .sentences
        .iter()
        .map(|sentence| &sentence.check)
        .collect();
    let per_sentence = check_sentences_with(
        scorer,
        &checks,
        inputs,
        cache,
        cancel,
        statistics,
        on_progress,
    )?;
    let mut findings = Vec::new();
    // The sentences with a word no dictionary knows: the entity tagger reads them.
    let mut with_unknown_words = HashSet::new();
    for (index, (sentence, sentence_findings)) in
        document.sentences.iter().zip(per_sentence).enumerate()
    {
        let chunk = &document.chunks[sentence.chunk_index];
        let to_source = |range: &Range<usize>| {
            chunk.source_range_of(
                sentence.prose_range.start + range.start..sentence.prose_range.start + range.end,
            )
        };
        for mut finding in sentence_findings {
            finding.range = to_source(&finding.range);
            for evidence in &mut finding.evidence {
                evidence.range = to_source(&evidence.range);
            }
            if !suppressed(document, ignored_words, &finding) {
                if finding.code == FindingCode::UnknownTerm {
                    with_unknown_words.insert(index);
                }
                findings.push(finding);
            }
        }
    }
    drop_recognised_entities(
        &mut findings,
        scorer,
        document,
        &with_unknown_words,
        cache,
        cancel,
    )?;
    // The manuscript as evidence: how many sentences write each word.
    let sentences_using = sentences_using_each_word(&document.sentences);
    findings.retain(|finding| keep_despite_repetition(finding, &sentences_using, inputs.settings));
    let mut findings = merge_own_terms(findings, &sentences_using, inputs.settings);
    findings.extend(
        document_consistency_findings(
            document,
            inputs.settings,
            Some(JudgeModel {
                scorer,
                cache,
                cancel,
            }),
        )
        .into_iter()
        .filter(|finding| !suppressed(document, ignored_words, finding)),
    );
    findings.sort_by_key(|finding| finding.range.start);
    Ok(findings)
}

/// Drops the `unknown-term` findings on words the entity tagger recognises (see
/// [`is_recognised_entity`]). A tagger that fails leaves the findings as they are; a cancelled
/// check stops.
fn drop_recognised_entities(
    findings: &mut Vec<Finding>,
    scorer: &dyn TermScorer,
    document: &PreparedDocument,
    sentences: &HashSet<usize>,
    cache: Option<&SentenceCache>,
    cancel: Option<&CancelFlag>,
) -> Result<(), CheckError> {
    if sentences.is_empty() {
        return Ok(());
    }
    let entities = match document_entities(
        scorer,
        document,
        SentenceSelection::Only(sentences),
        Urgency::Background,
        cache,
        cancel,
    ) {
        Ok(Some(entities)) => entities,
        Ok(None) => return Ok(()),
        Err(error) if cancel.is_some_and(CancelFlag::is_cancelled) => return Err(error),
        Err(error) => {
            tracing::warn!("the entity tagger failed; unknown words stay flagged: {error}");
            return Ok(());
        }
    };
    findings.retain(|finding| !is_recognised_entity(finding, &entities));
    Ok(())
}

/// An abbreviation the document defines: its first definition, with source ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefinedAbbreviation {
    pub short: String,
    pub long: String,
    /// The short form within the definition.
    pub short_range: Range<usize>,
    /// The whole definition (long form, parentheses and short form).
    pub definition_range: Range<usize>,
}

/// The abbreviations a document defines, each at its first definition: those a LaTeX source
/// declares (`declared`, see [`declared_abbreviations`]) first, then those of its prose in order.
pub fn defined_abbreviations(
    chunks: &[ProseChunk],
    declared: &[DeclaredAbbreviation],
) -> Vec<DefinedAbbreviation> {
    let declared = declared.iter().map(|declared| DefinedAbbreviation {
        short: declared.short.clone(),
        long: declared.long.clone(),
        short_range: declared.range.clone(),
        definition_range: declared.range.clone(),
    });
    let sentences = document_sentences(chunks);
    let texts: Vec<&str> = sentences
        .iter()
        .map(|sentence| sentence.check.text.as_str())
        .collect();
    let in_prose = find_definitions(&texts).into_iter().map(|definition| {
        let sentence = &sentences[definition.sentence];
        let to_source = |range: &Range<usize>| {
            chunks[sentence.chunk_index].source_range_of(
                sentence.prose_range.start + range.start..sentence.prose_range.start + range.end,
            )
        };
        DefinedAbbreviation {
            short_range: to_source(&definition.short_range),
            definition_range: to_source(&definition.whole_range),
            short: definition.short,
            long: definition.long,
        }
    });
    let mut seen = HashSet::new();
    declared
        .chain(in_prose)
        .filter(|definition| seen.insert(definition.short.clone()))
        .collect()
}

/// The definition of `word` among `defined` (`CRPs` is the plural of `CRP`).
pub fn definition_of<'a>(
    defined: &'a [DefinedAbbreviation],
    word: &str,
) -> Option<&'a DefinedAbbreviation> {
    let singular = word.strip_suffix('s').unwrap_or(word);
    defined
        .iter()
        .find(|definition| definition.short == word)
        .or_else(|| {
            defined
                .iter()
                .find(|definition| definition.short == singular)
        })
}

/// Whether a finding says an abbreviation is defined and never used again.
pub fn is_unused_abbreviation(finding: &Finding) -> bool {
    finding.code == FindingCode::Abbreviation(AbbreviationIssue::Unused)
}

/// Whether a finding says an abbreviation is defined and never used again while one of
/// `other_files` writes it: the sections of a manuscript the check does not read (files the
/// editor has not opened, or `check` was not given). Such a finding is dropped.
pub fn is_unused_but_written_in(finding: &Finding, other_files: &[String]) -> bool {
    is_unused_abbreviation(finding)
        && other_files
            .iter()
            .any(|text| is_written_in(&finding.word, text))
}

/// The model that decides whether the forms of a term-variant candidate are one term; without
/// one (`None`), the rules alone decide.
pub type VariantJudgeModel<'a> = Option<JudgeModel<'a>>;

/// The model of [`VariantJudgeModel`], the cache of its slot embeddings, and the check's cancel
/// flag.
#[derive(Clone, Copy)]
pub struct JudgeModel<'a> {
    pub scorer: &'a dyn TermScorer,
    pub cache: Option<&'a SentenceCache>,
    /// The check's: its embedding requests are dropped once nobody waits for it.
    pub cancel: Option<&'a CancelFlag>,
}

/// The abbreviation and term-variant findings of a document, with source ranges.
pub fn document_consistency_findings(
    document: &PreparedDocument,
    settings: &super::CheckSettings,
    judge_model: VariantJudgeModel,
) -> Vec<Finding> {
    manuscript_consistency_findings(&[document], settings, judge_model)
        .into_iter()
        .map(|(_, finding)| finding)
        .collect()
}

/// The abbreviation and term-variant findings of a manuscript written in several documents, in
/// reading order (a definition in one counts in the next): each with the index of its document;
/// related places say theirs.
pub fn manuscript_consistency_findings(
    documents: &[&PreparedDocument],
    settings: &super::CheckSettings,
    judge_model: VariantJudgeModel,
) -> Vec<(usize, Finding)> {
    let mut sentences = Vec::new();
    let mut owners = Vec::new();
    for (document_index, document) in documents.iter().enumerate() {
        for (sentence_index, sentence) in document.sentences.iter().enumerate() {
            sentences.push(sentence.clone());
            owners.push((document_index, sentence_index));
        }
    }
    let to_source = |sentence: usize, range: &Range<usize>| {
        let (document_index, local) = owners[sentence];
        let document = documents[document_index];
        let sentence = &document.sentences[local];
        let range = document.chunks[sentence.chunk_index].source_range_of(
            sentence.prose_range.start + range.start..sentence.prose_range.start + range.end,
        );
        (document_index, range)
    };
    let variants = if settings.abbreviations.term_variants {
        let mut embedding_judge;
        let mut every_candidate = EveryCandidate;
        let judge: &mut dyn SameTermJudge = match judge_model {
            Some(model) => {
                embedding_judge = EmbeddingJudge::new(model.scorer, model.cache, &sentences)
                    .cancelled_by(model.cancel);
                &mut embedding_judge
            }
            None => &mut every_candidate,
        };
        term_variant_findings(&sentences, judge)
            .into_iter()
            .filter(|variant| {
                !settings
                    .abbreviations
                    .accepted_variants
                    .contains(&variant.form.to_lowercase())
            })
            .collect()
    } else {
        Vec::new()
    };
    let variant_findings = variants.into_iter().map(|variant| {
        let (document_index, range) = to_source(variant.sentence, &variant.range);
        let (majority_sentence, majority_range) = &variant.majority_place;
        let (document, majority_range) = to_source(*majority_sentence, majority_range);
        let finding = Finding {
            range,
            code: FindingCode::TermVariant,
            severity: Severity::Information,
            word: variant.form.clone(),
            message: variant.message,
            suggestions: vec![variant.majority.clone()],
            score: 0.0,
            margin_over_threshold: 0.0,
            log_probability: 0.0,
            evidence: Vec::new(),
            related: std::iter::once(RelatedPlace {
                document,
                range: majority_range,
                message: format!("\"{}\" is written here", variant.majority),
                same_fix: false,
            })
            .chain(variant.other_places.iter().map(|(sentence, range)| {
                let (document, range) = to_source(*sentence, range);
                RelatedPlace {
                    document,
                    range,
                    message: format!("\"{}\" again", variant.form),
                    same_fix: true,
                }
            }))
            .collect(),
        };
        (document_index, finding)
    });
    let abbreviation_settings = &settings.abbreviations;
    let declared: HashSet<String> = documents
        .iter()
        .flat_map(|document| &document.declared)
        .map(|declared| declared.short.clone())
        .collect();
    let abbreviations = if abbreviation_settings.enabled {
        abbreviation_findings(&sentences, abbreviation_settings, &declared)
            .into_iter()
            .filter(|finding| !abbreviation_settings.off.contains(&finding.issue))
            .collect()
    } else {
        Vec::new()
    };
    abbreviations
        .into_iter()
        .map(|finding| {
            let severity = match finding.issue {
                AbbreviationIssue::Undefined => Severity::Hint,
                _ => Severity::Information,
            };
            let (document_index, range) = to_source(finding.sentence, &finding.range);
            let related = finding
                .related
                .into_iter()
                .map(|place| (place, false))
                .chain(finding.same_fix_at.into_iter().map(|place| (place, true)))
                .map(|((sentence, range, message), same_fix)| {
                    let (document, range) = to_source(sentence, &range);
                    RelatedPlace {
                        document,
                        range,
                        message,
                        same_fix,
                    }
                })
                .collect();
            let finding = Finding {
                range,
                code: FindingCode::Abbreviation(finding.issue),
                severity,
                word: finding.short,
                message: finding.message,
                suggestions: finding.replacement.into_iter().collect(),
                score: 0.0,
                margin_over_threshold: 0.0,
                log_probability: 0.0,
                evidence: Vec::new(),
                related,
            };
            (document_index, finding)
        })
        .chain(variant_findings)
        .filter(|(document, finding)| !is_disabled(&documents[*document].disabled, &finding.range))
        .collect()
}

/// For each word (lowercase; letters, digits and inner hyphens or apostrophes), how many of the
/// sentences write it.
pub fn sentences_using_each_word(sentences: &[DocumentSentence]) -> HashMap<String, usize> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    for sentence in sentences {
        seen.clear();
        for word in sentence
            .check
            .text
            .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\'' || c == '’'))
            .map(|word| word.trim_matches(|c: char| !c.is_alphanumeric()))
            .filter(|word| !word.is_empty())
        {
            let lower = word.to_lowercase();
            // Parts of a hyphenated word count too: the checker sees `cell` in `T-cell`.
            for part in std::iter::once(lower.as_str()).chain(lower.split('-')) {
                if !part.is_empty() && seen.insert(part.to_string()) {
                    *counts.entry(part.to_string()).or_default() += 1;
                }
            }
        }
    }
    counts
}
