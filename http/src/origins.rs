//! Where results may come from. A build's `log_url` (and so every URL the
//! collector derives from it) is chosen by the job, so a check job of any
//! change could point the collector at an internal address. Two policies:
//!
//! - **Public** (the default): any `http(s)` origin whose addresses are all
//!   public. An IP literal is checked as written; a host name is checked as
//!   it resolves (a resolver drops loopback, private, link-local, shared
//!   and unique-local addresses, so a name pointing inside fails too).
//!   OpenDev's log storage spans several Swift providers with a host name
//!   per container, changing over time: a default pin list would break the
//!   collector whenever it changes, while the harm a job-chosen URL can do
//!   is reaching inside the network, which this closes.
//! - **Pinned** (`--results-origin`, repeatable): only the listed origins,
//!   `https://*.example.org` matching any host below `example.org`.
//!
//! Either way the hosts the operator named (Zuul's and the pinned ones,
//! and a proxy from the environment, which resolves the target itself)
//! resolve unfiltered: an internal Zuul is the operator's choice.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// One allowed origin: scheme, host (or `*.` suffix) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    /// Lower-case host; with `wildcard`, the suffix after `*.`.
    host: String,
    wildcard: bool,
    port: u16,
}

impl OriginPattern {
    /// Parses `https://logs.example.org`, `http://127.0.0.1:8080` or
    /// `https://*.rackcdn.com` (no path, query or credentials).
    pub fn parse(text: &str) -> Result<OriginPattern, String> {
        let bad = |why: &str| {
            format!(
                "`--results-origin {}` {why}\nhint: give an origin like `https://logs.example.org` or `https://*.example.org`",
                perfkit_schema::shown(text)
            )
        };
        if text.contains('@') {
            // Never echoed: it may hold a password.
            return Err("`--results-origin` must not contain credentials\nhint: give an origin like `https://logs.example.org`".into());
        }
        let (wildcard, parsable) = match text.split_once("://*.") {
            Some((scheme, rest)) => (true, format!("{scheme}://{rest}")),
            None => (false, text.to_string()),
        };
        let url = Url::parse(&parsable).map_err(|_| bad("is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("must be http:// or https://"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must be an origin only (no path)"));
        }
        let host = url.host_str().ok_or_else(|| bad("names no host"))?;
        Ok(OriginPattern {
            scheme: url.scheme().to_string(),
            host: host.to_ascii_lowercase(),
            wildcard,
            port: url.port_or_known_default().unwrap_or(0),
        })
    }

    /// The pattern matching exactly `url`'s origin.
    pub fn of(url: &Url) -> Option<OriginPattern> {
        Some(OriginPattern {
            scheme: url.scheme().to_string(),
            host: url.host_str()?.to_ascii_lowercase(),
            wildcard: false,
            port: url.port_or_known_default()?,
        })
    }

    fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        url.scheme() == self.scheme
            && url.port_or_known_default() == Some(self.port)
            && self.matches_host(&host)
    }

    fn matches_host(&self, host: &str) -> bool {
        if self.wildcard {
            host.strip_suffix(&self.host)
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
        } else {
            host == self.host
        }
    }
}

impl std::fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let star = if self.wildcard { "*." } else { "" };
        write!(f, "{}://{star}{}:{}", self.scheme, self.host, self.port)
    }
}

/// Which origins requests may go to.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// Always allowed, resolved unfiltered (Zuul's own origin).
    pub trusted: Vec<OriginPattern>,
    /// Empty: any public origin; else only these (and `trusted`).
    pub pinned: Vec<OriginPattern>,
}

impl Origins {
    /// Why `url` may not be fetched, or `None` when it may.
    pub fn refusal(&self, url: &Url) -> Option<String> {
        let origin = url.origin().ascii_serialization();
        if self
            .trusted
            .iter()
            .chain(&self.pinned)
            .any(|p| p.matches(url))
        {
            return None;
        }
        if !self.pinned.is_empty() {
            return Some(format!(
                "{origin} is not an origin results may come from (`--results-origin`)"
            ));
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) if is_local_name(name) => {
                return Some(format!(
                    "{origin} is a local host name, not a public origin"
                ));
            }
            Some(url::Host::Domain(_)) => None,
            None => return Some(format!("{} names no host", url.as_str())),
        };
        match literal {
            Some(ip) if !is_public(ip) => Some(format!("{origin} is not a public address")),
            _ => None,
        }
    }

    /// The resolver enforcing the policy on host names.
    pub fn resolver(&self) -> Arc<PublicOnly> {
        let mut exempt: Vec<OriginPattern> = self.trusted.clone();
        exempt.extend(self.pinned.iter().cloned());
        exempt.extend(proxy_hosts());
        Arc::new(PublicOnly { exempt })
    }
}

fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether `ip` is globally routable: not loopback, private, link-local
/// (cloud metadata at 169.254.169.254), shared (100.64/10), unique-local,
/// unspecified, documentation, multicast or broadcast.
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
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link local
        || first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
}

/// A proxy from the environment resolves the target itself, so its own
/// host (usually internal) must resolve.
fn proxy_hosts() -> Vec<OriginPattern> {
    [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .filter_map(|var| std::env::var(var).ok())
    .filter_map(|value| {
        let url = Url::parse(&value)
            .or_else(|_| Url::parse(&format!("http://{value}")))
            .ok()?;
        Some(OriginPattern {
            scheme: String::new(),
            host: url.host_str()?.to_ascii_lowercase(),
            wildcard: false,
            port: 0,
        })
    })
    .collect()
}

/// A host name that resolves to no public address: refused, not retried.
#[derive(Debug)]
pub struct NotPublic(pub String);

impl std::fmt::Display for NotPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotPublic {}

/// Resolves host names with the system resolver, keeping public addresses
/// only, except for the exempt hosts.
#[derive(Debug)]
pub struct PublicOnly {
    exempt: Vec<OriginPattern>,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let exempt = self.exempt.iter().any(|p| p.matches_host(&host));
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = if exempt {
                found
            } else {
                found.into_iter().filter(|a| is_public(a.ip())).collect()
            };
            if kept.is_empty() {
                return Err(Box::new(NotPublic(format!(
                    "{host} resolves to no public address (results may come from public origins only; `--results-origin` allows others)"
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn public_policy_refuses_inside_addresses() {
        let origins = Origins::default();
        for inside in [
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:8080/x",
            "http://10.1.2.3/x",
            "http://192.168.0.1/x",
            "http://100.64.0.1/x",
            "http://[::1]/x",
            "http://[fd00::1]/x",
            "http://[::ffff:10.0.0.1]/x",
            "http://localhost/x",
            "http://api.localhost./x",
        ] {
            assert!(origins.refusal(&url(inside)).is_some(), "{inside}");
        }
        for outside in [
            "https://logs.example.org/x",
            "https://8.8.8.8/x",
            "http://[2606:4700::1111]/x",
        ] {
            assert_eq!(origins.refusal(&url(outside)), None, "{outside}");
        }
    }

    #[test]
    fn pinned_policy_allows_the_listed_origins_only() {
        let origins = Origins {
            trusted: vec![OriginPattern::of(&url("http://127.0.0.1:9000/")).unwrap()],
            pinned: vec![
                OriginPattern::parse("https://*.rackcdn.com").unwrap(),
                OriginPattern::parse("https://storage.bhs.cloud.ovh.net").unwrap(),
            ],
        };
        for ok in [
            "https://a1b2.ssl.cf5.rackcdn.com/x/report.json",
            "https://storage.bhs.cloud.ovh.net:443/v1/x",
            "http://127.0.0.1:9000/logs/x",
        ] {
            assert_eq!(origins.refusal(&url(ok)), None, "{ok}");
        }
        for refused in [
            "https://rackcdn.com/x",
            "https://evilrackcdn.com/x",
            "http://a.rackcdn.com/x",
            "https://storage.bhs.cloud.ovh.net:8443/x",
            "http://127.0.0.1:9001/x",
            "https://logs.example.org/x",
        ] {
            let why = origins.refusal(&url(refused)).expect(refused);
            assert!(why.contains("`--results-origin`"), "{why}");
        }
    }

    /// The resolver drops inside addresses of names nobody vouched for
    /// (`localhost` is in every hosts file), and keeps them for exempt ones.
    #[tokio::test]
    async fn names_resolving_inside_are_refused_unless_exempt() {
        use std::str::FromStr;
        let name = || Name::from_str("localhost").unwrap();
        let strict = PublicOnly { exempt: Vec::new() };
        let e = match strict.resolve(name()).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e,
        };
        let refused = e.downcast_ref::<NotPublic>().expect("a NotPublic error");
        assert!(
            refused
                .0
                .starts_with("localhost resolves to no public address"),
            "{refused}"
        );
        let exempt = PublicOnly {
            exempt: vec![OriginPattern::parse("http://localhost:8080").unwrap()],
        };
        let addrs: Vec<SocketAddr> = exempt.resolve(name()).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }

    #[test]
    fn patterns_are_origins_only() {
        for bad in [
            "logs.example.org",
            "ftp://logs.example.org",
            "https://u:p@logs.example.org",
            "https://logs.example.org/path",
        ] {
            let e = OriginPattern::parse(bad).unwrap_err();
            assert!(e.contains("hint:") && !e.contains(":p@"), "{e}");
        }
        assert_eq!(
            OriginPattern::parse("https://*.Example.org")
                .unwrap()
                .to_string(),
            "https://*.example.org:443"
        );
    }
}
