//! Abbreviation and term-variant findings through `check --format json` (codes, places, related
//! definitions and fixes, on a manuscript that gets them wrong and on the same text written
//! consistently) and in an editor session (related information, the fix at every place, hover and
//! go-to-definition of an abbreviation, LaTeX acronym packages).

#[path = "support/lsp_client.rs"]
mod lsp_client;

use lsp_client::{LspClient, DEFAULT_TIMEOUT};
use serde_json::{json, Value};

const INCONSISTENT: &str = "# Results\n\
\n\
Serum CRP was raised at admission in most patients.\n\
\n\
C-reactive protein (CRP) was measured again after a week.\n\
\n\
Echocardiography measured the left ventricular ejection fraction (LVEF).\n\
\n\
A low left ventricular ejection fraction (LVEF) predicted death.\n\
\n\
Brain natriuretic peptide (BNP) was not measured again.\n\
\n\
The C-reactive protein fell after treatment, and so did LVEF.\n";

const CONSISTENT: &str = "# Results\n\
\n\
Serum C-reactive protein (CRP) was raised at admission in most patients.\n\
\n\
CRP was measured again after a week.\n\
\n\
Echocardiography measured the left ventricular ejection fraction (LVEF).\n\
\n\
A low LVEF predicted death.\n\
\n\
Brain natriuretic peptide was not measured again.\n\
\n\
CRP fell after treatment, and so did LVEF.\n";

/// `check --format json` on `files` (name, text) written into a fresh folder, in that order: the
/// findings whose code starts with `code_prefix`.
fn check_files(files: &[(&str, &str)], code_prefix: &str) -> Vec<Value> {
    check_files_with(files, code_prefix, &[])
}

/// [`check_files`] with settings given as `--set KEY=VALUE`.
fn check_files_with(files: &[(&str, &str)], code_prefix: &str, set: &[&str]) -> Vec<Value> {
    check_files_beside(files, &[], code_prefix, set)
}

/// [`check_files_with`], with `beside` written into the same folder but not given to `check`.
fn check_files_beside(
    files: &[(&str, &str)],
    beside: &[(&str, &str)],
    code_prefix: &str,
    set: &[&str],
) -> Vec<Value> {
    let folder = tempfile::tempdir().expect("a folder");
    for (name, text) in beside {
        std::fs::write(folder.path().join(name), text).expect("write");
    }
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_biomed-lsp"));
    command.args([
        "check",
        "--model",
        "bundled",
        "--format",
        "json",
        "--fail-on",
        "none",
    ]);
    for setting in set {
        command.args(["--set", setting]);
    }
    for (name, text) in files {
        let path = folder.path().join(name);
        std::fs::write(&path, text).expect("write");
        command.arg(&path);
    }
    let output = command
        .env("XDG_CONFIG_HOME", folder.path())
        .output()
        .expect("run check");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|finding| {
            finding["code"]
                .as_str()
                .is_some_and(|code| code.starts_with(code_prefix))
        })
        .cloned()
        .collect()
}

fn check(text: &str) -> Vec<Value> {
    check_files(&[("results.md", text)], "abbreviation-")
}

