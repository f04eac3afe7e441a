//! Presentation helpers of the admin web console (`/admin`), free of any server type so they
//! are unit-tested on their own:
//!
//! - [`charts`]: server-side inline SVG (a horizontal bar chart, a line/area chart); no script.
//! - [`fmt`]: human formatting of bytes, unix-millis times and durations.
//! - [`csrf`]: session and CSRF tokens (random, base64url), their SHA-256 for storage, and a
//!   constant-time comparison.
//! - [`origin`]: whether a POST's `Origin` (or `Referer`) names the host it was sent to.
//! - [`CSS`]: the console's stylesheet (`web/static/trove.css`), embedded.
//!
//! The pages themselves (askama templates in `web/templates`, handlers in
//! `trove-server::console`) live in the server, because they render the service layer's view
//! types. Nothing here depends on another Trove crate.

pub mod charts;
pub mod csrf;
pub mod fmt;
pub mod origin;

/// The console's stylesheet, served at `/admin/static/trove.css`.
pub const CSS: &str = include_str!("../../../web/static/trove.css");

/// Escapes text for HTML and SVG (element content and quoted attribute values).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

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
