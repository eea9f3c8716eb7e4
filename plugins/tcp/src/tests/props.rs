//! Property tests of reassembly against a byte-map model: every stream offset is
//! either covered by some segment (and then its first copy is in the output) or not
//! (and then it belongs to exactly one reported hole, unless nothing follows it).

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

/// A byte stream, the client's initial sequence number (just below 2^32, so the
/// stream crosses the wrap), and segments `[start, end)` that cover all of it, plus
/// extra segments (retransmissions and overlaps carrying the same bytes).
#[derive(Debug, Clone)]
struct Case {
    data: Vec<u8>,
    isn: u32,
    covering: Vec<(usize, usize)>,
    extra: Vec<(usize, usize)>,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        vec(any::<u8>(), 1..1500),
        0u32..3000,
        vec(1usize..300, 1..40),
        vec((0usize..1500, 1usize..400), 0..20),
        any::<u64>(),
    )
        .prop_map(|(data, back, sizes, extra, seed)| {
            let mut covering = Vec::new();
            let mut start = 0;
            let mut k = 0;
            while start < data.len() {
                let size = sizes.get(k % sizes.len()).copied().unwrap_or(1);
                let end = (start + size).min(data.len());
                covering.push((start, end));
                start = end;
                k += 1;
            }
            let extra = extra
                .into_iter()
                .map(|(a, n)| {
                    let a = a % data.len();
                    (a, (a + n).min(data.len()))
                })
                .collect();
            // Offset 0 sits just below 2^32 and the stream always crosses the wrap.
            let back = back % data.len() as u32;
            Case { data, isn: u32::MAX - back, covering, extra, seed }
        })
}

