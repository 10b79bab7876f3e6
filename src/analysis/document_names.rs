//! Names a document gives outside its prose (citation keys, code, URLs, labels) or as authors
//! (`Liang et al.`): a word no dictionary knows that the document names there is the document's
//! own (a package, a tool, an author), not a typo. Also where a sentence names authors (before
//! `et al.` or a citation), ranges the check skips.

use std::ops::Range;

use crate::prose::{ProseChunk, SegmentKind};

/// A name shorter than this is never matched (`al`, `tag`, `doi` are everywhere in keys).
const MIN_NAME_CHARS: usize = 4;

/// A word matches the start of a longer name only from this length on (`distory` in
/// `\cite{distorypackage}`; a four-letter typo would match too many keys).
const MIN_PREFIX_CHARS: usize = 6;

/// The lowercase alphabetic runs of a document outside its prose, and the words right before
/// `et al`, sorted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DocumentNames {
    sorted: Vec<String>,
}

impl DocumentNames {
    /// The names of `source`, whose prose is `chunks` (verbatim and escaped segments are prose;
    /// stand-ins and the gaps between segments are not).
    pub fn from_source(source: &str, chunks: &[ProseChunk]) -> Self {
        let mut prose: Vec<Range<usize>> = chunks
            .iter()
            .flat_map(|chunk| &chunk.segments)
            .filter(|segment| segment.kind != SegmentKind::StandIn)
            .map(|segment| segment.source_range.clone())
            .collect();
        prose.sort_by_key(|range| range.start);
        let mut names: Vec<String> = Vec::new();
        let mut outside_start = 0;
        for range in prose
            .iter()
            .chain(std::iter::once(&(source.len()..source.len())))
        {
            if range.start > outside_start {
                if let Some(outside) = source.get(outside_start..range.start) {
                    names.extend(alphabetic_runs(outside));
                }
            }
            outside_start = outside_start.max(range.end);
        }
        names.extend(authors_before_et_al(source));
        names.sort();
        names.dedup();
        DocumentNames { sorted: names }
    }

    /// Whether the document names `word` (case aside) outside its prose, or a name there starts
    /// with it.
    pub fn contains(&self, word: &str) -> bool {
        let word = word.to_lowercase();
        let length = word.chars().count();
        if length < MIN_NAME_CHARS {
            return false;
        }
        let at = self
            .sorted
            .partition_point(|name| name.as_str() < word.as_str());
        self.sorted.get(at).is_some_and(|name| {
            *name == word || (length >= MIN_PREFIX_CHARS && name.starts_with(&word))
        })
    }
}

/// Lowercase runs of letters of `text` of [`MIN_NAME_CHARS`] or more (`Liang2015_exprs_cancer` →
/// `liang`, `exprs`, `cancer`).
fn alphabetic_runs(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|character: char| !character.is_alphabetic())
        .filter(|run| run.chars().count() >= MIN_NAME_CHARS)
        .map(str::to_lowercase)
}

/// What separates a surname from `et al.` or a citation: a space, LaTeX's `~`, a no-break space.
const SPACES: [char; 3] = [' ', '~', '\u{a0}'];

/// The capitalised words written right before `et al` (`Gomes et al. demonstrate`).
fn authors_before_et_al(source: &str) -> Vec<String> {
    author_ranges_before_et_al(source)
        .into_iter()
        .map(|range| source[range].to_lowercase())
        .collect()
}

/// The byte range of the capitalised word (letters and hyphens) that ends `text`, if any.
fn capitalised_word_at_end(text: &str) -> Option<Range<usize>> {
    let start = text
        .char_indices()
        .rev()
        .take_while(|(_, character)| character.is_alphabetic() || *character == '-')
        .last()
        .map(|(index, _)| index)?;
    text[start..]
        .chars()
        .next()
        .is_some_and(char::is_uppercase)
        .then_some(start..text.len())
}

/// The byte ranges of the authors named right before a citation that leaves no text in the
/// prose, `at` (`Dwork and Roth [@doi:…] demonstrate`, `Troyanskaya~\cite{x} showed`): one
/// capitalised word, or two joined by `and` or `&`. Surnames, which no check should read as
/// words.
pub fn author_ranges_before_citation(text: &str, at: usize) -> Vec<Range<usize>> {
    let Some(before) = text.get(..at) else {
        return Vec::new();
    };
    let Some(last) = capitalised_word_at_end(before.trim_end_matches(SPACES)) else {
        return Vec::new();
    };
    let joined = before[..last.start].trim_end_matches(SPACES);
    let first = ["and", "&"].iter().find_map(|joint| {
        let rest = joined.strip_suffix(joint)?;
        let trimmed = rest.trim_end_matches(SPACES);
        (trimmed.len() < rest.len())
            .then(|| capitalised_word_at_end(trimmed))
            .flatten()
    });
    first.into_iter().chain(std::iter::once(last)).collect()
}

