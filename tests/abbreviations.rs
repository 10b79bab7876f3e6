//! Abbreviation findings through `check --format json`: codes, places, related definitions and
//! fixes, on a manuscript that gets them wrong and on the same text written consistently.

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
    let folder = tempfile::tempdir().expect("a folder");
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

#[test]
fn the_editor_gets_the_definition_as_related_information_and_the_fix() {
    let workspace = tempfile::tempdir().expect("a workspace");
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
    let uri = format!("{root}/results.md");
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "markdown", "version": 1, "text": INCONSISTENT}}),
    );
    let redefined = |message: &Value| {
        message["method"] == "textDocument/publishDiagnostics"
            && message["params"]["diagnostics"]
                .as_array()
                .is_some_and(|all| all.iter().any(|d| d["code"] == "abbreviation-redefined"))
    };
    let published = client
        .wait_for(DEFAULT_TIMEOUT, redefined)
        .expect("the abbreviation findings are published");
    let diagnostics = published["params"]["diagnostics"].as_array().unwrap();
    let diagnostic = diagnostics
        .iter()
        .find(|d| d["code"] == "abbreviation-redefined")
        .unwrap()
        .clone();
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
