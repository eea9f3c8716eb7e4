#!/usr/bin/env bash
# make-capture.sh - generate a large capture of real HTTP/1.x traffic for benchmarks.
#
# Usage:  sudo bench/make-capture.sh [OUTPUT.pcap] [SIZE]
#           OUTPUT  default /work/bench-data/http-1g.pcap (keep large captures out of git)
#           SIZE    target size of the capture, default 1G; decimal suffixes
#                   (1G = 10^9 bytes, 250M), or Gi/Mi for powers of two
#
# Environment:
#   SEED=1      seed of the generated site and of every client's request mix
#   LOSS=5      segments dropped per 10,000 (server side; half that on the client
#               side) with nftables, so the capture holds real retransmissions and
#               out-of-order data; LOSS=0 turns it off
#   WORKDIR     site, configs and logs (default: OUTPUT's directory/make-capture-work)
#
# What it does:
#   * two network namespaces (server, client) joined by a veth pair, MTU 1500,
#     segmentation and checksum offloads off: every captured frame is an ordinary
#     Ethernet frame of at most 1514 bytes with valid checksums;
#   * nginx in the server namespace over a site generated from SEED: HTML pages
#     (1-30 KB), CSS and JavaScript (gzip-compressed, hence chunked, when the
#     client asks), JSON documents, images (10-300 KB), pages assembled with
#     server-side includes (chunked), a few downloads (2-20 MB), plus 404, 301,
#     304 (If-Modified-Since), 206 (Range) and 201 (POST) responses;
#   * the client namespace repeats a fixed round of work until the capture
#     reaches SIZE: wrk with keep-alive connections (16 to 256 of them, a fixed
#     number of requests per thread), wrk pipelining four requests per write
#     (every other round), curl HTTP/1.0 with one connection per request, curl
#     HTTP/1.1 keep-alive sessions (HEAD, Range, gzip, conditional requests),
#     curl uploads (POST, PUT, chunked request bodies), and every fifth round
#     one large download;
#   * tcpdump -s 0 on the client's interface writes OUTPUT; once the file reaches
#     SIZE, wrk is interrupted and the other clients finish their round, so the
#     file ends up a little above SIZE;
#   * writes OUTPUT with .pcap replaced by .stats.txt: packets, bytes,
#     connections, HTTP requests by status (from nginx's access log), drops.
#
# The amounts of work are request counts, not durations, so a faster or slower
# machine records the same mix.  Timestamps, ports and sequence numbers differ
# between recordings; sizes and counts stay within a few percent.
#
# Needs root.  Installs what is missing from Debian (nginx-light wrk curl tcpdump
# tshark iproute2 ethtool nftables python3).  Servers and clients are stopped by
# pid and both namespaces deleted on exit, even on error or Ctrl-C.

set -euo pipefail

OUT=$(realpath -m "${1:-/work/bench-data/http-1g.pcap}")
SIZE_ARG=${2:-1G}
SEED=${SEED:-1}
LOSS=${LOSS:-5}
WORK=$(realpath -m "${WORKDIR:-$(dirname "$OUT")/make-capture-work}")
STATS=${OUT%.pcap}.stats.txt

NS_SRV=na-bench-srv
NS_CLI=na-bench-cli
DEV_SRV=na-bench-s0
DEV_CLI=na-bench-c0
SRV_IP=10.89.0.1
CLI_IPS=(10.89.0.2 10.89.0.3 10.89.0.4 10.89.0.5 10.89.0.6 10.89.0.7)

