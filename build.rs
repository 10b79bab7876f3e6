//! Tells the code whether the bundled entity tagger's files are there to embed: a checkout of
//! the repository has them; the crates.io package leaves them out (crates.io takes 10 MB at most,
//! and the mini model takes nearly all of it).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(bundled_entity_model)");
    let files = [
        "models/biomed-mini-ner/config.json",
        "models/biomed-mini-ner/model.safetensors",
    ];
    for file in files {
        println!("cargo::rerun-if-changed={file}");
    }
    if files
        .iter()
        .all(|file| std::path::Path::new(file).is_file())
    {
        println!("cargo::rustc-cfg=bundled_entity_model");
    }
}
