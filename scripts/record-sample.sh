#!/usr/bin/env bash
# record-sample.sh - record captures/http-sample.pcap, the small real HTTP
# capture that README.md's first command runs on.
#
# Usage:  sudo scripts/record-sample.sh [OUTPUT.pcap]
#           OUTPUT  default captures/http-sample.pcap (relative to the repository root)
#
# It builds a two-host network out of two network namespaces joined by a veth
# pair (MTU 1500, segmentation and checksum offloads off, so every captured
# frame is an ordinary Ethernet frame with valid checksums), runs nginx in one
# and curl in the other, and captures the client side with tcpdump.
#
# The conversations, in order (client ports are fixed so the session keys are
# the same on every recording):
#   41001  HTTP/1.1 keep-alive, four requests on one connection:
#          GET /index.html, GET /style.css (gzip, chunked), GET /logo.png,
#          GET /api/items.json (gzip, chunked)
#   41002  HTTP/1.1 keep-alive, two requests: GET /news.shtml (server-side
#          includes, so chunked without compression), GET /old-page.html (404)
#   41003  POST /api/comments with a JSON body (201 Created)
#   41004  HTTP/1.0 GET /about.html, one request, connection closed by the server
#   41005  HEAD /logo.png, then GET /index.html with If-Modified-Since (304)
#
# Besides the TCP traffic the capture holds the client's ARP request and the
# server's reply, as a real link would.
#
# The site is generated here from a fixed seed, so file sizes and bodies are the
# same on every recording; only timestamps and sequence numbers change.
#
# Needs root (namespaces, tcpdump) and Debian's nginx-light (or nginx), curl,
# tcpdump, iproute2, ethtool and python3.  Nothing is left behind: the servers
# are stopped by pid and the namespaces deleted on exit, even on error.

set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${1:-$REPO/captures/http-sample.pcap}")

NS_SRV=na-sample-srv
NS_CLI=na-sample-cli
DEV_SRV=na-sample-s0
DEV_CLI=na-sample-c0
SRV_IP=10.88.0.1
CLI_IP=10.88.0.2

say() { printf 'record-sample: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces and tcpdump need it)"
for tool in ip ethtool nginx curl tcpdump python3; do
    command -v "$tool" >/dev/null || die "$tool not found; install it with: apt-get install iproute2 ethtool nginx-light curl tcpdump python3"
done

WORK=$(mktemp -d /tmp/na-sample.XXXXXX)
chmod 755 "$WORK"
STARTED=()

cleanup() {
    local pid ns
    for pid in "${STARTED[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${STARTED[@]}"; do wait "$pid" 2>/dev/null || true; done
    for ns in "$NS_CLI" "$NS_SRV"; do
        [[ -e /run/netns/$ns ]] && ip netns del "$ns"
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ns in "$NS_CLI" "$NS_SRV"; do
    [[ -e /run/netns/$ns ]] && die "namespace $ns exists (left by an earlier run?); remove it with: ip netns del $ns"
done

# ------------------------------------------------------------------ site
mkdir -p "$WORK/www/api" "$WORK/tmp" "$WORK/logs"
python3 - "$WORK/www" <<'PY'
import os, random, sys, zlib, struct
root = sys.argv[1]
rng = random.Random(20261127)
words = ("packet stream session server client request response header body "
         "chunk gzip cache network capture monologue socket window segment "
         "latency bandwidth trace event listener plugin analyzer").split()
def text(n):
    out, size = [], 0
    while size < n:
        w = rng.choice(words)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)
def write(path, data):
    with open(os.path.join(root, path), "wb") as f:
        f.write(data)
def page(title, n_paragraphs):
    paras = "".join("<p>%s.</p>\n" % text(rng.randint(120, 400)).capitalize()
                    for _ in range(n_paragraphs))
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<title>%s</title>\n<link rel="stylesheet" href="/style.css">\n</head>\n'
            '<body>\n<h1>%s</h1>\n<img src="/logo.png" alt="logo">\n%s</body>\n</html>\n'
            % (title, title, paras)).encode()
write("index.html", page("Capture lab", 6))
write("about.html", page("About this lab", 3))
css = "".join(".%s-%d { margin: %dpx; padding: %dpx; color: #%06x; }\n"
              % (rng.choice(words), i, rng.randrange(24), rng.randrange(24), rng.randrange(1 << 24))
              for i in range(160))
write("style.css", css.encode())
# A valid PNG of random pixels (incompressible), about 12 KB.
width, rows = 64, 60
raw = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(3 * width)) for _ in range(rows))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
write("logo.png", b"\x89PNG\r\n\x1a\n"
      + chunk(b"IHDR", struct.pack(">IIBBBBB", width, rows, 8, 2, 0, 0, 0))
      + chunk(b"IDAT", zlib.compress(raw, 0)) + chunk(b"IEND", b""))
