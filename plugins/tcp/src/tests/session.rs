use super::*;
use crate::events::{EndReason, StreamEndReason};

#[test]
fn closed_syn_then_syn_ack_stays_connecting() {
    let mut h = Harness::new();
    assert_eq!(h.push(true, CLIENT_ISN, None, SYN, b""), (PacketClass::NonData, SessionState::Connecting));
    let ack = CLIENT_ISN.wrapping_add(1);
    assert_eq!(h.push(false, SERVER_ISN, Some(ack), SYN, b""), (PacketClass::NonData, SessionState::Connecting));
    assert!(h.log.is_empty());
}

#[test]
fn connecting_ack_of_second_syn_starts_session() {
    let mut h = Harness::new();
    h.handshake();
    assert_eq!(h.session().state(), SessionState::Established);
    assert_eq!(h.names(), ["start"]);
    assert!(matches!(h.log[0], Action::Started { mid_stream: false, packet: 3, .. }));
}

#[test]
fn established_in_order_segment_is_released_at_once_across_the_wrap() {
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    assert_eq!(h.push(true, c, Some(s), PSH, b"0123456789abcdef"), (PacketClass::Data, SessionState::Established));
    let c = c.wrapping_add(16);
    assert!(c < CLIENT_ISN, "the data crossed 2^32");
    assert_eq!(h.push(true, c, Some(s), PSH, b"ghij"), (PacketClass::Data, SessionState::Established));
    assert_eq!(h.names(), ["start", "data", "data"]);
    assert_eq!(h.data_bytes(Direction::ClientToServer), b"0123456789abcdefghij");
    match &h.log[2] {
        Action::Data { offset, .. } => assert_eq!(*offset, 16),
        other => panic!("expected data, got {other:?}"),
    }
}

#[test]
fn established_out_of_order_segment_is_buffered_until_the_hole_fills() {
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    assert_eq!(
        h.push(true, c.wrapping_add(4), Some(s), PSH, b"efgh"),
        (PacketClass::Future, SessionState::Established)
    );
    assert_eq!(h.names(), ["start"]);
    assert_eq!(h.push(true, c, Some(s), PSH, b"abcd"), (PacketClass::Data, SessionState::Established));
    assert_eq!(h.names(), ["start", "data", "data"]);
    assert_eq!(h.data_bytes(Direction::ClientToServer), b"abcdefgh");
    h.end();
    let monologues = h.monologues();
    assert_eq!(monologues.len(), 1);
    assert_eq!(monologues[0].packets, 2);
    assert_eq!(monologues[0].which_pkts.len(), 2);
    assert_eq!(monologues[0].which_pkts[0].packet, 5);
    assert_eq!(monologues[0].which_pkts[1].packet, 4);
}

#[test]
fn established_retransmission_is_a_duplicate() {
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    h.push(true, c, Some(s), PSH, b"abcd");
    assert_eq!(h.push(true, c, Some(s), PSH, b"abcd"), (PacketClass::Duplicate, SessionState::Established));
    assert_eq!(h.data_bytes(Direction::ClientToServer), b"abcd");
}

#[test]
fn established_overlap_keeps_the_first_copy_and_counts_conflicts() {
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    h.push(true, c.wrapping_add(4), Some(s), PSH, b"EFGH");
    // Overlaps the buffered bytes with two different ones, and adds two new ones.
    assert_eq!(
        h.push(true, c.wrapping_add(6), Some(s), PSH, b"xyIJ"),
        (PacketClass::Future, SessionState::Established)
    );
    h.push(true, c, Some(s), PSH, b"abcd");
    assert_eq!(h.data_bytes(Direction::ClientToServer), b"abcdEFGHIJ");
    assert_eq!(h.session().stats().stream.conflicting_bytes, 2);
}

#[test]
fn established_segment_overlapping_released_bytes_adds_only_new_ones() {
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    h.push(true, c, Some(s), PSH, b"abcd");
    assert_eq!(h.push(true, c.wrapping_add(2), Some(s), PSH, b"cdef"), (PacketClass::Data, SessionState::Established));
    assert_eq!(h.data_bytes(Direction::ClientToServer), b"abcdef");
}

