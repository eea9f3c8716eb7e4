//! Capture time.

use std::fmt;

/// A point in capture time: nanoseconds since the Unix epoch, plus the number of
/// decimal digits the capture recorded (6 for microsecond pcap, 9 for nanosecond).
///
/// Equality and ordering look at the instant only, never at the precision.
/// `Display` prints seconds as a decimal with the capture's precision,
/// e.g. `1096989582.687684`, the form used in trace lines and the JSON log.
#[derive(Clone, Copy, Default)]
pub struct Timestamp {
    nanos: u64,
    digits: u8,
}

impl Timestamp {
    /// The start of the epoch, with microsecond precision.
    pub const ZERO: Timestamp = Timestamp { nanos: 0, digits: 6 };

    /// A timestamp from nanoseconds since the epoch, shown with `digits` decimals (clamped to 0..=9).
    pub const fn from_nanos(nanos: u64, digits: u8) -> Timestamp {
        Timestamp { nanos, digits: if digits > 9 { 9 } else { digits } }
    }

    /// A microsecond-precision timestamp from seconds and microseconds.
    pub const fn from_micros(secs: u64, micros: u32) -> Timestamp {
        Timestamp { nanos: secs.saturating_mul(1_000_000_000).saturating_add(micros as u64 * 1000), digits: 6 }
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// Whole seconds since the epoch.
    pub const fn secs(self) -> u64 {
        self.nanos / 1_000_000_000
    }

    /// Decimal digits kept by the capture (6 or 9 in practice).
    pub const fn digits(self) -> u8 {
        self.digits
    }

    /// Time elapsed from `earlier` to `self` (zero if `earlier` is later), with the finer
    /// precision of the two.
    pub fn since(self, earlier: Timestamp) -> Elapsed {
        Elapsed { nanos: self.nanos.saturating_sub(earlier.nanos), digits: self.digits.max(earlier.digits) }
    }

    /// The later of two timestamps.
    pub fn max(self, other: Timestamp) -> Timestamp {
        if other.nanos > self.nanos {
            other
        } else {
            self
        }
    }
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}
impl Eq for Timestamp {}
impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.nanos.cmp(&other.nanos)
    }
}
impl std::hash::Hash for Timestamp {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.nanos.hash(state)
    }
}

/// `nanos` as decimal seconds with `digits` digits after the point (at most 9), cut,
/// not rounded, assembled on the stack: the JSON log and the traces print several
/// times per event, and `write!` through the formatting machinery showed.
pub(crate) fn decimal(nanos: u64, digits: u8) -> crate::text::StackText<30> {
    let mut text = crate::text::StackText::new();
    text.push_u64(nanos / 1_000_000_000);
    if digits > 0 {
        text.push(b".");
        // The nine digits of the fraction, then cut to the precision.
        let mut fraction = [b'0'; 9];
        let mut rest = nanos % 1_000_000_000;
        for slot in fraction.iter_mut().rev() {
            // A single decimal digit.
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        text.push(&fraction[..usize::from(digits.min(9))]);
    }
    text
}

impl Timestamp {
    /// The decimal text `Display` prints.
    pub(crate) fn decimal_text(self) -> crate::text::StackText<30> {
        decimal(self.nanos, self.digits)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(decimal(self.nanos, self.digits).as_str())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

/// A span of capture time, printed like a [`Timestamp`] (`0.051702`).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Elapsed {
    nanos: u64,
    digits: u8,
}

impl Elapsed {
    /// The span in nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// The span in seconds, as a float (for arithmetic, not for display).
    pub fn as_secs_f64(self) -> f64 {
        self.nanos as f64 / 1e9
    }

    /// The span as a `std::time::Duration`.
    pub const fn to_duration(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.nanos)
    }
}

impl Elapsed {
    /// The decimal text `Display` prints.
    pub(crate) fn decimal_text(self) -> crate::text::StackText<30> {
        decimal(self.nanos, self.digits)
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(decimal(self.nanos, self.digits).as_str())
    }
}

impl fmt::Debug for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Elapsed({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_with_capture_precision() {
        let t = Timestamp::from_micros(1096989582, 687684);
        assert_eq!(t.to_string(), "1096989582.687684");
        let n = Timestamp::from_nanos(1_000_000_000 * 5 + 42, 9);
        assert_eq!(n.to_string(), "5.000000042");
        assert_eq!(Timestamp::from_nanos(7_000_000_000, 0).to_string(), "7");
    }

    #[test]
    fn elapsed_between_microsecond_stamps() {
        let a = Timestamp::from_micros(1096989582, 687684);
        let b = Timestamp::from_micros(1096989582, 739386);
        assert_eq!(b.since(a).to_string(), "0.051702");
        assert_eq!(a.since(b).as_nanos(), 0);
    }

    #[test]
    fn every_precision_cuts_the_fraction_like_the_formatter_would() {
        for nanos in [0, 1, 999_999_999, 1_000_000_000, 1_096_989_582_687_684_123, u64::MAX] {
            for digits in 0..=9u8 {
                let secs = nanos / 1_000_000_000;
                let expected = if digits == 0 {
                    secs.to_string()
                } else {
                    let scaled = nanos % 1_000_000_000 / 10u64.pow(9 - u32::from(digits));
                    format!("{secs}.{scaled:0width$}", width = usize::from(digits))
                };
                assert_eq!(Timestamp::from_nanos(nanos, digits).to_string(), expected);
            }
        }
    }

    #[test]
    fn equality_ignores_precision() {
        assert_eq!(Timestamp::from_nanos(1000, 6), Timestamp::from_nanos(1000, 9));
    }
}