/// The byte ranges of the capitalised words written right before `et al` (`Gomes` in `Gomes et
/// al. demonstrate`, `Gomes~et~al.`): surnames, which no check should read as words.
pub fn author_ranges_before_et_al(text: &str) -> Vec<Range<usize>> {
    let mut authors = Vec::new();
    for (at, _) in text.match_indices("et") {
        let after = &text[at + "et".len()..];
        let al = after.trim_start_matches(SPACES);
        let spaced = al.len() < after.len();
        let whole_word = al
            .strip_prefix("al")
            .is_some_and(|rest| !rest.starts_with(char::is_alphabetic));
        if !spaced || !whole_word {
            continue;
        }
        let before = text[..at].trim_end_matches(SPACES);
        if before.len() == text[..at].len() {
            continue;
        }
        authors.extend(capitalised_word_at_end(before));
    }
    authors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prose::{extract, Language, ProseOptions};

    fn names(source: &str, language: Language) -> DocumentNames {
        DocumentNames::from_source(source, &extract(source, language, &ProseOptions::default()))
    }

    #[test]
    fn surnames_are_the_capitalised_words_right_before_et_al() {
        let text = "As Roth et al. and Van-Dyk~et~al. showed, and as the group et al. did not, \
                    Liang et al showed (Shen\u{a0}et al.).";
        let surnames: Vec<&str> = author_ranges_before_et_al(text)
            .into_iter()
            .map(|range| &text[range])
            .collect();
        assert_eq!(surnames, ["Roth", "Van-Dyk", "Liang", "Shen"]);
        assert!(
            author_ranges_before_et_al("et al. wrote it; Smithet al.; Beta et alpha").is_empty()
        );
    }

    #[test]
    fn authors_are_the_capitalised_words_right_before_a_citation() {
        let authors = |text: &str, at: usize| -> Vec<String> {
            author_ranges_before_citation(text, at)
                .into_iter()
                .map(|range| text[range].to_string())
                .collect()
        };
        // The citation left nothing where the `|` was.
        for (text, expected) in [
            ("Dwork and Roth | demonstrate it.", &["Dwork", "Roth"][..]),
            ("Dwork & Roth | demonstrate it.", &["Dwork", "Roth"]),
            ("Troyanskaya~| showed it.", &["Troyanskaya"]),
            ("Lundberg-Lee| showed it.", &["Lundberg-Lee"]),
            ("As cells and Roth | showed.", &["Roth"]),
            ("It was reported previously |.", &[]),
            ("Brand| and", &["Brand"]),
            ("|Roth showed it.", &[]),
        ] {
            let at = text.find('|').unwrap();
            assert_eq!(authors(text, at), expected, "{text}");
        }
        assert!(author_ranges_before_citation("short", 99).is_empty());
    }

    #[test]
    fn names_come_from_citation_keys_code_and_authors_not_from_prose() {
        let latex = "\\section{Tools}\nWe used distory~\\cite{distorypackage} and \
                     mothur~\\cite{mothur} to compare the libaries.\n";
        let found = names(latex, Language::Latex);
        for (word, named) in [
            ("mothur", true),
            ("Mothur", true),
            ("distory", true),
            // Prose is no name: a typo there stays a typo.
            ("libaries", false),
            ("compare", false),
            // The start of a key only from six letters on.
            ("dist", false),
        ] {
            assert_eq!(found.contains(word), named, "{word}");
        }

        let markdown = "Gomes et al. showed it; Liang et al. [@tag:Essinger2010_taxonomic] \
                        used `igraph` and [a link](https://example.org/featurize).\n\n\
                        The caveat of segregared data.\n";
        let found = names(markdown, Language::Markdown);
        for (word, named) in [
            ("gomes", true),
            ("Liang", true),
            ("Essinger", true),
            ("igraph", true),
            ("featurize", true),
            ("segregared", false),
            ("caveat", false),
        ] {
            assert_eq!(found.contains(word), named, "{word}");
        }
    }
}