#[test]
fn established_data_the_other_way_ends_the_monologue() {
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    h.push(true, c, Some(s), PSH, b"GET / HTTP/1.0\r\n\r\n");
    let c = c.wrapping_add(18);
    h.push(false, s, Some(c), PSH, b"HTTP/1.0 200 OK\r\n\r\n");
    assert_eq!(h.names(), ["start", "data", "mono", "data"]);
    let monologues = h.monologues();
    assert_eq!(monologues[0].index, 1);
    assert_eq!(monologues[0].direction, Direction::ClientToServer);
    assert_eq!(monologues[0].data.to_vec(), b"GET / HTTP/1.0\r\n\r\n");
}

#[test]
fn established_ack_past_a_hole_declares_it_only_up_to_the_ack() {
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    // Bytes 0..8 were not captured yet; 8..12 wait; the server acknowledges up to 6,
    // so 0..6 is a hole (declared now) while 6..8 may still come.
    h.push(true, c.wrapping_add(8), Some(s), PSH, b"ijkl");
    h.push(false, s, Some(c.wrapping_add(6)), 0, b"");
    assert_eq!(h.data_bytes(Direction::ClientToServer), b"");
    assert_eq!(h.session().stats().stream.missing_bytes, 6);
    // Bytes 6..8 arrive: released with what waited.
    h.push(true, c.wrapping_add(6), Some(s), PSH, b"gh");
    h.end();
    assert_eq!(h.gaps(Direction::ClientToServer), [Gap { offset: 0, len: 6 }]);
    assert_eq!(h.monologue_bytes(Direction::ClientToServer), b"ghijkl");
}

#[test]
fn established_ack_past_a_hole_with_data_waiting_releases_up_to_the_ack() {
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    h.push(true, c, Some(s), PSH, b"ab");
    h.push(true, c.wrapping_add(4), Some(s), PSH, b"efgh");
    h.push(true, c.wrapping_add(12), Some(s), PSH, b"mn");
    // The server has everything up to 8: the hole 2..4 is declared, 4..8 released;
    // the hole 8..12 is beyond the acknowledgment and keeps waiting.
    h.push(false, s, Some(c.wrapping_add(8)), 0, b"");
    assert_eq!(h.data_bytes(Direction::ClientToServer), b"abefgh");
    h.push(true, c.wrapping_add(8), Some(s), PSH, b"ijkl");
    assert_eq!(h.data_bytes(Direction::ClientToServer), b"abefghijklmn");
    h.end();
    assert_eq!(h.gaps(Direction::ClientToServer), [Gap { offset: 2, len: 2 }]);
    assert_eq!(h.session().stats().stream.missing_bytes, 2);
}

#[test]
fn established_bytes_of_a_declared_hole_are_late_and_not_emitted() {
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    h.push(true, c.wrapping_add(4), Some(s), PSH, b"efgh");
    h.push(false, s, Some(c.wrapping_add(8)), 0, b"");
    assert_eq!(h.gaps(Direction::ClientToServer), []);
    assert_eq!(h.data_bytes(Direction::ClientToServer), b"efgh");
    assert_eq!(h.push(true, c, Some(s), PSH, b"abcd"), (PacketClass::Duplicate, SessionState::Established));
    assert_eq!(h.data_bytes(Direction::ClientToServer), b"efgh");
    assert_eq!(h.session().stats().stream.late_bytes, 4);
    h.end();
    assert_eq!(h.gaps(Direction::ClientToServer), [Gap { offset: 0, len: 4 }]);
}

