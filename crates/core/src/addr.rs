//! Endpoints and socket pairs.

use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

/// One end of a connection: an address and a port.
///
/// Displays as `ip:port`, IPv6 as `[addr]:port`, addresses in their usual text form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    /// The IP address.
    pub addr: IpAddr,
    /// The TCP or UDP port.
    pub port: u16,
}

impl Endpoint {
    /// An endpoint from an address and a port.
    pub const fn new(addr: IpAddr, port: u16) -> Endpoint {
        Endpoint { addr, port }
    }
}

/// Hashes as few whole words (one for IPv4, three for IPv6) instead of the derived
/// form's discriminant, length prefix and byte slice: session tables hash a pair of
/// endpoints for every packet.
impl Hash for Endpoint {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self.addr {
            IpAddr::V4(a) => state.write_u64(u64::from(a.to_bits()) << 16 | u64::from(self.port)),
            IpAddr::V6(a) => {
                let bits = a.to_bits();
                // Truncations keep the low and the high half.
                state.write_u64(bits as u64);
                state.write_u64((bits >> 64) as u64);
                state.write_u64(1 << 32 | u64::from(self.port));
            }
        }
    }
}

impl Endpoint {
    /// An IPv4 endpoint's text, assembled on the stack (the JSON log and the traces
    /// print endpoints several times per event); `None` for IPv6.
    pub(crate) fn v4_text(&self) -> Option<crate::text::StackText<21>> {
        let IpAddr::V4(addr) = self.addr else { return None };
        // At most `255.255.255.255:65535`.
        let mut text = crate::text::StackText::new();
        for (i, octet) in addr.octets().into_iter().enumerate() {
            if i > 0 {
                text.push(b".");
            }
            text.push_u64(u64::from(octet));
        }
        text.push(b":");
        text.push_u64(u64::from(self.port));
        Some(text)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.v4_text(), self.addr) {
            (Some(text), _) => f.write_str(text.as_str()),
            (None, addr) => write!(f, "[{addr}]:{}", self.port),
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The two endpoints of a connection, without direction.
///
/// `SocketPair::new(a, b) == SocketPair::new(b, a)`, and it hashes accordingly, so it
/// keys session tables without formatting anything. Its `Display` is the original
/// tool's session key: both `ip:port` strings sorted as strings and joined by `-`,
/// e.g. `145.246.233.194:33403-216.239.59.147:80`; compute it once per session.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketPair {
    low: Endpoint,
    high: Endpoint,
}

impl SocketPair {
    /// The pair of `a` and `b`, in either order.
    pub fn new(a: Endpoint, b: Endpoint) -> SocketPair {
        let a_first = match (a.addr, b.addr) {
            // The derived order (address, then port) as one number: the per-packet case.
            (IpAddr::V4(x), IpAddr::V4(y)) => {
                (u64::from(u32::from(x)) << 16 | u64::from(a.port))
                    <= (u64::from(u32::from(y)) << 16 | u64::from(b.port))
            }
            _ => a <= b,
        };
        if a_first {
            SocketPair { low: a, high: b }
        } else {
            SocketPair { low: b, high: a }
        }
    }

    /// The two endpoints in a fixed (numeric) order.
    pub fn endpoints(&self) -> (Endpoint, Endpoint) {
        (self.low, self.high)
    }

    /// The original's session key: endpoints sorted as strings, joined by `-`.
    pub fn key(&self) -> String {
        let mut a = String::with_capacity(48);
        let mut b = String::with_capacity(24);
        // Writing to a String cannot fail.
        let _ = write!(a, "{}", self.low);
        let _ = write!(b, "{}", self.high);
        if a <= b {
            a.push('-');
            a.push_str(&b);
            a
        } else {
            b.push('-');
            b.push_str(&a);
            b
        }
    }

    /// A 64-bit hash of the pair of `a` and `b` that does not depend on which is which:
    /// each endpoint is hashed on its own and the two hashes are added, so the endpoints
    /// need not be put in order first. Stable across runs and platforms (arithmetic
    /// only), and cheaper than [`SocketPair::new`] then [`stable_hash`]: a sharded run
    /// picks every packet's shard with it on its reading path. Not the same number as
    /// `stable_hash`.
    ///
    /// [`stable_hash`]: SocketPair::stable_hash
    #[inline]
    pub fn unordered_hash(a: Endpoint, b: Endpoint) -> u64 {
        fold(fold_endpoint(HASH_SEED, a).wrapping_add(fold_endpoint(HASH_SEED, b)), HASH_K)
    }

    /// A 64-bit hash that does not depend on direction or on the process: the endpoints
    /// in order, each folded in with a 128-bit multiply. Stable across runs and
    /// platforms (arithmetic only), and a few instructions per pair. The TCP listener
    /// keeps the generations of pairs that left under it.
    pub fn stable_hash(&self) -> u64 {
        fold(fold_endpoint(fold_endpoint(HASH_SEED, self.low), self.high), HASH_K)
    }
}

const HASH_K: u64 = 0x9e37_79b9_7f4a_7c15;
const HASH_SEED: u64 = 0x243f_6a88_85a3_08d3;

/// Folds `word` into `h` with a 128-bit multiply: the low and the high half of the
/// product, folded.
#[inline]
fn fold(h: u64, word: u64) -> u64 {
    let product = u128::from(h ^ word).wrapping_mul(u128::from(HASH_K));
    // Truncations intended.
    (product as u64) ^ ((product >> 64) as u64)
}

/// Folds an endpoint into `h`: an IPv4 address and its port as one word; an IPv6
/// address as its two halves, then the port (marked, so that it cannot pass for a
/// half of an address).
#[inline]
fn fold_endpoint(h: u64, ep: Endpoint) -> u64 {
    let port = u64::from(ep.port);
    match ep.addr {
        IpAddr::V4(a) => fold(h, u64::from(u32::from(a)) << 16 | port),
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            // Truncations intended.
            fold(fold(fold(h, (bits >> 64) as u64), bits as u64), port | 1 << 32)
        }
    }
}

