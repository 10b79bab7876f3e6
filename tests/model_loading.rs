//! Loading models from broken or unusual files: every failure names the file and the problem.

use std::path::{Path, PathBuf};

use biomed_lsp::model::device::{DeviceChoice, Precision, PrecisionChoice};
use biomed_lsp::model::engine::load_from_directory;

fn mini_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/biomed-mini")
}

/// A copy of the mini model's directory in which `change` may break things.
fn broken_copy(change: impl FnOnce(&Path)) -> tempfile::TempDir {
    let directory = tempfile::tempdir().unwrap();
    for name in [
        "config.json",
        "model.safetensors",
        "vocab.txt",
        "tokenizer_config.json",
    ] {
        std::fs::copy(mini_model().join(name), directory.path().join(name)).unwrap();
    }
    change(directory.path());
    directory
}

fn load_error(directory: &Path) -> String {
    match load_from_directory(
        directory,
        DeviceChoice::Cpu,
        PrecisionChoice::Exactly(Precision::Float),
    ) {
        Ok(_) => panic!("loading {} should fail", directory.display()),
        Err(error) => error.to_string(),
    }
}

fn edit_config(directory: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = directory.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
}

#[test]
fn a_directory_that_does_not_exist_is_named() {
    let error = load_error(Path::new("/no/such/model"));
    assert!(
        error.contains("/no/such/model") && error.contains("does not exist"),
        "{error}"
    );
}

#[test]
fn missing_files_are_named() {
    let directory = broken_copy(|dir| std::fs::remove_file(dir.join("config.json")).unwrap());
    let error = load_error(directory.path());
    assert!(error.contains("missing config.json"), "{error}");

    let directory = broken_copy(|dir| std::fs::remove_file(dir.join("model.safetensors")).unwrap());
    let error = load_error(directory.path());
    assert!(
        error.contains("model.safetensors") && error.contains("pytorch_model.bin"),
        "{error}"
    );

    let directory = broken_copy(|dir| std::fs::remove_file(dir.join("vocab.txt")).unwrap());
    let error = load_error(directory.path());
    assert!(
        error.contains("tokenizer") && error.contains("vocab.txt"),
        "{error}"
    );
}

#[test]
fn config_without_eps_and_pad_token_loads_like_biomedberts() {
    let directory = broken_copy(|dir| {
        edit_config(dir, |config| {
            let object = config.as_object_mut().unwrap();
            object.remove("layer_norm_eps");
            object.remove("pad_token_id");
        })
    });
    load_from_directory(
        directory.path(),
        DeviceChoice::Cpu,
        PrecisionChoice::Exactly(Precision::Float),
    )
    .unwrap();
}

#[test]
fn a_non_bert_architecture_is_refused() {
    let directory = broken_copy(|dir| {
        edit_config(dir, |config| {
            config["model_type"] = "roberta".into();
            config["architectures"] = serde_json::json!(["RobertaForMaskedLM"]);
        })
    });
    let error = load_error(directory.path());
    assert!(
        error.contains("config.json") && error.contains("roberta"),
        "{error}"
    );
}

#[test]
fn a_truncated_safetensors_file_is_named() {
    let directory = broken_copy(|dir| {
        let path = dir.join("model.safetensors");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    });
    let error = load_error(directory.path());
    assert!(error.contains("model.safetensors"), "{error}");
}

#[test]
fn a_truncated_or_garbage_pytorch_file_is_named() {
    let bin =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models/biomed-mini-bin/pytorch_model.bin");
    for cut in [0.5, 0.0] {
        let directory = broken_copy(|dir| {
            std::fs::remove_file(dir.join("model.safetensors")).unwrap();
            let bytes = std::fs::read(&bin).unwrap();
            let kept = &bytes[..(bytes.len() as f64 * cut) as usize];
            let content = if kept.is_empty() {
                b"not a torch file at all".to_vec()
            } else {
                kept.to_vec()
            };
            std::fs::write(dir.join("pytorch_model.bin"), content).unwrap();
        });
        let error = load_error(directory.path());
        assert!(error.contains("pytorch_model.bin"), "{error}");
    }
}

#[test]
fn shapes_that_do_not_match_the_config_are_named() {
    let directory =
        broken_copy(|dir| edit_config(dir, |config| config["intermediate_size"] = 256.into()));
    let error = load_error(directory.path());
    assert!(
        error.contains("model.safetensors")
            && error.contains("intermediate.dense.weight")
            && error.contains("shape"),
        "{error}"
    );
}

#[test]
fn a_vocabulary_larger_than_the_embedding_matrix_is_a_mismatch() {
    // 28,895 + 2,000 tokens against an embedding matrix of 30,522 rows: weights and vocabulary
    // of different models must never be paired.
    let directory = broken_copy(|dir| {
        let mut vocab = std::fs::read_to_string(dir.join("vocab.txt")).unwrap();
        for extra_idx in 0..2000 {
            vocab.push_str(&format!("extratoken{extra_idx}\n"));
        }
        std::fs::write(dir.join("vocab.txt"), vocab).unwrap();
    });
    let error = load_error(directory.path());
    assert!(
        error.contains("do not match") && error.contains("30522"),
        "{error}"
    );
}