#[test]
fn established_snaplen_cut_payload_is_uncaptured_not_invented() {
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    h.push_cut(true, c, Some(s), PSH, b"abcd", 6);
    h.push(true, c.wrapping_add(10), Some(s), PSH, b"klm");
    h.end();
    let monologues = h.monologues();
    assert_eq!(monologues.len(), 1);
    assert_eq!(monologues[0].data.to_vec(), b"abcdklm");
    assert_eq!(monologues[0].uncaptured_bytes, 6);
    assert_eq!(monologues[0].missing_bytes, 0);
    assert!(monologues[0].gaps.is_empty());
}

#[test]
fn established_urgent_data_is_stream_data() {
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    h.push(true, c, Some(s), PSH | TcpFlags::URG, b"!");
    h.push(true, c.wrapping_add(1), Some(s), PSH, b"rest");
    assert_eq!(h.data_bytes(Direction::ClientToServer), b"!rest");
}

#[test]
fn established_fin_of_the_first_side_keeps_it_established_until_acknowledged() {
    // The walk of the original's t1_google: FIN, ACK+FIN, ACK.
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    h.push(true, c, Some(s), PSH, b"request");
    let c = c.wrapping_add(7);
    h.push(false, s, Some(c), PSH, b"response");
    let s = s.wrapping_add(8);
    assert_eq!(h.push(true, c, Some(s), FIN, b""), (PacketClass::NonData, SessionState::Established));
    assert_eq!(h.push(false, s, Some(c.wrapping_add(1)), FIN, b""), (PacketClass::NonData, SessionState::HalfClosed));
    assert_eq!(
        h.push(true, c.wrapping_add(1), Some(s.wrapping_add(1)), 0, b""),
        (PacketClass::NonData, SessionState::Closed)
    );
    assert_eq!(h.names(), ["start", "data", "mono", "data", "stream_end", "mono", "stream_end", "end"], "{:?}", h.log);
    assert!(matches!(h.log.last(), Some(Action::Ended { reason: EndReason::Fin, packet: Some(8), .. })));
}

#[test]
fn established_fin_before_its_data_ends_the_stream_after_the_data() {
    // The original's t2_lost_packet: the server's FIN is captured before its data.
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    h.push(true, c, Some(s), PSH, b"GET");
    let c = c.wrapping_add(3);
    h.push(false, s.wrapping_add(5), Some(c), FIN, b"");
    assert_eq!(h.names(), ["start", "data"]);
    h.push(false, s, Some(c), PSH, b"hello");
    assert_eq!(h.names(), ["start", "data", "mono", "data", "mono", "stream_end"]);
    assert_eq!(h.monologue_bytes(Direction::ServerToClient), b"hello");
}

#[test]
fn established_rst_closes_at_once() {
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    h.push(true, c, Some(s), PSH, b"abc");
    assert_eq!(h.push(false, s, Some(c), RST, b""), (PacketClass::NonData, SessionState::Closed));
    assert_eq!(h.names(), ["start", "data", "mono", "stream_end", "stream_end", "end"]);
    assert!(matches!(h.log[3], Action::StreamEnd { reason: StreamEndReason::Rst, .. }));
    assert!(matches!(h.log[5], Action::Ended { reason: EndReason::Rst, .. }));
    // Nothing after the end.
    assert_eq!(h.push(true, c.wrapping_add(3), Some(s), PSH, b"late"), (PacketClass::NonData, SessionState::Closed));
    assert_eq!(h.log.len(), 6);
}

#[test]
fn connecting_rst_ends_without_events() {
    let mut h = Harness::new();
    h.push(true, CLIENT_ISN, None, SYN, b"");
    assert_eq!(
        h.push(false, 0, Some(CLIENT_ISN.wrapping_add(1)), RST, b""),
        (PacketClass::NonData, SessionState::Closed)
    );
    assert!(h.log.is_empty());
}