#[test]
fn an_inconsistent_manuscript_gets_each_abbreviation_finding_with_its_place_and_fix() {
    let findings = check(INCONSISTENT);
    let summary: Vec<(String, String, u64)> = findings
        .iter()
        .map(|finding| {
            (
                finding["code"].as_str().unwrap_or_default().to_string(),
                finding["word"].as_str().unwrap_or_default().to_string(),
                finding["line"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let expected = [
        ("abbreviation-before-definition", "CRP", 3),
        ("abbreviation-redefined", "LVEF", 9),
        ("abbreviation-unused", "BNP", 11),
        ("abbreviation-long-form", "CRP", 13),
    ]
    .map(|(code, word, line)| (code.to_string(), word.to_string(), line));
    assert_eq!(summary, expected);

    // The use before the definition points to the definition, on line 5.
    assert_eq!(findings[0]["related"][0]["line"], 5, "{}", findings[0]);
    // The second definition's fix is the abbreviation alone; the unused one's the long form.
    assert_eq!(findings[1]["suggestions"][0], "LVEF");
    assert_eq!(findings[1]["column"], 7);
    assert_eq!(findings[2]["suggestions"][0], "Brain natriuretic peptide");
    assert_eq!(findings[3]["suggestions"][0], "CRP");
}

#[test]
fn the_same_text_written_consistently_gets_none() {
    assert_eq!(check(CONSISTENT), Vec::<Value>::new());
}

/// An editor session on a fresh workspace with the bundled model loaded; `file` (name, text)
/// opened in it as Markdown. Returns the client, the workspace (kept alive) and the file's URI.
fn editor_with(file: (&str, &str)) -> (LspClient, tempfile::TempDir, String) {
    editor_beside(file, &[])
}

/// [`editor_with`], with `beside` written into the workspace folder but not opened.
fn editor_beside(
    file: (&str, &str),
    beside: &[(&str, &str)],
) -> (LspClient, tempfile::TempDir, String) {
    let workspace = tempfile::tempdir().expect("a workspace");
    for (name, text) in beside {
        std::fs::write(workspace.path().join(name), text).expect("write");
    }
    let mut client = LspClient::spawn(
        env!("CARGO_BIN_EXE_biomed-lsp"),
        &[("XDG_CONFIG_HOME", workspace.path().to_str().unwrap())],
    );
    client.configuration = json!({"model": "bundled", "diagnostics": {"debounceMs": 50}});
    let root = format!("file://{}", workspace.path().display());
    client.request(
        "initialize",
        json!({"processId": std::process::id(), "rootUri": root, "capabilities": {
            "workspace": {"configuration": true}, "window": {"workDoneProgress": true},
            "textDocument": {"publishDiagnostics": {"relatedInformation": true}}}}),
    );
    client.notify("initialized", json!({}));
    client.wait_for_model_ready(DEFAULT_TIMEOUT);
    let uri = format!("{root}/{}", file.0);
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "markdown", "version": 1, "text": file.1}}),
    );
    (client, workspace, uri)
}

/// The first diagnostics published with a finding of `code`: all of that code.
fn published_with_code(client: &mut LspClient, code: &str) -> Vec<Value> {
    let has_code = |message: &Value| {
        message["method"] == "textDocument/publishDiagnostics"
            && message["params"]["diagnostics"]
                .as_array()
                .is_some_and(|all| all.iter().any(|d| d["code"] == code))
    };
    let published = client
        .wait_for(DEFAULT_TIMEOUT, has_code)
        .unwrap_or_else(|| panic!("no {code} finding published"));
    published["params"]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == code)
        .cloned()
        .collect()
}

#[test]
fn the_editor_gets_the_definition_as_related_information_and_the_fix() {
    let (mut client, _workspace, uri) = editor_with(("results.md", INCONSISTENT));
    let diagnostic = published_with_code(&mut client, "abbreviation-redefined")[0].clone();
    assert_eq!(
        diagnostic["range"]["start"],
        json!({"line": 8, "character": 6})
    );
    let related = &diagnostic["relatedInformation"][0];
    assert_eq!(
        related["location"]["range"]["start"]["line"], 6,
        "{diagnostic}"
    );
    assert!(related["message"]
        .as_str()
        .unwrap()
        .contains("first defined"));

    let response = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": diagnostic["range"], "context": {"diagnostics": [diagnostic]}}),
    );
    let actions = response["result"].as_array().unwrap();
    let titles: Vec<&str> = actions
        .iter()
        .map(|action| action["title"].as_str().unwrap())
        .collect();
    // The abbreviation alone, and no dictionary: it is not a spelling.
    assert_eq!(titles, ["Replace with \"LVEF\""], "{response}");
    let edit = &actions[0]["edit"]["changes"][&uri][0];
    assert_eq!(edit["newText"], "LVEF");
}

