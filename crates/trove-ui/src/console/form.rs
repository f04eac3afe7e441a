//! `application/x-www-form-urlencoded` bodies and query strings as ordered pairs: multi-selects
//! and checkbox groups repeat a key, which serde's urlencoded forms cannot hold.

/// The pairs of a form body or query string, in order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(bytes: &[u8]) -> Form {
        Form(
            url::form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The query string of a request.
    pub fn query(req: &actix_web::HttpRequest) -> Form {
        Form::parse(req.query_string().as_bytes())
    }

    /// The first value of `key`, or `""`.
    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The first value of `key`, trimmed, if not blank.
    pub fn opt(&self, key: &str) -> Option<String> {
        Some(self.get(key).trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// Every non-blank value of `key` (checkbox groups, multi-selects).
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == key && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether a checkbox named `key` was sent (checked).
    pub fn checked(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
}

/// The non-blank lines of a textarea, trimmed.
pub(crate) fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_and_blanks() {
        let f = Form::parse(b"a=1&r=x&r=y&r=&name=+bob+&box=on&t=l1%0D%0A%0D%0A+l2+");
        assert_eq!(f.get("a"), "1");
        assert_eq!(f.get("missing"), "");
        assert_eq!(f.all("r"), ["x", "y"]);
        assert_eq!(f.opt("name").as_deref(), Some("bob"));
        assert_eq!(f.opt("missing"), None);
        assert!(f.checked("box") && !f.checked("other"));
        assert_eq!(lines(f.get("t")), ["l1", "l2"]);
    }
}
