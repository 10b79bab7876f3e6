//! Regular English morphology the terminology check needs: whether two words are forms of one
//! word (an inflection, a British/American spelling) or one stem with another prefix
//! (`feasible`/`infeasible`, `unsure`/`ensure`), and whether an unknown word is a known word
//! with a regular prefix or suffix. String rules on lower-cased words; the caller says which words
//! are known.

/// Regular suffixes that make another form of the same word: plural and verb forms, comparatives
/// and agent nouns, adverbs. A word and its form differ in number, tense or degree — a grammar
/// choice, not a wrong term.
const SUFFIXES: [&str; 9] = ["s", "es", "d", "ed", "ing", "r", "er", "st", "ly"];

/// Prefixes that make a new word from a known one (`unmeasured`, `cosegregating`, `nonsignificant`).
const PREFIXES: [&str; 26] = [
    "un", "non", "co", "re", "pre", "post", "sub", "inter", "intra", "over", "under", "anti",
    "multi", "pseudo", "hyper", "hypo", "mis", "dis", "semi", "poly", "micro", "macro", "trans",
    "auto", "counter", "proto",
];

/// Prefixes that turn a word into its opposite or a related word (`frequent`/`infrequent`,
/// `create`/`recreate`): besides [`PREFIXES`], the negating `in-` and its assimilated forms.
const MEANING_PREFIXES: [&str; 5] = ["in", "im", "il", "ir", "de"];

/// The shortest stem a prefix may leave (so that `re` + `ad` does not count).
const MIN_STEM_LENGTH: usize = 4;

/// Whether `form` is `base` with a regular suffix (also with a final `e` dropped before `-ing`/
/// `-ed`/`-er`, or `y` turned into `i`), so that one is an inflection of the other.
fn is_suffixed_form(form: &str, base: &str) -> bool {
    let Some(rest) = form.strip_prefix(base) else {
        // Final e dropped (simulate → simulating) or y turned into i (study → studies).
        return base.strip_suffix('e').is_some_and(|stem| {
            form.strip_prefix(stem)
                .is_some_and(|suffix| ["ing", "ed", "er", "est"].contains(&suffix))
        }) || base.strip_suffix('y').is_some_and(|stem| {
            form.strip_prefix(stem)
                .and_then(|rest| rest.strip_prefix('i'))
                .is_some_and(|suffix| ["es", "ed", "er", "est", "ly"].contains(&suffix))
        });
    };
    SUFFIXES.contains(&rest)
}

/// Whether one of two different words is a regular inflection of the other (`roles`/`role`).
pub fn are_inflections(a: &str, b: &str) -> bool {
    let a = a.to_lowercase();
    let b = b.to_lowercase();
    a != b && (is_suffixed_form(&a, &b) || is_suffixed_form(&b, &a))
}

/// Prefixes that negate (`unsure`, `inactive`, `disorder`).
const NEGATING_PREFIXES: [&str; 8] = ["un", "non", "in", "im", "il", "ir", "dis", "mis"];

/// Prefixes a negation may stand for on the same stem (`unsure`/`ensure`, `unable`/`enable`).
const OTHER_PREFIXES_OF_A_STEM: [&str; 4] = ["en", "em", "ex", "re"];

/// Whether one of two words is the other with a prefix (`infeasible`/`feasible`), or a negation
/// of the stem the other has another prefix on (`unsure`/`ensure`): a choice of meaning the
/// writer made, which no language model can overrule.
pub fn are_prefix_derivations(a: &str, b: &str) -> bool {
    let a = a.to_lowercase();
    let b = b.to_lowercase();
    let prefixed = |longer: &str, shorter: &str| {
        shorter.chars().count() >= MIN_STEM_LENGTH
            && PREFIXES.iter().chain(&MEANING_PREFIXES).any(|prefix| {
                longer
                    .strip_prefix(prefix)
                    .is_some_and(|stem| stem == shorter || stem.strip_prefix('-') == Some(shorter))
            })
    };
    let negation_for_another_prefix = |negated: &str, other: &str| {
        NEGATING_PREFIXES.iter().any(|negation| {
            negated.strip_prefix(negation).is_some_and(|stem| {
                stem.chars().count() >= MIN_STEM_LENGTH
                    && OTHER_PREFIXES_OF_A_STEM
                        .iter()
                        .chain(&PREFIXES)
                        .chain(&MEANING_PREFIXES)
                        .any(|prefix| {
                            prefix != negation && other.strip_prefix(prefix) == Some(stem)
                        })
            })
        })
    };
    a != b
        && (prefixed(&a, &b)
            || prefixed(&b, &a)
            || negation_for_another_prefix(&a, &b)
            || negation_for_another_prefix(&b, &a))
}

