use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};
use trove_core::{AssetPath, Error, ErrorKind, Result};

/// Whether a rule's matchers name what may pass (`Allow`) or what may not (`Block`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Only paths matched by at least one matcher pass.
    Allow,
    /// Paths matched by any matcher are refused.
    Block,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Allow => "allow",
            Mode::Block => "block",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule says about a path. `matched` is the index (from 0) of the first matcher that
/// matched the whole path, for explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed {
        matched: Option<usize>,
    },
    Blocked {
        rule: String,
        matched: Option<usize>,
    },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }
}

/// A `[[routing_rule]]` entry of trove.toml (and the admin API's body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRuleDecl {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub mode: Mode,
    pub matchers: Vec<String>,
}

#[derive(Debug, Clone)]
struct Matcher {
    /// The pattern as written, searched anywhere in the path: only for hints in explanations.
    written: Regex,
    /// The pattern anchored at both ends: what decides.
    whole: Regex,
}

/// A named rule with compiled matchers. Built only through [`RoutingRule::new`] (or from a
/// [`RoutingRuleDecl`]), so every rule has a valid name and at least one valid matcher.
#[derive(Debug, Clone)]
pub struct RoutingRule {
    name: String,
    description: String,
    mode: Mode,
    matchers: Vec<Matcher>,
}

/// A rule has at most this many matchers: each is an automaton in memory (100,000 of them once
/// took a node from 39 MiB to 1.15 GB).
pub const MAX_MATCHERS: usize = 64;
/// A matcher has at most this many characters.
pub const MAX_MATCHER_LEN: usize = 1024;
/// What one compiled matcher may take: its program and its lazy DFA's cache.
const COMPILED_LIMIT: usize = 256 << 10;

fn compile(src: &str) -> std::result::Result<Regex, regex::Error> {
    regex::RegexBuilder::new(src)
        .size_limit(COMPILED_LIMIT)
        .dfa_size_limit(COMPILED_LIMIT)
        .build()
}