say() { printf '[%(%H:%M:%S)T] make-capture: %s\n' -1 "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces and tcpdump need it)"
[[ $OUT == *.pcap ]] || die "OUTPUT must end in .pcap"
TARGET=$(numfmt --from=auto "$SIZE_ARG") || die "cannot read SIZE '$SIZE_ARG'"
[[ $SEED =~ ^[0-9]+$ ]] || die "SEED must be a number"
[[ $LOSS =~ ^[0-9]+$ ]] || die "LOSS must be a number of segments per 10,000"

need=()
for pair in ip:iproute2 ethtool:ethtool nginx:nginx-light wrk:wrk curl:curl tcpdump:tcpdump \
            capinfos:tshark nft:nftables python3:python3; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if ((${#need[@]})); then
    say "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2 ||
        { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2; }
fi

STARTED=()
cleanup() {
    local pid ns
    for pid in "${STARTED[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${STARTED[@]}"; do wait "$pid" 2>/dev/null || true; done
    for ns in "$NS_CLI" "$NS_SRV"; do
        [[ -e /run/netns/$ns ]] && ip netns del "$ns"
    done
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for ns in "$NS_CLI" "$NS_SRV"; do
    [[ -e /run/netns/$ns ]] && die "namespace $ns exists (left by an earlier run?); remove it with: ip netns del $ns"
done

mkdir -p "$(dirname "$OUT")" "$WORK"/{logs,run,tmp}
chmod 755 "$WORK"

# ------------------------------------------------------------------ helpers
# site.py writes the site, the lists of paths the clients choose from, the
# upload bodies, and each round's curl configurations, all from SEED.
cat >"$WORK/site.py" <<'PY'
import math, os, random, struct, sys, zlib

WORDS = ("packet stream session server client request response header body chunk "
         "gzip cache network capture socket window segment latency bandwidth trace "
         "event listener plugin analyzer order cart account search result news "
         "article comment author update release download archive report market "
         "price product photo gallery login profile settings").split()
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
          "python-requests/2.32.3", "Wget/1.21.3", "Go-http-client/1.1"]

def sized(rng, low, high):
    """An integer between low and high, uniform on a log scale."""
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))

def words(rng, n_bytes):
    out, size = [], 0
    while size < n_bytes:
        w = rng.choice(WORDS)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)

def write(root, path, data):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)

def html(rng, title, size, links):
    parts = ['<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>%s</title>\n'
             '<link rel="stylesheet" href="/static/site-%d.css">\n</head>\n<body>\n<h1>%s</h1>\n'
             % (title, rng.randrange(10), title)]
    total = len(parts[0])
    while total < size:
        if rng.random() < 0.75:
            piece = "<p>%s.</p>\n" % words(rng, rng.randint(60, 600)).capitalize()
        else:
            piece = '<a href="%s">%s</a>\n' % (rng.choice(links), words(rng, 24))
        parts.append(piece)
        total += len(piece)
    parts.append("</body>\n</html>\n")
    return "".join(parts).encode()

def png(rng, size):
    width = 128
    rows = max(1, size // (1 + 3 * width))
    raw = b"".join(b"\x00" + rng.randbytes(3 * width) for _ in range(rows))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, rows, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 0)) + chunk(b"IEND", b""))