/// Whether two different words are British and American spellings of one word (`tumour`/`tumor`,
/// `haem`/`hem`, `-ise`/`-ize`). Only meaningful between real words: a misspelling such as
/// `sorce` has the same key as `source`.
pub fn are_spelling_variants(a: &str, b: &str) -> bool {
    let a = a.to_lowercase();
    let b = b.to_lowercase();
    a != b && american(&a) == american(&b)
}

/// What may follow the `our` of a British `-our` word (`tumour`, `colourless`, `tumourigenesis`).
const OUR_ENDINGS: [&str; 19] = [
    "", "s", "al", "ally", "ed", "ing", "able", "ably", "ite", "ites", "ful", "less", "ist",
    "ists", "ism", "igenesis", "igenic", "er", "ers",
];

/// What may follow the `is`/`ys` of a British `-ise`/`-yse` word (`hybridisation`, `analysed`).
const ISE_ENDINGS: [&str; 8] = ["e", "es", "ed", "ing", "er", "ers", "ation", "ations"];

/// A spelling with the regular British forms turned American (a comparison key, not a word).
/// Each rule is anchored where the British form lives, so that unrelated words keep apart:
/// `-our` after two letters at least and before a suffix (not `four`/`for`, `tour`/`tor`), `-ise`
/// and `-yse` with their suffixes after a stem of three letters (not `prise`/`prize`), `ae`/`oe`
/// inside a word and not in a plural or past ending (not `shoe`/`she`, `canoes`/`canes`; `oe`
/// only in words of six letters or more, not `poet`/`pet`), and a final `-tre`/`-tres`.
fn american(word: &str) -> String {
    let mut spelled = word.to_string();
    if let Some(start) = (2..spelled.len().saturating_sub(2))
        .rev()
        .filter(|&start| spelled.is_char_boundary(start))
        .find(|&start| {
            spelled[start..].starts_with("our") && OUR_ENDINGS.contains(&&spelled[start + 3..])
        })
    {
        spelled.replace_range(start..start + 3, "or");
    }
    for (british, american) in [("is", "iz"), ("ys", "yz")] {
        let ise_start = ISE_ENDINGS.iter().find_map(|ending| {
            let stem = spelled.strip_suffix(ending)?.strip_suffix(british)?;
            (stem.chars().count() >= 3).then_some(stem.len())
        });
        if let Some(start) = ise_start {
            spelled.replace_range(start..start + 2, american);
        }
    }
    for (digraph, min_word_length) in [("ae", 4), ("oe", 6)] {
        if spelled.chars().count() < min_word_length {
            continue;
        }
        let mut key = String::with_capacity(spelled.len());
        let mut rest = spelled.as_str();
        while let Some(found) = rest.find(digraph) {
            let after = &rest[found + 2..];
            let inside = !after.is_empty() && !matches!(after, "s" | "d");
            key.push_str(&rest[..found]);
            key.push_str(if inside { "e" } else { digraph });
            rest = after;
        }
        key.push_str(rest);
        spelled = key;
    }
    for (british, american) in [("tre", "ter"), ("tres", "ters")] {
        if let Some(stem) = spelled.strip_suffix(british) {
            spelled = format!("{stem}{american}");
            break;
        }
    }
    spelled
}

/// Whether a word the lexicon lacks is made regularly from one it has: a known word with a
/// regular suffix (`pseudogenes`), a regular prefix (`unmeasured`), both, or the British spelling
/// of a known word (`haemangioblastoma`).
pub fn is_regular_derivative(word: &str, is_known: &dyn Fn(&str) -> bool) -> bool {
    let word = word.to_lowercase();
    let known_or_inflected = |candidate: &str| {
        is_known(candidate)
            || inflection_bases(candidate)
                .iter()
                .any(|base| is_known(base))
    };
    let american_spelling = american(&word);
    if american_spelling != word && known_or_inflected(&american_spelling) {
        return true;
    }
    if inflection_bases(&word).iter().any(|base| is_known(base)) {
        return true;
    }
    PREFIXES.iter().any(|prefix| {
        word.strip_prefix(prefix).is_some_and(|stem| {
            let stem = stem.strip_prefix('-').unwrap_or(stem);
            stem.chars().count() >= MIN_STEM_LENGTH && known_or_inflected(stem)
        })
    })
}

