//! The WordPiece tokenizer: `tokenizer.json` when a model has one, else what transformers'
//! `BertTokenizerFast` builds from `vocab.txt` and `tokenizer_config.json`.

use std::collections::HashMap;
use std::path::Path;

use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer};

use super::api::TokenizedWord;
use super::ModelError;

/// Ids of the special tokens, always looked up by token (BiomedBERT's `[MASK]` is 4, not bert-base's 103).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialIds {
    pub pad: u32,
    pub unk: u32,
    pub cls: u32,
    pub sep: u32,
    pub mask: u32,
}

/// Names of the special tokens, from `tokenizer_config.json` (BERT's defaults when absent).
#[derive(Clone, Debug)]
struct SpecialNames {
    pad: String,
    unk: String,
    cls: String,
    sep: String,
    mask: String,
}

/// A tokenizer plus the vocabulary facts the engine needs.
pub struct WordTokenizer {
    tokenizer: Tokenizer,
    pub special: SpecialIds,
    /// Token text by id; ids without a token (the embedding matrix may be larger) are absent.
    tokens: Vec<String>,
    token_ids: HashMap<String, u32>,
}

#[derive(serde::Deserialize, Default)]
struct TokenizerConfig {
    do_lower_case: Option<bool>,
    strip_accents: Option<bool>,
    tokenize_chinese_chars: Option<bool>,
    unk_token: Option<serde_json::Value>,
    cls_token: Option<serde_json::Value>,
    sep_token: Option<serde_json::Value>,
    pad_token: Option<serde_json::Value>,
    mask_token: Option<serde_json::Value>,
}

/// A special token in `tokenizer_config.json` is a string or an `{"content": …}` object.
fn token_name(value: &Option<serde_json::Value>, default: &str) -> String {
    match value {
        Some(serde_json::Value::String(name)) => name.clone(),
        Some(serde_json::Value::Object(object)) => object
            .get("content")
            .and_then(|content| content.as_str())
            .unwrap_or(default)
            .to_string(),
        _ => default.to_string(),
    }
}

impl WordTokenizer {
    /// Loads the tokenizer of a model directory: `tokenizer.json` if present, else `vocab.txt`
    /// (with `tokenizer_config.json` when present).
    pub fn from_directory(directory: &Path) -> Result<Self, ModelError> {
        let config_path = directory.join("tokenizer_config.json");
        let config = if config_path.is_file() {
            let text = std::fs::read_to_string(&config_path).map_err(|source| ModelError::Io {
                path: config_path.clone(),
                source,
            })?;
            serde_json::from_str::<TokenizerConfig>(&text).map_err(|error| ModelError::BadFile {
                path: config_path.clone(),
                problem: format!("not a valid tokenizer_config.json: {error}"),
            })?
        } else {
            TokenizerConfig::default()
        };
        let tokenizer_json = directory.join("tokenizer.json");
        if tokenizer_json.is_file() {
            let tokenizer =
                Tokenizer::from_file(&tokenizer_json).map_err(|error| ModelError::BadFile {
                    path: tokenizer_json.clone(),
                    problem: format!("not a valid tokenizer.json: {error}"),
                })?;
            return Self::from_tokenizer(tokenizer, &config, &tokenizer_json);
        }
        let vocab_path = directory.join("vocab.txt");
        if !vocab_path.is_file() {
            return Err(ModelError::MissingFile {
                path: directory.to_path_buf(),
                what: "a tokenizer (neither tokenizer.json nor vocab.txt)".into(),
            });
        }
        let vocab = std::fs::read_to_string(&vocab_path).map_err(|source| ModelError::Io {
            path: vocab_path.clone(),
            source,
        })?;
        Self::from_vocab_text(&vocab, &config, &vocab_path)
    }

    /// Builds the tokenizer from the text of `vocab.txt` and the JSON of `tokenizer_config.json`
    /// (used for the bundled model embedded in the binary).
    pub fn from_vocab_and_config(
        vocab: &str,
        config_json: &str,
        name: &Path,
    ) -> Result<Self, ModelError> {
        let config: TokenizerConfig =
            serde_json::from_str(config_json).map_err(|error| ModelError::BadFile {
                path: name.to_path_buf(),
                problem: format!("not a valid tokenizer_config.json: {error}"),
            })?;
        Self::from_vocab_text(vocab, &config, name)
    }