impl RoutingRule {
    /// Compiles `matchers`. A bad name, no matcher, or a matcher that is not a regular expression
    /// answers `ErrorKind::Invalid` naming the rule and the matcher.
    pub fn new(
        name: &str,
        description: &str,
        mode: Mode,
        matchers: &[impl AsRef<str>],
    ) -> Result<Self> {
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && !name.starts_with(['.', '-'])
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid_name {
            return Err(Error::invalid(format!(
                "invalid routing rule name {name:?}: use 1-64 of A-Z a-z 0-9 . _ - (not starting \
                 with . or -)"
            )));
        }
        if matchers.is_empty() {
            return Err(Error::invalid(format!(
                "routing rule '{name}' has no matchers: give at least one regular expression"
            )));
        }
        if matchers.len() > MAX_MATCHERS {
            return Err(Error::invalid(format!(
                "routing rule '{name}' has {} matchers; at most {MAX_MATCHERS} are allowed \
                 (one matcher can list alternatives: ^/v2/(a|b|c)/.*)",
                matchers.len()
            )));
        }
        let compiled = matchers
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let src = m.as_ref();
                if src.len() > MAX_MATCHER_LEN {
                    return Err(Error::invalid(format!(
                        "routing rule '{name}': matcher {} is {} characters long; at most \
                         {MAX_MATCHER_LEN} are allowed",
                        i + 1,
                        src.len()
                    )));
                }
                let bad = |e: regex::Error| {
                    Error::invalid(format!(
                        "routing rule '{name}': matcher {} `{src}` is not a valid regular \
                         expression: {e}",
                        i + 1
                    ))
                };
                // Compiled alone first, so a pattern with unbalanced groups is refused rather
                // than balanced by the wrapping below.
                let written = compile(src).map_err(bad)?;
                let whole = compile(&format!(r"\A(?:{src})\z")).map_err(bad)?;
                Ok(Matcher { written, whole })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RoutingRule {
            name: name.to_owned(),
            description: description.to_owned(),
            mode,
            matchers: compiled,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn description(&self) -> &str {
        &self.description
    }
    pub fn mode(&self) -> Mode {
        self.mode
    }
    /// The matchers as written.
    pub fn matchers(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.matchers.iter().map(|m| m.written.as_str())
    }

    fn first_match(&self, path: &str) -> Option<usize> {
        self.matchers.iter().position(|m| m.whole.is_match(path))
    }

    pub fn decide(&self, path: &AssetPath) -> Decision {
        let matched = self.first_match(path.as_str());
        let allowed = match self.mode {
            Mode::Allow => matched.is_some(),
            Mode::Block => matched.is_none(),
        };
        if allowed {
            Decision::Allowed { matched }
        } else {
            Decision::Blocked {
                rule: self.name.clone(),
                matched,
            }
        }
    }

    pub fn is_allowed(&self, path: &AssetPath) -> bool {
        self.decide(path).is_allowed()
    }

    /// `Ok` when the rule lets `path` through; otherwise the `Blocked` error a front-end shows
    /// (docker: 403 `DENIED`).
    pub fn check(&self, path: &AssetPath) -> Result<()> {
        let matched = match self.decide(path) {
            Decision::Allowed { .. } => return Ok(()),
            Decision::Blocked { matched, .. } => matched,
        };
        let why = match matched {
            Some(i) => self.matchers[i].written.as_str().to_owned(),
            None => self.matchers().collect::<Vec<_>>().join(", "),
        };
        Err(Error::new(
            ErrorKind::Blocked {
                rule: self.name.clone(),
            },
            format!(
                "{path} is not allowed by routing rule '{}' ({}: {why})",
                self.name, self.mode
            ),
        ))
    }

    /// A one-line explanation of the decision for `path`, for `trove rule test` and the admin
    /// API: which matcher decided, or that none matched (with a hint when a matcher matches only
    /// a part of the path).
    pub fn explain(&self, path: &AssetPath) -> String {
        let (name, mode) = (&self.name, self.mode);
        let decision = self.decide(path);
        let verdict = if decision.is_allowed() {
            "allowed"
        } else {
            "blocked"
        };
        let (Decision::Allowed { matched } | Decision::Blocked { matched, .. }) = decision;
        if let Some(i) = matched {
            return format!(
                "{verdict}: matches matcher {} `{}` of {mode} rule '{name}'",
                i + 1,
                self.matchers[i].written.as_str()
            );
        }
        let mut text = format!("{verdict}: no matcher of {mode} rule '{name}' matches {path}");
        if let Some(i) = self
            .matchers
            .iter()
            .position(|m| m.written.is_match(path.as_str()))
        {
            text.push_str(&format!(
                " (matcher {} `{}` matches only part of it; a matcher must match the whole \
                 path, as in Nexus: end it with `.*` to cover everything below)",
                i + 1,
                self.matchers[i].written.as_str()
            ));
        }
        text
    }
}

impl TryFrom<&RoutingRuleDecl> for RoutingRule {
    type Error = Error;
    fn try_from(d: &RoutingRuleDecl) -> Result<Self> {
        RoutingRule::new(&d.name, &d.description, d.mode, &d.matchers)
    }
}

impl From<&RoutingRule> for RoutingRuleDecl {
    fn from(r: &RoutingRule) -> Self {
        RoutingRuleDecl {
            name: r.name.clone(),
            description: r.description.clone(),
            mode: r.mode,
            matchers: r.matchers().map(str::to_owned).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> AssetPath {
        AssetPath::parse(s).unwrap()
    }

    fn s3() -> RoutingRule {
        RoutingRule::new(
            "hub-namespaces",
            "the namespaces we mirror",
            Mode::Allow,
            &["^/v2/(helloz|user2|user3)/.*"],
        )
        .unwrap()
    }

    #[test]
    fn s3_allow_rule() {
        let r = s3();
        for ok in [
            "/v2/helloz/onenav/manifests/0.9.33",
            "/v2/helloz/onenav/manifests/sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "/v2/helloz/onenav/blobs/sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "/v2/helloz/onenav/tags/list",
            "/v2/user2/deep/ly/nested/manifests/1",
            "/v2/user3/x/manifests/latest",
        ] {
            assert_eq!(
                r.decide(&p(ok)),
                Decision::Allowed { matched: Some(0) },
                "{ok}"
            );
            assert!(r.check(&p(ok)).is_ok());
        }
        for refused in [
            "/v2/someoneelse/app/manifests/latest",
            "/v2/hellozz/onenav/manifests/1",
            "/v2/xhelloz/onenav/manifests/1",
            "/v2/helloz",
            "/v2/HELLOZ/onenav/manifests/1",
            "/v2/someoneelse/helloz/manifests/1",
            "/repository/x/v2/helloz/a/manifests/1",
            "/v2/_catalog",
            "/v2/user22/x/manifests/1",
        ] {
            assert_eq!(
                r.decide(&p(refused)),
                Decision::Blocked {
                    rule: "hub-namespaces".into(),
                    matched: None
                },
                "{refused}"
            );
        }
        let e = r
            .check(&p("/v2/someoneelse/app/manifests/latest"))
            .unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::Blocked {
                rule: "hub-namespaces".into()
            }
        );
        assert_eq!(
            e.msg,
            "/v2/someoneelse/app/manifests/latest is not allowed by routing rule \
             'hub-namespaces' (allow: ^/v2/(helloz|user2|user3)/.*)"
        );
    }

    #[test]
    fn block_mode() {
        let r = RoutingRule::new(
            "no-snapshots",
            "",
            Mode::Block,
            &[".*-SNAPSHOT.*", "^/v2/internal/.*"],
        )
        .unwrap();
        assert_eq!(
            r.decide(&p("/v2/app/manifests/1.0")),
            Decision::Allowed { matched: None }
        );
        assert_eq!(
            r.decide(&p("/v2/app/manifests/1.0-SNAPSHOT")),
            Decision::Blocked {
                rule: "no-snapshots".into(),
                matched: Some(0)
            }
        );
        assert_eq!(
            r.decide(&p("/v2/internal/x/manifests/1")),
            Decision::Blocked {
                rule: "no-snapshots".into(),
                matched: Some(1)
            }
        );
        let e = r.check(&p("/v2/internal/x/manifests/1")).unwrap_err();
        assert_eq!(
            e.msg,
            "/v2/internal/x/manifests/1 is not allowed by routing rule 'no-snapshots' \
             (block: ^/v2/internal/.*)"
        );
    }

    /// As in Nexus, a matcher must match the whole path: anchors written or not, same result.
    #[test]
    fn matchers_match_the_whole_path() {
        let with = RoutingRule::new("a", "", Mode::Allow, &["^/v2/helloz/.*$"]).unwrap();
        let without = RoutingRule::new("b", "", Mode::Allow, &["/v2/helloz/.*"]).unwrap();
        let partial = RoutingRule::new("c", "", Mode::Allow, &["^/v2/helloz"]).unwrap();
        let alternation = RoutingRule::new("d", "", Mode::Allow, &["/v2/a/.*|/v2/b/.*"]).unwrap();
        let path = p("/v2/helloz/onenav/manifests/1");
        assert!(with.is_allowed(&path));
        assert!(without.is_allowed(&path));
        assert!(!partial.is_allowed(&path));
        assert!(partial.is_allowed(&p("/v2/helloz")));
        // The anchors wrap the whole alternation, not its first branch.
        assert!(alternation.is_allowed(&p("/v2/b/x")));
        assert!(!alternation.is_allowed(&p("/x/v2/b/x")));
        assert!(!alternation.is_allowed(&p("/v2/c/v2/a/x")));
    }

    #[test]
    fn explanations() {
        let r = s3();
        assert_eq!(
            r.explain(&p("/v2/helloz/onenav/manifests/0.9.33")),
            "allowed: matches matcher 1 `^/v2/(helloz|user2|user3)/.*` of allow rule \
             'hub-namespaces'"
        );
        assert_eq!(
            r.explain(&p("/v2/someoneelse/app/manifests/latest")),
            "blocked: no matcher of allow rule 'hub-namespaces' matches \
             /v2/someoneelse/app/manifests/latest"
        );
        let b = RoutingRule::new("b", "", Mode::Block, &["x", "^/v2/bad/.*"]).unwrap();
        assert_eq!(
            b.explain(&p("/v2/bad/a/manifests/1")),
            "blocked: matches matcher 2 `^/v2/bad/.*` of block rule 'b'"
        );
        assert_eq!(
            b.explain(&p("/v2/good/a/manifests/1")),
            "allowed: no matcher of block rule 'b' matches /v2/good/a/manifests/1"
        );
        let partial = RoutingRule::new("p", "", Mode::Allow, &["^/v2/helloz/"]).unwrap();
        let text = partial.explain(&p("/v2/helloz/a/manifests/1"));
        assert!(text.starts_with("blocked: no matcher"), "{text}");
        assert!(
            text.contains("matcher 1 `^/v2/helloz/` matches only part of it"),
            "{text}"
        );
    }

    #[test]
    fn bad_rules_are_refused_with_names() {
        let e =
            RoutingRule::new("r1", "", Mode::Allow, &["^/v2/ok/.*", "^/v2/(unclosed"]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(
            e.msg
                .starts_with("routing rule 'r1': matcher 2 `^/v2/(unclosed` is not a valid"),
            "{}",
            e.msg
        );
        // Balanced by the anchoring wrapper, but not a valid pattern on its own.
        let e = RoutingRule::new("r2", "", Mode::Allow, &["a)|(b"]).unwrap_err();
        assert!(e.msg.contains("matcher 1 `a)|(b`"), "{}", e.msg);
        // Look-around and back-references need backtracking: refused, not silently changed.
        assert!(RoutingRule::new("r3", "", Mode::Block, &[r"(a)\1"]).is_err());
        assert!(RoutingRule::new("r4", "", Mode::Block, &["^(?!/v2/x)"]).is_err());
        let none: [&str; 0] = [];
        let e = RoutingRule::new("r5", "", Mode::Allow, &none).unwrap_err();
        assert!(e.msg.contains("has no matchers"), "{}", e.msg);
        for bad in ["", "a b", "-x", "ä", &"x".repeat(65)] {
            let e = RoutingRule::new(bad, "", Mode::Allow, &[".*"]).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Invalid, "{bad:?}");
        }
    }

    /// `(a+)+$`-style patterns take exponential time in a backtracking engine on a near-miss
    /// input; finite automata answer in linear time. No timing assertion: it just completes.
    #[test]
    fn pathological_patterns_run_in_linear_time() {
        let r = RoutingRule::new(
            "evil",
            "",
            Mode::Block,
            &["^/(a+)+$", "^/(a|aa)+$", "^/(a|a?)+b$", "^/(.*a){20}$"],
        )
        .unwrap();
        let path = p(&format!("/{}!", "a".repeat(10_000)));
        assert!(r.is_allowed(&path));
        let path = p(&format!("/{}", "a".repeat(10_000)));
        assert!(!r.is_allowed(&path));
    }

    #[test]
    fn declarations() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            routing_rule: Vec<RoutingRuleDecl>,
        }
        let file: File = toml::from_str(
            r#"
            [[routing_rule]]
            name = "hub-namespaces"
            description = "only what we mirror"
            mode = "allow"
            matchers = ["^/v2/(helloz|user2|user3)/.*"]

            [[routing_rule]]
            name = "no-internal"
            mode = "block"
            matchers = ["^/v2/internal/.*"]
            "#,
        )
        .unwrap();
        let rules: Vec<RoutingRule> = file
            .routing_rule
            .iter()
            .map(RoutingRule::try_from)
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(rules[0].name(), "hub-namespaces");
        assert_eq!(rules[0].description(), "only what we mirror");
        assert_eq!(rules[0].mode(), Mode::Allow);
        assert_eq!(rules[1].description(), "");
        assert_eq!(rules[1].mode(), Mode::Block);
        assert_eq!(
            RoutingRuleDecl::from(&rules[0]),
            file.routing_rule[0],
            "round trip"
        );

        let typo = toml::from_str::<File>(
            "[[routing_rule]]\nname = \"x\"\nmode = \"allow\"\nmatcher = [\".*\"]",
        );
        assert!(typo.unwrap_err().to_string().contains("matcher"));
        let mode = toml::from_str::<File>(
            "[[routing_rule]]\nname = \"x\"\nmode = \"deny\"\nmatchers = [\".*\"]",
        );
        assert!(mode.is_err());
        let decl = RoutingRuleDecl {
            name: "x".into(),
            description: String::new(),
            mode: Mode::Allow,
            matchers: vec!["(".into()],
        };
        let e = RoutingRule::try_from(&decl).unwrap_err();
        assert!(
            e.msg.contains("routing rule 'x': matcher 1 `(`"),
            "{}",
            e.msg
        );
    }
}

#[cfg(test)]
mod limits {
    use super::*;

