//! Findings placed in a source file (1-based lines and character columns) and printed like a
//! compiler's diagnostics or as JSON, for the `check` command.

use super::terminology::Finding;
use super::wording::format_share;
use crate::model::EvidenceWord;

/// An evidence word with its place in a file.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LocatedEvidence {
    pub word: String,
    /// 1-based line and character column of its first character.
    pub line: usize,
    pub column: usize,
    /// Its share of the support (0 to 1).
    pub weight: f32,
}

/// Places evidence words (ranges in bytes of `source`).
pub fn locate_evidence(source: &str, words: &[EvidenceWord]) -> Vec<LocatedEvidence> {
    words
        .iter()
        .map(|word| {
            let (line, column) = line_and_column(source, word.range.start);
            LocatedEvidence {
                word: word.word.clone(),
                line,
                column,
                weight: word.weight,
            }
        })
        .collect()
}

/// A finding with its place in a file.
#[derive(Clone, Debug, PartialEq)]
pub struct LocatedFinding {
    pub path: String,
    /// 1-based line and column (columns count characters) of the first character.
    pub line: usize,
    pub column: usize,
    /// 1-based line and column just after the last character.
    pub end_line: usize,
    pub end_column: usize,
    /// The finding, its range in bytes of the whole source text.
    pub finding: Finding,
    /// The finding's evidence, placed.
    pub evidence: Vec<LocatedEvidence>,
    /// The places it points to (an abbreviation's definition), placed.
    pub related: Vec<LocatedPlace>,
}

/// A related place: its file, 1-based line and column, what it is, and whether the finding's fix
/// is made there too.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LocatedPlace {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub same_fix: bool,
}

/// 1-based line and character column of a byte offset (clamped to the text, snapped back to a
/// character boundary).
pub fn line_and_column(text: &str, byte_offset: usize) -> (usize, usize) {
    let mut offset = byte_offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|idx| idx + 1).unwrap_or(0);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

/// Places findings (ranges in bytes of `source`) in the file `path`.
pub fn locate_findings(path: &str, source: &str, findings: Vec<Finding>) -> Vec<LocatedFinding> {
    locate_manuscript_findings(
        &[(path, source)],
        findings.into_iter().map(|finding| (0, finding)).collect(),
    )
}

/// Places findings of a manuscript in several files (`files[i]` is `(path, source)` of document
/// `i`; each finding with its document's index, related places with theirs).
pub fn locate_manuscript_findings(
    files: &[(&str, &str)],
    findings: Vec<(usize, Finding)>,
) -> Vec<LocatedFinding> {
    findings
        .into_iter()
        .filter_map(|(document, finding)| {
            let &(path, source) = files.get(document)?;
            let (line, column) = line_and_column(source, finding.range.start);
            let (end_line, end_column) = line_and_column(source, finding.range.end);
            Some(LocatedFinding {
                path: path.to_string(),
                line,
                column,
                end_line,
                end_column,
                evidence: locate_evidence(source, &finding.evidence),
                related: finding
                    .related
                    .iter()
                    .filter_map(|place| {
                        let &(path, source) = files.get(place.document)?;
                        let (line, column) = line_and_column(source, place.range.start);
                        Some(LocatedPlace {
                            path: path.to_string(),
                            line,
                            column,
                            message: place.message.clone(),
                            same_fix: place.same_fix,
                        })
                    })
                    .collect(),
                finding,
            })
        })
        .collect()
}

/// An entity mention with its place in a file.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LocatedEntity {
    pub path: String,
    /// 1-based line and column (columns count characters) of the first character, and just
    /// after the last.
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    /// The entity type (`Disease`).
    pub label: String,
    /// The mention as the prose reads it.
    pub text: String,
}

/// Places the entity mentions of one file.
pub fn locate_entities(
    path: &str,
    source: &str,
    entities: Vec<super::entities::DocumentEntity>,
) -> Vec<LocatedEntity> {
    entities
        .into_iter()
        .map(|entity| {
            let (line, column) = line_and_column(source, entity.range.start);
            let (end_line, end_column) = line_and_column(source, entity.range.end);
            LocatedEntity {
                path: path.to_string(),
                line,
                column,
                end_line,
                end_column,
                label: entity.label,
                text: entity.text,
            }
        })
        .collect()
}

