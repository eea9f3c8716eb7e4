#!/usr/bin/env bash
# build-pgo.sh - build the netanalysis binary with profile-guided optimisation.
#
# Usage:  scripts/build-pgo.sh [TRAINING-CAPTURE...]
#
# Three steps, all under target/pgo/ (or $CARGO_TARGET_DIR/pgo/):
#   1. an instrumented release build (rustc -Cprofile-generate) in pgo/generate;
#   2. that binary run on the training captures in every mode the benchmark
#      measures: decode only, TCP, TCP+HTTP, TCP+HTTP with the JSON log, two
#      threads, and the trace output of HTTP,v=1 and TCP,v=6; the profiles are
#      merged with the toolchain's llvm-profdata into pgo/merged.profdata. By
#      default the training captures are the shipped captures/http-sample.pcap
#      and pgo/training.pcap, 1,000 copies of it on addresses of their own
#      (about 30 MB, written by the tile-capture example of the test-support crate):
#      without the volume, the paths that only large files take (two threads
#      reading ahead) would be laid out as cold code;
#   3. a release build that uses the merged profile (-Cprofile-use) in pgo/use,
#      copied to pgo/netanalysis.
#
# Each build starts from the same state whatever the target directory holds: the
# profile is the training runs' alone, and every crate of the optimised build is
# compiled with it (before, a rebuild in a used directory kept crates compiled with an
# earlier profile, and its TCP alone took 15% longer than a build's in a new
# directory). Two builds of the same code still differ a little: the training runs'
# counts vary from run to run (the two-thread runs' waits, and likely the randomly
# seeded hash tables), and so do some of LLVM's layout decisions.
#
# The result is the same program as the plain release build, compiled for this
# machine's processor and laid out and inlined by where the training runs spent
# their time, so it writes the same output (CI compares the two builds' event logs
# on the sample). Which capture it trains on hardly mattered when measured: the
# sample alone, its copies, or the benchmark capture itself gave instruction counts
# within 2.1% of each other.
#
# Both builds target the processor of the machine that runs the script
# (`-Ctarget-cpu=native`). With SSE4.2 and AVX2 known at compile time, httparse
# picks its vector code when it is compiled and inlines it where it is used,
# instead of checking the processor at run time and calling it, and the rest of
# the code may use those instructions too. The binary may then not start on an
# older processor; PGO_TARGET_CPU=x86-64 builds one that runs on any x86-64 (any
# name `rustc --print target-cpus` lists is accepted). BENCHMARKS.md has what it
# changed.
#
# Needs the toolchain's LLVM tools (`rustup component add llvm-tools`). Any
# RUSTFLAGS already set are kept, after the target processor (so a -Ctarget-cpu
# among them wins).

set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'build-pgo.sh: %s\n' "$*" >&2; }

TRAINING=("$@")
for capture in "${TRAINING[@]}"; do
    [[ -r $capture ]] || { say "cannot read training capture $capture"; exit 2; }
done

SYSROOT=$(rustc --print sysroot)
HOST=$(rustc -vV | sed -n 's/^host: //p')
PROFDATA=$SYSROOT/lib/rustlib/$HOST/bin/llvm-profdata
if [[ ! -x $PROFDATA ]]; then
    say "llvm-profdata not found at $PROFDATA; install it with: rustup component add llvm-tools"
    exit 2
fi

TARGET=${CARGO_TARGET_DIR:-target}
OUT=$TARGET/pgo
RAW=$(mkdir -p "$OUT" && cd "$OUT" && pwd)/raw
rm -rf "$RAW" "$OUT/merged.profdata"
FLAGS="-Ctarget-cpu=${PGO_TARGET_CPU:-native} ${RUSTFLAGS:-}"

say "1/3 instrumented build"
RUSTFLAGS="$FLAGS -Cprofile-generate=$RAW" CARGO_TARGET_DIR=$OUT/generate \
    cargo build --release -p netanalysis-cli --bin netanalysis

if (( ${#TRAINING[@]} == 0 )); then
    cargo run --release --quiet -p netanalysis-test-support --example tile-capture -- \
        captures/http-sample.pcap 1000 "$OUT/training.pcap"
    TRAINING=(captures/http-sample.pcap "$OUT/training.pcap")
fi

say "2/3 training runs on ${TRAINING[*]}"
# Only the training runs' profiles: the instrumented build wrote some of its own (its
# build scripts and procedural macros, instrumented too), and which of those it wrote
# depends on what it had to rebuild.
rm -rf "$RAW"
BIN=$OUT/generate/release/netanalysis
train() {
    if ! LLVM_PROFILE_FILE="$RAW/%p-%m.profraw" "$BIN" "$@" >/dev/null 2>"$OUT/training.log"; then
        say "training run failed: netanalysis $*"
        cat "$OUT/training.log" >&2
        exit 1
    fi
}
for capture in "${TRAINING[@]}"; do
    for mode in "--decode-only" "" "HTTP" "--json HTTP" "--threads 2 HTTP"; do
        # shellcheck disable=SC2086 # the mode is several words
        train --quiet $mode "$capture"
    done
    for plugin in "HTTP,v=1" "TCP,v=6"; do
        train "$plugin" "$capture"
    done
done
"$PROFDATA" merge -o "$OUT/merged.profdata" "$RAW"

say "3/3 optimised build"
# Every crate is compiled again with this profile: cargo does not see a new profile at
# the same path, and would keep the crates it compiled with an earlier one.
cargo clean --quiet --release --target-dir "$OUT/use"
RUSTFLAGS="$FLAGS -Cprofile-use=$(cd "$OUT" && pwd)/merged.profdata" CARGO_TARGET_DIR=$OUT/use \
    cargo build --release -p netanalysis-cli --bin netanalysis
cp "$OUT/use/release/netanalysis" "$OUT/netanalysis"
say "built $OUT/netanalysis"
