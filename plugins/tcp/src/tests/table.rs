//! The session table and the remembered generations, against plain maps.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netanalysis_core::{Endpoint, SocketPair};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::table::{Generations, SessionTable, Slot};

pub(super) fn pair(client: u16, server: u8) -> SocketPair {
    let server = if server % 2 == 0 {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, server))
    } else {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(server)))
    };
    SocketPair::new(Endpoint::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), client), Endpoint::new(server, 80))
}

#[derive(Debug, Clone)]
enum TableOp {
    Insert(u16, u8, u64),
    Remove(u16, u8),
}

/// The client port and server number of the pair `op` names.
fn key_of(op: &TableOp) -> (u16, u8) {
    match op {
        TableOp::Insert(c, s, _) | TableOp::Remove(c, s) => (*c, *s),
    }
}

fn table_op() -> impl Strategy<Value = TableOp> {
    // Few pairs, so that inserts, replacements and removals meet.
    prop_oneof![
        3 => (0u16..40, 0u8..3, any::<u64>()).prop_map(|(c, s, v)| TableOp::Insert(c, s, v)),
        2 => (0u16..40, 0u8..3).prop_map(|(c, s)| TableOp::Remove(c, s)),
    ]
}

proptest! {
    #[test]
    fn the_table_holds_what_a_map_would(ops in vec(table_op(), 0..400)) {
        let mut table = SessionTable::default();
        let mut model: HashMap<SocketPair, u64> = HashMap::new();
        let mut most = 0;
        for op in ops {
            match op.clone() {
                TableOp::Insert(c, s, value) => {
                    let slot = table.insert(pair(c, s), value).expect("a slot");
                    prop_assert_eq!(table.find(&pair(c, s)), Some(slot));
                    model.insert(pair(c, s), value);
                }
                TableOp::Remove(c, s) => {
                    let removed = table.find(&pair(c, s)).and_then(|slot| table.remove(slot));
                    prop_assert_eq!(removed, model.remove(&pair(c, s)).map(|value| (pair(c, s), value)));
                    prop_assert_eq!(table.find(&pair(c, s)), None);
                }
            }
            // The per-packet lookup (which remembers the place it found last) agrees,
            // asked twice in a row and for a neighbour.
            let (c, s) = key_of(&op);
            for (c, s) in [(c, s), (c, s), (c ^ 1, s)] {
                let found = table.find_mut(&pair(c, s)).map(|(slot, value)| (slot, *value));
                prop_assert_eq!(found.map(|(_, value)| value), model.get(&pair(c, s)).copied());
                prop_assert_eq!(found.map(|(slot, _)| slot), table.find(&pair(c, s)));
            }
            most = most.max(model.len());
            prop_assert_eq!(table.len(), model.len());
        }
        for (held, value) in &model {
            let slot = table.find(held).expect("held");
            prop_assert_eq!(table.get(slot), Some(value));
            prop_assert_eq!(table.pair(slot), Some(*held));
        }
        let mut listed: Vec<(SocketPair, u64)> = table.iter().map(|(slot, p, v)| {
            assert_eq!(table.find(&p), Some(slot));
            (p, *v)
        }).collect();
        listed.sort();
        let mut expected: Vec<(SocketPair, u64)> = model.into_iter().collect();
        expected.sort();
        prop_assert_eq!(&listed, &expected);
        prop_assert_eq!(table.values().count(), expected.len());
        // Freed places are reused: the slab never held more places than entries at once.
        prop_assert!(table.places() <= most);
    }

    #[test]
    fn generations_are_remembered_as_a_map_would(
        ops in vec((0u64..600, 1u32..300), 0..1500),
        clear_at in proptest::option::of(0usize..1500),
    ) {
        let mut generations = Generations::default();
        let mut model: HashMap<u64, u32> = HashMap::new();
        for (k, (key, generation)) in ops.into_iter().enumerate() {
            if clear_at == Some(k) {
                generations.clear();
                model.clear();
            }
            // Spread keys over the whole word, as the pairs' stable hashes are; the
            // generation shares the low byte, which a key's low bits must not disturb.
            let hash = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) | (key & 0xff);
            prop_assert_eq!(generations.get(hash), model.get(&(hash & !0xff)).copied());
            generations.set(hash, generation);
            model.insert(hash & !0xff, generation);
            prop_assert_eq!(generations.get(hash), Some(generation));
            prop_assert_eq!(generations.len(), model.len());
        }
        for (prefix, generation) in &model {
            prop_assert_eq!(generations.get(*prefix | 0x5a), Some(*generation));
        }
    }
}

#[test]
fn a_removed_entry_leaves_its_slot_to_the_next() {
    let mut table = SessionTable::default();
    let first = table.insert(pair(1, 2), "first").expect("a slot");
    let second = table.insert(pair(2, 2), "second").expect("a slot");
    assert_ne!(first, second);
    assert_eq!(table.remove(first), Some((pair(1, 2), "first")));
    assert_eq!(table.remove(first), None);
    assert_eq!(table.get(first), None);
    assert_eq!(table.pair(first), None);
    let third = table.insert(pair(3, 2), "third").expect("a slot");
    assert_eq!(third, first);
    assert_eq!(table.get(third), Some(&"third"));
    assert_eq!(table.places(), 2);
    assert_eq!(table.get(Slot::for_tests(99)), None);
    // Putting a value for a pair it holds replaces it in place.
    assert_eq!(table.insert(pair(2, 2), "again"), Some(second));
    assert_eq!(table.get(second), Some(&"again"));
    assert_eq!(table.len(), 2);
}

#[test]
fn a_pair_reused_hundreds_of_times_keeps_its_generation() {
    let mut generations = Generations::default();
    let hash = 0x0123_4567_89ab_cdef;
    for generation in [1, 254, 255, 256, 70_000, 3] {
        generations.set(hash, generation);
        assert_eq!(generations.get(hash), Some(generation));
    }
    // Past the first merge, and with the pair itself in the sorted part.
    for key in 1..=1000u64 {
        generations.set(key << 20, 1);
    }
    generations.set(hash, 400);
    assert_eq!(generations.get(hash), Some(400));
    assert_eq!(generations.get(5 << 20), Some(1));
    assert_eq!(generations.get(1001 << 20), None);
    assert_eq!(generations.len(), 1001);
}

/// A tombstone stays small: the listener holds one for every session closed within
/// the linger time. Most of it is the pair (40 bytes, for IPv6 addresses).
#[cfg(target_pointer_width = "64")]
#[test]
fn a_tombstone_is_72_bytes() {
    assert_eq!(crate::reassembler::tombstone_size(), 72);
}

/// Many pairs (as a flood that evicts sessions leaves): every pair keeps its own
/// generation through hundreds of merges, and one that comes back keeps its word.
#[test]
fn a_hundred_thousand_pairs_keep_their_generations() {
    let mut generations = Generations::default();
    let hash = |key: u64| key.wrapping_mul(0x9e37_79b9_7f4a_7c15) & !0xff;
    let generation = |key: u64| u32::try_from(key % 300).expect("small") + 1;
    for key in 0..100_000u64 {
        generations.set(hash(key), generation(key));
    }
    assert_eq!(generations.len(), 100_000);
    // Half of them come back and leave again.
    for key in (0..100_000u64).step_by(2) {
        generations.set(hash(key), generation(key) + 1);
    }
    assert_eq!(generations.len(), 100_000);
    for key in 0..100_000u64 {
        let expected = generation(key) + u32::from(key % 2 == 0);
        assert_eq!(generations.get(hash(key)), Some(expected), "key {key}");
    }
    assert_eq!(generations.get(hash(100_000)), None);
}
