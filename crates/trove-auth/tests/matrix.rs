//! The privilege matrix: principals × repositories × actions, every cell checked against an
//! expectation table written by hand (not computed from the roles), in both directions.

use crate::common;

use common::*;
use trove_auth::{Action, Principal, SecurityDecl, UserStatus};
use trove_core::RepositoryConfig;

/// Roles under test. Effective grants, by hand:
/// - docker-readers:   docker/* browse,read
/// - hosted-writers:   docker/docker-hosted add,edit            + docker-readers
/// - developers:       raw/raw-files read                        + hosted-writers (2 deep)
/// - release-managers: */docker-hosted delete                    + developers (3 deep)
/// - raw-all:          raw/* *
/// - all-browse:       */* browse
/// - anon-pull:        docker/docker-proxy browse,read
/// - admins:           (nothing itself)                          + built-in admin (nx-all)
/// - empty:            nothing
/// - mismatch:         docker/npm-internal read  (npm-internal is npm: never matches)
fn declaration() -> SecurityDecl {
    SecurityDecl {
        anonymous: Some(true),
        realms: None,
        roles: vec![
            // Declared parents first: order must not matter.
            role(
                "release-managers",
                vec![privilege("*", "docker-hosted", &["delete"])],
                &["developers"],
            ),
            role(
                "developers",
                vec![privilege("raw", "raw-files", &["read"])],
                &["hosted-writers"],
            ),
            role(
                "hosted-writers",
                vec![privilege("docker", "docker-hosted", &["add", "edit"])],
                &["docker-readers"],
            ),
            role(
                "docker-readers",
                vec![privilege("docker", "*", &["browse", "read"])],
                &[],
            ),
            role("raw-all", vec![privilege("raw", "*", &["*"])], &[]),
            role("all-browse", vec![privilege("*", "*", &["browse"])], &[]),
            role(
                "anon-pull",
                vec![privilege("docker", "docker-proxy", &["browse", "read"])],
                &[],
            ),
            role("admins", vec![], &["admin"]),
            role("empty", vec![], &[]),
            role(
                "mismatch",
                vec![privilege("docker", "npm-internal", &["read"])],
                &[],
            ),
        ],
        users: vec![
            user("alice", None, &["developers"]),
            user("bob", None, &["docker-readers"]),
            user("carol", None, &["release-managers"]),
            user("dave", None, &["raw-all", "all-browse"]),
            user("erin", None, &["admins"]),
            user("frank", None, &["empty", "mismatch"]),
            user("grace", None, &[]),
            user("mallory", None, &["admins"]),
            user("anonymous", None, &["anon-pull"]),
        ],
        ..Default::default()
    }
}

fn repos() -> Vec<RepositoryConfig> {
    vec![
        repo("id-h", "docker-hosted", "docker"),
        repo("id-h2", "docker-hosted2", "docker"),
        repo("id-p", "docker-proxy", "docker"),
        repo("id-g", "docker-group", "docker"),
        repo("id-w", "raw-files", "raw"),
        repo("id-n", "npm-internal", "npm"),
    ]
}

/// Expected allowed actions per principal, one 5-letter cell per repository in `repos()` order:
/// B(rowse) R(ead) A(dd) E(dit) D(elete), `-` = denied.
const EXPECTED: &[(&str, [&str; 6])] = &[
    //               hosted   hosted2  proxy    group    raw      npm
    (
        "alice",
        ["BRAE-", "BR---", "BR---", "BR---", "-R---", "-----"],
    ),
    (
        "bob",
        ["BR---", "BR---", "BR---", "BR---", "-----", "-----"],
    ),
    (
        "carol",
        ["BRAED", "BR---", "BR---", "BR---", "-R---", "-----"],
    ),
    (
        "dave",
        ["B----", "B----", "B----", "B----", "BRAED", "B----"],
    ),
    (
        "erin",
        ["BRAED", "BRAED", "BRAED", "BRAED", "BRAED", "BRAED"],
    ),
    (
        "frank",
        ["-----", "-----", "-----", "-----", "-----", "-----"],
    ),
    (
        "grace",
        ["-----", "-----", "-----", "-----", "-----", "-----"],
    ),
    (
        "mallory",
        ["-----", "-----", "-----", "-----", "-----", "-----"],
    ), // disabled
    (
        "anon-on",
        ["-----", "-----", "BR---", "-----", "-----", "-----"],
    ),
    (
        "anon-off",
        ["-----", "-----", "-----", "-----", "-----", "-----"],
    ),
];