items = ",\n".join('  {"id": %d, "name": "%s", "price": %d.%02d}'
                   % (i, text(30), rng.randrange(1, 300), rng.randrange(100)) for i in range(24))
write("api/items.json", ("[\n%s\n]\n" % items).encode())
write("fragment.html", ("<aside>%s.</aside>\n" % text(600).capitalize()).encode())
write("news.shtml", ('<!DOCTYPE html>\n<html><head><title>News</title></head><body>\n'
                     '<p>%s.</p>\n<!--# include virtual="/fragment.html" -->\n<p>%s.</p>\n'
                     '<!--# include virtual="/fragment.html" -->\n</body></html>\n'
                     % (text(300).capitalize(), text(300).capitalize())).encode())
PY

cat >"$WORK/nginx.conf" <<EOF
user www-data;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log warn;
events { worker_connections 64; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $WORK/logs/access.log;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    keepalive_timeout 30s;
    # Compressed responses have no Content-Length, so HTTP/1.1 ones are chunked.
    gzip on;
    gzip_min_length 256;
    gzip_types text/css application/json;
    if_modified_since before;
    server {
        listen $SRV_IP:80 default_server;
        server_name sample.test;
        root $WORK/www;
        location ~ \.shtml\$ { ssi on; }
        location = /api/comments { return 201 '{"status":"created","id":1017}\n'; }
    }
}
EOF
chown -R www-data "$WORK/tmp" "$WORK/logs"

# --------------------------------------------------------------- network
ip netns add "$NS_SRV"
ip netns add "$NS_CLI"
ip link add "$DEV_SRV" netns "$NS_SRV" type veth peer name "$DEV_CLI" netns "$NS_CLI"
for side in "$NS_SRV:$DEV_SRV:$SRV_IP" "$NS_CLI:$DEV_CLI:$CLI_IP"; do
    IFS=: read -r ns dev addr <<<"$side"
    ip -n "$ns" link set lo up
    # IPv4 only: no IPv6 router solicitations or listener reports at random times.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" addr add "$addr/24" dev "$dev"
    ip -n "$ns" link set "$dev" mtu 1500 up
    ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off tx off rx off >/dev/null
done

ip netns exec "$NS_SRV" nginx -c "$WORK/nginx.conf" -e "$WORK/logs/error.log" -g 'daemon off;' &
STARTED+=($!)
for _ in $(seq 50); do
    ip netns exec "$NS_SRV" curl -s -o /dev/null --max-time 1 "http://$SRV_IP/index.html" && break
    sleep 0.1
done

# --------------------------------------------------------------- capture
ip netns exec "$NS_CLI" tcpdump -i "$DEV_CLI" -s 0 -n -U -Z root -w "$WORK/sample.pcap" 2>"$WORK/logs/tcpdump.err" &
TCPDUMP=$!
STARTED+=("$TCPDUMP")
for _ in $(seq 50); do grep -q listening "$WORK/logs/tcpdump.err" && break; sleep 0.1; done
sleep 0.3

client() { ip netns exec "$NS_CLI" curl -s -S --max-time 10 "$@"; sleep 0.3; }
BASE=http://$SRV_IP
client --local-port 41001 -o /dev/null "$BASE/index.html" \
    --next --compressed -o /dev/null "$BASE/style.css" \
    --next -o /dev/null "$BASE/logo.png" \
    --next --compressed -o /dev/null "$BASE/api/items.json"
client --local-port 41002 -o /dev/null "$BASE/news.shtml" \
    --next -o /dev/null "$BASE/old-page.html"
client --local-port 41003 -o /dev/null -H 'Content-Type: application/json' \
    --data-binary '{"page":"/index.html","author":"lab","text":"The reassembled stream matches the hex dump byte for byte; latency between request end and response start stays under a millisecond on the veth pair."}' \
    "$BASE/api/comments"
client --local-port 41004 --http1.0 -o /dev/null "$BASE/about.html"
client --local-port 41005 -I -o /dev/null "$BASE/logo.png" \
    --next -o /dev/null -H 'If-Modified-Since: Sat, 01 Jan 2050 00:00:00 GMT' "$BASE/index.html"
sleep 0.5

kill -INT "$TCPDUMP"
wait "$TCPDUMP" || true
cat "$WORK/logs/tcpdump.err" >&2

say "nginx access log:"
sed 's/^/  /' "$WORK/logs/access.log" >&2
mkdir -p "$(dirname "$OUT")"
cp "$WORK/sample.pcap" "$OUT"
say "wrote $OUT ($(stat -c %s "$OUT") bytes)"
