//! How the client addressed this listener: the one place that reads `Host` and the
//! `X-Forwarded-*` headers, for every format, the console and the REST API.

use actix_web::HttpRequest;

/// `scheme://host[:port]` as the client used it and, behind a path-mapping proxy, the external
/// path prefix. `X-Forwarded-Host`, `-Port` and `-Prefix` count only from `trusted` peers
/// (scenario S1: a TLS-terminating proxy in front of plain HTTP); otherwise the `Host` header
/// and the listener's own TLS setting decide. `X-Forwarded-Proto: https` counts from anyone:
/// it can only turn the scheme of URLs sent back to that same client into https, which the
/// `Host` header (client-chosen anyway) cannot be abused for beyond what it already allows, and
/// the proxy block users copy for scenario S3 sends it without being declared trusted
/// (decision record 0014).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub origin: String,
    /// Without the trailing `/` (so `""` when a trusted proxy said the root); `None` when no
    /// trusted proxy stated one.
    pub prefix: Option<String>,
    /// Whether the peer is a trusted proxy.
    pub trusted: bool,
}

/// The first value of header `name`, if it is plain enough to go into a URL and a quoted
/// challenge parameter.
pub fn first_header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    let v = req.headers().get(name)?.to_str().ok()?;
    let v = v.split(',').next()?.trim();
    (!v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'))
    .then_some(v)
}

impl External {
    pub fn of(req: &HttpRequest, trusted: &[ipnet::IpNet]) -> External {
        let is_trusted = req
            .peer_addr()
            .is_some_and(|a| trusted.iter().any(|n| n.contains(&a.ip())));
        let own_scheme = if req.app_config().secure() {
            "https"
        } else {
            "http"
        };
        let own_host = first_header(req, "host")
            .filter(|h| valid_host(h))
            .map(str::to_owned)
            .unwrap_or_else(|| req.app_config().host().to_owned());
        let forwarded_scheme = match first_header(req, "x-forwarded-proto") {
            Some(p) if p.eq_ignore_ascii_case("https") => Some("https"),
            Some(p) if p.eq_ignore_ascii_case("http") => Some("http"),
            _ => None,
        };
        if !is_trusted {
            let scheme = if forwarded_scheme == Some("https") {
                "https"
            } else {
                own_scheme
            };
            return External {
                origin: format!("{scheme}://{own_host}"),
                prefix: None,
                trusted: false,
            };
        }
        let scheme = forwarded_scheme.unwrap_or(own_scheme);
        let mut host = first_header(req, "x-forwarded-host")
            .filter(|h| valid_host(h))
            .map_or(own_host, str::to_owned);
        if let Some(port) =
            first_header(req, "x-forwarded-port").filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        {
            let default =
                (scheme == "https" && port == "443") || (scheme == "http" && port == "80");
            let has_port = host
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()));
            if !default && !has_port {
                host = format!("{host}:{port}");
            }
        }
        let prefix = first_header(req, "x-forwarded-prefix")
            .filter(|p| p.starts_with('/') && !p.contains("..") && !p.contains("//"))
            .map(|p| p.trim_end_matches('/').to_owned());
        External {
            origin: format!("{scheme}://{host}"),
            prefix,
            trusted: true,
        }
    }

    /// Whether the client reached us over https (directly or through a proxy that said so).
    pub fn is_https(&self) -> bool {
        self.origin.starts_with("https://")
    }

    /// The absolute URL of `path` (which starts with `/`) as the client sees it: origin, the
    /// trusted prefix, then `path`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}{}{path}",
            self.origin,
            self.prefix.as_deref().unwrap_or_default()
        )
    }
}

// ---- the client's address (the audit log's "from where") ------------------------------------

/// The client's address: the peer's, or, when the peer is a trusted proxy, the nearest address
/// of `X-Forwarded-For` that is not a trusted proxy itself (read from the right, since only the
/// entries our own proxies appended can be believed; a client can write anything on the left).
/// When every entry is a trusted proxy, the leftmost one. A value that does not parse stops
/// the walk there (the proxy chain is broken; the last believed hop answers).
pub fn client_ip(
    peer: Option<std::net::IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[ipnet::IpNet],
) -> Option<std::net::IpAddr> {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    let peer = peer?;
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut nearest = peer;
    for hop in forwarded_for.unwrap_or_default().rsplit(',').map(str::trim) {
        let Some(ip) = parse_hop(hop) else {
            break;
        };
        nearest = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(nearest)
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<std::net::IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip())
}

/// [`client_ip`] of a request, from its peer and every `X-Forwarded-For` header (joined in
/// order, as proxies may send several).
pub fn client_ip_of(req: &HttpRequest, trusted: &[ipnet::IpNet]) -> Option<std::net::IpAddr> {
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    client_ip(
        req.peer_addr().map(|a| a.ip()),
        Some(&forwarded.join(","))
            .filter(|f| !f.is_empty())
            .map(String::as_str),
        trusted,
    )
}

/// A host name or address with an optional port: no path, no user info.
fn valid_host(h: &str) -> bool {
    !h.contains(['/', '@', '?', '#']) && h.len() <= 255
}

#[cfg(test)]
mod client_ip_tests {
    use super::client_ip;

    #[test]
    fn only_trusted_hops_are_believed() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| Some(s.parse().unwrap());
        // A client talking to us directly: its own address, whatever it claims.
        assert_eq!(
            client_ip(ip("192.0.2.1"), Some("6.6.6.6"), &trusted),
            ip("192.0.2.1")
        );
        // Through our proxy: the address it appended.
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("192.0.2.9"), &trusted),
            ip("192.0.2.9")
        );
        // A forged entry on the left is not believed; the nearest untrusted hop is.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                Some("6.6.6.6, 192.0.2.9, 10.0.0.3"),
                &trusted
            ),
            ip("192.0.2.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("[2001:db8::1]:443"), &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), None, &trusted), ip("10.0.0.2"));
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("garbage"), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("10.0.0.9"), &trusted),
            ip("10.0.0.9")
        );
        assert_eq!(client_ip(None, Some("192.0.2.9"), &trusted), None);
    }
}
