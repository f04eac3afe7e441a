//! API tokens (user tokens): long-lived credentials a user makes for a robot or a client, sent
//! wherever a password or a bearer token goes (see `Authenticator::identify`).
//!
//! A token is `trove_<selector>_<secret>`: 12 and 43 characters of `[A-Za-z0-9]` (71 and 256
//! bits from the OS's CSPRNG). The prefix makes a leaked token recognisable (secret scanners,
//! log greps); the selector finds its row with one primary-key read and is shown in listings so
//! people can tell tokens apart; only the SHA-256 of the whole token is stored. A fast hash is
//! right here, unlike for passwords: with 256 random bits there is nothing to guess, so a slow
//! hash would only make every request slower (docs/decisions/0016-api-tokens.md). The stored and
//! computed hashes are compared in constant time.
//!
//! A token may be narrowed to some repositories and some actions ([`TokenGrant`]); the narrowing
//! is intersected with the owner's roles *at every use* (`Auth::authorize`), so it can never
//! grant more than the owner has now. A narrowed token is never an administrator and holds no
//! application permission. Every use reads the token's row, so a revoked or expired token is
//! refused by the next request on every node (no cache to outlive it).

use rand::Rng;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use trove_core::Result;
use trove_store::ApiTokenRow;

use crate::model::{Action, ActionSet};

/// What every API token starts with.
pub const TOKEN_PREFIX: &str = "trove_";
const SELECTOR_LEN: usize = 12;
const SECRET_LEN: usize = 43;
/// `trove_` + selector + `_` + secret.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + SELECTOR_LEN + 1 + SECRET_LEN;

/// A freshly made token: shown once, then only its hash is kept.
pub struct NewToken {
    /// The whole token, for the caller to copy now.
    pub token: String,
    /// The selector (the row's id).
    pub id: String,
    /// Hex SHA-256 of `token`.
    pub hash: String,
}

/// Never prints the token.
impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn alphanumerics(n: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// A new random token.
pub fn generate() -> NewToken {
    let id = alphanumerics(SELECTOR_LEN);
    let token = format!("{TOKEN_PREFIX}{id}_{}", alphanumerics(SECRET_LEN));
    NewToken {
        hash: hash(&token),
        id,
        token,
    }
}

/// Hex SHA-256 of a token: what the row keeps.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The selector of `s` if it has the exact shape of an API token. Anything else (a password, a
/// JWT) is not one, so a password can only be mistaken for a token if it is one.
pub fn selector(s: &str) -> Option<&str> {
    let rest = s.strip_prefix(TOKEN_PREFIX)?;
    if s.len() != TOKEN_LEN {
        return None;
    }
    let (sel, secret) = rest.split_at(SELECTOR_LEN);
    let secret = secret.strip_prefix('_')?;
    let alnum = |x: &str| x.bytes().all(|b| b.is_ascii_alphanumeric());
    (alnum(sel) && alnum(secret) && secret.len() == SECRET_LEN).then_some(sel)
}

/// Whether `token` hashes to `stored` (hex), compared in constant time.
pub fn matches(token: &str, stored: &str) -> bool {
    let computed = hash(token);
    computed.len() == stored.len() && bool::from(computed.as_bytes().ct_eq(stored.as_bytes()))
}

/// What an API token allows on top of its owner's roles (which always apply too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// The selector.
    pub id: String,
    /// The token's name (what the audit log and listings call it).
    pub name: String,
    /// `None`: every repository.
    pub repositories: Option<Vec<String>>,
    /// `None`: every action.
    pub actions: Option<ActionSet>,
}

impl TokenGrant {
    /// From a stored row; a narrowing that does not parse allows nothing (deny by default).
    pub fn from_row(row: &ApiTokenRow) -> TokenGrant {
        TokenGrant {
            id: row.id.clone(),
            name: row.name.clone(),
            repositories: row.repositories.clone(),
            actions: row.actions.as_deref().map(|a| {
                ActionSet::parse_list(a).unwrap_or_else(|e| {
                    tracing::warn!(token = %row.name, error = %e, "a token's actions do not parse; it allows nothing");
                    ActionSet::EMPTY
                })
            }),
        }
    }

