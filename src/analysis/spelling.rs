//! Whether a word exists: Hunspell dictionaries (en_US and en_GB bundled, any the user installed
//! added at run time) through `spellbook`, and their spelling suggestions for a non-word.

use std::sync::OnceLock;

use foldhash::fast::FixedState;

/// A parsed Hunspell dictionary. The hasher is fixed so that suggestions tied in Hunspell's
/// order come out the same on every run.
pub type HunspellDictionary = spellbook::Dictionary<FixedState>;

const BUNDLED_AFFIX_US: &str = include_str!("../../data/hunspell/en_US.aff");
const BUNDLED_WORDS_US: &str = include_str!("../../data/hunspell/en_US.dic");
const BUNDLED_AFFIX_GB: &str = include_str!("../../data/hunspell/en_GB.aff");
const BUNDLED_WORDS_GB: &str = include_str!("../../data/hunspell/en_GB.dic");

/// The affix rules a word list without its own `.aff` file is read with (Debian's
/// `en_med_glut.dic` is meant to be used beside en_US).
pub fn default_affix_rules() -> &'static str {
    BUNDLED_AFFIX_US
}

/// A Hunspell dictionary that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("Hunspell dictionary {name}: {message}")]
pub struct SpellingDictionaryError {
    pub name: String,
    pub message: String,
}

/// Parses a Hunspell dictionary from the text of its `.aff` and `.dic` files; `name` says which
/// it is in errors.
pub fn parse_dictionary(
    name: &str,
    affix_rules: &str,
    words: &str,
) -> Result<HunspellDictionary, SpellingDictionaryError> {
    spellbook::Dictionary::new_with_hasher(affix_rules, words, FixedState::with_seed(0x5eed))
        .map_err(|error| SpellingDictionaryError {
            name: name.to_string(),
            message: error.to_string(),
        })
}

/// The bundled en_US and en_GB dictionaries, parsed once (about 20 ms).
pub fn bundled_dictionaries() -> &'static [(String, HunspellDictionary)] {
    static BUNDLED: OnceLock<Vec<(String, HunspellDictionary)>> = OnceLock::new();
    BUNDLED.get_or_init(|| {
        [
            ("en_US", BUNDLED_AFFIX_US, BUNDLED_WORDS_US),
            ("en_GB", BUNDLED_AFFIX_GB, BUNDLED_WORDS_GB),
        ]
        .into_iter()
        .map(|(name, affix_rules, words)| {
            let dictionary = parse_dictionary(name, affix_rules, words)
                .expect("the bundled Hunspell dictionaries parse (tested)");
            (name.to_string(), dictionary)
        })
        .collect()
    })
}

/// The dictionaries a check asks whether a word exists: the bundled ones and the user's.
#[derive(Clone, Copy)]
pub struct SpellingDictionaries<'a> {
    pub bundled: &'a [(String, HunspellDictionary)],
    /// Dictionaries the user installed (hunspell-en-med and the like), read at the edge.
    pub installed: &'a [(String, HunspellDictionary)],
}

impl Default for SpellingDictionaries<'static> {
    /// The bundled dictionaries alone.
    fn default() -> Self {
        Self {
            bundled: bundled_dictionaries(),
            installed: &[],
        }
    }
}

impl<'a> SpellingDictionaries<'a> {
    /// The bundled dictionaries and those the user installed.
    pub fn with_installed(installed: &'a [(String, HunspellDictionary)]) -> Self {
        Self {
            bundled: bundled_dictionaries(),
            installed,
        }
    }
}

/// Suggestions asked of each dictionary at most (Hunspell orders them nearest first).
const SUGGESTIONS_PER_DICTIONARY: usize = 16;

impl SpellingDictionaries<'_> {
    fn all(&self) -> impl Iterator<Item = &HunspellDictionary> {
        self.bundled
            .iter()
            .chain(self.installed)
            .map(|(_, dictionary)| dictionary)
    }

    /// Whether any dictionary knows the word as written (a lowercase entry also knows its
    /// capitalised and upper-case forms; `DNA` does not make `dna` a word). A hyphenated word is
    /// known when each of its parts is.
    pub fn knows(&self, word: &str) -> bool {
        if word.is_empty() || word.chars().count() > spellbook::MAX_WORD_LEN {
            return false;
        }
        self.all().any(|dictionary| dictionary.check(word))
    }

    /// Spelling suggestions for a non-word: single words, nearest first, each once.
    pub fn suggest(&self, word: &str) -> Vec<String> {
        if word.is_empty() || word.chars().count() > spellbook::MAX_WORD_LEN {
            return Vec::new();
        }
        let mut suggestions: Vec<String> = Vec::new();
        let mut found = Vec::new();
        for dictionary in self.all() {
            dictionary.suggest(word, &mut found);
            for suggestion in found.drain(..).take(SUGGESTIONS_PER_DICTIONARY) {
                if !suggestion.contains(' ') && !suggestions.contains(&suggestion) {
                    suggestions.push(suggestion);
                }
            }
        }
        suggestions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_dictionaries_know_english_words_in_both_spellings() {
        let dictionaries = SpellingDictionaries::default();
        for word in [
            "anything",
            "infraction",
            "prostrate",
            "foresee",
            "decoder",
            "reusable",
            "hurdles",
            "immensely",
            "privacy",
            "wrapper",
            "Introduction",
            "tumour",
            "tumor",
            "haemoglobin",
            "hemoglobin",
            "well-known",
            "DNA",
        ] {
            assert!(dictionaries.knows(word), "{word}");
        }
    }

    #[test]
    fn non_words_are_unknown_and_get_suggestions() {
        let dictionaries = SpellingDictionaries::default();
        for (word, expected) in [("vfar", "far"), ("cary", "carry"), ("dicrease", "decrease")] {
            assert!(!dictionaries.knows(word), "{word}");
            let suggestions = dictionaries.suggest(word);
            assert!(
                suggestions.iter().any(|s| s == expected),
                "{word}: {suggestions:?}"
            );
        }
        assert!(!dictionaries.knows("phyloseq"));
        assert!(!dictionaries.knows("dna"), "DNA is written in capitals");
    }

    #[test]
    fn suggestions_are_the_same_on_every_run() {
        let first = SpellingDictionaries::default().suggest("Sierological");
        let again = parse_dictionary("en_US", BUNDLED_AFFIX_US, BUNDLED_WORDS_US).unwrap();
        let mut found = Vec::new();
        again.suggest("Sierological", &mut found);
        assert!(!first.is_empty());
        assert_eq!(first.first(), found.first());
    }

    #[test]
    fn a_broken_dictionary_is_an_error_that_names_it() {
        let error = parse_dictionary("broken.dic", "FLAG long\n", "1\nword/\u{1}\n")
            .err()
            .map(|error| error.to_string());
        if let Some(error) = error {
            assert!(error.contains("broken.dic"), "{error}");
        }
    }
}

/// Which spelling convention a word belongs to, by the bundled dictionaries: `Some("en_US")` when
/// only en_US knows it (`tumor`), `Some("en_GB")` when only en_GB does (`tumour`), `None` when
/// both or neither do.
pub fn spelling_convention(word: &str) -> Option<&'static str> {
    let bundled = bundled_dictionaries();
    let knows = |name: &str| {
        bundled
            .iter()
            .any(|(dictionary_name, dictionary)| dictionary_name == name && dictionary.check(word))
    };
    match (knows("en_US"), knows("en_GB")) {
        (true, false) => Some("en_US"),
        (false, true) => Some("en_GB"),
        _ => None,
    }
}
