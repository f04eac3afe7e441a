//! Docker's one table between registry calls, Trove actions and token scopes
//! (<https://distribution.github.io/distribution/spec/auth/scope/>). Every challenge, every
//! token grant and every refusal of the docker front end reads it; nothing else in Trove knows
//! the words `pull`, `push` and `delete`.
//!
//! | call | Trove action | challenge scope |
//! |---|---|---|
//! | `GET /v2/_catalog`, `GET /v2/<name>/tags/list` | browse | pull |
//! | `GET`/`HEAD` manifests, blobs, referrers | read | pull |
//! | blob upload (POST, PATCH, PUT, upload status GET, cancel DELETE) | add | pull,push |
//! | cross-repo mount (`POST ...?mount=&from=<other>`) | add, and read on `<other>` | pull,push and `<other>`:pull |
//! | `PUT` manifest under a new tag or digest | add | pull,push |
//! | `PUT` manifest moving an existing tag | edit | pull,push |
//! | `DELETE` manifest or blob | delete | delete |
//!
//! A token's `pull` covers browse and read and is granted to callers who may read; `push`
//! covers add and edit and is granted to callers who may read, add and edit (docker checks
//! which blobs exist, uploads the missing ones and moves the tag); `delete` covers delete.

use actix_web::http::Method;
use trove_auth::{Action, ActionSet, ScopeAction};

use super::route::Route;

pub const PULL: ScopeAction = ScopeAction {
    name: "pull",
    covers: ActionSet::of_const(&[Action::Browse, Action::Read]),
    requires: ActionSet::of_const(&[Action::Read]),
};
pub const PUSH: ScopeAction = ScopeAction {
    name: "push",
    covers: ActionSet::of_const(&[Action::Add, Action::Edit]),
    requires: ActionSet::of_const(&[Action::Read, Action::Add, Action::Edit]),
};
pub const DELETE: ScopeAction = ScopeAction {
    name: "delete",
    covers: ActionSet::of_const(&[Action::Delete]),
    requires: ActionSet::of_const(&[Action::Delete]),
};
/// Every scope action, in the order tokens list them (what `*` asks for).
pub const ALL: [ScopeAction; 3] = [PULL, PUSH, DELETE];

/// The scope actions a client must ask for to be allowed `action`: what a challenge names.
pub fn for_action(action: Action) -> &'static [ScopeAction] {
    match action {
        Action::Browse | Action::Read => &[PULL],
        // Docker asks for pull and push together for every push.
        Action::Add | Action::Edit => &[PULL, PUSH],
        Action::Delete => &[DELETE],
    }
}

/// `pull,push`: the actions part of a scope string.
pub fn names(actions: &[ScopeAction]) -> String {
    actions.iter().map(|a| a.name).collect::<Vec<_>>().join(",")
}

/// The scope actions a token request names (`*` is all of them; unknown ones ask for
/// nothing), each once, in table order.
pub fn parse(names: &[String]) -> Vec<ScopeAction> {
    ALL.iter()
        .filter(|a| names.iter().any(|n| n == a.name || n == "*"))
        .copied()
        .collect()
}

/// The Trove action a registry call needs (`None`: not a call on repository content). Moving
/// an existing tag needs edit on top of add, which the manifest handler checks once it knows
/// the tag exists.
pub fn action_of(route: &Route, method: &Method) -> Option<Action> {
    let read = matches!(*method, Method::GET | Method::HEAD);
    Some(match route {
        Route::Ping => return None,
        Route::Catalog | Route::Tags { .. } if read => Action::Browse,
        Route::Referrers { .. } if read => Action::Read,
        Route::Manifest { .. } | Route::Blob { .. } if read => Action::Read,
        Route::Manifest { .. } | Route::Blob { .. } if *method == Method::DELETE => Action::Delete,
        Route::Manifest { .. } if *method == Method::PUT => Action::Add,
        Route::UploadStart { .. } if *method == Method::POST => Action::Add,
        Route::Upload { .. }
            if matches!(
                *method,
                Method::GET | Method::PATCH | Method::PUT | Method::DELETE
            ) =>
        {
            Action::Add
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::route;

    #[test]
    fn one_table() {
        let r = |tail: &str| route::parse(tail).unwrap();
        let d = "sha256:".to_owned() + &"a".repeat(64);
        let id = "0190c7d5-3c43-7b5e-9f3b-0123456789ab";
        let cases = [
            ("/img/tags/list", Method::GET, Some(Action::Browse)),
            ("/img/manifests/1", Method::GET, Some(Action::Read)),
            ("/img/manifests/1", Method::HEAD, Some(Action::Read)),
            ("/img/manifests/1", Method::PUT, Some(Action::Add)),
            ("/img/manifests/1", Method::DELETE, Some(Action::Delete)),
            (&format!("/img/blobs/{d}"), Method::GET, Some(Action::Read)),
            (
                &format!("/img/blobs/{d}"),
                Method::DELETE,
                Some(Action::Delete),
            ),
            (
                &format!("/img/referrers/{d}"),
                Method::GET,
                Some(Action::Read),
            ),
            ("/img/blobs/uploads/", Method::POST, Some(Action::Add)),
            (
                &format!("/img/blobs/uploads/{id}"),
                Method::GET,
                Some(Action::Add),
            ),
            (
                &format!("/img/blobs/uploads/{id}"),
                Method::PATCH,
                Some(Action::Add),
            ),
            (
                &format!("/img/blobs/uploads/{id}"),
                Method::PUT,
                Some(Action::Add),
            ),
            (
                &format!("/img/blobs/uploads/{id}"),
                Method::DELETE,
                Some(Action::Add),
            ),
            ("/img/manifests/1", Method::POST, None),
        ];
        for (tail, m, want) in cases {
            assert_eq!(action_of(&r(tail), &m), want, "{m} {tail}");
        }
        assert_eq!(names(for_action(Action::Add)), "pull,push");
        assert_eq!(names(for_action(Action::Browse)), "pull");
        assert_eq!(names(for_action(Action::Delete)), "delete");
        assert_eq!(names(&parse(&["*".into()])), "pull,push,delete");
        assert_eq!(names(&parse(&["push".into(), "admin".into()])), "push");
        // What each grant covers is what each challenge asks for.
        for a in Action::ALL {
            let covered = for_action(a)
                .iter()
                .fold(ActionSet::EMPTY, |s, x| s.union(x.covers));
            assert!(covered.contains(a), "{a}");
        }
        assert_eq!(PUSH.requires.to_list_string(), "read,add,edit");
    }
}
