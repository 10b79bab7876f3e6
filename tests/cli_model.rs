//! The `fill`, `tokenize` and (for the 8-bit kernels and `--entities`) `check` commands through
//! the built binary, on the bundled mini model.

use std::process::{Command, Output};

fn biomed_lsp(args: &[&str]) -> Output {
    biomed_lsp_with(args, &[])
}

fn biomed_lsp_with(args: &[&str], environment: &[(&str, &str)]) -> Output {
    let empty_cache = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_biomed-lsp"))
        .args(args)
        .env("HF_HUB_CACHE", empty_cache.path())
        .env_remove("HF_HUB_OFFLINE")
        .env_remove(biomed_lsp::model::int8::KERNEL_VARIABLE)
        .envs(environment.iter().copied())
        .output()
        .unwrap()
}

fn stdout_json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn fill_prints_whole_words_with_sorted_probabilities_as_json() {
    let output = biomed_lsp(&[
        "fill",
        "Acute myocardial [MASK] was confirmed by troponin.",
        "--model",
        "bundled",
        "--format",
        "json",
        "--top-k",
        "7",
    ]);
    let json = stdout_json(&output);
    let masks = json["masks"].as_array().unwrap();
    assert_eq!(masks.len(), 1);
    let predictions = masks[0]["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 7);
    let probabilities: Vec<f64> = predictions
        .iter()
        .map(|p| p["probability"].as_f64().unwrap())
        .collect();
    assert!(
        probabilities.windows(2).all(|pair| pair[0] >= pair[1]),
        "{probabilities:?}"
    );
    assert!(probabilities.iter().all(|&p| p > 0.0 && p <= 1.0));
    for prediction in predictions {
        let word = prediction["word"].as_str().unwrap();
        assert!(
            !word.is_empty() && !word.starts_with("##") && !word.starts_with('['),
            "{word}"
        );
    }
}

#[test]
fn fill_reports_one_entry_per_mask_group() {
    let output = biomed_lsp(&[
        "fill",
        "The [MASK] of [MASK] [MASK] was high.",
        "--model",
        "bundled",
        "--format",
        "json",
    ]);
    let json = stdout_json(&output);
    let masks = json["masks"].as_array().unwrap();
    assert_eq!(masks.len(), 2);
    assert!(
        !masks[1]["predictions"].as_array().unwrap().is_empty(),
        "{json}"
    );
    for prediction in masks[1]["predictions"].as_array().unwrap() {
        assert_eq!(
            prediction["pieces"].as_array().unwrap().len(),
            2,
            "a group of two masks is a two-piece word"
        );
    }
}

#[test]
fn fill_explain_gives_each_proposed_word_its_evidence() {
    let text = "Type 2 diabetes [MASK] is a risk factor for cardiovascular disease.";
    let output = biomed_lsp(&[
        "fill",
        text,
        "--model",
        "bundled",
        "--format",
        "json",
        "--top-k",
        "3",
        "--explain",
    ]);
    let json = stdout_json(&output);
    let predictions = json["masks"][0]["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 3);
    for prediction in predictions {
        let evidence = prediction["evidence"].as_array().unwrap();
        assert!(!evidence.is_empty() && evidence.len() <= 3, "{prediction}");
        for word in evidence {
            assert_eq!(word["line"], 1);
            let column = word["column"].as_u64().unwrap() as usize;
            let name = word["word"].as_str().unwrap();
            assert_eq!(&text[column - 1..column - 1 + name.len()], name, "{word}");
            assert!(!["[MASK]", "MASK"].contains(&name));
        }
    }
    // Text: an evidence line under each word.
    let output = biomed_lsp(&[
        "fill",
        text,
        "--model",
        "bundled",
        "--top-k",
        "2",
        "--explain=attention",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.matches("evidence: ").count(), 2, "{stdout}");
}

#[test]
fn fill_without_a_mask_is_an_error_with_status_2() {
    let output = biomed_lsp(&["fill", "no mask here", "--model", "bundled"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no [MASK]"));
}

#[test]
fn a_missing_model_directory_is_an_error_not_a_fallback() {
    let output = biomed_lsp(&["fill", "a [MASK]", "--model", "./no/such/model"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no/such/model") && stderr.contains("does not exist"),
        "{stderr}"
    );
}

#[test]
fn offline_without_the_model_in_cache_falls_back_loudly() {
    let output = biomed_lsp(&[
        "fill",
        "Type 2 [MASK] mellitus.",
        "--offline",
        "--top-k",
        "3",
    ]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning")
            && stderr.contains("bundled mini model")
            && stderr.contains("fetch-model"),
        "{stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 3);
}

#[test]
fn tokenize_shows_pieces_and_whether_a_word_is_one_token() {
    let output = biomed_lsp(&[
        "tokenize",
        "acetylcholinesterase inhibitors and myocardial infraction",
        "--model",
        "bundled",
        "--format",
        "json",
    ]);
    let json = stdout_json(&output);
    let words = json["words"].as_array().unwrap();
    let texts: Vec<&str> = words.iter().map(|w| w["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        [
            "acetylcholinesterase",
            "inhibitors",
            "and",
            "myocardial",
            "infraction"
        ]
    );
    let infraction = &words[4];
    assert_eq!(
        infraction["pieces"],
        serde_json::json!(["infra", "##ct", "##ion"])
    );
    assert_eq!(infraction["in_vocabulary"], false);
    assert_eq!(words[3]["in_vocabulary"], true);
    assert_eq!(infraction["start"], 47);
    assert_eq!(infraction["end"], 57);
}

#[test]
fn tokenize_text_output_lists_each_word() {
    let output = biomed_lsp(&["tokenize", "IL-6", "--model", "bundled"]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().count(),
        3,
        "BERT's pre-tokenizer splits IL-6 into three words: {stdout}"
    );
}

#[test]
fn every_8_bit_kernel_gives_the_same_findings_and_names_itself() {
    use biomed_lsp::model::int8::{Kernel, KERNEL_VARIABLE};
    let check = |kernel: &str| {
        biomed_lsp_with(
            &[
                "check",
                "samples/manuscript.md",
                "--model",
                "bundled",
                "--precision",
                "q8",
                "--format",
                "json",
                "--fail-on",
                "none",
            ],
            &[(KERNEL_VARIABLE, kernel)],
        )
    };
    let reference = check("scalar");
    let reference_findings = stdout_json(&reference);
    assert!(
        String::from_utf8_lossy(&reference.stderr).contains("(q8 · scalar)"),
        "{}",
        String::from_utf8_lossy(&reference.stderr)
    );
    // Capped at each kernel, the CPU runs that kernel or the next one down, and the integer
    // sums are the same in every kernel: the findings are the same to the byte.
    for cap in Kernel::ALL {
        let output = check(cap.name());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let runs = Kernel::fastest_up_to(cap).name();
        assert!(
            stderr.contains(&format!("(q8 · {runs})")),
            "capped at {}: {stderr}",
            cap.name()
        );
        assert_eq!(
            stdout_json(&output),
            reference_findings,
            "capped at {}",
            cap.name()
        );
    }
    // A cap that names no kernel is an error that says so, not a silent default.
    let output = check("avx9");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("BIOMED_LSP_INT8_KERNEL=\"avx9\" is not an 8-bit kernel"),
        "{stderr}"
    );
}

#[test]
fn check_lists_entities_for_pipelines_and_says_when_there_is_no_entity_model() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("results.md");
    std::fs::write(
        &path,
        "# Results\n\nPatients with Duchenne muscular dystrophy were excluded.\n",
    )
    .unwrap();
    let path = path.to_str().unwrap();
    let check = |extra: &[&str]| {
        let mut args = vec![
            "check",
            path,
            "--model",
            "bundled",
            "--fail-on",
            "none",
            "--entities",
        ];
        args.extend_from_slice(extra);
        biomed_lsp(&args)
    };
    let report = stdout_json(&check(&["--format", "json"]));
    let entities = report["entities"].as_array().expect("an entities array");
    assert!(
        entities.iter().any(|entity| entity
            == &serde_json::json!({"path": path, "line": 3, "column": 15, "end_line": 3,
                "end_column": 42, "label": "Disease", "text": "Duchenne muscular dystrophy"})),
        "{report}"
    );
    assert!(report["findings"].is_array());
    let text = check(&[]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains(&format!(
            "{path}:3:15: entity: Disease: Duchenne muscular dystrophy"
        )),
        "{text:?}"
    );
    // Without --entities the report is as before: no entities key.
    let plain = stdout_json(&biomed_lsp(&[
        "check",
        path,
        "--model",
        "bundled",
        "--fail-on",
        "none",
        "--format",
        "json",
    ]));
    assert!(plain.get("entities").is_none(), "{plain}");
    // No entity model: an error that says why, status 2 (`--ner-model` is the same option).
    let output = check(&["--ner-model", "off"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--entities: no entity model is loaded"),
        "{stderr}"
    );
}
