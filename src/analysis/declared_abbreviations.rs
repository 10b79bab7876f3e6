//! Abbreviations a LaTeX document declares with the acronym, acro or glossaries packages
//! (`\acro{CRP}{C-reactive protein}`, `\DeclareAcronym{crp}{short = CRP, long = C-reactive
//! protein}`, `\newacronym{crp}{CRP}{C-reactive protein}`): defined before the prose starts, and
//! expanded at first use by the package itself.

use std::ops::Range;

/// One declaration, with its source range (the whole command).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredAbbreviation {
    pub short: String,
    pub long: String,
    pub range: Range<usize>,
}

/// The declarations of a LaTeX source, in order. Commands inside comments are left out.
pub fn declared_abbreviations(source: &str) -> Vec<DeclaredAbbreviation> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(offset) = source[at..].find('\\') {
        let start = at + offset;
        at = start + 1;
        if is_commented(source, start) {
            continue;
        }
        let name_end = source[at..]
            .find(|c: char| !c.is_ascii_alphabetic())
            .map_or(source.len(), |end| at + end);
        let name = &source[at..name_end];
        let mut cursor = name_end;
        let declaration = match name {
            // \acro{SHORT}[printed short]{long}
            "acro" | "newacro" => (|| {
                let short = braced(source, &mut cursor)?;
                let printed = bracketed(source, &mut cursor);
                let long = braced(source, &mut cursor)?;
                Some((printed.unwrap_or(short), long))
            })(),
            // \newacronym[options]{key}{SHORT}{long}
            "newacronym" => (|| {
                bracketed(source, &mut cursor);
                braced(source, &mut cursor)?;
                let short = braced(source, &mut cursor)?;
                let long = braced(source, &mut cursor)?;
                Some((short, long))
            })(),
            // \DeclareAcronym{key}{short = SHORT, long = long form, …}
            "DeclareAcronym" => (|| {
                braced(source, &mut cursor)?;
                let options = braced(source, &mut cursor)?;
                Some((option(options, "short")?, option(options, "long")?))
            })(),
            _ => None,
        };
        if let Some((short, long)) = declaration {
            let (short, long) = (plain(short), plain(long));
            if !short.is_empty() && !long.is_empty() {
                found.push(DeclaredAbbreviation {
                    short,
                    long,
                    range: start..cursor,
                });
            }
            at = cursor;
        }
    }
    found
}

/// Whether the byte at `offset` is inside a `%` comment (an unescaped `%` before it on its line).
fn is_commented(source: &str, offset: usize) -> bool {
    let line_start = source[..offset].rfind('\n').map_or(0, |at| at + 1);
    let line = &source.as_bytes()[line_start..offset];
    line.iter()
        .enumerate()
        .any(|(index, &byte)| byte == b'%' && (index == 0 || line[index - 1] != b'\\'))
}

/// Skips white space and reads a `{…}` group (nested braces kept), moving `cursor` past it.
fn braced<'a>(source: &'a str, cursor: &mut usize) -> Option<&'a str> {
    group(source, cursor, '{', '}')
}

/// An optional `[…]` group, as `braced`; `None` (cursor unmoved) when there is none.
fn bracketed<'a>(source: &'a str, cursor: &mut usize) -> Option<&'a str> {
    group(source, cursor, '[', ']')
}

fn group<'a>(source: &'a str, cursor: &mut usize, open: char, close: char) -> Option<&'a str> {
    let rest = &source[*cursor..];
    let skipped = rest.len() - rest.trim_start().len();
    let start = *cursor + skipped;
    if !source[start..].starts_with(open) {
        return None;
    }
    let mut depth = 0usize;
    for (offset, character) in source[start..].char_indices() {
        if character == open {
            depth += 1;
        } else if character == close {
            depth -= 1;
            if depth == 0 {
                *cursor = start + offset + 1;
                return Some(&source[start + 1..start + offset]);
            }
        }
    }
    None
}

/// The value of `key = value` in a comma-separated option list (top-level commas only).
fn option<'a>(options: &'a str, key: &str) -> Option<&'a str> {
    let mut depth = 0usize;
    let mut item_start = 0;
    let mut items = Vec::new();
    for (offset, character) in options.char_indices() {
        match character {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&options[item_start..offset]);
                item_start = offset + 1;
            }
            _ => {}
        }
    }
    items.push(&options[item_start..]);
    items.into_iter().find_map(|item| {
        let (name, value) = item.split_once('=')?;
        (name.trim() == key).then(|| value.trim())
    })
}

/// A declared form as prose: outer braces and simple formatting commands removed, white space
/// collapsed (`\textit{Escherichia} coli` → `Escherichia coli`).
fn plain(text: &str) -> String {
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(character) = chars.next() {
        match character {
            '\\' => {
                // A command name is dropped; its braced argument stays.
                while chars.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                    chars.next();
                }
            }
            '{' | '}' => {}
            '~' => plain.push(' '),
            _ => plain.push(character),
        }
    }
    plain.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_of_the_three_packages_are_read_comments_are_not() {
        let source = "\\begin{acronym}\n\
                      \\acro{CRP}{C-reactive protein}\n\
                      \\acro{LVEF}[LV-EF]{left ventricular\n  ejection fraction}\n\
                      % \\acro{OLD}{an old one}\n\
                      \\end{acronym}\n\
                      \\newacronym[longplural={brain peptides}]{bnp}{BNP}{brain natriuretic peptide}\n\
                      \\DeclareAcronym{ecoli}{short = E.~coli, long = \\textit{Escherichia} coli, tag = bug}\n\
                      \\acro{BROKEN}{no end\n";
        let declared = declared_abbreviations(source);
        let pairs: Vec<(&str, &str)> = declared
            .iter()
            .map(|d| (d.short.as_str(), d.long.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("CRP", "C-reactive protein"),
                ("LV-EF", "left ventricular ejection fraction"),
                ("BNP", "brain natriuretic peptide"),
                ("E. coli", "Escherichia coli"),
            ]
        );
        assert_eq!(
            &source[declared[0].range.clone()],
            "\\acro{CRP}{C-reactive protein}"
        );
        assert!(declared_abbreviations("\\acro").is_empty());
        assert!(declared_abbreviations("\\acro{X}{").is_empty());
    }

    proptest::proptest! {
        /// Any source (a workspace file is data): no panic, and every range is a slice of it.
        #[test]
        fn any_source_is_read_without_panic(
            source in "(\\\\acro|\\\\newacronym|\\\\DeclareAcronym|short|long|[{}\\[\\]%=, \\\\\\nA-Za-zαé]){0,40}"
        ) {
            for declared in declared_abbreviations(&source) {
                proptest::prop_assert!(source.get(declared.range.clone()).is_some());
            }
        }
    }
}
