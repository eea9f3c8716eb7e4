//! The tombstone queue, against a plain list in the same order.

use proptest::collection::vec;
use proptest::prelude::*;

use super::table::pair;
use crate::tombs::{Record, Tombstones, CHUNK};

#[derive(Debug, Clone)]
enum TombOp {
    /// Put a record for this pair, the clock moving on by the given time.
    Put(u16, u8, u64),
    Take(u16, u8),
    /// Take out every record put in at or before this long ago.
    Expire(u64),
    PopOldest,
}

fn tomb_op() -> impl Strategy<Value = TombOp> {
    // Few pairs, so that replacements and takes from the middle meet.
    prop_oneof![
        4 => (0u16..60, 0u8..3, 0u64..5).prop_map(|(c, s, dt)| TombOp::Put(c, s, dt)),
        2 => (0u16..60, 0u8..3).prop_map(|(c, s)| TombOp::Take(c, s)),
        1 => (0u64..40).prop_map(TombOp::Expire),
        1 => Just(TombOp::PopOldest),
    ]
}

proptest! {
    #[test]
    fn the_queue_keeps_what_a_list_would(ops in vec(tomb_op(), 0..1500)) {
        let mut tombs = Tombstones::default();
        let mut model: Vec<Record<u64>> = Vec::new();
        let mut now = 0;
        for (serial, op) in (0u64..).zip(ops) {
            match op {
                TombOp::Put(c, s, dt) => {
                    now += dt;
                    let record = Record { pair: pair(c, s), since: now, value: serial };
                    let replaced = model.iter().position(|held| held.pair == record.pair).map(|at| model.remove(at));
                    prop_assert_eq!(tombs.put(record), Ok(replaced));
                    model.push(record);
                }
                TombOp::Take(c, s) => {
                    let taken = model.iter().position(|held| held.pair == pair(c, s)).map(|at| model.remove(at));
                    prop_assert_eq!(tombs.take(&pair(c, s)), taken);
                }
                TombOp::Expire(age) => {
                    let until = now.saturating_sub(age);
                    while let Some(record) = tombs.pop_until(until) {
                        prop_assert_eq!(Some(record), (!model.is_empty()).then(|| model.remove(0)));
                        prop_assert!(record.since <= until);
                    }
                    prop_assert!(model.first().is_none_or(|oldest| oldest.since > until));
                }
                TombOp::PopOldest => {
                    prop_assert_eq!(tombs.pop_oldest(), (!model.is_empty()).then(|| model.remove(0)));
                }
            }
            prop_assert_eq!(tombs.len(), model.len());
            for held in &model {
                prop_assert_eq!(tombs.get(&held.pair), Some(held));
            }
            prop_assert!(tombs.iter().eq(model.iter()));
            // Empty places never outnumber the records by much, so neither do chunks.
            prop_assert!(tombs.chunks() <= (3 * model.len() + CHUNK) / CHUNK + 2);
        }
    }
}

/// Records that come and go in order reuse the same chunks: the memory follows the
/// most records held at once, however many pass through.
#[test]
fn a_steady_stream_of_records_keeps_its_chunks() {
    let mut tombs = Tombstones::default();
    for n in 0..100_000u64 {
        let port = u16::try_from(n % 60_000).expect("a port");
        assert_eq!(tombs.put(Record { pair: pair(port, 0), since: n, value: n }), Ok(None));
        if let Some(until) = n.checked_sub(1_000) {
            assert_eq!(tombs.pop_until(until).map(|oldest| oldest.since), Some(until));
            assert_eq!(tombs.pop_until(until), None);
        }
        assert!(tombs.len() <= 1_000);
        assert!(tombs.chunks() <= 1_001 / CHUNK + 2, "{} chunks", tombs.chunks());
    }
}

/// A pair that keeps coming back leaves empty places behind it; the queue is rebuilt
/// before they pile up.
#[test]
fn a_pair_put_again_and_again_does_not_grow_the_queue() {
    let mut tombs = Tombstones::default();
    for n in 0..100_000u64 {
        let replaced = tombs.put(Record { pair: pair(7, 0), since: n, value: n }).expect("a place");
        assert_eq!(replaced.map(|record| record.value), n.checked_sub(1));
        assert_eq!(tombs.len(), 1);
        assert!(tombs.chunks() <= 3, "{} chunks", tombs.chunks());
    }
    assert_eq!(tombs.get(&pair(7, 0)).map(|record| record.value), Some(99_999));
}
