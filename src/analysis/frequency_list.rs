//! Word frequency lists bundled in the binary: the mini model's training text and general English,
//! looked up by word and by prefix.

use std::sync::OnceLock;

use crate::model::fill::BUNDLED_CORPUS_WORDS;

/// General English word frequencies (`word count` lines, lowercase): SymSpell's list, the
/// intersection of SCOWL with Google Books n-gram counts (see `data/lexicon/README.md`).
pub const BUNDLED_ENGLISH_WORDS: &str = include_str!("../../data/lexicon/english_words.txt");

/// Lowercase words and their counts, sorted by word.
pub struct FrequencyList {
    sorted: Vec<(&'static str, u64)>,
}

impl FrequencyList {
    /// Reads `word<separator>count` lines; `#` lines and lines that do not parse are skipped
    /// (the bundled lists are checked by the tests below).
    fn parse(text: &'static str, separator: char) -> Self {
        let mut sorted: Vec<(&'static str, u64)> = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (word, count) = line.split_once(separator)?;
                Some((word, count.trim().parse().ok()?))
            })
            .collect();
        sorted.sort_unstable();
        Self { sorted }
    }

    /// The count of a lowercase word (0 when the list does not have it).
    pub fn count(&self, word: &str) -> u64 {
        self.sorted
            .binary_search_by(|(known, _)| (*known).cmp(word))
            .map_or(0, |idx| self.sorted[idx].1)
    }

    /// The words that start with a lowercase prefix, most frequent first.
    pub fn with_prefix(&self, prefix: &str) -> impl Iterator<Item = &'static str> {
        let start = self.sorted.partition_point(|(word, _)| *word < prefix);
        let end =
            start + self.sorted[start..].partition_point(|(word, _)| word.starts_with(prefix));
        let mut matching: Vec<(&'static str, u64)> = self.sorted[start..end].to_vec();
        matching.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        matching.into_iter().map(|(word, _)| word)
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }
}

/// The words of the mini model's training text.
pub fn corpus_words() -> &'static FrequencyList {
    static LIST: OnceLock<FrequencyList> = OnceLock::new();
    LIST.get_or_init(|| FrequencyList::parse(BUNDLED_CORPUS_WORDS, '\t'))
}

/// General English words that a bundled Hunspell dictionary knows in lowercase: the list counts
/// names too (`machiavelli`, `hidalgo`), which are no word to complete in lowercase.
pub fn english_words() -> &'static FrequencyList {
    static LIST: OnceLock<FrequencyList> = OnceLock::new();
    LIST.get_or_init(|| {
        let spelling = super::spelling::SpellingDictionaries::default();
        let mut list = FrequencyList::parse(BUNDLED_ENGLISH_WORDS, ' ');
        list.sorted.retain(|(word, _)| spelling.knows(word));
        list
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_lists_parse_whole() {
        let corpus_lines = BUNDLED_CORPUS_WORDS
            .lines()
            .filter(|line| !line.starts_with('#'))
            .count();
        assert_eq!(corpus_words().len(), corpus_lines);
        // Names the dictionaries write capitalised (january, london, david) are left out: about
        // a fifth of the list.
        let english_lines = BUNDLED_ENGLISH_WORDS.lines().count();
        assert!(english_words().len() < english_lines);
        assert!(english_words().len() > english_lines * 3 / 4);
        assert_eq!(english_words().count("machiavelli"), 0);
    }

    #[test]
    fn words_are_found_by_word_and_by_prefix_most_frequent_first() {
        let english = english_words();
        assert!(english.count("the") > english.count("develop"));
        assert!(english.count("develop") > 0);
        assert_eq!(english.count("infraction-nonword"), 0);
        let develop: Vec<&str> = english.with_prefix("develop").take(3).collect();
        assert!(develop.contains(&"develop"), "{develop:?}");
        assert!(english.with_prefix("zzzzq").next().is_none());
        assert!(corpus_words().count("patients") > corpus_words().count("infarction"));
    }
}