#[test]
fn hover_shows_an_abbreviations_long_form_and_go_to_definition_jumps_there() {
    let workspace = tempfile::tempdir().expect("a workspace");
    let mut client = LspClient::spawn(
        env!("CARGO_BIN_EXE_biomed-lsp"),
        &[("XDG_CONFIG_HOME", workspace.path().to_str().unwrap())],
    );
    client.configuration = json!({"model": "bundled"});
    let root = format!("file://{}", workspace.path().display());
    let response = client.request(
        "initialize",
        json!({"processId": std::process::id(), "rootUri": root, "capabilities": {}}),
    );
    assert_eq!(
        response["result"]["capabilities"]["definitionProvider"], true,
        "{response}"
    );
    client.notify("initialized", json!({}));
    let uri = format!("{root}/results.md");
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "markdown", "version": 1, "text": CONSISTENT}}),
    );
    // `CRP` on line 5 (0-based 4), defined on line 3 (0-based 2) at character 26.
    let at_use = json!({"textDocument": {"uri": uri}, "position": {"line": 4, "character": 1}});
    let hover = client.request("textDocument/hover", at_use.clone());
    let markdown = hover["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_default();
    assert!(
        markdown.contains("**CRP** = C-reactive protein") && markdown.contains("defined on line 3"),
        "{hover}"
    );
    let definition = client.request("textDocument/definition", at_use);
    assert_eq!(definition["result"]["uri"], uri.as_str(), "{definition}");
    assert_eq!(
        definition["result"]["range"],
        json!({"start": {"line": 2, "character": 26}, "end": {"line": 2, "character": 29}})
    );
    // On the definition itself the hover says so; a word that is no abbreviation has none.
    let hover = client.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 2, "character": 27}}),
    );
    assert!(
        hover["result"]["contents"]["value"]
            .as_str()
            .unwrap_or_default()
            .contains("defined here"),
        "{hover}"
    );
    let nothing = client.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": uri}, "position": {"line": 4, "character": 10}}),
    );
    assert_eq!(nothing["result"], Value::Null, "{nothing}");

    // In LaTeX, an abbreviation declared with the acronym package: its declaration.
    let tex = format!("{root}/paper.tex");
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": tex, "languageId": "latex", "version": 1,
            "text": acronym_manuscript("\\acro{CRP}{C-reactive protein}")}}),
    );
    // Line 7 (0-based 6): `Serum \ac{CRP} was raised`, CRP at character 10.
    let at_use = json!({"textDocument": {"uri": tex}, "position": {"line": 6, "character": 11}});
    let hover = client.request("textDocument/hover", at_use.clone());
    assert!(
        hover["result"]["contents"]["value"]
            .as_str()
            .unwrap_or_default()
            .contains("**CRP** = C-reactive protein · *defined on line 5*"),
        "{hover}"
    );
    let definition = client.request("textDocument/definition", at_use);
    assert_eq!(
        definition["result"]["range"]["start"],
        json!({"line": 4, "character": 0}),
        "{definition}"
    );
}

/// A LaTeX manuscript using the acronym package; `{declaration}` is put in its acronym list.
fn acronym_manuscript(declaration: &str) -> String {
    format!(
        "\\documentclass{{article}}\n\\usepackage{{acronym}}\n\\begin{{document}}\n\
         \\begin{{acronym}}\n{declaration}\n\\end{{acronym}}\n\
         Serum \\ac{{CRP}} was raised at admission.\n\n\
         Later the C-reactive protein (CRP) fell, and LVEF was low.\n\n\
         The left ventricular ejection fraction (LVEF) was measured again.\n\
         \\end{{document}}\n"
    )
}

