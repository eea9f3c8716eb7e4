//! TCP sequence numbers.
//!
//! Sequence space is a ring of 2^32 values (RFC 9293 section 3.4): numbers are compared
//! by the sign of their wrapping difference, so `SeqNumber(5)` comes after
//! `SeqNumber(u32::MAX - 5)`. Two numbers more than 2^31 apart cannot be ordered
//! meaningfully; no TCP window is that large.

use std::cmp::Ordering;
use std::fmt;

/// A TCP sequence or acknowledgment number, compared with wrapping arithmetic.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// The number `n` places further on the ring.
    pub const fn add(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }

    /// The number `n` places further on the ring, `n` taken modulo 2^32.
    pub const fn add_u64(self, n: u64) -> SeqNumber {
        // Truncation is the point: sequence space wraps at 2^32.
        SeqNumber(self.0.wrapping_add(n as u32))
    }

    /// The signed distance from `earlier` to `self` (positive when `self` is later).
    pub const fn distance(self, earlier: SeqNumber) -> i32 {
        self.0.wrapping_sub(earlier.0) as i32
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some(self.distance(*other).cmp(&0))
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNumber({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_across_the_wrap() {
        let before = SeqNumber(u32::MAX - 5);
        let after = before.add(10);
        assert_eq!(after, SeqNumber(4));
        assert!(after > before);
        assert!(before < after);
        assert_eq!(after.distance(before), 10);
        assert_eq!(before.distance(after), -10);
    }

    #[test]
    fn add_u64_wraps_modulo_two_to_the_32() {
        assert_eq!(SeqNumber(1).add_u64((1u64 << 32) + 2), SeqNumber(3));
    }
}
