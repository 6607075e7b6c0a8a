//! URLs a shop's request names for paywatch to call back (Epusdt's
//! `notify_url`) or to send the buyer to (`redirect_url`): `http(s)` only,
//! and, unless the operator allows it, never a loopback, private,
//! link-local (cloud metadata at 169.254.169.254 included), shared or
//! unspecified address. The address check runs when the request arrives and
//! again when the callback is sent, after the name resolves, so a name that
//! points at a private address is refused too.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use url::{Host, Url};

/// The longest URL a request may give.
pub const MAX_URL: usize = 2048;

/// Whether paywatch may send requests to `ip` on a shop's behalf.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        // 0.0.0.0/8 "this network", 100.64.0.0/10 shared (CGNAT),
        // 192.0.0.0/24 protocol assignments, 198.18.0.0/15 benchmarking,
        // 240.0.0.0/4 reserved.
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // fc00::/7 unique local (fd00:ec2::254 is a metadata address),
        // fe80::/10 link-local, 2001:db8::/32 documentation, 64:ff9b::/96
        // NAT64 of any IPv4 address.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0xdb8)
        || (first == 0x64 && ip.segments()[1] == 0xff9b))
}

/// A URL a request names that paywatch will not call or send a buyer to.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("{what}: longer than {MAX_URL} characters")]
    TooLong { what: &'static str },
    #[error("{what}: `{text}` is not a URL: {source}")]
    NotUrl {
        what: &'static str,
        text: String,
        source: url::ParseError,
    },
    #[error("{what}: only http and https URLs are accepted, not `{scheme}:`")]
    Scheme { what: &'static str, scheme: String },
    #[error("{what}: `{text}` has no host")]
    NoHost { what: &'static str, text: String },
    #[error(
        "{what}: `{host}` is a loopback, private or link-local address; \
         set [epusdt] allow_private_notify = true for a shop on this host or network"
    )]
    Private { what: &'static str, host: String },
}

/// Checks a URL a request names: `http` or `https`, at most [`MAX_URL`]
/// characters, with a host; and unless `allow_private`, a host that is not
/// a loopback, private or link-local address nor `localhost`. `what` names
/// the field in the error.
pub fn check(what: &'static str, text: &str, allow_private: bool) -> Result<Url, UrlError> {
    let text = text.trim();
    if text.len() > MAX_URL {
        return Err(UrlError::TooLong { what });
    }
    let url = Url::parse(text).map_err(|source| UrlError::NotUrl {
        what,
        text: text.to_string(),
        source,
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Scheme {
            what,
            scheme: url.scheme().to_string(),
        });
    }
    let private = match url.host() {
        None => {
            return Err(UrlError::NoHost {
                what,
                text: text.to_string(),
            })
        }
        Some(Host::Ipv4(ip)) => !is_public(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => !is_public(IpAddr::V6(ip)),
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
    };
    if private && !allow_private {
        return Err(UrlError::Private {
            what,
            host: url.host_str().unwrap_or("").to_string(),
        });
    }
    Ok(url)
}

/// A resolver that drops every non-public address a name resolves to, and
/// fails when none is left: the callback then never reaches a private
/// address through a name.
#[derive(Clone, Copy, Debug, Default)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!(
                    "{host} resolves only to loopback, private or link-local addresses ({}); \
                     set [epusdt] allow_private_notify = true to call it",
                    found
                        .iter()
                        .map(|a| a.ip().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_to_any_url_are_refused() {
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "ftp://shop.example/notify",
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:8080/notify",
            "http://[::1]/notify",
            "http://[::ffff:10.0.0.1]/notify",
            "http://10.1.2.3/notify",
            "http://172.16.0.1/notify",
            "http://192.168.1.1/notify",
            "http://100.64.0.1/notify",
            "http://0.0.0.0/notify",
            "http://[fd00:ec2::254]/notify",
            "http://[fe80::1]/notify",
            "http://localhost/notify",
            "http://api.localhost./notify",
            "http://2130706433/notify",
        ] {
            assert!(check("notify_url", bad, false).is_err(), "{bad} accepted");
        }
        for good in [
            "https://shop.example/notify",
            "http://203.0.113.0.nip.io/notify",
            "http://8.8.8.8/notify",
            "https://[2606:4700::1111]/notify",
        ] {
            assert!(check("notify_url", good, false).is_ok(), "{good} refused");
        }
        // A shop on the same host, when the operator allows it.
        assert!(check("notify_url", "http://127.0.0.1:8080/notify", true).is_ok());
        assert!(check("notify_url", "file:///etc/passwd", true).is_err());
        let e = check("notify_url", "javascript:alert(1)", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("notify_url") && e.contains("javascript"), "{e}");
    }

    #[tokio::test]
    async fn a_name_resolving_to_a_private_address_is_refused_when_sent() {
        let err = PublicOnly
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost resolves to loopback only");
        assert!(err.to_string().contains("allow_private_notify"), "{err}");
    }
}