def make_site(work, seed):
    rng = random.Random(int(seed))
    www, lists = os.path.join(work, "www"), {}
    pages = ["/pages/%04d.html" % i for i in range(300)]
    for path in pages:
        write(www, path, html(rng, words(rng, 30).capitalize(), sized(rng, 1000, 30000), pages))
    write(www, "/index.html", html(rng, "Home", 6000, pages))
    lists["pages"] = pages + ["/index.html"]
    lists["static"] = []
    for i in range(10):
        css = "".join(".%s-%d { margin: %dpx; color: #%06x; }\n" % (
            rng.choice(WORDS), j, rng.randrange(30), rng.randrange(1 << 24)) for j in range(sized(rng, 150, 4000)))
        write(www, "/static/site-%d.css" % i, css.encode())
        js = "".join("function %s_%d(a, b) { return a * %d + b; } // %s\n" % (
            rng.choice(WORDS), j, rng.randrange(1000), words(rng, 40)) for j in range(sized(rng, 80, 2000)))
        write(www, "/static/app-%d.js" % i, js.encode())
        lists["static"] += ["/static/site-%d.css" % i, "/static/app-%d.js" % i]
    lists["images"] = []
    for i in range(120):
        write(www, "/img/%03d.png" % i, png(rng, sized(rng, 10000, 300000)))
        lists["images"].append("/img/%03d.png" % i)
    lists["api"] = []
    for i in range(200):
        items = ",".join('{"id":%d,"name":"%s","price":%d.%02d}' % (
            rng.randrange(10 ** 6), words(rng, 25), rng.randrange(500), rng.randrange(100))
            for _ in range(sized(rng, 2, 120)))
        write(www, "/api/items/%d.json" % i, ('{"page":%d,"items":[%s]}\n' % (i, items)).encode())
        lists["api"].append("/api/items/%d.json" % i)
    lists["ssi"] = []
    for i in range(10):
        write(www, "/ssi/part-%d.html" % i, ("<div>%s.</div>\n" % words(rng, sized(rng, 200, 4000))).encode())
    for i in range(20):
        body = "".join('<!--# include virtual="/ssi/part-%d.html" -->\n<p>%s.</p>\n'
                       % (rng.randrange(10), words(rng, rng.randint(100, 1500))) for _ in range(rng.randint(1, 5)))
        write(www, "/ssi/page-%d.shtml" % i,
              ("<!DOCTYPE html>\n<html><body>\n%s</body></html>\n" % body).encode())
        lists["ssi"].append("/ssi/page-%d.shtml" % i)
    lists["downloads"] = []
    for name, megabytes in (("tool-2m.tar.gz", 2), ("docs-5m.zip", 5), ("video-10m.bin", 10), ("image-20m.iso", 20)):
        write(www, "/downloads/" + name, rng.randbytes(megabytes * 1000000))
        lists["downloads"].append("/downloads/" + name)
    lists["missing"] = ["/wp-login.php", "/.env", "/admin/", "/old/%s.html" % rng.choice(WORDS)] + [
        "/pages/gone-%d.html" % i for i in range(40)]
    uploads = os.path.join(work, "uploads")
    os.makedirs(uploads, exist_ok=True)
    lists["uploads"] = []
    for i in range(12):
        path = os.path.join(uploads, "upload-%02d.bin" % i)
        with open(path, "wb") as f:
            f.write(rng.randbytes(sized(rng, 2000, 600000)))
        lists["uploads"].append(path)
    os.makedirs(os.path.join(work, "lists"), exist_ok=True)
    for name, paths in lists.items():
        with open(os.path.join(work, "lists", name + ".txt"), "w") as f:
            f.write("\n".join(paths) + "\n")

def load(work, name):
    with open(os.path.join(work, "lists", name + ".txt")) as f:
        return [line.strip() for line in f if line.strip()]

def quote(value):
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')

