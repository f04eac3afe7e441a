//! Maven's version ordering (`org.apache.maven.artifact.versioning.ComparableVersion`, as in
//! Maven 3.8): what `latest` and `release` of merged metadata are computed with, and how the
//! console sorts versions. A version is split at `.`, `-` and letter/digit changes into a tree
//! of items: numbers compare numerically; the known qualifiers in the order `alpha` (`a`),
//! `beta` (`b`), `milestone` (`m`), `rc` (`cr`), `snapshot`, release (`""`, `ga`, `final`,
//! `release`), `sp`, then other qualifiers lexically; a `-` starts a sub-list (so `1-1` sorts
//! after `1` and after `1.0` but before `1.1`). Trailing zeros and release qualifiers are
//! dropped, so `1`, `1.0` and `1-ga` are one version. No crate implements this well enough to
//! depend on (the one that exists is an unmaintained single release); the unit tests below are
//! Maven's own ordering examples.

use std::cmp::Ordering;

/// A parsed version, ordered as Maven orders it.
#[derive(Debug, Clone)]
pub struct MavenVersion {
    items: Vec<Item>,
}

#[derive(Debug, Clone)]
enum Item {
    /// Digits, leading zeros stripped (compared by length, then lexically: any size).
    Int(String),
    Str(String),
    List(Vec<Item>),
}

const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
/// The index of the release qualifier `""` in [`QUALIFIERS`].
const RELEASE: usize = 5;

/// A qualifier's sort key: its rank among the known ones, or after them all, lexically.
fn qualifier_key(q: &str) -> (usize, &str) {
    match QUALIFIERS.iter().position(|k| *k == q) {
        Some(i) => (i, ""),
        None => (QUALIFIERS.len(), q),
    }
}

fn string_item(s: &str, followed_by_digit: bool) -> Item {
    let s = match s {
        "a" if followed_by_digit => "alpha",
        "b" if followed_by_digit => "beta",
        "m" if followed_by_digit => "milestone",
        "ga" | "final" | "release" => "",
        "cr" => "rc",
        s => s,
    };
    Item::Str(s.to_owned())
}

fn int_item(digits: &str) -> Item {
    let trimmed = digits.trim_start_matches('0');
    Item::Int(trimmed.to_owned())
}

fn parse_item(digit: bool, s: &str) -> Item {
    if digit {
        int_item(s)
    } else {
        string_item(s, false)
    }
}

impl Item {
    fn is_null(&self) -> bool {
        match self {
            Item::Int(d) => d.is_empty(),
            Item::Str(s) => s.is_empty(),
            Item::List(l) => l.is_empty(),
        }
    }

    /// Compares with `other`, where `None` is the absent item a shorter version pads with.
    fn cmp_to(&self, other: Option<&Item>) -> Ordering {
        match (self, other) {
            (Item::Int(d), None) => {
                if d.is_empty() {
                    Ordering::Equal
                } else {
                    Ordering::Greater
                }
            }
            (Item::Int(a), Some(Item::Int(b))) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
            // 1.1 > 1-sp and 1.1 > 1-1
            (Item::Int(_), Some(_)) => Ordering::Greater,
            (Item::Str(s), None) => qualifier_key(s).cmp(&(RELEASE, "")),
            (Item::Str(_), Some(Item::Int(_))) => Ordering::Less,
            (Item::Str(a), Some(Item::Str(b))) => qualifier_key(a).cmp(&qualifier_key(b)),
            (Item::Str(_), Some(Item::List(_))) => Ordering::Less,
            (Item::List(l), None) => match l.first() {
                None => Ordering::Equal,
                Some(first) => first.cmp_to(None),
            },
            (Item::List(_), Some(Item::Int(_))) => Ordering::Less,
            (Item::List(_), Some(Item::Str(_))) => Ordering::Greater,
            (Item::List(a), Some(Item::List(b))) => cmp_lists(a, b),
        }
    }
}

fn cmp_lists(a: &[Item], b: &[Item]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let r = match (a.get(i), b.get(i)) {
            (None, None) => Ordering::Equal,
            (None, Some(r)) => r.cmp_to(None).reverse(),
            (Some(l), r) => l.cmp_to(r),
        };
        if r != Ordering::Equal {
            return r;
        }
    }
    Ordering::Equal
}

/// Drops trailing null items (zeros, release qualifiers, empty lists) up to the last
/// non-list item, as Maven's `ListItem.normalize`.
fn normalize(list: &mut Vec<Item>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if list[i].is_null() {
            list.remove(i);
        } else if !matches!(list[i], Item::List(_)) {
            break;
        }
    }
}