    /// What `BertTokenizerFast` (transformers' `BertConverter`) builds: BertNormalizer, BertPreTokenizer,
    /// WordPiece with `##` and a 100-character word limit, `[CLS] $A [SEP]` post-processing, WordPiece decoder.
    fn from_vocab_text(
        vocab_text: &str,
        config: &TokenizerConfig,
        vocab_path: &Path,
    ) -> Result<Self, ModelError> {
        let bad = |problem: String| ModelError::BadFile {
            path: vocab_path.to_path_buf(),
            problem,
        };
        let mut vocab = HashMap::new();
        for (index, line) in vocab_text.lines().enumerate() {
            // transformers' load_vocab strips only the trailing newline; keep the token as written.
            let token = line.trim_end_matches('\r');
            vocab.entry(token.to_string()).or_insert(index as u32);
        }
        if vocab.is_empty() {
            return Err(bad("the vocabulary is empty".into()));
        }
        let names = special_names(config);
        for name in [&names.unk, &names.cls, &names.sep, &names.pad, &names.mask] {
            if !vocab.contains_key(name.as_str()) {
                return Err(bad(format!(
                    "the special token {name} is not in the vocabulary"
                )));
            }
        }
        let wordpiece = WordPiece::builder()
            .vocab(
                vocab
                    .iter()
                    .map(|(token, &id)| (token.clone(), id))
                    .collect::<ahash::AHashMap<String, u32>>(),
            )
            .unk_token(names.unk.clone())
            .continuing_subword_prefix("##".into())
            .max_input_chars_per_word(100)
            .build()
            .map_err(|error| bad(format!("cannot build a WordPiece model: {error}")))?;
        let lowercase = config.do_lower_case.unwrap_or(true);
        let mut tokenizer = Tokenizer::new(wordpiece);
        tokenizer.with_normalizer(Some(BertNormalizer::new(
            true,
            config.tokenize_chinese_chars.unwrap_or(true),
            config.strip_accents,
            lowercase,
        )));
        tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
        let cls_id = vocab[names.cls.as_str()];
        let sep_id = vocab[names.sep.as_str()];
        let post_processor = TemplateProcessing::builder()
            .try_single(format!("{}:0 $A:0 {}:0", names.cls, names.sep))
            .and_then(|builder| {
                builder.try_pair(format!(
                    "{}:0 $A:0 {}:0 $B:1 {}:1",
                    names.cls, names.sep, names.sep
                ))
            })
            .map_err(|error| bad(format!("cannot build the post-processor: {error}")))?
            .special_tokens(vec![
                (names.cls.clone(), cls_id),
                (names.sep.clone(), sep_id),
            ])
            .build()
            .map_err(|error| bad(format!("cannot build the post-processor: {error}")))?;
        tokenizer.with_post_processor(Some(post_processor));
        tokenizer.with_decoder(Some(WordPieceDecoder::default()));
        Self::from_tokenizer(tokenizer, config, vocab_path)
    }

    fn from_tokenizer(
        mut tokenizer: Tokenizer,
        config: &TokenizerConfig,
        path: &Path,
    ) -> Result<Self, ModelError> {
        let bad = |problem: String| ModelError::BadFile {
            path: path.to_path_buf(),
            problem,
        };
        // A tokenizer.json may carry fixed padding and truncation (the shared BiomedBERT one pads
        // to 256): the engine pads batches itself and windows long texts, so switch both off.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|error| bad(format!("cannot switch truncation off: {error}")))?;
        let names = special_names(config);
        // Special tokens are matched in the raw text (so a literal `[MASK]` is the mask token), as
        // BertTokenizerFast registers them: special, not normalized.
        let added: Vec<AddedToken> = [&names.pad, &names.unk, &names.cls, &names.sep, &names.mask]
            .iter()
            .map(|name| AddedToken::from(name.to_string(), true).normalized(false))
            .collect();
        tokenizer.add_special_tokens(&added);

        let vocab = tokenizer.get_vocab(true);
        let mut tokens =
            vec![String::new(); vocab.values().map(|&id| id as usize + 1).max().unwrap_or(0)];
        for (token, &id) in &vocab {
            tokens[id as usize] = token.clone();
        }
        let lookup = |name: &str| -> Result<u32, ModelError> {
            vocab
                .get(name)
                .copied()
                .ok_or_else(|| bad(format!("the special token {name} is not in the vocabulary")))
        };
        let special = SpecialIds {
            pad: lookup(&names.pad)?,
            unk: lookup(&names.unk)?,
            cls: lookup(&names.cls)?,
            sep: lookup(&names.sep)?,
            mask: lookup(&names.mask)?,
        };
        Ok(Self {
            tokenizer,
            special,
            tokens,
            token_ids: vocab.into_iter().collect(),
        })
    }