/// The words `form` could be a regular inflection of.
fn inflection_bases(form: &str) -> Vec<String> {
    let mut bases = Vec::new();
    for suffix in SUFFIXES {
        if let Some(stem) = form.strip_suffix(suffix) {
            if stem.chars().count() >= MIN_STEM_LENGTH - 1 {
                bases.push(stem.to_string());
                if ["ing", "ed", "er", "est"].contains(&suffix) {
                    bases.push(format!("{stem}e"));
                }
                if let Some(i_stem) = stem.strip_suffix('i') {
                    bases.push(format!("{i_stem}y"));
                }
                // An adjective in -le makes its adverb in -ly (reproducible → reproducibly,
                // simple → simply).
                if suffix == "ly" {
                    bases.push(format!("{stem}le"));
                }
            }
        }
    }
    bases
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflections_and_spelling_variants() {
        let inflections = [
            ("roles", "role"),
            ("kinases", "kinase"),
            ("remain", "remains"),
            ("simpler", "simple"),
            ("studies", "study"),
            ("simulating", "simulate"),
            ("significantly", "significant"),
        ];
        for (a, b) in inflections {
            assert!(are_inflections(a, b), "{a} / {b}");
            assert!(are_inflections(b, a), "{b} / {a}");
        }
        let variants = [
            ("tumourigenesis", "tumorigenesis"),
            ("hybridisation", "hybridization"),
            ("haemangioblastoma", "hemangioblastoma"),
            ("phaeochromocytoma", "pheochromocytoma"),
            ("analysed", "analyzed"),
            ("centre", "center"),
            ("colours", "colors"),
            ("behavioural", "behavioral"),
            ("oedema", "edema"),
            ("diarrhoea", "diarrhea"),
            ("foetus", "fetus"),
            ("anaemia", "anemia"),
            ("paralysing", "paralyzing"),
            ("organisations", "organizations"),
            ("litres", "liters"),
        ];
        for (a, b) in variants {
            assert!(are_spelling_variants(a, b), "{a} / {b}");
            assert!(!are_inflections(a, b), "{a} / {b}");
        }
        let different = [
            ("infraction", "infarction"),
            ("prostrate", "prostate"),
            ("ilium", "ileum"),
            ("affect", "effect"),
            ("mice", "mouse"),
            ("diagnosis", "diagnoses"),
            ("cell", "sell"),
            ("addition", "edition"),
            ("role", "role"),
            // Real confusions that substring rewrites used to hide.
            ("four", "for"),
            ("poet", "pet"),
            ("shoe", "she"),
            ("tour", "tor"),
            ("canoes", "canes"),
            ("prise", "prize"),
            ("pour", "por"),
        ];
        for (a, b) in different {
            assert!(!are_inflections(a, b), "{a} / {b}");
            assert!(!are_spelling_variants(a, b), "{a} / {b}");
        }
    }

    #[test]
    fn prefix_derivations() {
        for (a, b) in [
            ("infrequent", "frequent"),
            ("recreate", "create"),
            ("unmeasured", "measured"),
            ("impractical", "practical"),
            ("non-coding", "coding"),
            ("unsure", "ensure"),
            ("unable", "enable"),
            ("inactive", "reactive"),
        ] {
            assert!(are_prefix_derivations(a, b), "{a} / {b}");
            assert!(are_prefix_derivations(b, a), "{b} / {a}");
        }
        for (a, b) in [
            ("infer", "fer"),
            ("inter", "enter"),
            ("addition", "edition"),
            ("unite", "inite"),
            ("infection", "affection"),
        ] {
            assert!(!are_prefix_derivations(a, b), "{a} / {b}");
        }
    }

    #[test]
    fn regular_derivatives_of_known_words() {
        let known = [
            "measured",
            "annotated",
            "segregate",
            "pseudogene",
            "significant",
            "oncogene",
            "describe",
            "testable",
            "hemangioblastoma",
            "source",
            "reproducible",
            "simple",
            "reliable",
        ];
        let is_known = |word: &str| known.contains(&word);
        for word in [
            "unmeasured",
            "unannotated",
            "cosegregating",
            "pseudogenes",
            "nonsignificant",
            "non-significant",
            "protooncogenes",
            "undescribed",
            "untestable",
            "haemangioblastomas",
            "reproducibly",
            "unreliably",
            "simply",
        ] {
            assert!(is_regular_derivative(word, &is_known), "{word}");
        }
        for word in [
            "bisulfite",
            "apopain",
            "infraction",
            "unxyz",
            "reads",
            "sorce",
            "reproducibley",
            "simplly",
        ] {
            assert!(!is_regular_derivative(word, &is_known), "{word}");
        }
    }
}
