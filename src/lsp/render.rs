//! Text shown in completion items (the hover's is the analysis layer's: `analysis::hover`).

use crate::analysis::wording::format_probability;

pub fn completion_detail(probability: f32, display_name: &str) -> String {
    format!("p = {} · {}", format_probability(probability), display_name)
}