const LETTERS: [(Action, char); 5] = [
    (Action::Browse, 'B'),
    (Action::Read, 'R'),
    (Action::Add, 'A'),
    (Action::Edit, 'E'),
    (Action::Delete, 'D'),
];

#[tokio::test]
async fn privilege_matrix() {
    let (_dir, meta, auth) = auth().await;
    auth.apply_config(&declaration()).await.unwrap();
    auth.set_user_status("mallory", UserStatus::Disabled)
        .await
        .unwrap();
    let repos = repos();

    let (mut cells, mut allowed_cells, mut false_allows, mut false_denies) = (0, 0, 0, 0);
    let mut token_cells = 0;
    let mut failures = Vec::new();
    for (who, row) in EXPECTED {
        let p = match *who {
            "anon-on" => {
                auth.set_anonymous_enabled(true, "test").await.unwrap();
                Principal::Anonymous
            }
            "anon-off" => {
                auth.set_anonymous_enabled(false, "test").await.unwrap();
                Principal::Anonymous
            }
            name => {
                let u = meta.security().user(name).await.unwrap().unwrap();
                Principal::User {
                    id: u.id,
                    name: u.name,
                }
            }
        };
        let explain_as = if p.is_anonymous() { "anonymous" } else { *who };
        for (repo, cell) in repos.iter().zip(row) {
            for (action, letter) in LETTERS {
                cells += 1;
                let expected = cell.contains(letter);
                let got = auth.authorizer.check(&p, action, repo);
                let explained = auth.authorizer.explain(explain_as, repo, action);
                assert_eq!(
                    explained.allowed,
                    got.is_ok(),
                    "explain disagrees with check for {who} {action} {}: {explained}",
                    repo.name
                );
                match (expected, got) {
                    (true, Ok(_)) => allowed_cells += 1,
                    (false, Err(_)) => {}
                    (false, Ok(g)) => {
                        false_allows += 1;
                        failures.push(format!(
                            "FALSE ALLOW {who} {action} {} via {g:?}",
                            repo.name
                        ));
                    }
                    (true, Err(d)) => {
                        false_denies += 1;
                        failures.push(format!(
                            "false deny {who} {action} {}: {}",
                            repo.name, d.reason
                        ));
                    }
                }
            }
            // The token endpoint intersects with the same grants: pull needs R, push needs
            // R+A+E, delete needs D.
            let token = auth
                .tokens
                .issue(&p, &[crate::common::ask(repo, "img", &["*"])])
                .unwrap();
            let claims = auth.tokens.verify(&token.token, "trove").unwrap();
            let has = |c: char| cell.contains(c);
            let granted = |name: &str| {
                claims
                    .access
                    .iter()
                    .any(|a| a.repository_id == repo.id && a.actions.iter().any(|x| x == name))
            };
            for (docker_action, expected) in [
                ("pull", has('R')),
                ("push", has('R') && has('A') && has('E')),
                ("delete", has('D')),
            ] {
                token_cells += 1;
                let got = granted(docker_action);
                // What a granted scope action lets the token do, action by action.
                let covers = match docker_action {
                    "pull" => [Action::Browse, Action::Read].as_slice(),
                    "push" => &[Action::Add, Action::Edit],
                    _ => &[Action::Delete],
                };
                for a in covers {
                    assert_eq!(
                        claims.allows(&repo.id, "img", *a),
                        got,
                        "{who} {a} {}",
                        repo.name
                    );
                }
                if got && !expected {
                    false_allows += 1;
                    failures.push(format!(
                        "FALSE TOKEN ALLOW {who} {docker_action} {}",
                        repo.name
                    ));
                } else if !got && expected {
                    false_denies += 1;
                    failures.push(format!(
                        "false token deny {who} {docker_action} {}",
                        repo.name
                    ));
                }
            }
        }
    }
    let expected_allowed: usize = EXPECTED
        .iter()
        .flat_map(|(_, row)| row.iter())
        .map(|c| c.chars().filter(|ch| *ch != '-').count())
        .sum();
    println!(
        "privilege matrix: {} principals x {} repositories x {} actions = {cells} cells \
         ({allowed_cells} allowed), plus {token_cells} token cells; \
         {false_allows} false allows, {false_denies} false denies",
        EXPECTED.len(),
        repos.len(),
        LETTERS.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(false_allows, 0);
    assert_eq!(cells, 300);
    assert_eq!(allowed_cells, expected_allowed);
}