#[test]
fn connecting_syn_with_data_waits_for_the_handshake() {
    // TCP Fast Open (RFC 7413): the SYN carries the request.
    let mut h = Harness::new();
    assert_eq!(h.push(true, CLIENT_ISN, None, SYN, b"GET /"), (PacketClass::Data, SessionState::Connecting));
    let c = CLIENT_ISN.wrapping_add(6);
    h.push(false, SERVER_ISN, Some(c), SYN, b"");
    assert!(h.log.is_empty());
    h.push(true, c, Some(SERVER_ISN.wrapping_add(1)), 0, b"");
    assert_eq!(h.names(), ["start", "data"]);
    assert_eq!(h.data_bytes(Direction::ClientToServer), b"GET /");
}

#[test]
fn listen_syn_ack_before_syn_still_starts_the_session() {
    let mut h = Harness::new();
    let c = CLIENT_ISN.wrapping_add(1);
    let s = SERVER_ISN.wrapping_add(1);
    h.push(false, SERVER_ISN, Some(c), SYN, b"");
    assert_eq!(h.session().client(), client());
    assert_eq!(h.push(true, CLIENT_ISN, None, SYN, b""), (PacketClass::NonData, SessionState::Connecting));
    assert_eq!(h.push(true, c, Some(s), 0, b""), (PacketClass::NonData, SessionState::Established));
    h.push(true, c, Some(s), PSH, b"hi");
    assert_eq!(h.names(), ["start", "data"]);
    assert!(matches!(h.log[0], Action::Started { mid_stream: false, .. }));
}

#[test]
fn closed_data_without_handshake_starts_mid_stream() {
    let mut h = Harness::new();
    assert_eq!(h.push(false, 12345, Some(999), PSH, b"body"), (PacketClass::Data, SessionState::Established));
    assert_eq!(h.names(), ["start", "data"]);
    assert!(matches!(h.log[0], Action::Started { mid_stream: true, packet: 1, .. }));
    // The first packet's sender is the client of a session picked up mid-stream.
    assert_eq!(h.session().client(), server());
}

#[test]
fn established_max_session_size_keeps_whole_segments_up_to_the_crossing_one() {
    let limits = SessionLimits { max_session_size: Some(10), ..SessionLimits::default() };
    let mut h = Harness::with_limits(limits);
    let (c, s) = h.handshake();
    assert_eq!(h.push(true, c, Some(s), PSH, b"abcdef").0, PacketClass::Data);
    assert_eq!(h.push(true, c.wrapping_add(6), Some(s), PSH, b"ghijkl").0, PacketClass::Data);
    assert_eq!(h.push(true, c.wrapping_add(12), Some(s), PSH, b"mnop").0, PacketClass::NonData);
    h.end();
    assert_eq!(h.monologue_bytes(Direction::ClientToServer), b"abcdefghijkl");
    assert_eq!(h.session().stats().discarded_bytes, 4);
    assert_eq!(h.gaps(Direction::ClientToServer), []);
}

#[test]
fn established_max_monologue_splits_into_continued_parts() {
    let limits = SessionLimits { max_monologue: 4, ..SessionLimits::default() };
    let mut h = Harness::with_limits(limits);
    let (c, s) = h.handshake();
    h.push(true, c, Some(s), PSH, b"abc");
    h.push(true, c.wrapping_add(3), Some(s), PSH, b"def");
    h.push(true, c.wrapping_add(6), Some(s), PSH, b"g");
    h.end();
    let monologues = h.monologues();
    assert_eq!(monologues.len(), 2);
    assert_eq!(monologues[0].data.to_vec(), b"abcdef");
    assert!(!monologues[0].continued);
    assert_eq!(monologues[1].data.to_vec(), b"g");
    assert!(monologues[1].continued);
    assert_eq!((monologues[0].index, monologues[1].index), (1, 2));
}

