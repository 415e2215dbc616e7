//! The address guard: which addresses a webhook may be delivered to.
//!
//! A webhook URL is user input that the server acts on. Without a guard, an app key holder could
//! point one at the server's own network (a cloud metadata endpoint, an admin port on loopback, a
//! database on a private network) and read the answer back from a test send or the logs. So
//! delivery refuses every address in a special-purpose network (the table below) unless
//! `delivery.allow_networks` allows it. IPv6 forms that carry an IPv4 address (IPv4-mapped,
//! IPv4-compatible, IPv4-translated, NAT64 and 6to4) are judged by the IPv4 address they carry.
//!
//! The check is made where the connection is made, on the addresses connected to:
//! - [`GuardedConnector`] is the TCP connector under TLS. A URL whose host is an address is
//!   checked as it is (the URL was normalised first, so `http://0x7f.1/` is 127.0.0.1); a host
//!   name goes to the resolver.
//! - [`GuardedResolver`] resolves a name once and checks every address it got. **If any is
//!   blocked, the attempt is refused**, rather than sent to the others: a name that mixes outside
//!   and inside addresses is a rebinding trick or a mistake, and whether a request goes through
//!   should not depend on which address answers first. The connector then connects only to the
//!   addresses it returned: there is no second lookup for a rebinding DNS server to answer
//!   differently.
//!
//! Connections are kept per origin between deliveries (`pool.rs`), and each was made through this
//! check with the policy the process started with, so a kept connection leads to a checked address
//! whatever the name resolves to later.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioIo;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use tokio::net::TcpStream;
use tower_service::Service;

/// Whether an address may be delivered to: blocked networks, less the allowed ones.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allow: Vec<IpNet>,
}

/// Why an address may not be delivered to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Blocked {
    /// The address as it was met (resolved, or written in the URL).
    pub address: IpAddr,
    /// The blocked network it is in, and what that network is for.
    pub network: IpNet,
    pub what: &'static str,
    /// For an IPv6 address judged by the IPv4 address it carries: the form (`IPv4-mapped`,
    /// `NAT64`, …) and that address.
    pub carried: Option<(&'static str, Ipv4Addr)>,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "address {} is in a blocked network ({}, {}",
            self.address, self.what, self.network
        )?;
        if let Some((form, v4)) = self.carried {
            write!(f, ", as the {form} form of {v4}")?;
        }
        write!(f, "); the server's delivery.allow_networks can allow it")
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

