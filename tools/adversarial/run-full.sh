#!/usr/bin/env bash
# Generates every adversarial capture at its full size (2 million half-open sessions,
# 200k out-of-order segments, a 4 GB monologue, a 100 MB header line, 100k headers, a
# chunk size past u64, a Content-Length of 2^63, 300k never-completed fragmented
# datagrams, 100k overlapping ones), runs the release `netanalysis` binary on each under
# `/usr/bin/time -v`, one at a time, and prints a table of peak RSS per case.
#
#   tools/adversarial/run-full.sh [TEST-NAME-FILTER]     e.g. ... full_monologue
#
# The captures are written one at a time to $ADVERSARIAL_DIR (default: the system temp
# folder) and removed after each run; the largest needs about 4.5 GB of disk. These are the
# ignored tests `adversarial::full_*` of tests/it/adversarial.rs; the table is also left in
# target/adversarial-rss.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ ! -x /usr/bin/time ]]; then
    echo "run-full.sh: installing GNU time (Debian package \`time\`)" >&2
    apt-get install -y time >/dev/null
fi

target_dir=${CARGO_TARGET_DIR:-target}
table="$target_dir/adversarial-rss.txt"
mkdir -p "$target_dir"
: >"$table"
export ADVERSARIAL_RSS_TABLE="$PWD/$table"
[[ $table = /* ]] && export ADVERSARIAL_RSS_TABLE="$table"

filter=${1:-adversarial::full_}
cargo build --release -p netanalysis-cli --bin netanalysis
status=0
cargo test --release -p netanalysis-tests --test it -- --ignored --test-threads=1 --nocapture "$filter" || status=$?

echo
printf '%-30s %12s %-9s %14s %19s %9s\n' case size unit "capture bytes" "peak RSS" wall
sed 's/^RSS //' "$ADVERSARIAL_RSS_TABLE" | awk '{printf "%-30s %12s %-9s %14s %15s MiB %9s\n", $1, $2, $3, $4, $6, $10}'
exit "$status"