#[test]
fn an_abbreviation_declared_with_the_acronym_package_is_defined_everywhere() {
    let declared = check_files(
        &[(
            "paper.tex",
            &acronym_manuscript("\\acro{CRP}{C-reactive protein}"),
        )],
        "abbreviation-",
    );
    let undeclared = check_files(
        &[("paper.tex", &acronym_manuscript("% none"))],
        "abbreviation-",
    );
    let about = |findings: &[Value], short: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|finding| finding["message"].as_str().unwrap().starts_with(short))
            .map(|finding| finding["code"].as_str().unwrap().to_string())
            .collect()
    };
    // `\ac{CRP}` reads as CRP: used before the prose defines it, unless the package declares it.
    assert_eq!(
        about(&undeclared, "CRP"),
        ["abbreviation-before-definition"]
    );
    assert!(about(&declared, "CRP").is_empty(), "{declared:?}");
    // An abbreviation the package does not declare is checked as before.
    assert_eq!(about(&declared, "LVEF"), ["abbreviation-before-definition"]);
}

#[test]
fn the_fix_of_a_variant_writes_the_majority_form_at_every_place_at_once() {
    let text = "The tumor grew in the first month.\n\nThe tumor shrank after treatment.\n\n\
                The tumor was removed.\n\nA second tumour appeared in the liver.\n\n\
                That tumour was small.\n";
    let (mut client, _workspace, uri) = editor_with(("variants.md", text));
    let variants = published_with_code(&mut client, "term-variant");
    // One finding for the minority form, at its first place.
    assert_eq!(variants.len(), 1, "{variants:?}");
    let diagnostic = &variants[0];
    assert_eq!(
        diagnostic["range"]["start"],
        json!({"line": 6, "character": 9})
    );
    let response = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": diagnostic["range"], "context": {"diagnostics": [diagnostic]}}),
    );
    let action = &response["result"][0];
    assert_eq!(
        action["title"], "Replace with \"tumor\" at all 2 places",
        "{response}"
    );
    let edits = action["edit"]["changes"][&uri].as_array().unwrap();
    let starts: Vec<&Value> = edits.iter().map(|edit| &edit["range"]["start"]).collect();
    assert_eq!(
        starts,
        [
            &json!({"line": 6, "character": 9}),
            &json!({"line": 8, "character": 5})
        ]
    );
    assert!(edits.iter().all(|edit| edit["newText"] == "tumor"));
}

#[test]
fn the_files_of_one_check_are_one_manuscript() {
    let findings = check_files(
        &[
            (
                "01.intro.md",
                "Serum C-reactive protein (CRP) is raised in sepsis.\n\nThe LVEF was low in most patients.\n",
            ),
            (
                "02.methods.md",
                "CRP was measured daily.\n\nEchocardiography measured the left ventricular ejection fraction (LVEF).\n",
            ),
        ],
        "abbreviation-",
    );
    // CRP, defined in the first file, is used in the second: nothing to say. LVEF is used in the
    // first before the second defines it.
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["code"], "abbreviation-before-definition");
    assert_eq!(findings[0]["word"], "LVEF");
    assert!(findings[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("01.intro.md"));
    let related = &findings[0]["related"][0];
    assert!(
        related["path"].as_str().unwrap().ends_with("02.methods.md"),
        "{related}"
    );
    assert_eq!(related["line"], 3);
}

#[test]
fn an_abbreviation_used_in_a_section_not_given_is_not_never_used_again() {
    let intro = (
        "01.intro.md",
        "Serum C-reactive protein (CRP) is raised in sepsis.\n",
    );
    let unused = |beside: &[(&str, &str)]| -> Vec<Value> {
        check_files_beside(&[intro], beside, "abbreviation-unused", &[])
    };
    // Alone in its folder, or beside files that do not write it or are in another language.
    let alone = unused(&[]);
    assert_eq!(alone.len(), 1, "{alone:#?}");
    assert_eq!(alone[0]["word"], "CRP");
    let beside_others = unused(&[
        (
            "02.methods.md",
            "The C-reactive protein was measured daily.\n",
        ),
        ("notes.txt", "CRP twice a day."),
        ("paper.tex", "CRP twice a day."),
    ]);
    assert_eq!(beside_others.len(), 1, "{beside_others:#?}");
    // The next section, not given to the check, uses it (in the plural).
    let used_later = unused(&[("02.results.md", "Both CRPs fell after treatment.\n")]);
    assert!(used_later.is_empty(), "{used_later:#?}");
}

