//! A secret value (the inference server's token): it never shows in `Debug`, logs, error
//! messages or `biomed-lsp config`; only the HTTP request reads it.

/// A secret string; empty when none was given.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What may be shown of it: whether it is set.
    pub fn redacted(&self) -> &'static str {
        if self.0.is_empty() {
            ""
        } else {
            "(set, hidden)"
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(if self.0.is_empty() {
            "Secret(none)"
        } else {
            "Secret(hidden)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("s3cr3t-token");
        assert!(!format!("{secret:?}").contains("s3cr3t"));
        assert_eq!(secret.redacted(), "(set, hidden)");
        assert_eq!(secret.expose(), "s3cr3t-token");
        assert_eq!(Secret::default().redacted(), "");
    }
}
