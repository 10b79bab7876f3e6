//! One open text document: its text in a rope, its version and language id, its extracted prose, and edits in byte offsets.
//!
//! Every offset here is a UTF-8 byte offset into the document text. Edits must start and end on
//! char boundaries; the protocol edge (`crate::lsp::position`) is the only place that turns client
//! positions into such offsets.

use std::ops::Range;

use ropey::Rope;

use crate::prose::{Language, ProseDocument, ProseOptions};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    #[error("edit range {start}..{end} is outside the document of {length} bytes")]
    RangeOutOfBounds {
        start: usize,
        end: usize,
        length: usize,
    },
    #[error("edit range {start}..{end} is reversed")]
    ReversedRange { start: usize, end: usize },
    #[error("offset {offset} is not on a character boundary")]
    NotCharBoundary { offset: usize },
    #[error("version {received} is not newer than the current version {current}")]
    StaleVersion { received: i32, current: i32 },
}

#[derive(Clone, Debug)]
pub struct Document {
    rope: Rope,
    version: i32,
    language_id: String,
    /// The extracted prose of Markdown and LaTeX documents, kept up to date edit by edit (only the
    /// edited block is re-extracted). Plain text needs no extraction to find a cursor's context.
    prose: Option<ProseDocument>,
}

impl Document {
    pub fn new(text: &str, version: i32, language_id: &str) -> Self {
        Self::with_prose_options(text, version, language_id, ProseOptions::default())
    }

    pub fn with_prose_options(
        text: &str,
        version: i32,
        language_id: &str,
        options: ProseOptions,
    ) -> Self {
        let prose = match Language::from_language_id(language_id) {
            Some(language @ (Language::Markdown | Language::Latex)) => {
                Some(ProseDocument::new(text, language, options))
            }
            _ => None,
        };
        Self {
            rope: Rope::from_str(text),
            version,
            language_id: language_id.to_string(),
            prose,
        }
    }

    /// Extracts the prose again with other options (the user changed the LaTeX command lists).
    pub fn set_prose_options(&mut self, options: ProseOptions) {
        if let Some(prose) = &self.prose {
            let language = prose.language();
            self.prose = Some(ProseDocument::new(
                &self.rope.to_string(),
                language,
                options,
            ));
        }
    }

    /// The prose of a Markdown or LaTeX document; `None` for plain text.
    pub fn prose(&self) -> Option<&ProseDocument> {
        self.prose.as_ref()
    }

    /// The document language for prose extraction (plain text when the id is unknown).
    pub fn language(&self) -> Language {
        Language::from_language_id(&self.language_id).unwrap_or(Language::PlainText)
    }

    pub fn rope(&self) -> &Rope {
        &self.rope
    }

    pub fn version(&self) -> i32 {
        self.version
    }

    pub fn language_id(&self) -> &str {
        &self.language_id
    }

    pub fn len_bytes(&self) -> usize {
        self.rope.len_bytes()
    }

    /// The whole text. Copies the document: handlers use `text_in` on a window instead.
    pub fn text(&self) -> String {
        self.rope.to_string()
    }

    /// The text of a byte range, after clamping it to the document and to char boundaries.
    pub fn text_in(&self, range: Range<usize>) -> String {
        let start = self.floor_char_boundary(range.start);
        let end = self.floor_char_boundary(range.end).max(start);
        self.rope.byte_slice(start..end).to_string()
    }

    /// The largest char boundary at or before `offset`, clamped to the document length.
    pub fn floor_char_boundary(&self, offset: usize) -> usize {
        let offset = offset.min(self.rope.len_bytes());
        self.rope.char_to_byte(self.rope.byte_to_char(offset))
    }

    pub fn is_char_boundary(&self, offset: usize) -> bool {
        offset <= self.rope.len_bytes() && self.floor_char_boundary(offset) == offset
    }

    /// Checks that an incoming change set is newer than what we hold, and records its version.
    /// Stale or repeated versions are refused so that an out-of-order edit cannot corrupt the text.
    pub fn advance_version(&mut self, received: i32) -> Result<(), DocumentError> {
        if received <= self.version {
            return Err(DocumentError::StaleVersion {
                received,
                current: self.version,
            });
        }
        self.version = received;
        Ok(())
    }

    /// Replaces the bytes of `range` with `new_text`.
    pub fn apply_edit(&mut self, range: Range<usize>, new_text: &str) -> Result<(), DocumentError> {
        let length = self.rope.len_bytes();
        if range.start > range.end {
            return Err(DocumentError::ReversedRange {
                start: range.start,
                end: range.end,
            });
        }
        if range.end > length {
            return Err(DocumentError::RangeOutOfBounds {
                start: range.start,
                end: range.end,
                length,
            });
        }
        for offset in [range.start, range.end] {
            if !self.is_char_boundary(offset) {
                return Err(DocumentError::NotCharBoundary { offset });
            }
        }
        let start_char = self.rope.byte_to_char(range.start);
        let end_char = self.rope.byte_to_char(range.end);
        if end_char > start_char {
            self.rope.remove(start_char..end_char);
        }
        if !new_text.is_empty() {
            self.rope.insert(start_char, new_text);
        }
        if let Some(prose) = &mut self.prose {
            prose.apply_edit(&self.rope.to_string(), range, new_text.len());
        }
        Ok(())
    }

    /// A fingerprint of the text (FNV-1a, 64 bits, in hex): lets a client check that the server
    /// holds the same text as it does, without sending the text back.
    pub fn digest(&self) -> String {
        format!("{:016x}", text_digest(self.rope.chunks()))
    }

    pub fn replace_all(&mut self, new_text: &str) {
        self.rope = Rope::from_str(new_text);
        if let Some(prose) = &mut self.prose {
            let edited = 0..prose.source().len();
            prose.apply_edit(new_text, edited, new_text.len());
        }
    }
}

/// FNV-1a (64 bits) over the bytes of `pieces`, in order: the same for a text however it is cut.
pub fn text_digest<'a>(pieces: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for piece in pieces {
        for byte in piece.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}
