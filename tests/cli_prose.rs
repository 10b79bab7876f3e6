//! The `prose` command through the built binary: what the checker sees, with byte ranges.

use std::process::Command;

fn prose(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_biomed-lsp"))
        .arg("prose")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn latex_prose_as_json_maps_back_to_the_source() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("paper.tex");
    let source = "\\documentclass{article}\n\\begin{document}\nMyocardial infarction was confirmed \\cite{smith2020}. % a comment\nWe measured $x^2$ in E. coli.\n\\end{document}\n";
    std::fs::write(&path, source).unwrap();
    let output = prose(&["--format", "json", path.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let sentences = json["sentences"].as_array().unwrap();
    let texts: Vec<&str> = sentences
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Myocardial infarction was confirmed.",
            "We measured X in E. coli."
        ]
    );
    let first = &sentences[0];
    let (start, end) = (
        first["start"].as_u64().unwrap() as usize,
        first["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(
        &source[start..end],
        "Myocardial infarction was confirmed \\cite{smith2020}."
    );
}

#[test]
fn language_override_and_errors() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("notes.txt");
    std::fs::write(&path, "A $x$ stays.\n").unwrap();
    let plain = prose(&[path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&plain.stdout).contains("A $x$ stays."));
    let markdown = prose(&["--language", "markdown", path.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&markdown.stdout).contains("A X stays."),
        "{}",
        String::from_utf8_lossy(&markdown.stdout)
    );

    let binary = directory.path().join("figure.md");
    std::fs::write(&binary, [0x89u8, 0x50, 0x4e, 0x47, 0xff, 0x00]).unwrap();
    let output = prose(&[binary.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("figure.md is not UTF-8 text"));

    let output = prose(&["--language", "klingon", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("klingon"));
}