#[test]
fn established_buffer_cap_declares_the_first_hole() {
    let limits = SessionLimits { max_buffered: 6, ..SessionLimits::default() };
    let mut h = Harness::with_limits(limits);
    let (c, s) = h.handshake();
    h.push(true, c.wrapping_add(2), Some(s), PSH, b"cd");
    h.push(true, c.wrapping_add(6), Some(s), PSH, b"ghij");
    assert_eq!(h.data_bytes(Direction::ClientToServer), b"");
    h.push(true, c.wrapping_add(12), Some(s), PSH, b"mn");
    assert_eq!(h.data_bytes(Direction::ClientToServer), b"cd");
    assert!(h.session().buffered_bytes() <= 6);
    h.end();
    assert_eq!(
        h.gaps(Direction::ClientToServer),
        [Gap { offset: 0, len: 2 }, Gap { offset: 4, len: 2 }, Gap { offset: 10, len: 2 }]
    );
    assert_eq!(h.monologue_bytes(Direction::ClientToServer), b"cdghijmn");
}

#[test]
fn established_end_of_input_declares_holes_and_ends_both_streams() {
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    h.push(true, c.wrapping_add(3), Some(s), PSH, b"def");
    h.end();
    assert_eq!(h.names(), ["start", "data", "mono", "stream_end", "stream_end", "end"]);
    assert_eq!(h.gaps(Direction::ClientToServer), [Gap { offset: 0, len: 3 }]);
    assert!(matches!(
        h.log[3],
        Action::StreamEnd { reason: StreamEndReason::SessionEnd(EndReason::EndOfInput), end_offset: 6, .. }
    ));
    assert!(matches!(h.log[5], Action::Ended { reason: EndReason::EndOfInput, packet: None, .. }));
}

#[test]
fn established_segment_far_ahead_is_dropped() {
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    assert_eq!(h.push(true, c.wrapping_add((1 << 30) + 100), Some(s), PSH, b"x").0, PacketClass::NonData);
    assert_eq!(h.session().stats().stream.segments_dropped, 1);
    h.end();
    assert_eq!(h.gaps(Direction::ClientToServer), []);
}

#[test]
fn established_monologue_that_only_records_a_gap_is_emitted() {
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    // The client's first bytes were not captured; the server acknowledged two of them
    // while later bytes wait, then replied: the client's monologue is a hole only.
    h.push(true, c.wrapping_add(4), Some(s), PSH, b"ef");
    h.push(false, s, Some(c.wrapping_add(2)), PSH, b"reply");
    let monologues = h.monologues();
    assert_eq!(monologues.len(), 1);
    assert_eq!(monologues[0].data.len(), 0);
    assert_eq!(monologues[0].gaps.as_slice(), [Gap { offset: 0, len: 2 }]);
    h.end();
    assert_eq!(h.gaps(Direction::ClientToServer), [Gap { offset: 0, len: 2 }, Gap { offset: 2, len: 2 }]);
    assert_eq!(h.monologue_bytes(Direction::ClientToServer), b"ef");
}

#[test]
fn connecting_new_syn_with_another_isn_replaces_the_attempt() {
    // A SYN flood reusing the client's port, then the real connection.
    let mut h = Harness::new();
    h.push(true, 12345, None, SYN, b"");
    h.push(true, 777, None, SYN, b"");
    let (c, s) = h.handshake();
    assert_eq!(h.session().state(), SessionState::Established);
    h.push(true, c, Some(s), PSH, b"POST");
    assert_eq!(h.names(), ["start", "data"]);
    assert_eq!(h.data_bytes(Direction::ClientToServer), b"POST");
}

#[test]
fn established_hole_not_yet_acknowledged_waits_while_the_other_side_speaks() {
    // Pipelining: the server's first segment is lost and will be retransmitted; the
    // client sends its next request meanwhile. The receiver has not got the missing
    // bytes (its acknowledgment stops before them), so the retransmission is still to
    // come: declaring the hole now would drop it as late.
    let mut h = Harness::new();
    let (c, s) = h.handshake();
    h.push(true, c, Some(s), PSH, b"GET /1");
    let c = c.wrapping_add(6);
    h.push(false, s.wrapping_add(4), Some(c), PSH, b"5678");
    h.push(true, c, Some(s), PSH, b"GET /2");
    assert_eq!(h.gaps(Direction::ServerToClient), []);
    h.push(false, s, Some(c.wrapping_add(6)), PSH, b"1234");
    h.end();
    assert_eq!(h.monologue_bytes(Direction::ServerToClient), b"12345678");
    assert_eq!(h.gaps(Direction::ServerToClient), []);
    assert_eq!(h.session().stats().stream.late_bytes, 0);
}

