//! The admin web console of Trove (`/admin` on the main port): askama pages (templates in
//! `web/templates`) and plain HTML form handlers in [`console`], over the service layer
//! (`trove-service`), plus the presentation helpers they use, free of any HTTP type so they are
//! unit-tested on their own:
//!
//! - [`charts`]: server-side inline SVG (a horizontal bar chart, a line/area chart); no script.
//! - [`fmt`]: human formatting of bytes, unix-millis times and durations.
//! - [`csrf`]: session and CSRF tokens (random, base64url), their SHA-256 for storage, and a
//!   constant-time comparison.
//! - [`origin`]: whether a POST's `Origin` (or `Referer`) names the host it was sent to.
//! - [`CSS`]: the console's stylesheet (`web/static/trove.css`), embedded.
//!
//! `trove-server` mounts [`console::configure`] on its main port with a `web::Data<Service>`
//! and the front ends' shared `web::Data<Frontend>` (trusted proxies). What a page shows and
//! what may change is decided by the service layer; a format's content pages come from its
//! browse views. It must never depend on the REST API (`trove-rest`), the server
//! (`trove-server`), the stores or the repository kinds.

// Templates name the helpers by their crate path (`trove_ui::fmt::bytes`).
extern crate self as trove_ui;

pub mod charts;
pub mod console;
pub mod csrf;
pub mod fmt;
pub mod origin;

/// The console's stylesheet, served at `/admin/static/trove.css`.
pub const CSS: &str = include_str!("../../../web/static/trove.css");

pub use trove_formats::kit::html::escape;

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn css_is_embedded() {
        assert!(super::CSS.contains("nav"));
    }
}
