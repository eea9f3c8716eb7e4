#!/usr/bin/env bash
# Runs the fuzz targets one after another, each for DURATION, on the stable toolchain.
#
#   fuzz/run.sh DURATION [TARGET...]      e.g. fuzz/run.sh 10m, fuzz/run.sh 5s, fuzz/run.sh 1h pipeline
#
# DURATION is a number of seconds with an optional unit (s, m, h). With no TARGET, every
# target runs. Installs cargo-fuzz if it is missing, builds the targets without sanitizers
# (stable Rust has none: `-s none`) but with debug assertions and overflow checks (`-a`),
# writes the seed corpora (fuzz/seeds.rs) and keeps what each run learns in
# fuzz/corpus/<target>. Crashes land in fuzz/artifacts/<target>/; logs in
# fuzz/artifacts/logs/<target>.log. Prints a table of time, executions and result per
# target, and exits 1 if any target crashed.
#
# Environment: FUZZ_RSS_LIMIT_MB (default 2048), FUZZ_TIMEOUT (seconds one input may take,
# default 30), FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail

ALL_TARGETS=(capture_file decode_frame tcp_reassembly http_parse pipeline)
CARGO_FUZZ_VERSION=0.13.2

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

[[ $# -ge 1 ]] || usage
case "$1" in
    -h | --help) usage ;;
    *[0-9]s) seconds=${1%s} ;;
    *[0-9]m) seconds=$((${1%m} * 60)) ;;
    *[0-9]h) seconds=$((${1%h} * 3600)) ;;
    *[0-9]) seconds=$1 ;;
    *) usage ;;
esac
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || usage
shift
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")

cd "$(dirname "$0")/.."
# The fuzz package has its own target directory (fuzz/target); a workspace-wide
# CARGO_TARGET_DIR would make cargo-fuzz look for the binaries in the wrong place.
unset CARGO_TARGET_DIR

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

flags=(-s none -O -a)
cargo fuzz build "${flags[@]}"
cargo run --quiet --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus

logs=fuzz/artifacts/logs
mkdir -p "$logs"
declare -a rows
failed=0
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    log="$logs/$target.log"
    started=$(date +%s)
    status=ok
    # shellcheck disable=SC2086
    if ! cargo fuzz run "${flags[@]}" "$target" -- \
        -max_total_time="$seconds" -rss_limit_mb="${FUZZ_RSS_LIMIT_MB:-2048}" -timeout="${FUZZ_TIMEOUT:-30}" \
        -print_final_stats=1 ${FUZZ_ARGS:-} >"$log" 2>&1; then
        status="CRASH (see $log)"
        failed=1
    fi
    ended=$(date +%s)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [[ -z $execs ]]; then
        execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    fi
    rows+=("$(printf '%-16s %8ss %12s  %s' "$target" "$((ended - started))" "${execs:-?}" "$status")")
    echo "fuzz/run.sh: $target: $((ended - started)) s, ${execs:-?} executions, $status" >&2
done

printf '%-16s %9s %12s  %s\n' target time executions result
printf '%s\n' "${rows[@]}"
if [[ $failed -ne 0 ]]; then
    echo "fuzz/run.sh: crashes are in fuzz/artifacts/<target>/; reproduce with" >&2
    echo "  cargo fuzz run -s none -O -a <target> fuzz/artifacts/<target>/<crash file>" >&2
fi
exit "$failed"
