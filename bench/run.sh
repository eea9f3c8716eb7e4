#!/usr/bin/env bash
# run.sh - measure netanalysis on one capture, side by side with tcpdump,
# libnids, tcpflow and tshark, and print a Markdown table.
#
# Usage:  bench/run.sh [--runs N] [--smoke] CAPTURE
#
#   --runs N   run every command N times (default 5) and quote the median
#   --smoke    one run of netanalysis's own modes only, no comparison tools and
#              no installs; fails if any mode exits non-zero or --json writes a
#              line that is not JSON. For CI, on a small capture:
#                  bench/run.sh --smoke captures/http-sample.pcap
#
# Environment:
#   NETANALYSIS_BIN  binary to measure (default ./target/release/netanalysis;
#                    build it with: cargo build --release -p netanalysis-cli, or
#                    with scripts/build-pgo.sh, whose target/pgo/netanalysis is
#                    the profile-guided build)
#   NETANALYSIS_BASELINE_BIN  a second build measured in the same rounds, in
#                    two more rows, "TCP (baseline build)" and "TCP+HTTP
#                    (baseline build)": e.g. the plain release build beside
#                    the profile-guided one
#   BENCH_CPU        the core every command is pinned to (default 0)
#   BENCH_THREADS    worker threads of the multi-core row (default: nproc)
#   BENCH_TMP        tmpfs directory for tcpflow's output (default /dev/shm)
#   BENCH_KEEP_CACHE 1: measure the capture in the page cache as it is found,
#                    instead of dropping it and reading it back in (see below)
#
# What it measures, in this order within odd rounds and in the reverse order within
# even ones (so a change in machine load spreads over all rows instead of hitting
# one, and no command always runs right after the same other one):
#   decode only       netanalysis --quiet --decode-only CAPTURE
#   TCP               netanalysis --quiet CAPTURE
#   TCP+HTTP          netanalysis --quiet HTTP CAPTURE
#   TCP+HTTP+JsonLog  netanalysis --quiet --json HTTP CAPTURE > /dev/null
#   TCP+HTTP on N cores   netanalysis --quiet --threads N HTTP CAPTURE, pinned to
#                     cores 0..N-1 (N = BENCH_THREADS, default: every core),
#                     when --help offers --threads
#   tcpdump           tcpdump -r CAPTURE -w /dev/null        (the I/O floor)
#   libnids           bench/out/nids-count CAPTURE           (TCP reassembly only)
#   tcpflow           tcpflow -r CAPTURE -o DIR              (DIR on tmpfs, emptied after each run)
#   tshark            tshark -r CAPTURE -q -z conv,tcp
# netanalysis gets --threads 1 when its --help offers that option.
#
# Every command but the multi-core row runs under `taskset -c $BENCH_CPU`, and
# all run under `/usr/bin/time -v`; the capture is dropped from the page cache and
# read back in beforehand, so that it is cached, and cached the same way each time.
#   median s        median wall time over the runs
#   MB/s            capture file bytes (10^6) per second of that median
#   packets/s       the capture's packet count per second
#   transactions/s  http_transaction lines of one extra, untimed --json HTTP run
#   peak RSS MB     the largest maximum resident set size of the runs
#   last but one    how many times faster netanalysis TCP+HTTP went than that
#                   row (the row's median time over TCP+HTTP's), so every ratio
#                   comes from one run of this script
#   CPU s           median user plus system time: wall time suffers when other
#                   work shares the core, CPU time much less
# After the table: the commands, and every run's wall time in run order (to see
# the spread behind each median).
#
# Outside --smoke, missing comparison tools are installed from Debian when
# running as root (tcpdump tcpflow tshark libnids-dev time), else skipped with
# a message; the libnids driver is built with bench/libnids/Makefile.

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNS=5
SMOKE=0
CAPTURE=""
usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2; }
while (($#)); do
    case $1 in
        --runs) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage; RUNS=$2; shift 2 ;;
        --runs=*) RUNS=${1#--runs=}; [[ $RUNS =~ ^[1-9][0-9]*$ ]] || usage; shift ;;
        --smoke) SMOKE=1; shift ;;
        -h|--help) usage ;;
        -*) echo "run.sh: unknown option $1" >&2; usage ;;
        *) [[ -z $CAPTURE ]] || usage; CAPTURE=$1; shift ;;
    esac