def curl_configs(work, seed, round_no, base, client_ips):
    """One round's curl configurations: h10 (one connection per request),
    keepalive-N (sessions of HTTP/1.1 requests), upload."""
    rng = random.Random("%s/%s" % (seed, round_no))
    ips = client_ips.split(",")
    lists = {name: load(work, name) for name in ("pages", "static", "images", "api", "ssi", "missing", "uploads")}
    out_dir = os.path.join(work, "run")
    lines = []
    for _ in range(150):
        roll = rng.random()
        kind = ("pages" if roll < 0.5 else "static" if roll < 0.65 else "images" if roll < 0.8
                else "api" if roll < 0.92 else "ssi" if roll < 0.96 else "missing")
        lines += ["url = " + quote(base + rng.choice(lists[kind])), "output = /dev/null"]
    with open(os.path.join(out_dir, "curl-h10"), "w") as f:
        f.write("\n".join(lines) + "\n")
    for session in range(3):
        lines = []
        for i in range(20):
            if i:
                lines.append("next")
            lines += ["silent", "output = /dev/null", "interface = " + ips[(round_no + session) % len(ips)],
                      "user-agent = " + quote(rng.choice(AGENTS))]
            roll = rng.random()
            if roll < 0.35:
                path = rng.choice(lists["pages"]); lines.append("compressed")
            elif roll < 0.5:
                path = rng.choice(lists["static"]); lines.append("compressed")
            elif roll < 0.6:
                path = rng.choice(lists["images"]); lines.append("head")
            elif roll < 0.7:
                path = rng.choice(lists["images"])
                start = rng.randrange(8000)
                lines.append("range = %d-%d" % (start, start + rng.randrange(1, 20000)))
            elif roll < 0.82:
                path = rng.choice(lists["api"]); lines.append("compressed")
            elif roll < 0.88:
                path = rng.choice(lists["pages"])
                lines.append("header = " + quote("If-Modified-Since: Sat, 01 Jan 2050 00:00:00 GMT"))
            elif roll < 0.93:
                path = rng.choice(lists["ssi"])
            elif roll < 0.97:
                path = "/go/" + rng.choice(WORDS)
            else:
                path = rng.choice(lists["missing"])
            lines.append("url = " + quote(base + path))
        with open(os.path.join(out_dir, "curl-keepalive-%d" % session), "w") as f:
            f.write("\n".join(lines) + "\n")
    lines = []
    for i in range(4):
        if i:
            lines.append("next")
        body = rng.choice(lists["uploads"])
        lines += ["silent", "output = /dev/null", "interface = " + ips[(round_no + i) % len(ips)]]
        roll = rng.random()
        if roll < 0.5:
            lines += ["data-binary = " + quote("@" + body), "header = " + quote("Content-Type: application/octet-stream"),
                      "url = " + quote(base + "/api/upload")]
        elif roll < 0.75:
            lines += ["data-binary = " + quote("@" + body), "header = " + quote("Transfer-Encoding: chunked"),
                      "url = " + quote(base + "/api/upload")]
        else:
            lines += ["upload-file = " + quote(body), "url = " + quote(base + "/api/files/" + os.path.basename(body))]
    with open(os.path.join(out_dir, "curl-upload"), "w") as f:
        f.write("\n".join(lines) + "\n")

if __name__ == "__main__":
    if sys.argv[1] == "site":
        make_site(sys.argv[2], sys.argv[3])
    else:
        curl_configs(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6])
PY

# mix.lua drives wrk: a seeded request mix, an optional pipelining depth, and
# a budget of responses per thread; a thread that has its budget leaves a
# marker file, and the script interrupts wrk once every thread has one.
cat >"$WORK/mix.lua" <<'LUA'
local lists, depth, budget, marker, answered = {}, 1, 0, "", 0
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_no", thread_count)
end

local function load(dir, name)
  local paths = {}
  for line in io.lines(dir .. "/" .. name .. ".txt") do
    if #line > 0 then paths[#paths + 1] = line end
  end
  return paths
end