    /// A rule cannot take a node's memory: matchers are counted, sized and compiled within a
    /// bound, and each excess is refused with a message saying what the limit is.
    #[test]
    fn matchers_are_bounded() {
        let many: Vec<String> = (0..100_000).map(|i| format!("^/v2/n{i}/.*")).collect();
        let e = RoutingRule::new("r", "", Mode::Allow, &many).unwrap_err();
        assert_eq!(e.kind, trove_core::ErrorKind::Invalid);
        assert!(e.msg.contains("100000 matchers; at most 64"), "{}", e.msg);
        let ok: Vec<String> = (0..MAX_MATCHERS).map(|i| format!("^/v2/n{i}/.*")).collect();
        RoutingRule::new("r", "", Mode::Allow, &ok).unwrap();
        let long = "a".repeat(MAX_MATCHER_LEN + 1);
        let e = RoutingRule::new("r", "", Mode::Allow, &[long]).unwrap_err();
        assert!(e.msg.contains("characters long"), "{}", e.msg);
        // Short to write, huge to compile: refused by the compiled-size limit.
        let e = RoutingRule::new("r", "", Mode::Allow, &[r"\w{1000}\w{1000}"]).unwrap_err();
        assert!(
            e.msg.contains("not a valid regular expression"),
            "{}",
            e.msg
        );
    }
}
