//! Text shown in completion items (the hover's is the analysis layer's: `analysis::hover`).

use crate::analysis::wording::format_probability;

/// A completion item's detail: its probability among the words starting with the typed letters,
/// how often the document uses it, and the model.
pub fn completion_detail(probability: f32, uses_in_document: u32, display_name: &str) -> String {
    let uses = match uses_in_document {
        0 => String::new(),
        1 => " · used once here".to_string(),
        n => format!(" · used {n}× here"),
    };
    format!(
        "p = {}{uses} · {}",
        format_probability(probability),
        display_name
    )
}
