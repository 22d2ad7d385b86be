//! A string that must never be printed: client secrets, private keys, access tokens.

use std::fmt;

/// Holds a secret. `Debug` and `Display` print `***`; the value is only reachable through
/// [`Secret::expose`], which makes every use easy to audit.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The memory that held a secret is overwritten when the secret is dropped, so a later heap
/// dump or a reused allocation does not reveal it.
impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Replaces every occurrence of the secrets in `text` with `***`: the last line of defence for
/// log lines and error messages that quote server answers.
pub(crate) fn scrub(text: &str, secrets: &[Secret]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        // Short values would mangle ordinary words and cannot be meaningful secrets.
        if s.0.len() >= 6 && out.contains(&s.0) {
            out = out.replace(&s.0, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(scrub("x hunter2-very-secret y", &[s]), "x *** y");
    }
}
