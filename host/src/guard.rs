//! SSRF guard: deliveries go to public addresses only, unless the operator
//! allow-listed a network for a destination. Host names are checked after
//! every DNS resolution (a resolver that filters what it returns), so a name
//! pointing at 169.254.169.254 or 127.0.0.1 cannot sneak past a URL check;
//! literal addresses are checked when the config is loaded.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Ok if `ip` is public or inside one of `allow`; otherwise why not.
pub fn check(ip: IpAddr, allow: &[IpNet]) -> Result<(), String> {
    match non_public(ip) {
        None => Ok(()),
        Some(_) if allow.iter().any(|n| n.contains(&ip)) => Ok(()),
        Some(kind) => Err(format!(
            "{ip} is a {kind} address; deliveries go to public addresses only \
             (add it to the destination's `allow_addresses` to allow it)"
        )),
    }
}

/// The kind of a non-public address, `None` for a public one.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => "unspecified",
        (127, ..) => "loopback",
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => "private",
        // Cloud metadata services (169.254.169.254) live here.
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "shared (carrier-grade NAT)",
        (192, 0, 0) => "IETF protocol",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved",
        _ => return None,
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    Some(match s[0] {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        // NAT64 and 6to4 carry an IPv4 address that must pass too.
        0x64 if s[1] == 0xff9b => return non_public_v4(embedded_v4(s[6], s[7])),
        0x2002 => return non_public_v4(embedded_v4(s[1], s[2])),
        // Unique local, including fd00:ec2::254 (AWS metadata over IPv6).
        x if x & 0xfe00 == 0xfc00 => "unique local",
        x if x & 0xffc0 == 0xfe80 => "link-local",
        x if x & 0xffc0 == 0xfec0 => "site-local",
        x if x & 0xff00 == 0xff00 => "multicast",
        0x2001 if s[1] == 0x0db8 => "documentation",
        // IPv4-compatible (deprecated) ::a.b.c.d
        0 if s[1..6].iter().all(|&x| x == 0) => return non_public_v4(embedded_v4(s[6], s[7])),
        _ => return None,
    })
}

/// A DNS resolver for one destination: the system resolver, minus every
/// address the guard refuses.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    allow: Arc<Vec<IpNet>>,
}

impl GuardedResolver {
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self {
            allow: Arc::new(allow),
        }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let allowed = resolve(name.as_str(), 0, &allow).await?;
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// `host`'s addresses (with `port`) that the guard lets through; an error
/// saying why when none is left.
pub async fn resolve(host: &str, port: u16, allow: &[IpNet]) -> Result<Vec<SocketAddr>, String> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{host}: {e}"))?
        .collect();
    let mut refused = None;
    let allowed: Vec<SocketAddr> = found
        .into_iter()
        .filter(|a| match check(a.ip(), allow) {
            Ok(()) => true,
            Err(why) => {
                refused.get_or_insert(why);
                false
            }
        })
        .collect();
    if allowed.is_empty() {
        let why = refused.unwrap_or_else(|| "no address".into());
        return Err(format!("{host}: {why}"));
    }
    Ok(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> bool {
        check(ip.parse().unwrap(), &[]).is_err()
    }

    #[test]
    fn non_public_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:c0a8:0101::1",
            "::127.0.0.1",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "1.1.1.1",
            "2606:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert!(!refused(ip), "{ip} should pass");
        }
    }

    #[test]
    fn allow_list_opens_exactly_its_networks() {
        let allow: Vec<IpNet> = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        assert!(check("127.0.0.1".parse().unwrap(), &allow).is_ok());
        assert!(check("10.9.9.9".parse().unwrap(), &allow).is_ok());
        let e = check("127.0.0.2".parse().unwrap(), &allow).unwrap_err();
        assert!(
            e.contains("loopback") && e.contains("allow_addresses"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn resolver_filters_after_dns() {
        // `localhost` resolves to loopback: refused without the allow-list.
        let r = GuardedResolver::new(vec![]);
        let err = r.resolve("localhost".parse().unwrap()).await.err().unwrap();
        assert!(err.to_string().contains("loopback"), "{err}");
        let r = GuardedResolver::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ]);
        let addrs: Vec<_> = r
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!addrs.is_empty());
    }
}