/// `path:line:col: severity: message [code]` lines, with suggestions on a second line; then, when
/// given, `path:line:col: entity: Label: text` lines.
pub fn format_text(findings: &[LocatedFinding], entities: Option<&[LocatedEntity]>) -> String {
    let mut out = String::new();
    for located in findings {
        let finding = &located.finding;
        out.push_str(&format!(
            "{}:{}:{}: {}: {} [{}]\n",
            located.path,
            located.line,
            located.column,
            finding.severity.as_str(),
            finding.message,
            finding.code.as_str()
        ));
        if !finding.suggestions.is_empty() {
            out.push_str(&format!(
                "  suggestion: {}\n",
                finding.suggestions.join(", ")
            ));
        }
        if let (Some(suggestion), false) =
            (finding.suggestions.first(), located.evidence.is_empty())
        {
            let words: Vec<String> = located
                .evidence
                .iter()
                .map(|word| {
                    format!(
                        "{} ({}:{}) {}",
                        word.word,
                        word.line,
                        word.column,
                        format_share(word.weight)
                    )
                })
                .collect();
            out.push_str(&format!(
                "  evidence for \"{suggestion}\": {}\n",
                words.join(", ")
            ));
        }
        for place in &located.related {
            out.push_str(&format!(
                "  {}:{}:{}: {}\n",
                place.path, place.line, place.column, place.message
            ));
        }
    }
    for entity in entities.unwrap_or_default() {
        out.push_str(&format!(
            "{}:{}:{}: entity: {}: {}\n",
            entity.path, entity.line, entity.column, entity.label, entity.text
        ));
    }
    out
}

/// `{"findings":[{path, line, column, end_line, end_column, code, severity, word, message,
/// suggestions, score, evidence: [{word, line, column, weight}], related: [{path, line, column,
/// message, same_fix}]}]}` followed by a newline; with `entities`, also `"entities": [{path,
/// line, column, end_line, end_column, label, text}]`.
pub fn format_json(findings: &[LocatedFinding], entities: Option<&[LocatedEntity]>) -> String {
    // A struct, not `json!`, so that the keys keep this documented order.
    #[derive(serde::Serialize)]
    struct JsonFinding<'a> {
        path: &'a str,
        line: usize,
        column: usize,
        end_line: usize,
        end_column: usize,
        code: &'static str,
        severity: &'static str,
        word: &'a str,
        message: &'a str,
        suggestions: &'a [String],
        score: f32,
        evidence: &'a [LocatedEvidence],
        related: &'a [LocatedPlace],
    }
    #[derive(serde::Serialize)]
    struct JsonReport<'a> {
        findings: Vec<JsonFinding<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        entities: Option<&'a [LocatedEntity]>,
    }
    let report = JsonReport {
        findings: findings
            .iter()
            .map(|located| JsonFinding {
                path: &located.path,
                line: located.line,
                column: located.column,
                end_line: located.end_line,
                end_column: located.end_column,
                code: located.finding.code.as_str(),
                severity: located.finding.severity.as_str(),
                word: &located.finding.word,
                message: &located.finding.message,
                suggestions: &located.finding.suggestions,
                score: located.finding.score,
                evidence: &located.evidence,
                related: &located.related,
            })
            .collect(),
        entities,
    };
    let json = serde_json::to_string(&report).unwrap_or_else(|_| "{\"findings\":[]}".into());
    format!("{json}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_characters_from_one() {
        let text = "αβ first\nsecond γ word";
        assert_eq!(line_and_column(text, 0), (1, 1));
        let word = text.find("first").unwrap_or(0);
        assert_eq!(line_and_column(text, word), (1, 4));
        let word = text.find("word").unwrap_or(0);
        assert_eq!(line_and_column(text, word), (2, 10));
        assert_eq!(line_and_column(text, text.len()), (2, 14));
    }
}