#[test]
fn one_term_written_two_ways_is_one_finding_each() {
    let run = |text: &str| -> Vec<(String, String, String)> {
        check_files(&[("variants.md", text)], "term-variant")
            .iter()
            .map(|finding| {
                (
                    finding["word"].as_str().unwrap_or_default().to_string(),
                    finding["suggestions"][0]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    finding["related"][0]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    };
    let found = run("The tumor grew in the first month.\n\n\
        The tumor shrank after treatment.\n\n\
        A second tumour appeared in the liver.\n\n\
        T-cell counts rose, T cell counts fell and T-cell subsets were stable.\n");
    assert_eq!(
        found,
        [
            ("tumour", "tumor", "\"tumor\" is written here"),
            ("T cell", "T-cell", "\"T-cell\" is written here"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    let consistent = run("The tumor grew in the first month.\n\n\
        The tumor shrank after treatment.\n\n\
        T-cell counts rose and T-cell subsets were stable.\n");
    assert_eq!(consistent, []);
}

#[test]
fn each_finding_can_be_switched_off_and_a_variant_accepted() {
    let codes = |findings: Vec<Value>| -> Vec<String> {
        findings
            .iter()
            .map(|finding| finding["code"].as_str().unwrap().to_string())
            .collect()
    };
    let all = codes(check(INCONSISTENT));
    assert!(all.contains(&"abbreviation-unused".to_string()), "{all:?}");
    let fewer = codes(check_files_with(
        &[("results.md", INCONSISTENT)],
        "abbreviation-",
        &[r#"abbreviations.off=["abbreviation-unused", "abbreviation-long-form"]"#],
    ));
    let expected: Vec<String> = all
        .iter()
        .filter(|code| *code != "abbreviation-unused" && *code != "abbreviation-long-form")
        .cloned()
        .collect();
    assert_eq!(fewer, expected);

    let text = "The tumor grew.\n\nThe tumor shrank.\n\nA second tumour appeared.\n";
    assert_eq!(check_files(&[("v.md", text)], "term-variant").len(), 1);
    let accepted = check_files_with(
        &[("v.md", text)],
        "term-variant",
        &[r#"termVariants.accepted=["Tumour"]"#],
    );
    assert!(accepted.is_empty(), "{accepted:?}");

    // A code that is no abbreviation finding is an error naming it.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_biomed-lsp"))
        .args([
            "config",
            "--set",
            r#"abbreviations.off=["abbreviation-missing"]"#,
        ])
        .output()
        .expect("run config");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("abbreviation-missing") && stderr.contains("abbreviation-unused"),
        "{stderr}"
    );
}

#[test]
fn open_files_of_one_folder_are_one_manuscript_in_the_editor() {
    let first_text = "Serum C-reactive protein (CRP) was raised at admission.\n";
    let (mut client, _workspace, first) = editor_with(("01.intro.md", first_text));
    let second = first.replace("01.intro.md", "02.results.md");
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": second, "languageId": "markdown", "version": 1,
            "text": "CRP fell after treatment.\n\nThe C-reactive protein fell again.\n"}}),
    );
    let latest: std::cell::RefCell<std::collections::HashMap<String, Vec<Value>>> =
        Default::default();
    let has = |uri: &str, code: &str| {
        latest
            .borrow()
            .get(uri)
            .map(|all| all.iter().any(|d| d["code"] == code))
    };
    let settled = client.wait_for(DEFAULT_TIMEOUT, |message| {
        if message["method"] == "textDocument/publishDiagnostics" {
            latest.borrow_mut().insert(
                message["params"]["uri"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                message["params"]["diagnostics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        // The second file writes out what the first abbreviated; the first file's CRP is used
        // in the second, so it is no longer "never used again".
        has(&second, "abbreviation-long-form") == Some(true)
            && has(&first, "abbreviation-unused") == Some(false)
    });
    assert!(settled.is_some(), "{:?}", latest.borrow());
    let latest = latest.borrow();
    let long_form = latest[&second]
        .iter()
        .find(|d| d["code"] == "abbreviation-long-form")
        .unwrap();
    // The definition it points to is in the first file.
    assert_eq!(
        long_form["relatedInformation"][0]["location"]["uri"],
        first.as_str(),
        "{long_form}"
    );
    assert!(
        !latest[&second]
            .iter()
            .any(|d| d["code"] == "abbreviation-before-definition"),
        "CRP is defined in the file before: {:?}",
        latest[&second]
    );
    // The hover and go-to-definition of CRP in the second file lead to the first.
    let at_use = json!({"textDocument": {"uri": second}, "position": {"line": 0, "character": 1}});
    let hover = client.request("textDocument/hover", at_use.clone());
    assert!(
        hover["result"]["contents"]["value"]
            .as_str()
            .unwrap_or_default()
            .contains("**CRP** = C-reactive protein · *defined in 01.intro.md, line 1*"),
        "{hover}"
    );
    let definition = client.request("textDocument/definition", at_use);
    assert_eq!(definition["result"]["uri"], first.as_str(), "{definition}");
    assert_eq!(
        definition["result"]["range"]["start"],
        json!({"line": 0, "character": 26})
    );
}

#[test]
fn in_the_editor_an_abbreviation_used_in_a_section_not_open_is_not_never_used_again() {
    let intro = (
        "01.intro.md",
        "Serum C-reactive protein (CRP) is raised in sepsis.\n\nIt was measured twice.\n",
    );
    let first_codes = |beside: &[(&str, &str)]| -> Vec<Value> {
        let (mut client, _workspace, uri) = editor_beside(intro, beside);
        let published = client
            .wait_for(DEFAULT_TIMEOUT, |message| {
                message["method"] == "textDocument/publishDiagnostics"
                    && message["params"]["uri"] == uri.as_str()
            })
            .expect("diagnostics");
        published["params"]["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|diagnostic| diagnostic["code"].clone())
            .collect()
    };
    let alone = first_codes(&[]);
    assert!(alone.contains(&json!("abbreviation-unused")), "{alone:?}");
    let beside_results = first_codes(&[("02.results.md", "CRP fell after treatment.\n")]);
    assert!(
        !beside_results.contains(&json!("abbreviation-unused")),
        "{beside_results:?}"
    );
}

#[test]
fn completion_offers_a_defined_abbreviation_and_before_it_the_definition() {
    let text = "Left ventricular ejection fraction (LVEF) was measured by echocardiography.\n\nMedian LV\n\nIn the first cohort le\n";
    let (mut client, _workspace, uri) = editor_with(("cohort.md", text));
    let labels_at = |client: &mut LspClient, line: u32, character: u32| -> Vec<(String, String)> {
        let response = client.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
        );
        response["result"]["items"]
            .as_array()
            .unwrap_or_else(|| panic!("a completion list: {response}"))
            .iter()
            .map(|item| {
                (
                    item["label"].as_str().unwrap_or_default().to_string(),
                    item["detail"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    // After the definition, "LV" completes to the abbreviation, first, saying what it stands for.
    let items = labels_at(&mut client, 2, 9);
    assert_eq!(items[0].0, "LVEF", "{items:?}");
    assert!(
        items[0]
            .1
            .to_lowercase()
            .contains("left ventricular ejection fraction"),
        "{items:?}"
    );
    // The long form's first letters after the definition also give the abbreviation.
    let items = labels_at(&mut client, 4, 22);
    assert_eq!(items[0].0, "LVEF", "{items:?}");

    // In a document that has not defined it before the cursor, the long form gives the
    // definition.
    let (mut client, _workspace, uri) = editor_with((
        "early.md",
        "Le\n\nLater, left ventricular ejection fraction (LVEF) was measured.\n",
    ));
    let response = client.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 2}}),
    );
    let first = &response["result"]["items"][0];
    assert_eq!(
        first["label"], "Left ventricular ejection fraction (LVEF)",
        "{response}"
    );
    assert_eq!(
        first["textEdit"]["newText"],
        "Left ventricular ejection fraction (LVEF)"
    );
}
