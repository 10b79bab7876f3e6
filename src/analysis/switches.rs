//! In-document switches that turn checking off and on: `% biomed-lsp: disable` / `enable` /
//! `ignore-next-line` in LaTeX, `<!-- biomed-lsp-disable -->` and friends in Markdown and plain text.

use std::ops::Range;

use crate::prose::Language;

/// What a switch comment asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Switch {
    Disable,
    Enable,
    IgnoreNextLine,
}

/// Recognises a switch on one line of source.
fn switch_on_line(line: &str, language: Language) -> Option<Switch> {
    let trimmed = line.trim();
    let directive = match language {
        Language::Latex => {
            // A LaTeX comment: `%` not escaped as `\%`.
            let comment_start = find_latex_comment(line)?;
            line[comment_start + 1..]
                .trim()
                .strip_prefix("biomed-lsp:")?
                .trim()
                .to_string()
        }
        Language::Markdown | Language::PlainText => {
            let inner = trimmed.strip_prefix("<!--")?.strip_suffix("-->")?.trim();
            inner.strip_prefix("biomed-lsp-")?.trim().to_string()
        }
    };
    match directive.as_str() {
        "disable" => Some(Switch::Disable),
        "enable" => Some(Switch::Enable),
        "ignore-next-line" | "disable-next-line" => Some(Switch::IgnoreNextLine),
        _ => None,
    }
}

fn find_latex_comment(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            b'%' => return Some(index),
            _ => index += 1,
        }
    }
    None
}

/// Byte ranges of the source in which findings are suppressed. A `disable` without a matching
/// `enable` runs to the end of the document.
pub fn disabled_ranges(source: &str, language: Language) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut disabled_since: Option<usize> = None;
    let mut ignore_next_line = false;
    let mut line_start = 0;
    for line in source.split_inclusive('\n') {
        let line_end = line_start + line.len();
        if ignore_next_line && !line.trim().is_empty() {
            ranges.push(line_start..line_end);
            ignore_next_line = false;
        }
        match switch_on_line(line, language) {
            Some(Switch::Disable) if disabled_since.is_none() => disabled_since = Some(line_end),
            Some(Switch::Enable) => {
                if let Some(start) = disabled_since.take() {
                    ranges.push(start..line_start);
                }
            }
            Some(Switch::IgnoreNextLine) => ignore_next_line = true,
            _ => {}
        }
        line_start = line_end;
    }
    if let Some(start) = disabled_since {
        ranges.push(start..source.len());
    }
    ranges.sort_by_key(|range| range.start);
    ranges
}

/// Whether a byte range overlaps any disabled range.
pub fn is_disabled(disabled: &[Range<usize>], range: &Range<usize>) -> bool {
    disabled
        .iter()
        .any(|off| off.start < range.end.max(range.start + 1) && range.start < off.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lists the plain words of `source` that fall into a disabled range.
    fn check(source: &str, language: Language, expected_disabled_words: &[&str]) {
        let disabled = disabled_ranges(source, language);
        let mut words = Vec::new();
        let mut offset = 0;
        for word in source.split_inclusive(char::is_whitespace) {
            let trimmed = word.trim();
            if !trimmed.is_empty()
                && trimmed.chars().all(char::is_alphabetic)
                && is_disabled(&disabled, &(offset..offset + trimmed.len()))
            {
                words.push(trimmed);
            }
            offset += word.len();
        }
        assert_eq!(
            words, expected_disabled_words,
            "disabled ranges {disabled:?}"
        );
    }

    #[test]
    fn latex_switches() {
        let source = "checked one\n% biomed-lsp: disable\nskipped two\n% biomed-lsp: enable\nchecked three\n\
                      % biomed-lsp: ignore-next-line\nskipped four\nchecked five\n100\\% biomed-lsp: disable\nchecked six\n";
        check(
            source,
            Language::Latex,
            &["skipped", "two", "skipped", "four"],
        );
    }

    #[test]
    fn markdown_switches_and_a_disable_without_enable_runs_to_the_end() {
        let source =
            "checked one\n<!-- biomed-lsp-ignore-next-line -->\nskipped two\nchecked three\n\
                      <!-- biomed-lsp-disable -->\nskipped four\nskipped five\n";
        check(
            source,
            Language::Markdown,
            &["skipped", "two", "skipped", "four", "skipped", "five"],
        );
        check("<!-- not a switch -->\nchecked\n", Language::Markdown, &[]);
    }
}