#[allow(clippy::too_many_arguments)] // the eight groups of an IPv6 address, as it is written
const fn v6(a: u16, b: u16, c: u16, d: u16, e: u16, f: u16, g: u16, h: u16, prefix: u8) -> Ipv6Net {
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

/// Blocked IPv4 networks, the most specific first so that the reason names it (IANA's
/// special-purpose registry, RFC 6890, keeping the networks that are not the public internet).
const BLOCKED_V4: &[(Ipv4Net, &str)] = &[
    // AWS, GCP, Azure, OpenStack and others answer credentials here.
    (v4(169, 254, 169, 254, 32), "cloud metadata"),
    (v4(0, 0, 0, 0, 32), "unspecified"),
    (v4(255, 255, 255, 255, 32), "broadcast"),
    (v4(0, 0, 0, 0, 8), "\"this network\""),
    (v4(10, 0, 0, 0, 8), "private"),
    // Alibaba Cloud's metadata (100.100.100.200) is here too.
    (v4(100, 64, 0, 0, 10), "shared address space (CGNAT)"),
    (v4(127, 0, 0, 0, 8), "loopback"),
    (v4(169, 254, 0, 0, 16), "link-local"),
    (v4(172, 16, 0, 0, 12), "private"),
    // Oracle Cloud's metadata (192.0.0.192) is here too.
    (v4(192, 0, 0, 0, 24), "IETF protocol assignments"),
    (v4(192, 0, 2, 0, 24), "documentation"),
    (v4(192, 168, 0, 0, 16), "private"),
    (v4(198, 18, 0, 0, 15), "benchmarking"),
    (v4(198, 51, 100, 0, 24), "documentation"),
    (v4(203, 0, 113, 0, 24), "documentation"),
    (v4(224, 0, 0, 0, 4), "multicast"),
    (v4(240, 0, 0, 0, 4), "reserved"),
];

/// Blocked IPv6 networks, the most specific first.
const BLOCKED_V6: &[(Ipv6Net, &str)] = &[
    // AWS's metadata over IPv6.
    (
        v6(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254, 128),
        "cloud metadata",
    ),
    (v6(0, 0, 0, 0, 0, 0, 0, 0, 128), "unspecified"),
    (v6(0, 0, 0, 0, 0, 0, 0, 1, 128), "loopback"),
    (v6(0x64, 0xff9b, 1, 0, 0, 0, 0, 0, 48), "local-use NAT64"),
    (v6(0x100, 0, 0, 0, 0, 0, 0, 0, 64), "discard-only"),
    (v6(0x2001, 2, 0, 0, 0, 0, 0, 0, 48), "benchmarking"),
    (v6(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0, 32), "documentation"),
    (v6(0x3fff, 0, 0, 0, 0, 0, 0, 0, 20), "documentation"),
    (v6(0xfc00, 0, 0, 0, 0, 0, 0, 0, 7), "unique-local"),
    (v6(0xfe80, 0, 0, 0, 0, 0, 0, 0, 10), "link-local"),
    (v6(0xfec0, 0, 0, 0, 0, 0, 0, 0, 10), "site-local"),
    (v6(0xff00, 0, 0, 0, 0, 0, 0, 0, 8), "multicast"),
];

/// IPv6 networks whose addresses carry an IPv4 address, where it sits (the bit offset of its
/// first bit), and the form's name.
const CARRIERS: &[(Ipv6Net, u32, &str)] = &[
    (v6(0, 0, 0, 0, 0, 0xffff, 0, 0, 96), 96, "IPv4-mapped"),
    (v6(0, 0, 0, 0, 0xffff, 0, 0, 0, 96), 96, "IPv4-translated"),
    (v6(0x64, 0xff9b, 0, 0, 0, 0, 0, 0, 96), 96, "NAT64"),
    (v6(0x2002, 0, 0, 0, 0, 0, 0, 0, 16), 16, "6to4"),
    // Deprecated; `::` and `::1` are judged as themselves above.
    (v6(0, 0, 0, 0, 0, 0, 0, 0, 96), 96, "IPv4-compatible"),
];

impl AddressPolicy {
    /// Blocks the special-purpose networks, except within `allow`.
    pub fn new(allow: Vec<IpNet>) -> AddressPolicy {
        AddressPolicy { allow }
    }

    /// `Ok` when `address` may be delivered to: it is in no blocked network, or in an allowed
    /// one (for an IPv6 form carrying an IPv4 address, the IPv4 address may be the allowed one).
    pub fn check(&self, address: IpAddr) -> Result<(), Blocked> {
        let Some(blocked) = blocked(address) else {
            return Ok(());
        };
        let allowed = |a: IpAddr| self.allow.iter().any(|net| net.contains(&a));
        let carried_allowed = blocked.carried.is_some_and(|(_, v4)| allowed(v4.into()));
        if allowed(address) || carried_allowed {
            return Ok(());
        }
        Err(blocked)
    }

    /// For a webhook's URL: `Ok` unless its host is a blocked address, in any spelling a browser
    /// reads as one (`http://0x7f.1/` is 127.0.0.1). A host name is left to the resolver, at
    /// each attempt.
    pub fn check_url(&self, url: &str) -> Result<(), Blocked> {
        // Only the scheme and host are read: in a URL template they are literal text, while the
        // path and query may hold Liquid.
        let Some(host_at) = url.find("://").map(|at| at + 3) else {
            return Ok(());
        };
        let end = url[host_at..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |at| host_at + at);
        match super::parse_uri(&url[..end])
            .ok()
            .and_then(|uri| host_address(&uri))
        {
            Some(address) => self.check(address),
            // Not a URL at all: refused when sent, with its own reason.
            None => Ok(()),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// Where a host name's addresses come from: the system's resolver, or one a test supplies.
#[async_trait::async_trait]
pub trait Resolve: Send + Sync {
    /// Every address of `host` (a name, never an address).
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The system's resolver (`getaddrinfo`, on tokio's blocking threads, as hyper's own).
pub struct SystemResolver;

#[async_trait::async_trait]
impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        let found = tokio::net::lookup_host((host, 0)).await?;
        Ok(found.map(|a| a.ip()).collect())
    }
}

/// A resolver whose every answer has passed the policy (see the module's comment).
#[derive(Clone)]
pub(super) struct GuardedResolver {
    policy: Arc<AddressPolicy>,
    resolver: Arc<dyn Resolve>,
}

impl GuardedResolver {
    pub(super) fn new(policy: Arc<AddressPolicy>, resolver: Arc<dyn Resolve>) -> GuardedResolver {
        GuardedResolver { policy, resolver }
    }
}

impl Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let GuardedResolver { policy, resolver } = self.clone();
        Box::pin(async move {
            let addresses = resolver.resolve(name.as_str()).await?;
            for &address in &addresses {
                policy.check(address)?;
            }
            // Port 0: the connector puts the URL's port in.
            let addresses: Vec<SocketAddr> = addresses
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            Ok(addresses.into_iter())
        })
    }
}

/// hyper's TCP connector with the policy in front of it (see the module's comment).
#[derive(Clone)]
pub(super) struct GuardedConnector {
    http: HttpConnector<GuardedResolver>,
    policy: Arc<AddressPolicy>,
}

impl GuardedConnector {
    /// `http` must resolve through a [`GuardedResolver`] with the same `policy`.
    pub(super) fn new(
        http: HttpConnector<GuardedResolver>,
        policy: Arc<AddressPolicy>,
    ) -> GuardedConnector {
        GuardedConnector { http, policy }
    }
}

impl Service<Uri> for GuardedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        // hyper's connector does not resolve a host that is an address: it is checked here.
        if let Some(address) = host_address(&uri)
            && let Err(blocked) = self.policy.check(address)
        {
            return Box::pin(std::future::ready(Err(blocked.into())));
        }
        let connecting = self.http.call(uri);
        Box::pin(async move { connecting.await.map_err(Into::into) })
    }
}

