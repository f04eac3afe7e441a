//! Patterns people write for the storage lifecycle: a repository's `immutable_tags` and a
//! cleanup policy's `name_regex`. Finite-automata regular expressions (no backtracking, so no
//! ReDoS), bounded like routing rules' matchers, and matched against the whole string only
//! where the pattern says so (`^...$`), as people write them.

pub use regex::Regex;

/// A pattern has at most this many characters.
pub const MAX_PATTERN_LEN: usize = 1024;
/// A list of patterns (`immutable_tags`) has at most this many.
pub const MAX_PATTERNS: usize = 64;
const COMPILED_LIMIT: usize = 256 << 10;

/// Compiles `src`, or says why not (for messages that name the field).
pub fn compile(src: &str) -> Result<Regex, String> {
    if src.len() > MAX_PATTERN_LEN {
        return Err(format!(
            "a pattern has at most {MAX_PATTERN_LEN} characters ({} here)",
            src.len()
        ));
    }
    regex::RegexBuilder::new(src)
        .size_limit(COMPILED_LIMIT)
        .dfa_size_limit(COMPILED_LIMIT)
        .build()
        .map_err(|e| format!("{src:?} is not a valid regular expression: {e}"))
}

/// Compiles every pattern of a list, at most [`MAX_PATTERNS`].
pub fn compile_all(srcs: &[String]) -> Result<Vec<(String, Regex)>, String> {
    if srcs.len() > MAX_PATTERNS {
        return Err(format!(
            "at most {MAX_PATTERNS} patterns ({} here)",
            srcs.len()
        ));
    }
    srcs.iter()
        .map(|s| compile(s).map(|r| (s.clone(), r)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_explained() {
        let semver = compile(r"^v?\d+\.\d+\.\d+$").unwrap();
        assert!(semver.is_match("v1.2.3") && semver.is_match("1.2.3"));
        assert!(!semver.is_match("1.2.3-rc1") && !semver.is_match("latest"));
        assert!(
            compile("(unclosed")
                .unwrap_err()
                .contains("not a valid regular expression")
        );
        assert!(
            compile(&"a".repeat(2000))
                .unwrap_err()
                .contains("at most 1024")
        );
        assert!(compile("a{1000}{1000}").is_err(), "too big to compile");
        let many: Vec<String> = (0..65).map(|i| i.to_string()).collect();
        assert!(compile_all(&many).is_err());
    }
}