local function any(list) return list[math.random(#list)] end

function init(args)
  for _, name in ipairs({ "pages", "static", "images", "api", "ssi", "missing" }) do
    lists[name] = load(args[1], name)
  end
  math.randomseed(tonumber(args[2]) * 100 + thread_no)
  depth, budget, marker = tonumber(args[3]), tonumber(args[4]), args[5]
end

local agents = {
  "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
  "okhttp/4.12.0" }

local function one()
  local headers = { ["User-Agent"] = any(agents), ["Accept"] = "*/*" }
  local method, path, body = "GET", nil, nil
  if math.random() < 0.7 then headers["Accept-Encoding"] = "gzip, deflate" end
  if math.random() < 0.3 then
    headers["Cookie"] = string.format("session=%08x%08x", math.random(0, 2^31), math.random(0, 2^31))
  end
  local roll = math.random()
  if roll < 0.38 then
    path = any(lists.pages)
  elseif roll < 0.53 then
    path = any(lists.static)
  elseif roll < 0.66 then
    path = any(lists.api)
  elseif roll < 0.78 then
    path = any(lists.images)
    if math.random() < 0.1 then
      local start = math.random(0, 8000)
      headers["Range"] = "bytes=" .. start .. "-" .. (start + math.random(1, 20000))
    end
  elseif roll < 0.83 then
    path = any(lists.ssi)
  elseif roll < 0.87 then
    path = any(lists.missing)
  elseif roll < 0.91 then
    path = any(lists.pages)
    headers["If-Modified-Since"] = "Sat, 01 Jan 2050 00:00:00 GMT"
  elseif roll < 0.97 then
    method, path = "POST", "/api/comments"
    body = string.format('{"user":%d,"text":"%s"}', math.random(1, 1000000),
                         string.rep("stream ", math.random(5, 400)))
    headers["Content-Type"] = "application/json"
  else
    path = "/go/home"
  end
  return wrk.format(method, path, headers, body)
end

function request()
  if depth == 1 then return one() end
  local batch = {}
  for i = 1, depth do batch[i] = one() end
  return table.concat(batch)
end

function response(status, headers, body)
  answered = answered + 1
  if answered == budget then
    local f = io.open(marker .. "." .. thread_no, "w")
    if f then f:close() end
  end
end
LUA

cat >"$WORK/nginx.conf" <<EOF
user www-data;
worker_processes 1;
pid $WORK/run/nginx.pid;
error_log $WORK/logs/error.log error;
events { worker_connections 4096; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format counts '\$remote_addr \$request_method \$status \$bytes_sent';
    access_log $WORK/logs/access.log counts buffer=256k;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    sendfile on;
    keepalive_timeout 20s;
    keepalive_requests 200;
    client_max_body_size 16m;
    if_modified_since before;
    # Compressed responses have no Content-Length, so HTTP/1.1 ones are chunked.
    gzip on;
    gzip_comp_level 1;
    gzip_min_length 512;
    gzip_types text/css application/javascript application/json;
    server {
        listen $SRV_IP:80 default_server backlog=4096;
        server_name bench.test;
        root $WORK/www;
        location /ssi/ { ssi on; }
        location = /api/comments { return 201 '{"status":"created"}\n'; }
        location /api/upload { client_body_buffer_size 1m; return 201 '{"status":"stored"}\n'; }
        location /api/files/ { client_body_buffer_size 1m; return 201 '{"status":"stored"}\n'; }
        location /go/ { return 301 /index.html; }
    }
}
EOF

SITE_STAMP=$WORK/www/.seed-$SEED-v1
if [[ ! -e $SITE_STAMP ]]; then
    say "generating the site from seed $SEED"
    rm -rf "$WORK/www" "$WORK/lists" "$WORK/uploads"
    python3 "$WORK/site.py" site "$WORK" "$SEED"
    touch "$SITE_STAMP"
fi
chmod -R a+rX "$WORK/www"
chown -R www-data "$WORK/tmp" "$WORK/logs"
: >"$WORK/logs/access.log"

# ------------------------------------------------------------------ network
ip netns add "$NS_SRV"
ip netns add "$NS_CLI"
ip link add "$DEV_SRV" netns "$NS_SRV" type veth peer name "$DEV_CLI" netns "$NS_CLI"
for ns in "$NS_SRV" "$NS_CLI"; do
    dev=$DEV_SRV; [[ $ns == "$NS_CLI" ]] && dev=$DEV_CLI
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
        net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=4096 \
        net.ipv4.ip_local_port_range="10000 65000" net.ipv4.tcp_tw_reuse=1
    ip -n "$ns" link set "$dev" mtu 1500 up
    ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off tx off rx off >/dev/null
done
ip -n "$NS_SRV" addr add "$SRV_IP/24" dev "$DEV_SRV"
for addr in "${CLI_IPS[@]}"; do ip -n "$NS_CLI" addr add "$addr/24" dev "$DEV_CLI"; done

LOSS_NOTE="none"
if (( LOSS > 0 )); then
    # Dropped before the capture point: the capture shows a gap, then the
    # retransmission arriving after later segments.
    ip netns exec "$NS_SRV" nft -f - <<EOF
table inet na_loss {
  chain out {
    type filter hook output priority 0;
    oifname "$DEV_SRV" meta l4proto tcp numgen random mod 10000 < $LOSS counter drop
  }
}
EOF
    ip netns exec "$NS_CLI" nft -f - <<EOF
table inet na_loss {
  chain out {
    type filter hook output priority 0;
    oifname "$DEV_CLI" meta l4proto tcp numgen random mod 20000 < $LOSS counter drop
  }
}
EOF
    LOSS_NOTE="$LOSS per 10,000 server segments, $LOSS per 20,000 client segments"
fi

ip netns exec "$NS_SRV" nginx -t -q -c "$WORK/nginx.conf"
ip netns exec "$NS_SRV" nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
NGINX=$!
STARTED+=("$NGINX")
for _ in $(seq 50); do
    ip netns exec "$NS_SRV" curl -s -o /dev/null --max-time 1 "http://$SRV_IP/index.html" && break
    sleep 0.1
done

# ------------------------------------------------------------------ capture
rm -f "$OUT"
ip netns exec "$NS_CLI" tcpdump -i "$DEV_CLI" -s 0 -B 131072 -n -Z root -w "$OUT" 2>"$WORK/logs/tcpdump.err" &
TCPDUMP=$!
STARTED+=("$TCPDUMP")
for _ in $(seq 50); do grep -q listening "$WORK/logs/tcpdump.err" && break; sleep 0.1; done
sleep 0.5

size_now() { stat -c %s "$OUT" 2>/dev/null || echo 0; }


# Runs wrk in the background and records its pid and how many markers mean done.
WRK_PIDS=(); WRK_DONE=()
start_wrk() {
    local connections=$1 threads=$2 depth=$3 budget=$4 tag=$5
    # Started directly (not through a shell function) so that $! is wrk itself:
    # a background subshell would ignore the SIGINT that ends wrk early.
    ip netns exec "$NS_CLI" wrk -t"$threads" -c"$connections" -d600s --timeout 10s -s "$WORK/mix.lua" "http://$SRV_IP/" -- \
        "$WORK/lists" "$SEED$round" "$depth" "$budget" "$WORK/run/wrk-$tag" >>"$WORK/logs/wrk.log" 2>&1 &
    WRK_PIDS+=($!); WRK_DONE+=("$threads:$WORK/run/wrk-$tag")
}

CONNECTIONS=(16 64 256 32 128)
DOWNLOADS=(/downloads/tool-2m.tar.gz /downloads/docs-5m.zip /downloads/video-10m.bin /downloads/image-20m.iso)
BASE=http://$SRV_IP
round=0
started_at=$(date +%s)
say "capturing to $OUT until it reaches $TARGET bytes (seed $SEED, loss: $LOSS_NOTE)"
while (( $(size_now) < TARGET )); do
    round=$((round + 1))
    rm -f "$WORK"/run/wrk-* "$WORK"/run/curl-*
    python3 "$WORK/site.py" curl "$WORK" "$SEED" "$round" "$BASE" "$(IFS=,; echo "${CLI_IPS[*]}")"
    WRK_PIDS=(); WRK_DONE=(); others=()
    start_wrk "${CONNECTIONS[$(( (round - 1) % ${#CONNECTIONS[@]} ))]}" 2 1 400 keepalive
    if (( round % 2 == 0 )); then start_wrk 8 1 4 200 pipelined; fi
    ip netns exec "$NS_CLI" curl -s --http1.0 --interface "${CLI_IPS[$(( round % ${#CLI_IPS[@]} ))]}" \
        --parallel --parallel-max 8 -A "curl/7.88.1" -K "$WORK/run/curl-h10" >/dev/null 2>&1 &
    others+=($!)
    for session in 0 1 2; do
        ip netns exec "$NS_CLI" curl -K "$WORK/run/curl-keepalive-$session" >/dev/null 2>&1 &
        others+=($!)
    done
    ip netns exec "$NS_CLI" curl -K "$WORK/run/curl-upload" >/dev/null 2>&1 &
    others+=($!)
    if (( round % 5 == 3 )); then
        ip netns exec "$NS_CLI" curl -s -o /dev/null --interface "${CLI_IPS[0]}" \
            "$BASE${DOWNLOADS[$(( round / 5 % ${#DOWNLOADS[@]} ))]}" &
        others+=($!)
    fi
    STARTED+=("${WRK_PIDS[@]}" "${others[@]}")
    # wrk sleeps for its whole duration; interrupt each one when all of its
    # threads have spent their budget, when the capture has reached SIZE, or,
    # should requests fail, after 120 s.
    round_started=$SECONDS
    while :; do
        busy=0
        for i in "${!WRK_PIDS[@]}"; do
            kill -0 "${WRK_PIDS[$i]}" 2>/dev/null || continue
            busy=1
            threads=${WRK_DONE[$i]%%:*}
            markers=$(compgen -G "${WRK_DONE[$i]#*:}.*" | wc -l || true)
            if (( markers >= threads || SECONDS - round_started > 120 || $(size_now) >= TARGET )); then
                kill -INT "${WRK_PIDS[$i]}" 2>/dev/null || true
            fi
        done
        for pid in "${others[@]}"; do kill -0 "$pid" 2>/dev/null && busy=1; done
        (( busy )) || break
        sleep 0.1
    done
    wait "${WRK_PIDS[@]}" "${others[@]}" 2>/dev/null || true
    STARTED=("$NGINX" "$TCPDUMP")
    say "round $round: $(( $(size_now) / 1000000 )) MB of $(( TARGET / 1000000 )) MB"
done
sleep 1   # let the last closing handshakes finish
kill -INT "$TCPDUMP"
wait "$TCPDUMP" 2>/dev/null || true
kill -QUIT "$NGINX"   # graceful stop flushes the access log
wait "$NGINX" 2>/dev/null || true
STARTED=()
elapsed=$(( $(date +%s) - started_at ))

# ------------------------------------------------------------------ statistics
say "counting"
dropped_loss=0
if (( LOSS > 0 )); then
    for ns in "$NS_SRV" "$NS_CLI"; do
        n=$(ip netns exec "$ns" nft list table inet na_loss | grep -o 'packets [0-9]*' | awk '{s += $2} END {print s + 0}')
        dropped_loss=$(( dropped_loss + n ))
    done
fi
packets=$(capinfos -M -c "$OUT" | awk -F': *' '/Number of packets/ {print $2}')
# A connection is a distinct (client, server, initial sequence number) among
# SYNs without ACK, so a retransmitted SYN counts once and a reused port again.
read -r syns connections tuples < <(tcpdump -nr "$OUT" 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' 2>/dev/null |
    awk '{n++; c[$3 " " $5 " " $9] = 1; t[$3 " " $5] = 1} END {print n + 0, length(c), length(t)}')
{
    echo "capture          $OUT"
    echo "file bytes       $(stat -c %s "$OUT")"
    echo "packets          $packets"
    echo "tcp connections  $connections (SYN packets $syns, distinct 4-tuples $tuples)"
    awk -v skip="$SRV_IP" '$1 != skip {n++; s[$3]++; m[$2]++}
        END {printf "http requests    %d (nginx access log)\n", n;
             printf "by method       "; for (k in m) printf " %s=%d", k, m[k]; printf "\n";
             printf "by status       "; for (k in s) printf " %s=%d", k, s[k]; printf "\n"}' "$WORK/logs/access.log"
    echo "seed             $SEED"
    echo "target bytes     $TARGET"
    echo "rounds           $round"
    echo "seconds          $elapsed"
    echo "loss             $LOSS_NOTE; segments dropped: $dropped_loss"
    echo "tcpdump          $(grep -E 'captured|dropped by kernel' "$WORK/logs/tcpdump.err" | paste -sd, -)"
} >"$STATS"
cat "$STATS" >&2
say "done: $OUT"