    /// Number of ids that have a token (28,895 for BiomedBERT-abstract, while its embedding matrix
    /// has 30,522 rows: larger ids must never be proposed).
    pub fn vocab_len(&self) -> usize {
        self.tokens.len()
    }

    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens
            .get(id as usize)
            .map(|token| token.as_str())
            .filter(|token| !token.is_empty())
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.token_ids.get(token).copied()
    }

    pub fn is_special(&self, id: u32) -> bool {
        let special = self.special;
        [
            special.pad,
            special.unk,
            special.cls,
            special.sep,
            special.mask,
        ]
        .contains(&id)
    }

    /// Token ids (without `[CLS]`/`[SEP]`) and their byte offsets in `text`.
    pub fn encode_with_offsets(
        &self,
        text: &str,
    ) -> Result<(Vec<u32>, Vec<(usize, usize)>), ModelError> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|error| ModelError::Tokenize(error.to_string()))?;
        Ok((encoding.get_ids().to_vec(), encoding.get_offsets().to_vec()))
    }

    /// Token ids as transformers gives them, with `[CLS]`/`[SEP]` (used by the parity tests).
    pub fn encode_for_model(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|error| ModelError::Tokenize(error.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The pieces of a single word written on its own (e.g. a candidate replacement).
    pub fn word_pieces(&self, word: &str) -> Result<Vec<u32>, ModelError> {
        Ok(self.encode_with_offsets(word)?.0)
    }

    /// Splits a text into the words of BERT's pre-tokenizer (whitespace and punctuation, so `IL-6`
    /// is three words) and each word into its vocabulary pieces.
    pub fn words(&self, text: &str) -> Result<Vec<TokenizedWord>, ModelError> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|error| ModelError::Tokenize(error.to_string()))?;
        let mut words: Vec<TokenizedWord> = Vec::new();
        let mut last_word_index = None;
        for (token_idx, &id) in encoding.get_ids().iter().enumerate() {
            let (start, end) = encoding.get_offsets()[token_idx];
            let word_index = encoding.get_word_ids()[token_idx];
            let piece = self.token(id).unwrap_or("[UNK]").to_string();
            match (words.last_mut(), word_index) {
                (Some(word), Some(index)) if last_word_index == Some(index) => {
                    word.end = word.end.max(end);
                    word.pieces.push(piece);
                    word.ids.push(id);
                }
                _ => words.push(TokenizedWord {
                    text: String::new(),
                    start,
                    end,
                    pieces: vec![piece],
                    ids: vec![id],
                    in_vocabulary: false,
                }),
            }
            last_word_index = word_index;
        }
        for word in &mut words {
            word.text = text
                .get(word.start..word.end)
                .unwrap_or_default()
                .to_string();
            word.in_vocabulary = word.ids.len() == 1 && word.ids[0] != self.special.unk;
        }
        Ok(words)
    }
}

fn special_names(config: &TokenizerConfig) -> SpecialNames {
    SpecialNames {
        pad: token_name(&config.pad_token, "[PAD]"),
        unk: token_name(&config.unk_token, "[UNK]"),
        cls: token_name(&config.cls_token, "[CLS]"),
        sep: token_name(&config.sep_token, "[SEP]"),
        mask: token_name(&config.mask_token, "[MASK]"),
    }
}