impl MavenVersion {
    pub fn parse(version: &str) -> MavenVersion {
        let v = version.to_ascii_lowercase();
        // The open lists, innermost last; each is attached to its parent when it closes.
        let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
        let mut digit = false;
        let mut start = 0;
        let bytes = v.as_bytes();
        let push = |stack: &mut Vec<Vec<Item>>, item: Item| {
            stack.last_mut().expect("a list is open").push(item);
        };
        for (i, &c) in bytes.iter().enumerate() {
            match c {
                b'.' => {
                    let item = if i == start {
                        Item::Int(String::new())
                    } else {
                        parse_item(digit, &v[start..i])
                    };
                    push(&mut stack, item);
                    start = i + 1;
                }
                b'-' => {
                    let item = if i == start {
                        Item::Int(String::new())
                    } else {
                        parse_item(digit, &v[start..i])
                    };
                    push(&mut stack, item);
                    start = i + 1;
                    stack.push(Vec::new());
                }
                c if c.is_ascii_digit() => {
                    if !digit && i > start {
                        // `1a2`: the letters before the digits are a qualifier of their own,
                        // and (Maven 3.8) `.X1` counts as `-X1`.
                        if !stack.last().expect("a list is open").is_empty() {
                            stack.push(Vec::new());
                        }
                        push(&mut stack, string_item(&v[start..i], true));
                        start = i;
                        stack.push(Vec::new());
                    }
                    digit = true;
                }
                _ => {
                    if digit && i > start {
                        push(&mut stack, int_item(&v[start..i]));
                        start = i;
                        stack.push(Vec::new());
                    }
                    digit = false;
                }
            }
        }
        if v.len() > start {
            // Maven 3.8 treats a trailing `.X` as `-X` for a qualifier X: 1.0.0.X1 < 1.0.0-X2.
            if !digit && !stack.last().expect("a list is open").is_empty() {
                stack.push(Vec::new());
            }
            push(&mut stack, parse_item(digit, &v[start..]));
        }
        while stack.len() > 1 {
            let mut inner = stack.pop().expect("more than one");
            normalize(&mut inner);
            push(&mut stack, Item::List(inner));
        }
        let mut items = stack.pop().expect("the root list");
        normalize(&mut items);
        MavenVersion { items }
    }

    /// Maven's canonical form (`1.0-alpha-1` → `1-alpha-1`): equal versions have one.
    #[cfg(test)]
    fn canonical(&self) -> String {
        fn write(items: &[Item], out: &mut String) {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(if matches!(item, Item::List(_)) {
                        '-'
                    } else {
                        '.'
                    });
                }
                match item {
                    Item::Int(d) if d.is_empty() => out.push('0'),
                    Item::Int(d) => out.push_str(d),
                    Item::Str(s) => out.push_str(s),
                    Item::List(l) => write(l, out),
                }
            }
        }
        let mut s = String::new();
        write(&self.items, &mut s);
        s
    }
}

impl Ord for MavenVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_lists(&self.items, &other.items)
    }
}

impl PartialOrd for MavenVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for MavenVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for MavenVersion {}

/// Compares two version strings in Maven's order.
pub fn compare(a: &str, b: &str) -> Ordering {
    MavenVersion::parse(a).cmp(&MavenVersion::parse(b))
}

