//! Pure checks of group configuration, run by the server before it builds any repository.

use std::collections::HashMap;

use trove_core::{Error, Result};

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Visiting,
    Done,
}

/// Refuses group membership that loops: `groups` holds every group with its member names (a
/// member that is not a group is a leaf). The error names the first cycle found, in the order
/// given: "group a → b → a".
pub fn check_cycles<G: AsRef<str>, M: AsRef<str>>(groups: &[(G, Vec<M>)]) -> Result<()> {
    let mut index: HashMap<&str, &[M]> = HashMap::new();
    for (group, members) in groups {
        index.entry(group.as_ref()).or_insert(members.as_slice());
    }
    let mut state = HashMap::new();
    let mut stack = Vec::new();
    for (group, _) in groups {
        visit(group.as_ref(), &index, &mut state, &mut stack)?;
    }
    Ok(())
}

fn visit<'a, M: AsRef<str>>(
    node: &'a str,
    index: &HashMap<&'a str, &'a [M]>,
    state: &mut HashMap<&'a str, State>,
    stack: &mut Vec<&'a str>,
) -> Result<()> {
    match state.get(node) {
        Some(State::Done) => return Ok(()),
        Some(State::Visiting) => {
            let at = stack.iter().position(|n| *n == node).unwrap_or(0);
            let mut cycle = stack[at..].to_vec();
            cycle.push(node);
            return Err(Error::invalid(format!(
                "group membership forms a cycle: group {}; a group cannot contain itself, \
                 directly or through other groups",
                cycle.join(" → ")
            )));
        }
        None => {}
    }
    let Some(members) = index.get(node) else {
        return Ok(());
    };
    state.insert(node, State::Visiting);
    stack.push(node);
    for member in members.iter() {
        visit(member.as_ref(), index, state, stack)?;
    }
    stack.pop();
    state.insert(node, State::Done);
    Ok(())
}

/// Refuses a `writable_member` that is not one of the group's members: what is pushed through
/// a group must be pullable through it.
pub fn check_writable_member<M: AsRef<str>>(
    group: &str,
    members: &[M],
    writable: Option<&str>,
) -> Result<()> {
    match writable {
        Some(w) if !members.iter().any(|m| m.as_ref() == w) => Err(Error::invalid(format!(
            "group {group}: writable_member \"{w}\" is not one of its members; add it to members \
             so that what is pushed through the group can be pulled through it"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use trove_core::ErrorKind;

    use super::*;

    fn groups(spec: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        spec.iter()
            .map(|(g, ms)| (g.to_string(), ms.iter().map(|m| m.to_string()).collect()))
            .collect()
    }

    #[test]
    fn cycles_are_named() {
        let e =
            check_cycles(&groups(&[("a", &["hosted", "b"]), ("b", &["proxy", "a"])])).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(e.msg.contains("group a → b → a;"), "{}", e.msg);

        let e = check_cycles(&groups(&[("self", &["self"])])).unwrap_err();
        assert!(e.msg.contains("group self → self;"), "{}", e.msg);

        // Only the loop is named, not the way into it.
        let e = check_cycles(&groups(&[
            ("top", &["x"]),
            ("x", &["y"]),
            ("y", &["z", "leaf"]),
            ("z", &["x"]),
        ]))
        .unwrap_err();
        assert!(e.msg.contains("group x → y → z → x;"), "{}", e.msg);
    }

    #[test]
    fn shared_members_and_nesting_are_fine() {
        // A diamond: two paths to the same group is not a cycle.
        check_cycles(&groups(&[
            ("top", &["left", "right"]),
            ("left", &["shared", "hosted"]),
            ("right", &["shared"]),
            ("shared", &["proxy"]),
        ]))
        .unwrap();
        check_cycles(&groups(&[("g", &[])])).unwrap();
        let none: [(&str, Vec<&str>); 0] = [];
        check_cycles(&none).unwrap();
        // Borrowed names work as well as owned ones.
        check_cycles(&[("g", vec!["h"]), ("h", vec!["hosted"])]).unwrap();
    }

    #[test]
    fn writable_member_must_be_a_member() {
        check_writable_member("g", &["a", "b"], Some("b")).unwrap();
        check_writable_member("g", &["a", "b"], None).unwrap();
        let e = check_writable_member("g", &["a"], Some("b")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(
            e.msg.starts_with("group g: writable_member \"b\""),
            "{}",
            e.msg
        );
    }
}
