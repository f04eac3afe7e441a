//! What the console and the REST API show of a repository's content, in a shape no format
//! owns: a repository has **components** (docker: images), a component has **assets** (docker:
//! tags and manifests), and an asset opens as a **detail** made of fields, tables and a
//! document. Cells are typed values (sizes, times, digests) that the front ends format, and
//! may link to a component or an asset. Every entry also carries `facts`: the format's own JSON
//! of it, which the REST API serves as is.
//!
//! A format that has content worth browsing implements [`Browse`] and returns it from
//! `Format::browse`; a format without one simply has no browse pages. Browsing reads through
//! the same `Repository` calls as the wire protocol (a proxy shows what it has cached).

use async_trait::async_trait;
use serde::Serialize;
use trove_core::{BlobStore, Ctx, Repository, Result};

/// What a format calls its levels, for people and for the console's URLs
/// (`/admin/repository/<repo>/<component>?name=...`,
/// `/admin/repository/<repo>/<asset>?<component>=...&reference=...`). Lowercase words.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Nouns {
    /// `image`.
    pub component: &'static str,
    /// `images`.
    pub components: &'static str,
    /// `manifest`.
    pub asset: &'static str,
    /// `manifests`.
    pub assets: &'static str,
}

/// Where a cell leads.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// A component's page: its assets.
    Component { component: String },
    /// One asset of a component, by reference (docker: a tag or a digest).
    Asset {
        component: String,
        reference: String,
    },
}

/// One value to show. Front ends format sizes and times their way.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Cell {
    Text(String),
    /// Monospaced: media types, paths, full digests.
    Code(String),
    /// De-emphasised: placeholders such as "(digest only)" or "unknown".
    Muted(String),
    Count(u64),
    Bytes(u64),
    /// Unix millis.
    Time(i64),
    /// Unix millis, or never (a last download).
    LastTime(Option<i64>),
    /// A content digest: shortened in tables, in full on hover.
    Digest(String),
    /// Labels such as tags; "none" when empty.
    Badges(Vec<String>),
    /// A cell that leads somewhere.
    Link {
        text: Box<Cell>,
        to: Link,
    },
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }
    pub fn code(s: impl Into<String>) -> Cell {
        Cell::Code(s.into())
    }
    pub fn muted(s: impl Into<String>) -> Cell {
        Cell::Muted(s.into())
    }
    /// This cell, leading to `to`.
    pub fn link(self, to: Link) -> Cell {
        Cell::Link {
            text: Box::new(self),
            to,
        }
    }
}

/// A table column.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Column {
    pub label: &'static str,
    /// Right-aligned (counts, sizes).
    pub numeric: bool,
}

impl Column {
    pub const fn text(label: &'static str) -> Column {
        Column {
            label,
            numeric: false,
        }
    }
    pub const fn number(label: &'static str) -> Column {
        Column {
            label,
            numeric: true,
        }
    }
}

/// One row: a component, an asset, or a row of a detail's table.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// What names it: a component's name, an asset's reference (empty for detail rows).
    pub key: String,
    /// One per column.
    pub cells: Vec<Cell>,
    /// The format's own JSON of this row (docker: an image summary, a manifest reference).
    pub facts: serde_json::Value,
    /// Deletable as `key`, with this button label ("Delete tag 1.0"); whether the caller may
    /// delete is the service's to decide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete: Option<String>,
}

/// Rows under columns.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    /// What the rows are and in which order ("Tags first, then ...").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    pub columns: Vec<Column>,
    pub entries: Vec<Entry>,
}

/// A labelled value of a detail.
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub label: &'static str,
    /// Shown one after the other ("2," "1.2 MiB" "in total ...").
    pub values: Vec<Cell>,
}

/// A table of a detail (docker: layers, referrers).
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// A short slug, unique in the detail (`layers`); front ends derive element ids from it.
    pub id: &'static str,
    pub heading: &'static str,
    pub listing: Listing,
    /// A footer row: the last column's total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Cell>,
    /// Shown instead of an empty table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty: Option<&'static str>,
}

/// A text document shown as is (docker: the manifest, pretty-printed).
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub heading: &'static str,
    pub text: String,
}

/// One asset, opened.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    /// The page heading ("Manifest of team/app").
    pub title: String,
    /// How breadcrumbs name it (a short digest).
    pub label: Cell,
    pub fields: Vec<Field>,
    pub sections: Vec<Section>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<Document>,
    /// The format's own JSON of the asset (docker: the manifest detail).
    pub facts: serde_json::Value,
    /// Deletable by this reference, with this button label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete: Option<Deletion>,
    /// What else may be done to it ([`Browse::act`]); whether the caller may is the
    /// service's to decide.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<AssetAction>,
}

/// Something to do to an asset besides deleting it (PyPI: yank a version, or un-yank it),
/// offered on its page and in the REST API, and run by [`Browse::act`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AssetAction {
    /// What a request names (`yank`).
    pub id: &'static str,
    /// The button's label.
    pub label: String,
    /// The label of the one line of text it takes (a reason), or `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<&'static str>,
}

/// What deleting a detail's asset sends, and what its button says.
#[derive(Debug, Clone, Serialize)]
pub struct Deletion {
    pub reference: String,
    pub label: String,
}

/// What a browse call reads through.
pub struct Scope<'a> {
    pub repo: &'a dyn Repository,
    /// For documents the detail shows (docker reads the manifest's bytes).
    pub blobs: &'a dyn BlobStore,
    pub ctx: &'a Ctx,
}

/// A format's browse views. Only reads and deletes through the repository it is given; the
/// caller has checked the caller's privileges.
#[async_trait]
pub trait Browse: Send + Sync {
    fn nouns(&self) -> Nouns;

    /// The repository's components, in a stable order.
    async fn components(&self, at: &Scope<'_>) -> Result<Listing>;

    /// The assets of component `name`; `None` when it has none (it does not exist).
    async fn component(&self, at: &Scope<'_>, name: &str) -> Result<Option<Listing>>;

    /// Asset `reference` of `component`; `None` when not stored. Malformed names or references
    /// are `Invalid`.
    async fn asset(
        &self,
        at: &Scope<'_>,
        component: &str,
        reference: &str,
    ) -> Result<Option<Detail>>;

    /// Deletes asset `reference` of `component` as the format's protocol would; `false` when
    /// not stored.
    async fn delete(&self, at: &Scope<'_>, component: &str, reference: &str) -> Result<bool>;

    /// Runs `action` (one of those the asset's detail offers) on asset `reference` of
    /// `component`, with the text it takes; `false` when the asset is not stored. The caller
    /// has checked the caller's `edit` privilege. None by default.
    async fn act(
        &self,
        _at: &Scope<'_>,
        _component: &str,
        _reference: &str,
        action: &str,
        _input: Option<&str>,
    ) -> Result<bool> {
        Err(trove_core::Error::invalid(format!(
            "no action {action:?} here"
        )))
    }
}