/// The address `uri`'s host is, when it is one, read as hyper's connector reads it (an IPv6
/// address without its brackets).
pub(super) fn host_address(uri: &Uri) -> Option<IpAddr> {
    let host = uri.host()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.parse().ok()
}

/// The IPv4 address an IPv6 address carries, and the form, when it is one of [`CARRIERS`].
fn carried(address: IpAddr) -> Option<(Ipv4Addr, &'static str)> {
    let IpAddr::V6(v6) = address else {
        return None;
    };
    let bits = u128::from(v6);
    CARRIERS
        .iter()
        .find(|(net, _, _)| net.contains(&v6))
        .map(|&(_, at, form)| (Ipv4Addr::from((bits >> (96 - at)) as u32), form))
}

/// The blocked network `address` is in, if any, ignoring the allowed networks.
fn blocked(address: IpAddr) -> Option<Blocked> {
    let found = |network: IpNet, what| Blocked {
        address,
        network,
        what,
        carried: None,
    };
    match address {
        IpAddr::V4(a) => BLOCKED_V4
            .iter()
            .find(|(net, _)| net.contains(&a))
            .map(|&(net, what)| found(net.into(), what)),
        IpAddr::V6(a) => {
            if let Some(&(net, what)) = BLOCKED_V6.iter().find(|(net, _)| net.contains(&a)) {
                return Some(found(net.into(), what));
            }
            let (v4, form) = carried(address)?;
            let inner = blocked(v4.into())?;
            Some(Blocked {
                carried: Some((form, v4)),
                ..found(inner.network, inner.what)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// The network and reason `address` is blocked for, or `None` when it passes.
    fn verdict(policy: &AddressPolicy, address: &str) -> Option<(String, &'static str)> {
        policy
            .check(ip(address))
            .err()
            .map(|b| (b.network.to_string(), b.what))
    }

    #[test]
    fn every_special_purpose_network_is_blocked() {
        let policy = AddressPolicy::default();
        for (address, network, what) in [
            ("127.0.0.1", "127.0.0.0/8", "loopback"),
            ("127.255.255.254", "127.0.0.0/8", "loopback"),
            ("10.0.0.5", "10.0.0.0/8", "private"),
            ("172.16.0.1", "172.16.0.0/12", "private"),
            ("172.31.255.255", "172.16.0.0/12", "private"),
            ("192.168.1.1", "192.168.0.0/16", "private"),
            ("169.254.169.254", "169.254.169.254/32", "cloud metadata"),
            ("169.254.1.1", "169.254.0.0/16", "link-local"),
            (
                "100.64.0.1",
                "100.64.0.0/10",
                "shared address space (CGNAT)",
            ),
            (
                "100.100.100.200",
                "100.64.0.0/10",
                "shared address space (CGNAT)",
            ),
            (
                "100.127.255.255",
                "100.64.0.0/10",
                "shared address space (CGNAT)",
            ),
            ("0.0.0.0", "0.0.0.0/32", "unspecified"),
            ("0.1.2.3", "0.0.0.0/8", "\"this network\""),
            ("192.0.0.192", "192.0.0.0/24", "IETF protocol assignments"),
            ("192.0.2.10", "192.0.2.0/24", "documentation"),
            ("198.51.100.7", "198.51.100.0/24", "documentation"),
            ("203.0.113.9", "203.0.113.0/24", "documentation"),
            ("198.18.0.1", "198.18.0.0/15", "benchmarking"),
            ("198.19.255.255", "198.18.0.0/15", "benchmarking"),
            ("224.0.0.1", "224.0.0.0/4", "multicast"),
            ("239.255.255.250", "224.0.0.0/4", "multicast"),
            ("240.0.0.1", "240.0.0.0/4", "reserved"),
            ("255.255.255.255", "255.255.255.255/32", "broadcast"),
            ("::", "::/128", "unspecified"),
            ("::1", "::1/128", "loopback"),
            ("fc00::1", "fc00::/7", "unique-local"),
            ("fd12:3456::1", "fc00::/7", "unique-local"),
            ("fd00:ec2::254", "fd00:ec2::254/128", "cloud metadata"),
            ("fe80::1", "fe80::/10", "link-local"),
            ("fec0::1", "fec0::/10", "site-local"),
            ("ff02::1", "ff00::/8", "multicast"),
            ("100::1", "100::/64", "discard-only"),
            ("2001:db8::1", "2001:db8::/32", "documentation"),
            ("3fff::1", "3fff::/20", "documentation"),
            ("2001:2::1", "2001:2::/48", "benchmarking"),
            ("64:ff9b:1::a00:1", "64:ff9b:1::/48", "local-use NAT64"),
            // IPv6 forms carrying a blocked IPv4 address.
            ("::ffff:127.0.0.1", "127.0.0.0/8", "loopback"),
            ("::ffff:a9fe:a9fe", "169.254.169.254/32", "cloud metadata"),
            ("::ffff:10.1.2.3", "10.0.0.0/8", "private"),
            ("::127.0.0.1", "127.0.0.0/8", "loopback"),
            ("::ffff:0:192.168.0.1", "192.168.0.0/16", "private"),
            ("64:ff9b::10.0.0.1", "10.0.0.0/8", "private"),
            (
                "64:ff9b::169.254.169.254",
                "169.254.169.254/32",
                "cloud metadata",
            ),
            ("2002:7f00:1::", "127.0.0.0/8", "loopback"),
            ("2002:c0a8:101::1", "192.168.0.0/16", "private"),
        ] {
            assert_eq!(
                verdict(&policy, address),
                Some((network.to_string(), what)),
                "{address}"
            );
        }
    }

    #[test]
    fn public_addresses_pass() {
        let policy = AddressPolicy::default();
        for address in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.215.14",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "169.253.255.255",
            "192.0.1.1",
            "192.167.255.255",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::1.1.1.1",
            "2002:808:808::1",
        ] {
            assert_eq!(verdict(&policy, address), None, "{address}");
        }
    }

    #[test]
    fn an_allowed_network_passes_and_only_it() {
        let policy = AddressPolicy::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "10.1.0.0/16".parse().unwrap(),
            "fd00::/8".parse().unwrap(),
        ]);
        for address in [
            "127.0.0.1",
            "10.1.2.3",
            "fd00::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "64:ff9b::10.1.0.1",
        ] {
            assert_eq!(verdict(&policy, address), None, "{address}");
        }
        for (address, network) in [
            ("10.2.0.1", "10.0.0.0/8"),
            ("::1", "::1/128"),
            ("169.254.169.254", "169.254.169.254/32"),
            ("fc00::1", "fc00::/7"),
            ("::ffff:10.2.0.1", "10.0.0.0/8"),
        ] {
            assert_eq!(
                verdict(&policy, address).map(|v| v.0),
                Some(network.to_string()),
                "{address}"
            );
        }
    }

    #[test]
    fn a_url_is_judged_by_its_host() {
        let policy = AddressPolicy::default();
        for url in [
            "http://127.0.0.1/x",
            "http://127.0.0.1",
            "https://127.0.0.1:8443?q=1",
            "http://2130706433/x/{{ event.id }}",
            "http://0x7f.1/{{ a }}?b={{ b }}",
            "http://017700000001/",
            "http://127.1#f",
            "HTTP://[::1]:8080/",
            "http://[::ffff:7f00:1]/",
        ] {
            assert!(
                policy.check_url(url).is_err_and(|b| b.what == "loopback"),
                "{url}"
            );
        }
        for url in [
            "https://8.8.8.8/x",
            "https://[2606:4700::1111]/",
            "https://hooks.example.com/{{ event.id }}",
            "http://localhost/",
            "not a url",
        ] {
            assert_eq!(policy.check_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn the_reason_reads_as_a_sentence() {
        let policy = AddressPolicy::default();
        assert_eq!(
            policy.check(ip("10.0.0.5")).unwrap_err().to_string(),
            "address 10.0.0.5 is in a blocked network (private, 10.0.0.0/8); \
             the server's delivery.allow_networks can allow it"
        );
        assert_eq!(
            policy
                .check(ip("::ffff:127.0.0.1"))
                .unwrap_err()
                .to_string(),
            "address ::ffff:127.0.0.1 is in a blocked network (loopback, 127.0.0.0/8, as the \
             IPv4-mapped form of 127.0.0.1); the server's delivery.allow_networks can allow it"
        );
    }
}
