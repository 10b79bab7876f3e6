//! Property tests (fuzzing) of the parts that read bytes someone else wrote: JSON-RPC framing and
//! messages from the client, settings from the editor and configuration files from a workspace,
//! dictionary files. None may panic; each either reads the input or says what is wrong with it;
//! a workspace's file never sets a machine setting. (LaTeX and Markdown extraction: `prose_fuzz`;
//! the inference server's answers: the unit tests of `model::remote`.) Run longer with e.g.
//! `PROPTEST_CASES=100000 cargo test --release --test untrusted_input_fuzz`.

use biomed_lsp::config_file::read_config_for_server;
use biomed_lsp::dictionary_files::read_dictionaries;
use biomed_lsp::lsp::framing::{check_message, read_frame, write_frame, FrameRead};
use biomed_lsp::settings::{is_machine_setting, Settings, SettingsOrigin, SETTING_KEYS};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;

/// Cases per property in the test command (seconds in all); PROPTEST_CASES sets another count.
const DEFAULT_CASES: u32 = 50_000;

fn config() -> Config {
    // No regression files are written (no corpus in the repository).
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(DEFAULT_CASES),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Any JSON value, with the settings' own keys and values near their limits among the random ones.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        proptest::sample::select(SETTING_KEYS.to_vec()).prop_map(str::to_string),
        proptest::sample::select(vec![
            "biomedLsp",
            "diagnostics",
            "completion",
            "inference",
            "dictionary",
            "latex"
        ])
        .prop_map(str::to_string),
        "[a-zA-Z.]{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(
            |number| serde_json::Number::from_f64(number).map_or(Value::Null, Value::Number)
        ),
        proptest::sample::select(vec![0.0, -1.0, 1.0, 50.0, 1e300, -1e300, 0.5])
            .prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
        proptest::sample::select(vec![
            "auto",
            "cpu",
            "cuda:0",
            "q8",
            "http://127.0.0.1:1/v2/models/x",
            "bundled",
            ""
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Client input: frames with random headers and bodies, and random bytes between them.
fn client_input() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        (any::<u32>(), ".{0,40}").prop_map(|(length, body)| format!(
            "Content-Length: {}\r\n\r\n{body}",
            length % 4096
        )
        .into_bytes()),
        ".{0,40}"
            .prop_map(|body| format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()),
        Just(b"Content-Length: 99999999999999999999\r\n\r\n".to_vec()),
        Just(b"Content-Length: 400000000\r\n\r\n{}".to_vec()),
        Just(b"\r\n\r\n".to_vec()),
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn framing_reads_any_input_without_panicking(input in client_input()) {
        runtime().block_on(async {
            let mut reader = tokio::io::BufReader::new(&input[..]);
            let mut frames = 0;
            // Each call consumes input or ends it: at most one frame per byte.
            while let Ok(Some(frame)) = read_frame(&mut reader).await {
                frames += 1;
                prop_assert!(frames <= input.len() + 1);
                if let FrameRead::Body(body) = frame {
                    prop_assert!(body.len() <= input.len());
                    let _ = check_message(&body);
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn written_frames_are_read_back_whole(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..8)) {
        runtime().block_on(async {
            let mut written = Vec::new();
            for body in &bodies {
                write_frame(&mut written, body).await.expect("write");
            }
            let mut reader = tokio::io::BufReader::new(&written[..]);
            for body in &bodies {
                let frame = read_frame(&mut reader).await.expect("read");
                prop_assert_eq!(frame, Some(FrameRead::Body(body.clone())));
            }
            prop_assert_eq!(read_frame(&mut reader).await.expect("read"), None);
            Ok(())
        })?;
    }

    #[test]
    fn any_message_body_is_classified_or_rejected(value in json_value(), bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let _ = check_message(value.to_string().as_bytes());
        let _ = check_message(&bytes);
    }

    #[test]
    fn settings_from_anywhere_never_panic_and_a_workspace_sets_no_machine_setting(value in json_value()) {
        let mut settings = Settings::default();
        let _ = settings.merge_json(&value);
        let mut strict = Settings::default();
        let _ = strict.merge_json_strict(&value);

        let mut from_workspace = Settings::default();
        let outcome = from_workspace.merge_file_json(&value, SettingsOrigin::Workspace);
        for key in SETTING_KEYS.iter().filter(|key| is_machine_setting(key)) {
            prop_assert_eq!(
                from_workspace.value_of(key),
                Settings::default().value_of(key),
                "{} was set from a workspace",
                key
            );
        }
        prop_assert!(outcome.applied.iter().all(|key| !is_machine_setting(key)));
        for warning in &outcome.warnings {
            prop_assert!(!warning.to_string().is_empty());
        }
    }

    #[test]
    fn configuration_files_of_any_bytes_are_read_or_named(bytes in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        json_value().prop_map(|value| value.to_string().into_bytes()),
    ]) {
        let folder = tempfile::tempdir().expect("a folder");
        let path = folder.path().join("config.json");
        std::fs::write(&path, &bytes).expect("write");
        let (value, errors) = read_config_for_server(&path, SettingsOrigin::Workspace);
        if value.is_none() {
            prop_assert_eq!(errors.len(), 1);
            prop_assert!(errors[0].contains("config.json"), "{}", errors[0]);
        }
        for error in &errors {
            prop_assert!(error.contains("config.json") || error.contains("biomedLsp."), "{}", error);
        }
    }

    #[test]
    fn dictionary_files_of_any_bytes_are_read_or_named(bytes in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        ".{0,300}".prop_map(String::into_bytes),
    ]) {
        let folder = tempfile::tempdir().expect("a folder");
        let path = folder.path().join("dictionary.txt");
        std::fs::write(&path, &bytes).expect("write");
        let (dictionary, errors) = read_dictionaries(std::slice::from_ref(&path), &[]);
        match std::str::from_utf8(&bytes) {
            Ok(text) if !text.contains('\0') => {
                prop_assert!(errors.is_empty(), "{:?}", errors);
                let _ = dictionary.contains(text);
            }
            _ => {
                prop_assert_eq!(errors.len(), 1);
                prop_assert!(errors[0].to_string().contains("dictionary.txt"));
            }
        }
    }

    #[test]
    fn every_word_of_a_word_list_is_read(words in proptest::collection::vec("[a-zA-Z][a-zA-Z0-9-]{0,15}", 0..30), crlf in any::<bool>()) {
        let folder = tempfile::tempdir().expect("a folder");
        let path = folder.path().join("dictionary.txt");
        let separator = if crlf { "\r\n" } else { "\n" };
        std::fs::write(&path, format!("# accepted words{separator}{}", words.join(separator))).expect("write");
        let (dictionary, errors) = read_dictionaries(&[path], &[]);
        prop_assert!(errors.is_empty(), "{:?}", errors);
        for word in &words {
            prop_assert!(dictionary.contains(word), "{}", word);
        }
    }
}
