//! The options of a format's own that forms offer, as a format declares them with
//! `Format::option_fields` (docker: `hub_index` on proxies). trove.toml and the REST API take a
//! repository's `options` whole; the format checks them (`Format::check_options`).

use trove_core::RepoKind;

/// A setting of the format's own that forms offer (a key of a repository's `options`), as a
/// format declares it with [`crate::Format::option_fields`].
#[derive(Debug, Clone, Copy)]
pub struct OptionField {
    pub key: &'static str,
    /// For people: `Docker Hub naming`.
    pub label: &'static str,
    /// One line on what it does.
    pub help: &'static str,
    /// The repository kinds it applies to.
    pub kinds: &'static [RepoKind],
    pub input: OptionInput,
}

/// The group option of every format with a dependency-confusion guard (npm, PyPI, Maven,
/// cargo): `true` mixes a hosted member's package with proxied ones of the same name; off
/// (the default), what a hosted member has hides the same name in proxy members.
pub const MERGE_HOSTED_WITH_PROXIED: &str = "merge_hosted_with_proxied";

/// The form field of [`MERGE_HOSTED_WITH_PROXIED`], with the format's own words for it.
pub const fn merge_hosted_with_proxied(help: &'static str) -> OptionField {
    OptionField {
        key: MERGE_HOSTED_WITH_PROXIED,
        label: "Mix hosted and proxied versions",
        help,
        kinds: &[RepoKind::Group],
        input: OptionInput::Checkbox,
    }
}

/// How a form asks for an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionInput {
    /// A boolean: `true` when ticked, absent otherwise.
    Checkbox,
    /// A string; absent when blank.
    Text,
    /// A whole number; absent when blank.
    Number,
}

/// Checks a repository's `options` for a format whose options are all checkboxes (`fields`):
/// each key is one of them, `true` or `false`, on a kind it applies to; the error names the
/// key.
pub fn check_flags(
    format: &str,
    fields: &[OptionField],
    kind: RepoKind,
    options: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), String> {
    for (k, v) in options {
        let Some(f) = fields.iter().find(|f| f.key == k) else {
            return Err(format!(
                "unknown {format} option {k:?} for a {} repository",
                kind.as_str()
            ));
        };
        if !f.kinds.contains(&kind) {
            let kinds: Vec<&str> = f.kinds.iter().map(|k| k.as_str()).collect();
            return Err(format!(
                "{format} option {k} is a {} setting",
                kinds.join(" or ")
            ));
        }
        if f.input == OptionInput::Checkbox && !v.is_boolean() {
            return Err(format!("{format} option {k} must be true or false"));
        }
    }
    Ok(())
}