/// Drives one exchange with every kind of monologue content: in-order and out-of-order
/// data, a declared hole, payload cut by the snaplen, a split at `max_monologue`, and
/// turns of both sides.
fn mixed_exchange(keep_data: bool, report_data: bool) -> Vec<Action> {
    let limits = SessionLimits { max_monologue: 10, ..SessionLimits::default() };
    let mut h = Harness::with_limits(limits);
    h.keep_data = keep_data;
    h.report_data = report_data;
    let (c, s) = h.handshake();
    h.push(true, c, Some(s), PSH, b"GET ");
    h.push(true, c.wrapping_add(8), Some(s), PSH, b"HTTP");
    h.push(true, c.wrapping_add(4), Some(s), PSH, b"/ x ");
    h.push(false, s, Some(c.wrapping_add(12)), PSH, b"200 OK and more");
    h.push(false, s.wrapping_add(20), Some(c.wrapping_add(12)), PSH, b"after a hole");
    h.push(true, c.wrapping_add(12), Some(s.wrapping_add(32)), PSH, b"next");
    h.push_cut(false, s.wrapping_add(32), Some(c.wrapping_add(16)), PSH, b"cut", 5);
    h.push(false, s.wrapping_add(40), Some(c.wrapping_add(16)), PSH, b"tail");
    h.end();
    std::mem::take(&mut h.log)
}

#[test]
fn established_monologues_without_data_keep_everything_else() {
    let with_data = mixed_exchange(true, true);
    let without_data = mixed_exchange(false, true);
    assert_eq!(with_data.len(), without_data.len());
    let mut monologues = 0;
    for (full, lean) in with_data.iter().zip(&without_data) {
        match (full, lean) {
            (Action::Monologue(full), Action::Monologue(lean)) => {
                monologues += 1;
                assert!(!full.data.is_empty() || full.which_pkts.is_empty());
                // The bytes are counted, not held.
                assert!(lean.data.chunks().is_empty());
                assert_eq!(lean.data.len(), full.data.len());
                assert_eq!(lean.data.left_out(), full.data.len());
                assert_eq!(full.data.left_out(), 0);
                assert!(lean.which_pkts.is_empty());
                let mut expected = full.clone();
                expected.data = crate::events::StreamBytes::new();
                expected.data.count_left_out(full.data.len());
                expected.which_pkts.clear();
                assert_eq!(**lean, *expected);
            }
            _ => assert_eq!(full, lean),
        }
    }
    // The split at `max_monologue`, the hole and the turns make several monologues.
    assert!(monologues >= 4, "{monologues} monologues");
}

