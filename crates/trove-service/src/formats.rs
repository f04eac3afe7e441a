//! The formats this build has, as the console's create form and `GET /formats` list them:
//! straight from [`trove_formats::registry`].

use crate::Actor;
use serde::Serialize;
use trove_core::RepoKind;
use trove_formats::{OptionField, OptionInput};

use crate::{Service, ServiceError, ServiceResult};

/// A format: what it is, which kinds of repository it can be, and its own options.
#[derive(Debug, Clone, Serialize)]
pub struct FormatView {
    pub id: String,
    pub label: &'static str,
    pub kinds: Vec<RepoKind>,
    pub description: &'static str,
    /// The keys of a repository's `options` that the format declares for forms.
    pub options: Vec<OptionFieldView>,
}

/// One declared option of a format.
#[derive(Debug, Clone, Serialize)]
pub struct OptionFieldView {
    pub key: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    /// `boolean` or `string`.
    #[serde(rename = "type")]
    pub input: &'static str,
    /// The kinds of repository it applies to.
    pub kinds: Vec<RepoKind>,
}

impl OptionFieldView {
    fn of(f: &OptionField) -> OptionFieldView {
        OptionFieldView {
            key: f.key,
            label: f.label,
            help: f.help,
            input: match f.input {
                OptionInput::Checkbox => "boolean",
                OptionInput::Text => "string",
            },
            kinds: f.kinds.to_vec(),
        }
    }

    /// A checkbox (a boolean option) rather than a text field.
    pub fn is_checkbox(&self) -> bool {
        self.input == "boolean"
    }
}

impl Service {
    /// Every format of this build, in the registry's order. Any authenticated caller (or
    /// anonymous, when anonymous access is on) may ask.
    pub fn formats(&self, _caller: &Actor) -> Vec<FormatView> {
        trove_formats::registry()
            .list()
            .map(|f| {
                let info = f.info();
                FormatView {
                    id: info.id.to_string(),
                    label: info.label,
                    kinds: info.kinds.to_vec(),
                    description: info.description,
                    options: f.option_fields().iter().map(OptionFieldView::of).collect(),
                }
            })
            .collect()
    }

    /// One format, by id.
    pub fn format(&self, caller: &Actor, id: &str) -> ServiceResult<FormatView> {
        self.formats(caller)
            .into_iter()
            .find(|f| f.id == id)
            .ok_or_else(|| ServiceError::not_found(format!("no format named {id}")))
    }
}
