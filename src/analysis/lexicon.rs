//! Known words for the terminology check: a frequency lexicon with a near-spelling index, and the
//! user's and workspace's dictionaries (parsing only; reading files is the caller's business).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};

pub use crate::model::fill::BUNDLED_CORPUS_WORDS;

/// Only the first this many characters of a word go into the deletion index (SymSpell's prefix
/// trick): the index stays small, and candidates are verified by the full edit distance anyway.
const INDEX_PREFIX_CHARS: usize = 7;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LexiconError {
    #[error("line {line}: \"{text}\" is not `word<TAB>count`")]
    BadLine { line: usize, text: String },
}

/// One known word and how often the corpus uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct LexiconEntry {
    pub word: String,
    /// Occurrences in the corpus (0 for words known only from the model's vocabulary).
    pub count: u64,
}

/// A near-spelling neighbour of a word.
#[derive(Clone, Debug, PartialEq)]
pub struct NearWord {
    pub word: String,
    /// Optimal-string-alignment (restricted Damerau-Levenshtein) distance to the looked-up word.
    pub distance: usize,
    pub count: u64,
}

/// Lowercase words with corpus frequencies and a SymSpell-style deletion index for near spellings.
pub struct Lexicon {
    entries: Vec<LexiconEntry>,
    index_of_word: HashMap<String, u32>,
    /// Sorted `(hash of a deletion variant, entry index)`: a flat sorted list instead of a map of
    /// strings keeps a million variants in a few megabytes.
    deletions: Vec<(u64, u32)>,
    max_distance: usize,
    total_count: u64,
    hasher: ahash::RandomState,
}

impl Lexicon {
    /// Builds a lexicon from corpus counts (`word<TAB>count` lines, `#` comments) and extra words
    /// (e.g. the whole-word tokens of the model's vocabulary), indexed for edit distance up to
    /// `max_distance`.
    pub fn build<'a>(
        corpus_counts: &str,
        extra_words: impl IntoIterator<Item = &'a str>,
        max_distance: usize,
    ) -> Result<Self, LexiconError> {
        let mut counts: HashMap<String, u64> = HashMap::new();
        for (line_idx, line) in corpus_counts.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || LexiconError::BadLine {
                line: line_idx + 1,
                text: line.to_string(),
            };
            let (word, count) = line.split_once('\t').ok_or_else(bad)?;
            let count: u64 = count.trim().parse().map_err(|_| bad())?;
            *counts.entry(word.trim().to_lowercase()).or_default() += count;
        }
        for word in extra_words {
            if is_lexicon_word(word) {
                counts.entry(word.to_lowercase()).or_default();
            }
        }
        let mut entries: Vec<LexiconEntry> = counts
            .into_iter()
            .map(|(word, count)| LexiconEntry { word, count })
            .collect();
        entries.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.word.cmp(&b.word)));
        let hasher = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let mut deletions = Vec::new();
        let mut index_of_word = HashMap::with_capacity(entries.len());
        for (entry_idx, entry) in entries.iter().enumerate() {
            index_of_word.insert(entry.word.clone(), entry_idx as u32);
            for variant in deletion_variants(&entry.word, max_distance) {
                deletions.push((hash_str(&hasher, &variant), entry_idx as u32));
            }
        }
        deletions.sort_unstable();
        deletions.dedup();
        let total_count = entries.iter().map(|entry| entry.count).sum::<u64>().max(1);
        Ok(Self {
            entries,
            index_of_word,
            deletions,
            max_distance,
            total_count,
            hasher,
        })
    }

    /// The bundled corpus counts plus the whole-word tokens of a vocabulary (`##` pieces, special
    /// tokens and tokens with digits or punctuation are left out).
    pub fn bundled_with_vocabulary<'a>(
        vocabulary_tokens: impl IntoIterator<Item = &'a str>,
        max_distance: usize,
    ) -> Result<Self, LexiconError> {
        Self::build(BUNDLED_CORPUS_WORDS, vocabulary_tokens, max_distance)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn max_distance(&self) -> usize {
        self.max_distance
    }

    /// Whether the lexicon knows the word (case-insensitively).
    pub fn contains(&self, word: &str) -> bool {
        self.index_of_word.contains_key(&word.to_lowercase())
    }

    /// Corpus count of a word (0 when unknown or known only from the vocabulary).
    pub fn count(&self, word: &str) -> u64 {
        self.index_of_word
            .get(&word.to_lowercase())
            .map(|&idx| self.entries[idx as usize].count)
            .unwrap_or(0)
    }

    /// Natural log of the word's unigram probability, add-one smoothed so that unseen words are
    /// finite (used for the SLOR-like frequency correction).
    pub fn log_unigram(&self, word: &str) -> f32 {
        ((self.count(word) as f64 + 1.0) / (self.total_count as f64 + 1.0)).ln() as f32
    }

    /// Lexicon words within `max_distance` edits (optimal string alignment: insertions,
    /// deletions, substitutions, adjacent transpositions) of `word`, the word itself excluded;
    /// nearest first, then most frequent.
    pub fn near(&self, word: &str, max_distance: usize) -> Vec<NearWord> {
        let word = word.to_lowercase();
        let max_distance = max_distance.min(self.max_distance);
        let mut seen: HashSet<u32> = HashSet::new();
        let mut found = Vec::new();
        for variant in deletion_variants(&word, max_distance) {
            let key = hash_str(&self.hasher, &variant);
            let start = self.deletions.partition_point(|&(hash, _)| hash < key);
            for &(hash, entry_idx) in &self.deletions[start..] {
                if hash != key {
                    break;
                }
                if !seen.insert(entry_idx) {
                    continue;
                }
                let entry = &self.entries[entry_idx as usize];
                if entry.word == word {
                    continue;
                }
                let distance = osa_distance(&word, &entry.word);
                if distance <= max_distance {
                    found.push(NearWord {
                        word: entry.word.clone(),
                        distance,
                        count: entry.count,
                    });
                }
            }
        }
        found.sort_by(|a, b| {
            a.distance
                .cmp(&b.distance)
                .then_with(|| b.count.cmp(&a.count))
                .then_with(|| a.word.cmp(&b.word))
        });
        found
    }
}

