//! How a probability and a proposed word are written for a person, the same in diagnostics,
//! hovers, completion details and the command line.

/// Two decimals down to 0.01, four down to 0.0001, then scientific notation (`8.4e-15`).
pub fn format_probability(probability: f32) -> String {
    if probability >= 0.01 {
        format!("{probability:.2}")
    } else if probability >= 0.0001 {
        format!("{probability:.4}")
    } else {
        format!("{probability:.1e}")
    }
}

/// Writes a lowercase word the way `original` (a written word, or the prefix typed so far) is
/// capitalised: all capitals when it has two or more letters all capital, a capital first letter
/// when it starts with one, else as it is.
pub fn match_case(word: &str, original: &str) -> String {
    let mut original_chars = original.chars();
    match original_chars.next() {
        Some(first) if first.is_uppercase() => {
            if original.chars().count() > 1 && original.chars().all(char::is_uppercase) {
                return word.to_uppercase();
            }
            let mut chars = word.chars();
            match chars.next() {
                Some(c) => c.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        }
        _ => word.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_and_cases_are_written_one_way() {
        let cases = [
            (0.564, "0.56"),
            (0.01, "0.01"),
            (0.00461, "0.0046"),
            (0.0001, "0.0001"),
            (8.4e-15, "8.4e-15"),
        ];
        for (probability, written) in cases {
            assert_eq!(format_probability(probability), written);
        }
        assert_eq!(match_case("infarction", "infraction"), "infarction");
        assert_eq!(match_case("infarction", "Inf"), "Infarction");
        assert_eq!(match_case("infarction", "I"), "Infarction");
        assert_eq!(match_case("infarction", "INFRACTION"), "INFARCTION");
        assert_eq!(match_case("", "Inf"), "");
    }
}

/// A share of the evidence as a whole percentage (`41 %`; under 1 % as `<1 %`).
pub fn format_share(weight: f32) -> String {
    let percent = (weight * 100.0).round();
    if percent < 1.0 {
        "<1 %".to_string()
    } else {
        format!("{percent:.0} %")
    }
}

/// The evidence of an expectation on one line: `myocardial 41 %, troponin 22 %`.
pub fn evidence_line(words: &[crate::model::EvidenceWord]) -> String {
    words
        .iter()
        .map(|word| format!("{} {}", word.word, format_share(word.weight)))
        .collect::<Vec<_>>()
        .join(", ")
}