/// The highest of `versions` in Maven's order.
pub fn highest<'a>(versions: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    versions.into_iter().max_by(|a, b| compare(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> MavenVersion {
        let parsed = MavenVersion::parse(s);
        let canonical = parsed.canonical();
        assert_eq!(
            MavenVersion::parse(&canonical).canonical(),
            canonical,
            "canonical form of {s} is stable"
        );
        parsed
    }

    fn ascending(versions: &[&str]) {
        for (i, low) in versions.iter().enumerate() {
            for high in &versions[i + 1..] {
                assert!(v(low) < v(high), "expected {low} < {high}");
                assert!(v(high) > v(low), "expected {high} > {low}");
            }
        }
    }

    fn equal(a: &str, b: &str) {
        assert_eq!(v(a), v(b), "expected {a} == {b}");
        assert_eq!(
            v(a).canonical(),
            v(b).canonical(),
            "{a} and {b}: one canonical form"
        );
    }

    // Maven's ComparableVersionTest, VERSIONS_QUALIFIER: qualifiers and -SNAPSHOT.
    #[test]
    fn qualifiers() {
        ascending(&[
            "1-alpha2snapshot",
            "1-alpha2",
            "1-alpha-123",
            "1-beta-2",
            "1-beta123",
            "1-m2",
            "1-m11",
            "1-rc",
            "1-cr2",
            "1-rc123",
            "1-SNAPSHOT",
            "1",
            "1-sp",
            "1-sp2",
            "1-sp123",
            "1-abc",
            "1-def",
            "1-pom-1",
            "1-1-snapshot",
            "1-1",
            "1-2",
            "1-123",
        ]);
    }

    // VERSIONS_NUMBER: numeric vs lexical, and letters right after digits.
    #[test]
    fn numbers() {
        ascending(&[
            "2.0", "2.0.a", "2-1", "2.0.2", "2.0.123", "2.1.0", "2.1-a", "2.1b", "2.1-c", "2.1-1",
            "2.1.0.1", "2.2", "2.123", "11.a2", "11.a11", "11.b2", "11.b11", "11.m2", "11.m11",
            "11", "11.a", "11b", "11c", "11m",
        ]);
        // Numeric, not lexical: 10 > 9, and any length.
        ascending(&["1.9", "1.10", "1.99999999999", "1.100000000000000000000"]);
    }

    #[test]
    fn equalities() {
        for (a, b) in [
            ("1", "1"),
            ("1", "1.0"),
            ("1", "1.0.0"),
            ("1.0", "1.0.0"),
            ("1", "1-0"),
            ("1", "1.0-0"),
            ("1.0", "1.0-0"),
            ("1a", "1.a"),
            ("1a", "1-a"),
            ("1a", "1.0-a"),
            ("1a", "1.0.0-a"),
            ("1.0a", "1-a"),
            ("1.0.0a", "1-a"),
            ("1x", "1-x"),
            ("1x", "1.0-x"),
            ("1x", "1.0.0-x"),
            ("1.0x", "1-x"),
            ("1.0.0x", "1-x"),
            ("1ga", "1"),
            ("1release", "1"),
            ("1final", "1"),
            ("1cr", "1rc"),
            ("1a1", "1-alpha-1"),
            ("1b2", "1-beta-2"),
            ("1m3", "1-milestone-3"),
            ("1X", "1x"),
            ("1A", "1a"),
            ("1B", "1b"),
            ("1M", "1m"),
            ("1Ga", "1"),
            ("1GA", "1"),
            ("1RELEASE", "1"),
            ("1FINAL", "1"),
            ("1Cr", "1Rc"),
            ("1cR", "1rC"),
            ("1m3", "1Milestone3"),
            ("1m3", "1MileStone3"),
            ("1m3", "1MILESTONE3"),
            ("1.0.0.Final", "1"),
            (
                "1-abcdefghijklmnopqrstuvwxyz",
                "1-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            ),
        ] {
            equal(a, b);
        }
    }

    #[test]
    fn comparisons() {
        for (low, high) in [
            ("1", "2"),
            ("1.5", "2"),
            ("1", "2.5"),
            ("1.0", "1.1"),
            ("1.1", "1.2"),
            ("1.0.0", "1.1"),
            ("1.0.1", "1.1"),
            ("1.1", "1.2.0"),
            ("1.0-alpha-1", "1.0"),
            ("1.0-alpha-1", "1.0-alpha-2"),
            ("1.0-alpha-1", "1.0-beta-1"),
            ("1.0-beta-1", "1.0-SNAPSHOT"),
            ("1.0-SNAPSHOT", "1.0"),
            ("1.0-alpha-1-SNAPSHOT", "1.0-alpha-1"),
            ("1.0", "1.0-1"),
            ("1.0-1", "1.0-2"),
            ("1.0.0", "1.0-1"),
            ("2.0-1", "2.0.1"),
            ("2.0.1-klm", "2.0.1-lmn"),
            ("2.0.1", "2.0.1-xyz"),
            ("2.0.1", "2.0.1-123"),
            ("2.0.1-xyz", "2.0.1-123"),
            // What latest/release of real metadata hinge on.
            ("1.9.9", "1.10.0"),
            ("1.1.0-SNAPSHOT", "1.1.0"),
            ("1.0.0", "1.1.0-SNAPSHOT"),
            ("3.0.0-M7", "3.0.0"),
            ("1.0.0.X1", "1.0.0-X2"),
        ] {
            assert!(v(low) < v(high), "expected {low} < {high}");
            assert!(v(high) > v(low), "expected {high} > {low}");
        }
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(v("1.0-alpha-1").canonical(), "1-alpha-1");
        assert_eq!(v("1.0.0").canonical(), "1");
        assert_eq!(v("2.0.1-SNAPSHOT").canonical(), "2.0.1-snapshot");
        // As Maven 3.8.7's `java -cp maven-artifact.jar ...ComparableVersion` prints them.
        for (version, canonical) in [
            ("1.a.1", "1.a.1"),
            ("1.0.RC1", "1-rc-1"),
            ("1-a.b", "1-a-b"),
            ("1.a-b", "1.a-b"),
            ("1.2.a3.b", "1.2-alpha-3-b"),
            ("1.0-alpha.1", "1-alpha.1"),
            ("1-0.a", "1-a"),
            ("a.b", "a-b"),
        ] {
            assert_eq!(v(version).canonical(), canonical, "{version}");
        }
    }

    #[test]
    fn highest_picks_by_maven_order_not_by_string() {
        assert_eq!(
            highest(["1.9", "1.10", "1.10-SNAPSHOT", "1.2"]),
            Some("1.10")
        );
        assert_eq!(highest([]), None);
    }
}