/// A vocabulary token that stands for a whole word: letters only, at least two of them.
fn is_lexicon_word(token: &str) -> bool {
    token.chars().count() >= 2 && token.chars().all(char::is_alphabetic)
}

fn hash_str(hasher: &ahash::RandomState, text: &str) -> u64 {
    let mut state = hasher.build_hasher();
    text.hash(&mut state);
    state.finish()
}

/// The word's index prefix with up to `max_distance` characters deleted, the prefix itself included.
fn deletion_variants(word: &str, max_distance: usize) -> HashSet<String> {
    let prefix: Vec<char> = word.chars().take(INDEX_PREFIX_CHARS).collect();
    let mut variants: HashSet<String> = HashSet::new();
    let mut frontier: Vec<Vec<char>> = vec![prefix.clone()];
    variants.insert(prefix.iter().collect());
    for _ in 0..max_distance {
        let mut next = Vec::new();
        for chars in &frontier {
            if chars.len() <= 1 {
                continue;
            }
            for delete_idx in 0..chars.len() {
                let mut shorter = chars.clone();
                shorter.remove(delete_idx);
                if variants.insert(shorter.iter().collect()) {
                    next.push(shorter);
                }
            }
        }
        frontier = next;
    }
    variants
}

/// Optimal string alignment distance (Damerau-Levenshtein without repeated edits of a substring),
/// over characters.
pub fn osa_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        table[i * width] = i;
    }
    for (j, cell) in table.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[(i - 1) * width + j] + 1)
                .min(table[i * width + j - 1] + 1)
                .min(table[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[(i - 2) * width + j - 2] + 1);
            }
            table[i * width + j] = best;
        }
    }
    table[a.len() * width + b.len()]
}

/// Words the user accepts (user and workspace word lists merged), compared case-insensitively.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dictionary {
    words: HashSet<String>,
}

impl Dictionary {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a word list: one word per line, blank lines and `#` comments (whole lines, or after
    /// white space at the end of a line) ignored.
    pub fn parse(text: &str) -> Self {
        let mut dictionary = Self::new();
        dictionary.add_list(text);
        dictionary
    }

    /// Adds the words of another word list (same format as [`Dictionary::parse`]).
    pub fn add_list(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.trim_start_matches('\u{feff}');
            let without_comment = match line.find(" #").or_else(|| line.find("\t#")) {
                Some(idx) => &line[..idx],
                None => line,
            };
            let word = without_comment.trim();
            if word.is_empty() || word.starts_with('#') {
                continue;
            }
            self.add(word);
        }
    }

    pub fn add(&mut self, word: &str) {
        self.words.insert(word.to_lowercase());
    }

    /// Merges another dictionary into this one (user + workspace).
    pub fn merge(&mut self, other: &Dictionary) {
        self.words.extend(other.words.iter().cloned());
    }

    pub fn contains(&self, word: &str) -> bool {
        self.words.contains(&word.to_lowercase())
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The words, sorted (for cache keys and display).
    pub fn sorted_words(&self) -> Vec<&str> {
        let mut words: Vec<&str> = self.words.iter().map(String::as_str).collect();
        words.sort_unstable();
        words
    }
}