    /// Whether it is limited at all (then it is no administrator and holds no application
    /// permission).
    pub fn is_narrowed(&self) -> bool {
        self.repositories.is_some() || self.actions.is_some()
    }

    /// Whether the narrowing lets `action` on repository `repo` through (the owner's roles
    /// still decide).
    pub fn covers(&self, repo: &str, action: Action) -> bool {
        self.repositories
            .as_ref()
            .is_none_or(|r| r.iter().any(|n| n == repo))
            && self.actions.is_none_or(|a| a.contains(action))
    }

    /// The actions of `allowed` the narrowing lets through on `repo`.
    pub fn narrow(&self, repo: &str, allowed: ActionSet) -> ActionSet {
        allowed
            .iter()
            .filter(|a| self.covers(repo, *a))
            .fold(ActionSet::EMPTY, ActionSet::with)
    }
}

/// Checks a narrowing given by a user: repository names (each valid, listed once) and actions.
/// An empty list is refused: it would make a token that can do nothing.
pub fn parse_narrowing(
    repositories: Option<&[String]>,
    actions: Option<&[String]>,
) -> Result<(Option<Vec<String>>, Option<ActionSet>)> {
    let repositories = match repositories {
        None => None,
        Some([]) => {
            return Err(trove_core::Error::invalid(
                "list at least one repository, or leave repositories out for all of them",
            ));
        }
        Some(list) => {
            let mut out: Vec<String> = Vec::new();
            for r in list {
                let name = trove_core::RepoName::parse(r.trim())?;
                if !out.iter().any(|o| o == name.as_str()) {
                    out.push(name.to_string());
                }
            }
            Some(out)
        }
    };
    let actions = match actions {
        None => None,
        Some(list) => Some(ActionSet::parse(list)?),
    };
    Ok((repositories, actions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_hash_and_comparison() {
        let t = generate();
        assert_eq!(t.token.len(), TOKEN_LEN);
        assert!(t.token.starts_with("trove_"));
        assert_eq!(selector(&t.token), Some(t.id.as_str()));
        assert_eq!(t.hash.len(), 64);
        assert!(matches(&t.token, &t.hash));
        assert!(!matches(&t.token, &hash("trove_other")));
        assert!(!matches(&t.token, "short"));
        assert_ne!(generate().token, t.token);
        assert!(!format!("{t:?}").contains(&t.token));
        // Not tokens: passwords, JWTs, near misses.
        for s in [
            "correct horse battery staple",
            "eyJhbGciOiJIUzI1NiJ9.e30.sig",
            &t.token[..TOKEN_LEN - 1],
            &format!("{}x", t.token),
            &t.token.replacen('_', "-", 2),
            &format!("trove_{}-{}", "a".repeat(12), "b".repeat(43)),
            &format!("trove_{}_{}", "a".repeat(12), "b/".repeat(21) + "c"),
        ] {
            assert_eq!(selector(s), None, "{s}");
        }
    }

    #[test]
    fn narrowing() {
        let g = TokenGrant {
            id: "x".into(),
            name: "ci".into(),
            repositories: Some(vec!["a".into()]),
            actions: Some(ActionSet::of(&[Action::Browse, Action::Read])),
        };
        assert!(g.is_narrowed());
        assert!(g.covers("a", Action::Read));
        assert!(!g.covers("a", Action::Add));
        assert!(!g.covers("b", Action::Read));
        assert_eq!(
            g.narrow("a", ActionSet::ALL).to_list_string(),
            "browse,read"
        );
        assert!(g.narrow("b", ActionSet::ALL).is_empty());
        let open = TokenGrant {
            repositories: None,
            actions: None,
            ..g
        };
        assert!(!open.is_narrowed() && open.covers("b", Action::Delete));
        assert!(parse_narrowing(Some(&[]), None).is_err());
        assert!(parse_narrowing(None, Some(&[])).is_err());
        assert!(parse_narrowing(Some(&["a/b".into()]), None).is_err());
        let (r, a) =
            parse_narrowing(Some(&["a".into(), "a".into()]), Some(&["read".into()])).unwrap();
        assert_eq!(r, Some(vec!["a".to_owned()]));
        assert_eq!(a.unwrap().to_list_string(), "read");
    }
}