done
[[ -n $CAPTURE ]] || usage
[[ -r $CAPTURE ]] || { echo "run.sh: cannot read capture $CAPTURE" >&2; exit 2; }
(( SMOKE )) && RUNS=1

BIN=${NETANALYSIS_BIN:-./target/release/netanalysis}
BASELINE=${NETANALYSIS_BASELINE_BIN:-}
if [[ -n $BASELINE && ! -x $BASELINE ]]; then
    echo "run.sh: baseline binary $BASELINE not found" >&2
    exit 2
fi
CPU=${BENCH_CPU:-0}
TMP_ROOT=${BENCH_TMP:-/dev/shm}
NIDS=$REPO/bench/out/nids-count
say() { printf 'run.sh: %s\n' "$*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/netanalysis-bench.XXXXXX")
FLOW_DIR=""
cleanup() { rm -rf "$WORK"; [[ -z $FLOW_DIR ]] || rm -rf "$FLOW_DIR"; }
trap cleanup EXIT

# ------------------------------------------------------------------ tools
have() { command -v "$1" >/dev/null 2>&1; }
if (( ! SMOKE )); then
    want=()
    have tcpdump || want+=(tcpdump)
    have tcpflow || want+=(tcpflow)
    have tshark || want+=(tshark)
    [[ -x /usr/bin/time ]] || want+=(time)
    [[ -e /usr/include/nids.h ]] || want+=(libnids-dev)
    have cc || want+=(gcc)
    have make || want+=(make)
    if ((${#want[@]})) && [[ $(id -u) -eq 0 ]] && have apt-get; then
        say "installing ${want[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >&2 ||
            { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >&2; } ||
            say "could not install ${want[*]}; rows that need them are skipped"
    fi
    if [[ -e /usr/include/nids.h ]] && have cc && have make; then
        make -s -C "$REPO/bench/libnids" OUT="$REPO/bench/out" >&2 || say "could not build the libnids driver"
    fi
fi
N_THREADS=${BENCH_THREADS:-$(nproc 2>/dev/null || echo 1)}
PIN=(); PIN_ALL=()
if have taskset; then
    PIN=(taskset -c "$CPU")
    PIN_ALL=(taskset -c "0-$(( N_THREADS - 1 ))")
else
    say "taskset not found: commands are not pinned to one core"
fi
TIMER=()
if [[ -x /usr/bin/time ]]; then TIMER=(/usr/bin/time -v -o "$WORK/time.txt"); else say "/usr/bin/time not found: peak RSS is not measured"; fi

THREADS=()
OURS=1
if [[ ! -x $BIN ]]; then
    if (( SMOKE )); then
        say "netanalysis binary $BIN not found; build it with: cargo build --release -p netanalysis-cli (or set NETANALYSIS_BIN)"
        exit 1
    fi
    say "netanalysis binary $BIN not found: its rows are skipped (cargo build --release -p netanalysis-cli, or set NETANALYSIS_BIN)"
    OURS=0
elif "$BIN" --help 2>/dev/null | grep -q -- '--threads'; then
    THREADS=(--threads 1)
fi

# ------------------------------------------------------------------ capture facts
BYTES=$(stat -L -c %s "$CAPTURE")
count_packets() {
    if have capinfos; then
        capinfos -M -c "$CAPTURE" 2>/dev/null | awk -F': *' '/Number of packets/ {print $2; exit}'
    elif have python3; then
        # classic pcap only: walk the record headers
        python3 - "$CAPTURE" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as f:
    magic = f.read(24)[:4]
    order = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if order is None:
        sys.exit(0)
    n = 0
    while True:
        head = f.read(16)
        if len(head) < 16:
            break
        f.seek(struct.unpack(order + "IIII", head)[2], 1)
        n += 1
    print(n)
PY
    fi
}
PACKETS=$(count_packets || true)
say "capture $CAPTURE: $BYTES bytes, ${PACKETS:-unknown} packets"

# The page cache. How fast a cached file is read depends on how its pages came into
# the cache: the 1 GB capture as found in the cache (written the day before) took 0.23 s
# to read with dd bs=1M, and 0.11 s once dropped and read back in (a 200 MB copy
# written 4 KiB at a time: 0.050 s, then 0.029 s; BENCHMARKS.md, "The page cache").
# Every tool here reads through the same cache, but reading is a different share of
# each one's time, so the ratios moved with the cache's history. Unless
# BENCH_KEEP_CACHE=1, the capture is dropped from the cache (dd iflag=nocache, which is
# posix_fadvise DONTNEED) and read back in, so every run of this script measures it in
# the same state, the one a capture read from disk is in.
load_capture() {
    if [[ ${BENCH_KEEP_CACHE:-0} != 1 ]]; then
        sync "$CAPTURE" 2>/dev/null || true
        dd if="$CAPTURE" iflag=nocache count=0 status=none 2>/dev/null ||
            say "could not drop $CAPTURE from the page cache: measuring the cache as it is"
    fi
    cat "$CAPTURE" >/dev/null
}
# The kernel's copy out of the page cache alone: the best of three `dd bs=1M` reads
# pinned like the other commands, printed under the table.
read_rate() {
    local best="" start end us
    for _ in 1 2 3; do
        start=$(date +%s%N)
        "${PIN[@]}" dd if="$CAPTURE" of=/dev/null bs=1M status=none
        end=$(date +%s%N)
        us=$(( (end - start) / 1000 ))
        [[ -z $best ]] || (( us < best )) || continue
        best=$us
    done
    awk -v us="$best" -v bytes="$BYTES" 'BEGIN { printf "%.3f s, %.0f MB/s", us / 1e6, bytes / 1e6 / (us / 1e6) }'
}
load_capture
READ_RATE=""
(( SMOKE )) || READ_RATE=$(read_rate)

# ------------------------------------------------------------------ modes
# name | kind (ours/other) | needs | command (run with eval; CAPTURE, BIN, NIDS and
# FLOW_DIR are variables so the command column prints as it is run)
T=${THREADS[*]:+${THREADS[*]} }
MODES=(
    "decode only|ours|bin|\"\$BIN\" --quiet --decode-only $T\"\$CAPTURE\""
    "TCP|ours|bin|\"\$BIN\" --quiet $T\"\$CAPTURE\""
    "TCP+HTTP|ours|bin|\"\$BIN\" --quiet ${T}HTTP \"\$CAPTURE\""
    "TCP+HTTP+JsonLog|ours|bin|\"\$BIN\" --quiet --json ${T}HTTP \"\$CAPTURE\""
    "TCP (baseline build)|ours|baseline|\"\$BASELINE\" --quiet $T\"\$CAPTURE\""
    "TCP+HTTP (baseline build)|ours|baseline|\"\$BASELINE\" --quiet ${T}HTTP \"\$CAPTURE\""
    "TCP+HTTP, $N_THREADS threads on $N_THREADS cores|ours|threads|\"\$BIN\" --quiet --threads $N_THREADS HTTP \"\$CAPTURE\""
    "tcpdump -r -w /dev/null|other|tcpdump|tcpdump -r \"\$CAPTURE\" -w /dev/null"
    "libnids (TCP only)|other|nids|\"\$NIDS\" \"\$CAPTURE\""
    "tcpflow|other|tcpflow|tcpflow -r \"\$CAPTURE\" -o \"\$FLOW_DIR\""
    "tshark -z conv,tcp|other|tshark|tshark -r \"\$CAPTURE\" -q -z conv,tcp"
)
available() {
    case $1 in
        bin) (( OURS )) ;;
        baseline) (( OURS )) && [[ -n $BASELINE && -x $BASELINE ]] ;;
        threads) (( OURS && ${#THREADS[@]} && N_THREADS > 1 )) ;;
        nids) [[ -x $NIDS ]] ;;
        *) have "$1" ;;
    esac
}
ACTIVE=()
for i in "${!MODES[@]}"; do
    IFS='|' read -r name kind needs command <<<"${MODES[$i]}"
    if [[ $kind == other ]] && (( SMOKE )); then continue; fi
    if ! available "$needs"; then
        [[ $kind == ours ]] || say "skipping $name: $needs not found"
        continue
    fi
    ACTIVE+=("$i")
done

# ------------------------------------------------------------------ runs
declare -A TIMES CPU_TIMES RSS STATUS
run_once() {   # index -> appends seconds to TIMES, max RSS to RSS, status to STATUS
    local i=$1 name kind needs command start end rc kb
    IFS='|' read -r name kind needs command <<<"${MODES[$i]}"
    if [[ $needs == tcpflow ]]; then
        FLOW_DIR=$(mktemp -d "$TMP_ROOT/netanalysis-bench-tcpflow.XXXXXX")
    fi
    rm -f "$WORK/time.txt"
    start=$(date +%s%N)
    set +e
    if [[ $needs == threads ]]; then
        eval "${TIMER[*]@Q} ${PIN_ALL[*]@Q} $command" >/dev/null 2>"$WORK/stderr.txt"
    else
        eval "${TIMER[*]@Q} ${PIN[*]@Q} $command" >/dev/null 2>"$WORK/stderr.txt"
    fi
    rc=$?
    set -e
    end=$(date +%s%N)
    if [[ -n $FLOW_DIR ]]; then rm -rf "$FLOW_DIR"; FLOW_DIR=""; fi
    TIMES[$i]+="$(( (end - start) / 1000 )) "
    if [[ -s $WORK/time.txt ]]; then
        kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
        (( ${kb:-0} > ${RSS[$i]:-0} )) && RSS[$i]=$kb
        CPU_TIMES[$i]+="$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%d", s * 1e6}' "$WORK/time.txt") "
    fi
    if (( rc != 0 )); then
        STATUS[$i]="exit $rc"
        say "$name exited with status $rc: $(head -c 300 "$WORK/stderr.txt" | tr '\n' ' ')"
    fi
    return 0
}
for (( r = 1; r <= RUNS; r++ )); do
    ORDER=("${ACTIVE[@]}")
    if (( r % 2 == 0 )); then
        ORDER=()
        for (( k = ${#ACTIVE[@]} - 1; k >= 0; k-- )); do ORDER+=("${ACTIVE[k]}"); done
    fi
    for i in "${ORDER[@]}"; do
        IFS='|' read -r name _ <<<"${MODES[$i]}"
        say "run $r/$RUNS: $name"
        run_once "$i"
    done
done

# The same read after the runs: the kernel may have evicted and read back part of the
# capture meanwhile (its reclaim of pages it finds cold), which shows here.
READ_RATE_AFTER=""
(( SMOKE )) || READ_RATE_AFTER=$(read_rate)

# Transactions: one untimed JSON run; in --smoke, every line must parse.
TRANSACTIONS=""
FAILED=0
if (( OURS )); then
    set +e
    "$BIN" --quiet --json "${THREADS[@]}" HTTP "$CAPTURE" >"$WORK/events.jsonl" 2>"$WORK/stderr.txt"
    rc=$?
    set -e
    if (( rc == 0 )); then
        TRANSACTIONS=$(grep -c -E '"event" ?: ?"http_transaction"' "$WORK/events.jsonl" || true)
        say "--json HTTP run: $(wc -l <"$WORK/events.jsonl") events, $TRANSACTIONS http_transaction"
        if (( SMOKE )) && have python3; then
            python3 -c '
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    try:
        json.loads(line)
    except ValueError as e:
        sys.exit("line %d of --json output is not JSON: %s" % (n, e))
' "$WORK/events.jsonl" || FAILED=1
        fi
    else
        say "--json HTTP run exited with status $rc: $(head -c 300 "$WORK/stderr.txt" | tr '\n' ' ')"
        FAILED=1
    fi
fi

# ------------------------------------------------------------------ table
median_us() {   # space-separated microseconds -> median
    tr ' ' '\n' <<<"$1" | awk 'NF' | sort -n | awk '{v[NR] = $1} END {
        if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
BASE_US=""
for i in "${ACTIVE[@]}"; do
    IFS='|' read -r name _ <<<"${MODES[$i]}"
    [[ $name == TCP+HTTP && -z ${STATUS[$i]:-} ]] && BASE_US=$(median_us "${TIMES[$i]}")
done

echo
echo "Capture: \`$CAPTURE\`, $BYTES bytes$( [[ -n $PACKETS ]] && echo ", $PACKETS packets")."
echo "Runs: $RUNS per command, median quoted; pinned with \`${PIN[*]:-(not pinned)}\`; $(date -u '+%Y-%m-%d %H:%M UTC')."
[[ -z $READ_RATE ]] || echo "Page cache: $( [[ ${BENCH_KEEP_CACHE:-0} == 1 ]] && echo "as found" || echo "capture dropped and read back in"); reading it with \`dd bs=1M\` (best of three) took $READ_RATE before the runs and $READ_RATE_AFTER after them."
echo
echo "| tool / mode | median s | MB/s | packets/s | transactions/s | peak RSS MB | TCP+HTTP is this many times faster | CPU s (user+sys) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for i in "${ACTIVE[@]}"; do
    IFS='|' read -r name kind needs command <<<"${MODES[$i]}"
    if [[ -n ${STATUS[$i]:-} ]]; then
        echo "| $name | failed (${STATUS[$i]}) | | | | | | |"
        FAILED=1
        continue
    fi
    us=$(median_us "${TIMES[$i]}")
    tx=""
    [[ $name == TCP+HTTP* && -n $TRANSACTIONS ]] && tx=$TRANSACTIONS
    awk -v name="$name" -v us="$us" -v bytes="$BYTES" -v packets="${PACKETS:-}" -v tx="$tx" \
        -v rss="${RSS[$i]:-}" -v base="$BASE_US" -v cpu="$(median_us "${CPU_TIMES[$i]:-}")" 'BEGIN {
        s = us / 1e6
        mbs = bytes / 1e6 / s
        printf "| %s | %.3f | %s | %s | %s | %s | %s | %s |\n", name, s, sprintf(mbs >= 100 ? "%.0f" : "%.2f", mbs),
            packets == "" ? "" : sprintf("%.0f", packets / s),
            tx == "" ? "" : sprintf("%.0f", tx / s),
            rss == "" ? "" : sprintf("%.0f", rss / 1024),
            base == "" ? "" : sprintf("%.2fx", us / base),
            cpu == "" ? "" : sprintf("%.3f", cpu / 1e6) }'
done
echo
echo "Commands (BIN=$BIN${BASELINE:+, BASELINE=$BASELINE}, NIDS=bench/out/nids-count, FLOW_DIR on $TMP_ROOT):"
echo
for i in "${ACTIVE[@]}"; do
    IFS='|' read -r name kind needs command <<<"${MODES[$i]}"
    command=${command//\"/}
    [[ $name == TCP+HTTP+JsonLog ]] && command+=" > /dev/null"
    echo "- $name: \`${command//\$/}\`"
done
(( OURS )) && [[ -n $TRANSACTIONS ]] && echo && echo "HTTP transactions in the capture (from \`--json HTTP\`): $TRANSACTIONS."
echo
echo "Every run's wall time, round by round (s):"
echo
declare -A ROW_TIMES
for i in "${ACTIVE[@]}"; do
    IFS='|' read -r name _ <<<"${MODES[$i]}"
    [[ -n ${STATUS[$i]:-} ]] && continue
    echo "- $name: $(tr ' ' '\n' <<<"${TIMES[$i]}" | awk 'NF {printf "%s%.3f", sep, $1 / 1e6; sep = " "}')"
    ROW_TIMES[$name]=${TIMES[$i]}
done
round_ratios() {   # label, TCP row, TCP+HTTP row
    # The two run next to each other in every round, so each round's ratio compares
    # runs made under nearly the same load.
    [[ -n ${ROW_TIMES[$2]:-} && -n ${ROW_TIMES[$3]:-} ]] || return 0
    awk -v label="$1" -v tcp="${ROW_TIMES[$2]}" -v http="${ROW_TIMES[$3]}" 'BEGIN {
        n = split(tcp, t, " "); split(http, h, " ")
        for (k = 1; k <= n; k++) { r[k] = t[k] / h[k]; line = line sprintf("%s%.0f%%", k > 1 ? ", " : "", 100 * r[k]) }
        for (a = 1; a <= n; a++) for (b = a + 1; b <= n; b++) if (r[b] < r[a]) { x = r[a]; r[a] = r[b]; r[b] = x }
        median = n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
        printf "\n%s against TCP alone, round by round: %s (median %.0f%%).\n", label, line, 100 * median
    }'
}
round_ratios "TCP+HTTP" "TCP" "TCP+HTTP"
round_ratios "Baseline build: TCP+HTTP" "TCP (baseline build)" "TCP+HTTP (baseline build)"
for i in "${ACTIVE[@]}"; do
    IFS='|' read -r name kind needs command <<<"${MODES[$i]}"
    if [[ $needs == threads && -z ${STATUS[$i]:-} && -n $BASE_US ]]; then
        awk -v n="$N_THREADS" -v one="$BASE_US" -v many="$(median_us "${TIMES[$i]}")" \
            'BEGIN {printf "\nScaling: TCP+HTTP with --threads %d ran %.2f times as fast as with one thread.\n", n, one / many}'
    fi
done

if (( SMOKE )); then
    if (( FAILED )); then say "smoke test failed"; exit 1; fi
    say "smoke test passed"
fi
