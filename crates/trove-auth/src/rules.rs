//! What a security name may be and how roles may nest, checked before anything is written.
//! The store keeps only what its tables need (unique names, references that exist, and an
//! acyclic role graph, re-checked inside its transaction); the rules and the messages that
//! explain a refusal live here, for every front end (config, CLI, console, REST API).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use trove_core::{Error, Result};
use trove_store::{RoleDef, RoleRecord};

/// User and role names: 1 to 128 of `A-Z a-z 0-9 . _ - @`, not starting with `.` or `-`. No
/// `:` (Basic credentials split there), no spaces or control characters. `what` names the
/// kind in the message (`user`, `role`).
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid {what} name {name:?}: use 1-128 of A-Z a-z 0-9 . _ - @ (not starting with . or -)"
        )))
    }
}

/// Refuses `changed` (roles about to be created or replaced) if, applied over `current`
/// (the roles as they are), some role would contain itself, directly or through other roles;
/// the error names the cycle (`role cycle: a → c → b → a`). Child names that match no role
/// are left to the store, which refuses them naming the role.
pub fn check_role_graph(current: &[RoleRecord], changed: &[RoleDef]) -> Result<()> {
    for role in changed {
        if role.roles.contains(&role.name) {
            return Err(Error::invalid(format!(
                "role cycle: {0} → {0} (a role cannot contain itself)",
                role.name
            )));
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = current
        .iter()
        .map(|r| (r.name.clone(), r.roles.iter().cloned().collect()))
        .collect();
    for role in changed {
        graph.insert(role.name.clone(), role.roles.iter().cloned().collect());
    }
    match find_cycle(&graph) {
        None => Ok(()),
        Some(cycle) => Err(Error::invalid(format!(
            "role cycle: {} (a role cannot contain itself, directly or through other roles)",
            cycle.join(" → ")
        ))),
    }
}

/// Depth-first search in name order; returns the first cycle found, closed (`[a, b, a]`).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnStack,
        Done,
    }
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        marks: &mut HashMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        marks.insert(node, Mark::OnStack);
        stack.push(node);
        for child in graph.get(node).into_iter().flatten() {
            match marks.get(child.as_str()) {
                Some(Mark::OnStack) => {
                    let start = stack.iter().position(|n| *n == child)?;
                    let mut cycle: Vec<String> =
                        stack[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(child.clone());
                    return Some(cycle);
                }
                Some(Mark::Done) => {}
                None => {
                    if let Some(c) = visit(child, graph, marks, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        marks.insert(node, Mark::Done);
        None
    }
    let mut marks = HashMap::new();
    for node in graph.keys() {
        if !marks.contains_key(node.as_str()) {
            let mut stack = Vec::new();
            if let Some(c) = visit(node, graph, &mut marks, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str, roles: &[&str]) -> RoleDef {
        RoleDef {
            name: name.into(),
            description: String::new(),
            privileges: vec![],
            roles: roles.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn record(name: &str, roles: &[&str]) -> RoleRecord {
        RoleRecord {
            id: format!("id-{name}"),
            name: name.into(),
            description: String::new(),
            managed_by: "ui".into(),
            privileges: vec![],
            roles: roles.iter().map(|s| s.to_string()).collect(),
            created: 0,
            updated: 0,
        }
    }

    #[test]
    fn cycle_finder() {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        g.entry("a".into()).or_default().insert("b".into());
        g.entry("b".into()).or_default().insert("c".into());
        assert_eq!(find_cycle(&g), None);
        g.entry("c".into()).or_default().insert("b".into());
        assert_eq!(find_cycle(&g).unwrap(), ["b", "c", "b"]);
    }

    #[test]
    fn a_change_that_closes_a_cycle_is_named() {
        let current = [record("a", &[]), record("b", &["a"]), record("c", &["b"])];
        assert!(check_role_graph(&current, &[def("d", &["c"])]).is_ok());
        assert!(
            check_role_graph(&current, &[def("c", &[])]).is_ok(),
            "a replaced role's old children no longer count"
        );
        let e = check_role_graph(&current, &[def("a", &["c"])]).unwrap_err();
        assert!(e.msg.contains("role cycle: a → c → b → a"), "{}", e.msg);
        let e = check_role_graph(&current, &[def("a", &["a"])]).unwrap_err();
        assert!(e.msg.contains("role cycle: a → a"), "{}", e.msg);
        let e = check_role_graph(&[], &[def("x", &["z"]), def("y", &["x"]), def("z", &["y"])])
            .unwrap_err();
        assert!(e.msg.contains("role cycle: x → z → y → x"), "{}", e.msg);
        assert!(
            check_role_graph(&current, &[def("e", &["ghost"])]).is_ok(),
            "unknown children are the store's to refuse"
        );
    }

    #[test]
    fn names() {
        for good in ["alice", "ci.bot", "a_b-c", "x@example.org", "A1"] {
            validate_name("user", good).unwrap();
        }
        for bad in [
            "",
            "bad:name",
            "a b",
            ".dot",
            "-dash",
            "tab\t",
            "é",
            &"a".repeat(129),
        ] {
            let e = validate_name("user", bad).unwrap_err();
            assert!(e.msg.contains("invalid user name"), "{bad:?}: {}", e.msg);
        }
    }
}
