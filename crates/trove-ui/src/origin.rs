//! The Origin check of state-changing requests: a browser sends `Origin` (or at least
//! `Referer`) with a form POST; a cross-site form names the other site there. The check
//! compares its host and port with the `Host` the request was sent to (and, behind a reverse
//! proxy, `X-Forwarded-Host`). Requests with neither header (non-browser clients) pass: for
//! them the CSRF token alone decides.

/// Whether the request's `Origin` (else its `Referer`) names one of `hosts` (values of `Host`
/// and `X-Forwarded-Host`). `Origin: null` (sandboxed frames, some redirects) fails.
pub fn same_origin(origin: Option<&str>, referer: Option<&str>, hosts: &[&str]) -> bool {
    let source = match (origin, referer) {
        (Some(o), _) => o,
        (None, Some(r)) => r,
        (None, None) => return true,
    };
    let Some((scheme, host, port)) = parse_url(source.trim()) else {
        return false;
    };
    let default = if scheme == "https" { 443 } else { 80 };
    hosts.iter().any(|h| {
        let Some((h_host, h_port)) = split_host_port(h.trim()) else {
            return false;
        };
        h_host.eq_ignore_ascii_case(&host) && h_port.unwrap_or(default) == port.unwrap_or(default)
    })
}

/// `(scheme, host, port)` of an absolute http(s) URL.
fn parse_url(url: &str) -> Option<(String, String, Option<u16>)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest
        .split(['/', '?', '#'])
        .next()
        .filter(|a| !a.is_empty())?;
    if authority.contains('@') {
        return None;
    }
    let (host, port) = split_host_port(authority)?;
    Some((scheme, host.to_owned(), port))
}

/// `host[:port]`, with `[v6]:port` brackets kept on the host.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if s.is_empty() {
        return None;
    }
    let colon = if s.starts_with('[') {
        let close = s.find(']')?;
        match &s[close + 1..] {
            "" => return Some((s, None)),
            rest if rest.starts_with(':') => close + 1,
            _ => return None,
        }
    } else {
        match s.rfind(':') {
            None => return Some((s, None)),
            Some(i) => i,
        }
    };
    let port = s[colon + 1..].parse().ok()?;
    Some((&s[..colon], Some(port)))
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn same_host_and_port_pass() {
        let h = &["127.0.0.1:8081"];
        assert!(same_origin(Some("http://127.0.0.1:8081"), None, h));
        assert!(same_origin(
            None,
            Some("http://127.0.0.1:8081/admin/login?x=1"),
            h
        ));
        assert!(same_origin(
            Some("https://Trove.Example"),
            None,
            &["trove.example"]
        ));
        assert!(same_origin(
            Some("https://trove.example"),
            None,
            &["trove.example:443"]
        ));
        assert!(same_origin(
            Some("http://[::1]:8081"),
            None,
            &["[::1]:8081"]
        ));
    }

    #[test]
    fn other_sites_fail() {
        let h = &["127.0.0.1:8081"];
        assert!(!same_origin(Some("http://evil.example"), None, h));
        assert!(!same_origin(Some("http://127.0.0.1:9999"), None, h));
        assert!(!same_origin(Some("null"), None, h));
        assert!(!same_origin(Some("http://127.0.0.1:8081@evil"), None, h));
        assert!(!same_origin(Some("ftp://127.0.0.1:8081"), None, h));
        assert!(!same_origin(None, Some("http://evil.example/admin"), h));
        // Origin wins over a matching Referer.
        assert!(!same_origin(
            Some("http://evil.example"),
            Some("http://127.0.0.1:8081/"),
            h
        ));
        // The default port of the scheme counts.
        assert!(!same_origin(
            Some("https://trove.example"),
            None,
            &["trove.example:80"]
        ));
    }

    #[test]
    fn forwarded_host_counts_and_no_header_passes() {
        assert!(same_origin(
            Some("https://trove.example"),
            None,
            &["10.0.0.5:8081", "trove.example"]
        ));
        assert!(same_origin(None, None, &["127.0.0.1:8081"]));
        assert!(!same_origin(Some("http://x"), None, &[]));
    }
}