impl fmt::Display for SocketPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

impl fmt::Debug for SocketPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str, port: u16) -> Endpoint {
        Endpoint::new(s.parse().unwrap(), port)
    }

    #[test]
    fn key_sorts_endpoints_as_strings() {
        let client = ep("145.246.233.194", 33403);
        let server = ep("216.239.59.147", 80);
        let pair = SocketPair::new(server, client);
        assert_eq!(pair.key(), "145.246.233.194:33403-216.239.59.147:80");
        assert_eq!(pair, SocketPair::new(client, server));
        // Numeric order and string order differ here: 9.x sorts after 10.x as a string.
        let pair = SocketPair::new(ep("9.0.0.1", 1), ep("10.0.0.1", 2));
        assert_eq!(pair.key(), "10.0.0.1:2-9.0.0.1:1");
    }

    #[test]
    fn ipv4_endpoints_print_like_the_standard_library() {
        for (addr, port) in [("0.0.0.0", 0), ("10.0.0.1", 80), ("255.255.255.255", 65535), ("192.168.1.10", 8080)] {
            let addr: std::net::Ipv4Addr = addr.parse().unwrap();
            assert_eq!(Endpoint::new(IpAddr::V4(addr), port).to_string(), format!("{addr}:{port}"));
        }
    }

    #[test]
    fn ipv6_endpoints_are_bracketed() {
        assert_eq!(ep("::1", 80).to_string(), "[::1]:80");
        let pair = SocketPair::new(ep("2001:db8::1", 443), ep("2001:db8::2", 5000));
        assert_eq!(pair.key(), "[2001:db8::1]:443-[2001:db8::2]:5000");
    }

    #[test]
    fn pair_order_is_the_endpoints_derived_order() {
        let endpoints = [
            ep("10.0.0.1", 80),
            ep("10.0.0.1", 81),
            ep("10.0.0.2", 1),
            ep("9.255.255.255", 65535),
            ep("255.255.255.255", 0),
            ep("0.0.0.0", 65535),
            ep("::1", 80),
            ep("::", 0),
        ];
        for a in endpoints {
            for b in endpoints {
                let pair = SocketPair::new(a, b);
                assert_eq!(pair.endpoints(), (a.min(b), a.max(b)), "{a} {b}");
            }
        }
    }

    #[test]
    fn stable_hash_ignores_direction() {
        let a = ep("10.0.0.1", 1000);
        let b = ep("10.0.0.2", 80);
        assert_eq!(SocketPair::new(a, b).stable_hash(), SocketPair::new(b, a).stable_hash());
    }

    #[test]
    fn unordered_hash_ignores_direction_and_spreads_pairs() {
        let a = ep("10.0.0.1", 1000);
        let b = ep("10.0.0.2", 80);
        assert_eq!(SocketPair::unordered_hash(a, b), SocketPair::unordered_hash(b, a));
        let v6 = ep("2001:db8::1", 443);
        assert_eq!(SocketPair::unordered_hash(a, v6), SocketPair::unordered_hash(v6, a));
        // The same on every run and platform.
        assert_eq!(
            SocketPair::unordered_hash(a, b),
            SocketPair::unordered_hash(ep("10.0.0.2", 80), ep("10.0.0.1", 1000))
        );
        assert_eq!(SocketPair::unordered_hash(a, b), 0xf73b_7b18_aca8_0da9);
        let mut seen = std::collections::HashSet::new();
        for shards in [2u64, 3, 4, 8] {
            let mut per_shard = vec![0usize; shards as usize];
            let mut total = 0;
            for port in 0..4096u16 {
                for server in ["10.0.0.2", "10.0.0.3", "::2"] {
                    let hash = SocketPair::unordered_hash(ep("10.0.0.1", 30000 + port), ep(server, 80));
                    if shards == 2 {
                        assert!(seen.insert(hash));
                    }
                    per_shard[(hash % shards) as usize] += 1;
                    total += 1;
                }
            }
            let even = total / shards as usize;
            for count in &per_shard {
                assert!(count * 100 > even * 94 && count * 100 < even * 106, "{shards} shards: {per_shard:?}");
            }
        }
    }

    #[test]
    fn stable_hash_is_fixed_and_spreads_pairs() {
        // The same on every run and platform: the generations of session ids rely on it.
        let pair = SocketPair::new(ep("10.0.0.1", 1000), ep("10.0.0.2", 80));
        assert_eq!(pair.stable_hash(), SocketPair::new(ep("10.0.0.1", 1000), ep("10.0.0.2", 80)).stable_hash());
        assert_eq!(pair.stable_hash(), 0xd38c_5717_f01a_9d7e);
        assert_eq!(SocketPair::new(ep("2001:db8::1", 1000), ep("::2", 80)).stable_hash(), 0x9cf2_ece7_546a_5330);
        // Pairs that differ in one port, one address byte or the address family differ,
        // and spread evenly over a few shards.
        let mut seen = std::collections::HashSet::new();
        let mut per_shard = [0usize; 4];
        for port in 0..4096u16 {
            for server in ["10.0.0.2", "10.0.0.3", "::2"] {
                let hash = SocketPair::new(ep("10.0.0.1", 30000 + port), ep(server, 80)).stable_hash();
                assert!(seen.insert(hash));
                per_shard[(hash % 4) as usize] += 1;
            }
        }
        for count in per_shard {
            assert!((2800..3350).contains(&count), "{per_shard:?}");
        }
    }
}