/// A deterministic shuffle (xorshift-driven Fisher-Yates).
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    seed |= 1;
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let j = (seed % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// One arbitrary segment: direction, sequence number (near the handshake's or anywhere),
/// acknowledgment, flags, payload and uncaptured length.
type Wild = (bool, u32, bool, Option<u32>, u8, Vec<u8>, u32);

fn wild_segment() -> impl Strategy<Value = Wild> {
    (
        any::<bool>(),
        0u32..4000,
        any::<bool>(),
        proptest::option::of(any::<u32>()),
        any::<u8>(),
        vec(any::<u8>(), 0..64),
        0u32..70,
    )
}

/// The covering segments `keep` keeps (cycling through it), then the extra ones,
/// shuffled.
fn surviving(case: &Case, keep: &[bool]) -> Vec<(usize, usize)> {
    let mut segments: Vec<(usize, usize)> = case
        .covering
        .iter()
        .enumerate()
        .filter(|(i, _)| keep.get(i % keep.len()).copied().unwrap_or(true))
        .map(|(_, s)| *s)
        .chain(case.extra.iter().copied())
        .collect();
    shuffle(&mut segments, case.seed);
    segments
}

/// Runs a handshake, pushes the client segments in order, ends the session.
fn reassemble(case: &Case, segments: &[(usize, usize)]) -> Harness {
    reassemble_with(case, segments, |_| {})
}

/// [`reassemble`] with a harness `prepare` set up first.
fn reassemble_with(case: &Case, segments: &[(usize, usize)], prepare: impl FnOnce(&mut Harness)) -> Harness {
    let mut h = Harness::new();
    prepare(&mut h);
    let c = case.isn.wrapping_add(1);
    let s = SERVER_ISN.wrapping_add(1);
    h.push(true, case.isn, None, SYN, b"");
    h.push(false, SERVER_ISN, Some(c), SYN, b"");
    h.push(true, c, Some(s), 0, b"");
    for &(a, b) in segments {
        let payload = case.data.get(a..b).unwrap_or(&[]);
        h.push(true, c.wrapping_add(a as u32), Some(s), PSH, payload);
    }
    h.end();
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn duplicated_reordered_overlapping_segments_reassemble_exactly(case in case()) {
        let mut segments: Vec<(usize, usize)> = case.covering.iter().chain(&case.extra).copied().collect();
        // Every covering segment once more, as a retransmission.
        segments.extend(case.covering.iter().step_by(3).copied());
        shuffle(&mut segments, case.seed);
        let mut h = reassemble(&case, &segments);
        prop_assert_eq!(h.monologue_bytes(Direction::ClientToServer), case.data.clone());
        prop_assert_eq!(h.data_bytes(Direction::ClientToServer), case.data.clone());
        prop_assert!(h.gaps(Direction::ClientToServer).is_empty());
        let stats = h.session().stats();
        prop_assert_eq!(stats.stream.missing_bytes, 0);
        prop_assert_eq!(stats.stream.conflicting_bytes, 0);
        prop_assert_eq!(stats.stream.late_bytes, 0);
        prop_assert_eq!(stats.stream.reassembled_bytes, case.data.len() as u64);
    }

    #[test]
    fn lending_data_changes_no_action_and_no_count(case in case(), keep in vec(any::<bool>(), 40)) {
        let segments = surviving(&case, &keep);
        let run = |lend: bool| {
            reassemble_with(&case, &segments, |h| {
                h.keep_data = false;
                h.lend = lend;
            })
        };
        let (mut copied, mut lent) = (run(false), run(true));
        prop_assert_eq!(copied.lent, 0);
        prop_assert_eq!(format!("{:?}", copied.log), format!("{:?}", lent.log));
        prop_assert_eq!(copied.session().stats(), lent.session().stats());
    }

    #[test]
    fn with_segments_removed_output_is_the_original_minus_the_reported_gaps(
        case in case(),
        keep in vec(any::<bool>(), 40),
    ) {
        let segments = surviving(&case, &keep);

        // The model: which offsets some remaining segment covers.
        let mut covered = vec![false; case.data.len()];
        for &(a, b) in &segments {
            for flag in covered.iter_mut().take(b).skip(a) {
                *flag = true;
            }
        }
        let expected: Vec<u8> =
            case.data.iter().zip(&covered).filter(|(_, c)| **c).map(|(byte, _)| *byte).collect();
        let last_covered = covered.iter().rposition(|c| *c);
        let mut expected_gaps = Vec::new();
        if let Some(last) = last_covered {
            let mut i = 0;
            while i < last {
                if covered[i] {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < last && !covered[i] {
                    i += 1;
                }
                expected_gaps.push(Gap { offset: start as u64, len: (i - start) as u64 });
            }
        }

        let mut h = reassemble(&case, &segments);
        prop_assert_eq!(h.monologue_bytes(Direction::ClientToServer), expected.clone());
        prop_assert_eq!(h.data_bytes(Direction::ClientToServer), expected);
        let gaps = h.gaps(Direction::ClientToServer);
        prop_assert_eq!(&gaps, &expected_gaps);
        let missing: u64 = expected_gaps.iter().map(|g| g.len).sum();
        prop_assert_eq!(h.session().stats().stream.missing_bytes, missing);
    }

    #[test]
    fn arbitrary_segments_never_panic_and_keep_the_event_order(
        segments in vec(wild_segment(), 0..60),
        handshake in any::<bool>(),
    ) {
        let mut h = Harness::new();
        if handshake {
            h.handshake();
        }
        for (from_client, near, anywhere, ack, flags, payload, uncaptured) in &segments {
            let base = if *from_client { CLIENT_ISN } else { SERVER_ISN };
            let seq = if *anywhere { near.wrapping_mul(2_654_435_761) } else { base.wrapping_add(*near) };
            let uncaptured = if *uncaptured > 60 { *uncaptured } else { 0 };
            h.push_cut(*from_client, seq, *ack, *flags, payload, uncaptured);
        }
        h.end();
        let names = h.names();
        // Nothing before the start, nothing after the end, data only while started.
        if let Some(first) = names.first() {
            prop_assert_eq!(*first, "start");
            prop_assert_eq!(names.iter().filter(|n| **n == "start").count(), 1);
            prop_assert_eq!(names.last().copied(), Some("end"));
            prop_assert_eq!(names.iter().filter(|n| **n == "end").count(), 1);
        }
        // Each direction's data is its monologues' bytes, in the same order, and
        // offsets never go backwards.
        for direction in [Direction::ClientToServer, Direction::ServerToClient] {
            prop_assert_eq!(h.data_bytes(direction), h.monologue_bytes(direction));
            let mut last_end = 0;
            for action in &h.log {
                if let Action::Data { direction: d, offset, data, .. } = action {
                    if *d == direction {
                        prop_assert!(*offset >= last_end);
                        last_end = offset + data.len() as u64;
                    }
                }
            }
        }
    }
}

/// The offsets a direction's data and release actions account for, each with its byte
/// (`None`: withheld, or released without being reported), in action order; and, per monologue action in order, how many bytes its
/// direction had accounted for when it came.
fn accounted(log: &[Action], direction: Direction) -> (Vec<(u64, Option<u8>)>, Vec<usize>) {
    let mut offsets = Vec::new();
    let mut at_monologues = Vec::new();
    for action in log {
        match action {
            Action::Data { direction: d, offset, data, skipped, .. } if *d == direction => {
                offsets.extend((offset - skipped..*offset).map(|o| (o, None)));
                offsets.extend(data.iter().enumerate().map(|(k, b)| (offset + k as u64, Some(*b))));
            }
            Action::Released { direction: d, end, len, .. } if *d == direction => {
                offsets.extend((end - len..*end).map(|o| (o, None)));
            }
            Action::Monologue(m) if m.direction == direction => at_monologues.push(offsets.len()),
            _ => {}
        }
    }
    (offsets, at_monologues)
}

proptest! {
    #[test]
    fn withheld_bytes_are_accounted_for_once_in_order_and_before_their_monologue(
        segments in vec(wild_segment(), 0..60),
        unneeded in vec((0u64..5000, any::<bool>(), any::<bool>(), any::<bool>()), 1..8),
        keep_data in any::<bool>(),
        handshake in any::<bool>(),
    ) {
        let run = |withhold: bool| {
            let mut h = Harness::new();
            h.keep_data = keep_data || !withhold;
            if handshake {
                h.handshake();
            }
            for (k, (from_client, near, anywhere, ack, flags, payload, uncaptured)) in segments.iter().enumerate() {
                if withhold {
                    let (offset, all, both, through) = unneeded[k % unneeded.len()];
                    let value = if all { u64::MAX } else { offset };
                    h.unneeded = if both { [value, value] } else { [value, 0] };
                    h.through = [through, through && both];
                }
                let base = if *from_client { CLIENT_ISN } else { SERVER_ISN };
                let seq = if *anywhere { near.wrapping_mul(2_654_435_761) } else { base.wrapping_add(*near) };
                let uncaptured = if *uncaptured > 60 { *uncaptured } else { 0 };
                h.push_cut(*from_client, seq, *ack, *flags, payload, uncaptured);
            }
            h.end();
            h
        };
        let reference = run(false);
        let withheld = run(true);
        // Everything but the data actions is the same (the monologues' bytes aside).
        let others = |h: &Harness| -> Vec<String> {
            h.log
                .iter()
                .filter(|a| !matches!(a, Action::Data { .. } | Action::Released { .. }))
                .map(|a| match a {
                    Action::Monologue(m) => format!("mono {:?} {} {} {:?}", m.direction, m.index, m.offset, m.gaps),
                    other => format!("{other:?}"),
                })
                .collect()
        };
        prop_assert_eq!(others(&reference), others(&withheld));
        for direction in [Direction::ClientToServer, Direction::ServerToClient] {
            let (all, at_ref) = accounted(&reference.log, direction);
            let (got, at_got) = accounted(&withheld.log, direction);
            // The same offsets, once each, in the same order; delivered bytes as read.
            prop_assert_eq!(all.len(), got.len());
            for ((o1, b1), (o2, b2)) in all.iter().zip(&got) {
                prop_assert_eq!(o1, o2);
                if let Some(b2) = b2 {
                    prop_assert_eq!(Some(*b2), *b1);
                }
            }
            // Every byte of a monologue is accounted for before the monologue.
            prop_assert_eq!(at_ref, at_got);
        }
        prop_assert_eq!(reference.session.map(|s| s.stats()), withheld.session.map(|s| s.stats()));
    }
}