#[test]
fn established_without_data_reports_everything_but_the_data() {
    let reported = mixed_exchange(true, true);
    let unreported = mixed_exchange(true, false);
    let expected: Vec<&Action> = reported.iter().filter(|a| !matches!(a, Action::Data { .. })).collect();
    assert!(expected.len() < reported.len());
    assert_eq!(unreported.iter().collect::<Vec<_>>(), expected);
    // Neither the monologues' bytes nor the counts depend on it.
    let bytes = |log: &[Action]| -> Vec<Vec<u8>> {
        log.iter()
            .filter_map(|a| match a {
                Action::Monologue(m) => Some(m.data.to_vec()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(bytes(&reported), bytes(&unreported));
}

/// The data actions of `log` as `(direction, offset, length, skipped)`.
fn data_actions(log: &[Action]) -> Vec<(Direction, u64, usize, u64)> {
    log.iter()
        .filter_map(|a| match a {
            Action::Data { direction, offset, data, skipped, .. } => Some((*direction, *offset, data.len(), *skipped)),
            _ => None,
        })
        .collect()
}

#[test]
fn established_unneeded_bytes_are_withheld_and_counted_into_the_next_stretch() {
    for keep_data in [true, false] {
        let mut h = Harness::new();
        h.keep_data = keep_data;
        let (c, s) = h.handshake();
        h.unneeded = [250, 0];
        let chunk = [b'x'; 100];
        h.push(true, c, Some(s), PSH, &chunk);
        h.push(true, c.wrapping_add(100), Some(s), PSH, &chunk);
        // Ends at 300, not before 250: delivered whole, with the 200 bytes before it.
        h.push(true, c.wrapping_add(200), Some(s), PSH, &chunk);
        // Nothing more is needed: [300, 400) is withheld, then a hole [400, 500) is
        // declared once the server acknowledges past it; the bytes before the hole are
        // reported first, by a stretch of no bytes, and the hole ends the request:
        // [500, 600) is delivered.
        h.unneeded = [u64::MAX, 0];
        h.push(true, c.wrapping_add(300), Some(s), PSH, &chunk);
        h.push(true, c.wrapping_add(500), Some(s), PSH, &chunk);
        h.push(false, s, Some(c.wrapping_add(600)), 0, b"");
        assert_eq!(h.session().unneeded_before(Direction::ClientToServer), 0);
        // Asked again: [600, 700) is withheld, and reported before the client's
        // monologue ends (the server speaks).
        h.unneeded = [u64::MAX, 0];
        h.push(true, c.wrapping_add(600), Some(s), PSH, &chunk);
        h.push(false, s, Some(c.wrapping_add(700)), PSH, b"ok");
        let client = Direction::ClientToServer;
        assert_eq!(
            data_actions(&h.log),
            vec![
                (client, 200, 100, 200),
                (client, 400, 0, 100),
                (client, 500, 100, 0),
                (client, 700, 0, 100),
                (Direction::ServerToClient, 0, 2, 0)
            ],
            "keep_data {keep_data}"
        );
        let names = h.names();
        let mono = names.iter().position(|n| *n == "mono").expect("the client's monologue");
        assert_eq!(&names[mono - 1..=mono + 1], ["data", "mono", "data"]);
        // The monologue and the counts are those of a receiver that reads every byte.
        let monologue = h.monologues()[0].clone();
        assert_eq!(monologue.gaps.as_slice(), [Gap { offset: 400, len: 100 }]);
        assert_eq!(monologue.data.len(), 600);
        assert_eq!(monologue.data.left_out(), if keep_data { 0 } else { 600 });
        assert_eq!(h.session().stats().stream.reassembled_bytes, 602);
    }
}

#[test]
fn established_bytes_withheld_through_the_offset_are_released_unreported() {
    let mut h = Harness::new();
    h.keep_data = false;
    let (c, s) = h.handshake();
    h.unneeded = [250, 0];
    h.through = [true, false];
    let chunk = [b'x'; 50];
    for k in 0..5u32 {
        h.push(true, c.wrapping_add(50 * k), Some(s), PSH, &chunk);
    }
    // [0, 250) ends right at the offset: released as a whole, no data action.
    assert_eq!(data_actions(&h.log), vec![]);
    assert_eq!(
        h.log.last(),
        Some(&Action::Released {
            direction: Direction::ClientToServer,
            end: 250,
            len: 250,
            packet: 8,
            ts: Timestamp::from_micros(1_700_000_000, 8)
        })
    );
    // What follows is delivered, with nothing skipped; asked again, a stretch that
    // runs past the offset is delivered whole, with the bytes withheld before it.
    h.push(true, c.wrapping_add(250), Some(s), PSH, &chunk);
    h.unneeded = [380, 0];
    h.push(true, c.wrapping_add(300), Some(s), PSH, &chunk);
    h.push(true, c.wrapping_add(350), Some(s), PSH, &chunk);
    h.unneeded = [450, 0];
    h.push(true, c.wrapping_add(400), Some(s), PSH, &chunk[..30]);
    h.push(true, c.wrapping_add(430), Some(s), PSH, &chunk);
    // Withheld bytes short of the offset are reported when the monologue ends.
    h.unneeded = [u64::MAX, 0];
    h.push(true, c.wrapping_add(480), Some(s), PSH, &chunk);
    h.push(false, s, Some(c.wrapping_add(530)), PSH, b"ok");
    let client = Direction::ClientToServer;
    assert_eq!(
        data_actions(&h.log),
        vec![
            (client, 250, 50, 0),
            (client, 350, 50, 50),
            (client, 430, 50, 30),
            (client, 530, 0, 50),
            (Direction::ServerToClient, 0, 2, 0)
        ]
    );
    assert_eq!(h.names().iter().filter(|n| **n == "released").count(), 1);
    assert_eq!(h.session().stats().stream.reassembled_bytes, 532);
}

#[test]
fn established_withheld_bytes_are_reported_before_an_uncaptured_stretch() {
    let mut h = Harness::new();
    h.keep_data = false;
    let (c, s) = h.handshake();
    h.unneeded = [u64::MAX, 0];
    h.push(true, c, Some(s), PSH, &[b'a'; 50]);
    h.push_cut(true, c.wrapping_add(50), Some(s), PSH, &[b'b'; 10], 40);
    h.push(true, c.wrapping_add(100), Some(s), PSH, &[b'c'; 30]);
    h.end();
    let client = Direction::ClientToServer;
    // [0, 60) withheld, [60, 100) uncaptured (the request lapses), [100, 130)
    // delivered.
    assert_eq!(data_actions(&h.log), vec![(client, 60, 0, 60), (client, 100, 30, 0)]);
}

#[test]
fn established_data_released_at_once_is_lent_from_its_segment_buffer() {
    for keep_data in [false, true] {
        let mut h = Harness::new();
        h.keep_data = keep_data;
        h.lend = true;
        let (c, s) = h.handshake();
        h.push(true, c, Some(s), PSH, b"hello ");
        // Out of order: waits, so it is copied; so is the stretch that fills the hole,
        // released with it.
        h.push(true, c.wrapping_add(11), Some(s), PSH, b" world");
        h.push(true, c.wrapping_add(6), Some(s), PSH, b"there");
        h.push(true, c.wrapping_add(17), Some(s), PSH, b"!");
        h.end();
        assert_eq!(h.data_bytes(Direction::ClientToServer), b"hello there world!");
        // Monologues that keep their bytes outlive the frame: nothing is lent then.
        assert_eq!(h.lent, if keep_data { 0 } else { 2 }, "keep_data {keep_data}");
        assert_eq!(h.session().stats().stream.reassembled_bytes, 18);
    }
}

#[test]
fn established_monologues_only_counted_end_where_reported_ones_do() {
    let run = |report: bool| {
        let mut h = Harness::new();
        h.keep_data = false;
        let c = CLIENT_ISN.wrapping_add(1);
        let s = SERVER_ISN.wrapping_add(1);
        h.push(true, CLIENT_ISN, None, SYN, b"");
        h.session().report_monologues(report);
        h.push(false, SERVER_ISN, Some(c), SYN, b"");
        h.push(true, c, Some(s), 0, b"");
        h.push(true, c, Some(s), PSH, b"GET / HTTP/1.1\r\n\r\n");
        h.push(false, s, Some(c.wrapping_add(18)), PSH, b"HTTP/1.1 200 OK\r\n");
        h.push(true, c.wrapping_add(18), Some(s.wrapping_add(17)), PSH, b"GET /2 HTTP/1.1\r\n\r\n");
        h.end();
        let counted = h.log.iter().filter(|a| matches!(a, Action::MonologueCounted)).count();
        (h.names(), counted, h.session().stats())
    };
    let (reported, none, stats) = run(true);
    let (counted, three, counted_stats) = run(false);
    assert_eq!((none, three), (0, 3));
    assert_eq!(reported, counted, "the same actions in the same order");
    assert_eq!(stats, counted_stats);
}
