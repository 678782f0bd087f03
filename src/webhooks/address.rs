//! Which URLs a webhook may have and which addresses a delivery may reach
//! (the SSRF rules of docs/webhooks.md). Pure: the caller resolves names.
//!
//! Only `http` and `https`, no credentials in the URL, at most
//! [`MAX_URL`] characters. Unless private addresses are allowed
//! (`LEADGRAPH_WEBHOOK_ALLOW_PRIVATE`), a host that is, or resolves to,
//! a loopback, private, link-local, unspecified, multicast, broadcast,
//! shared (CGNAT) or reserved address is refused, as is `localhost`.

use crate::error::{AppError, AppResult};
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The longest webhook URL, in characters.
pub const MAX_URL: usize = 2048;

/// The host of a checked URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    /// A DNS name, to be resolved and each address checked.
    Name(String),
}

/// Check a webhook URL's form and, for an IP literal or `localhost`, its
/// address. Returns the URL as it will be called and its host.
pub fn check_url(field: &str, raw: &str, allow_private: bool) -> AppResult<(Url, Host)> {
    let bad = |why: &str| AppError::bad_input(field, format!("{field} {why}"));
    if raw.chars().any(char::is_control) {
        return Err(bad(
            "must not contain control characters (NUL, newlines, …)",
        ));
    }
    if raw.chars().count() > MAX_URL {
        return Err(bad(&format!("is longer than {MAX_URL} characters")));
    }
    let url = Url::parse(raw.trim()).map_err(|e| bad(&format!("is not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be an http:// or https:// URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "must not carry credentials; authenticate receivers by the signature",
        ));
    }
    let host = match url.host() {
        Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => Host::Name(name.to_ascii_lowercase()),
        None => return Err(bad("has no host")),
    };
    if !allow_private {
        match &host {
            Host::Ip(ip) => {
                if let Some(kind) = forbidden(*ip) {
                    return Err(bad(&format!(
                        "names a {kind} address, which webhooks may not reach"
                    )));
                }
            }
            Host::Name(name) if name == "localhost" || name.ends_with(".localhost") => {
                return Err(bad("names a loopback host, which webhooks may not reach"));
            }
            Host::Name(_) => {}
        }
    }
    Ok((url, host))
}

/// Why a delivery may not connect to `ip`, or `None` when it may.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            // Addresses that carry an IPv4 address are judged by it.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let segments = v6.segments();
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = segments[6].to_be_bytes();
                let [c, d] = segments[7].to_be_bytes();
                return forbidden_v4(Ipv4Addr::new(a, b, c, d));
            }
            forbidden_v6(v6)
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() || a >= 240 {
        Some("reserved")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if (a == 192 && b == 0 && c == 0) || (a == 198 && (b == 18 || b == 19)) {
        Some("reserved")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if first & 0xfe00 == 0xfc00 {
        Some("private (unique local)")
    } else if first & 0xffc0 == 0xfe80 || first & 0xffc0 == 0xfec0 {
        Some("link-local")
    } else if ip.segments()[..6] == [0, 0, 0, 0, 0, 0] {
        // IPv4-compatible (deprecated) addresses.
        Some("reserved")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(raw: &str, allow: bool) -> Option<String> {
        check_url("input.url", raw, allow)
            .err()
            .map(|e| e.code().to_owned())
    }

    #[test]
    fn urls() {
        assert_eq!(code("https://hooks.example.com/x?y=1", false), None);
        assert_eq!(code("http://93.184.216.34:8080/", false), None);
        for bad in [
            "ftp://example.com/",
            "not a url",
            "https://user:pw@example.com/",
            "https://example.com/\0",
            "https://exa\nmple.com/",
            "http://127.0.0.1:9000/",
            "http://localhost/",
            "http://api.localhost/",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
            "http://224.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
        ] {
            assert_eq!(code(bad, false).as_deref(), Some("BAD_USER_INPUT"), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL));
        assert_eq!(code(&long, true).as_deref(), Some("BAD_USER_INPUT"));
        // The flag allows private addresses, never other schemes.
        assert_eq!(code("http://127.0.0.1:9000/", true), None);
        assert_eq!(
            code("ftp://127.0.0.1/", true).as_deref(),
            Some("BAD_USER_INPUT")
        );
    }

    #[test]
    fn addresses() {
        let no = |s: &str| forbidden(s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert!(no("127.0.0.1").is_some());
        assert!(no("172.16.0.1").is_some());
        assert!(no("100.64.0.1").is_some());
        assert!(no("fe80::1").is_some());
        assert!(no("64:ff9b::a00:1").is_some());
        assert!(no("8.8.8.8").is_none());
        assert!(no("2606:4700::1111").is_none());
    }

    proptest! {
        /// Every 10/8 and 127/8 address is refused, written as an IPv4
        /// literal or as an IPv4-mapped IPv6 one.
        #[test]
        fn private_ranges_are_refused(first in prop::sample::select(vec![10u8, 127]), b: u8, c: u8, d: u8) {
            let v4 = Ipv4Addr::new(first, b, c, d);
            prop_assert!(forbidden(IpAddr::V4(v4)).is_some());
            prop_assert!(forbidden(IpAddr::V6(v4.to_ipv6_mapped())).is_some());
            let url = format!("http://{}/", v4);
            prop_assert!(check_url("url", &url, false).is_err());
        }
    }
}
