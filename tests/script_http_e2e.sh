#!/usr/bin/env bash
# End to end: start urt-http (2 loops, a root directory, an access log) and
# talk HTTP/1.1 to it over loopback: GET /, files, keep-alive, pipelining,
# split reads, 400/403/404/405/431/408 answers, path traversal and symlink
# escapes, then SIGTERM: a clean exit with the access log flushed.
# Waits are for events with generous bounds, and the server's idle/head
# timeout is long enough that a client delayed by a loaded machine (200
# connections opened before any request is sent) is not cut off.
# Usage: script_http_e2e.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
BUILD=${2:?build dir}
BIN="$BUILD/perf/urt-http"
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 0; }
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 0; }
DIR=$(mktemp -d /tmp/urt-http-e2e-XXXXXX)
trap 'kill $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
mkdir -p "$DIR/root/sub"
printf 'hello file\n' >"$DIR/root/a.txt"
printf 'nested\n' >"$DIR/root/sub/b.txt"
head -c 100000 /dev/urandom >"$DIR/root/big.bin"
printf 'top secret\n' >"$DIR/secret.txt"
ln -s ../secret.txt "$DIR/root/escape"
ln -s /etc/passwd "$DIR/root/abs"
ln -s a.txt "$DIR/root/inside"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" --port "$PORT" --loops 2 --root "$DIR/root" --access-log "$DIR/access.log" \
	--timeout-ms 2000 >"$DIR/out" 2>"$DIR/err" &
PID=$!
python3 - "$PORT" "$DIR" <<'PY'
import socket, sys, time
port, d = int(sys.argv[1]), sys.argv[2]
for _ in range(3000):
    try:
        socket.create_connection(("127.0.0.1", port)).close(); break
    except OSError: time.sleep(0.01)

def conn():
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(30); return s

def read_response(s, buf=b""):
    while b"\r\n\r\n" not in buf:
        c = s.recv(65536)
        if not c: raise AssertionError("EOF in head: %r" % buf)
        buf += c
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdr = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    n = int(hdr.get("content-length", 0))
    while len(rest) < n:
        c = s.recv(65536)
        if not c: raise AssertionError("EOF in body")
        rest += c
    return status, hdr, rest[:n], rest[n:]

def get(path, extra=""):
    s = conn()
    s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (path, extra)).encode())
    st, h, body, _ = read_response(s); s.close(); return st, body

def raw(data):
    s = conn(); s.sendall(data)
    st, h, body, _ = read_response(s)
    closed = s.recv(10) == b""; s.close(); return st, h, closed

checks = 0
def check(cond, what):
    global checks
    checks += 1
    if not cond: raise AssertionError(what)

st, body = get("/"); check(st == 200 and body == b"Hello from urt!\n", "GET /")
st, body = get("/files/a.txt"); check(st == 200 and body == b"hello file\n", "file")
st, body = get("/files/sub/b.txt"); check(st == 200 and body == b"nested\n", "nested file")
st, body = get("/files/big.bin"); check(st == 200 and body == open(d + "/root/big.bin", "rb").read(), "100 KB file")
st, body = get("/files/inside"); check(st == 200 and body == b"hello file\n", "symlink inside root")
check(get("/files/missing")[0] == 404, "missing file")
check(get("/nothing")[0] == 404, "unknown path")
check(get("/files/sub")[0] == 403, "directory")
for p in ["/files/escape", "/files/abs"]:
    st, body = get(p); check(st == 403 and b"secret" not in body and b"root:" not in body, "symlink out: " + p)
for p in ["/files/../secret.txt", "/files/%2e%2e/secret.txt", "/files//etc/passwd", "/files/sub/../../secret.txt"]:
    check(get(p)[0] == 400, "traversal " + p)

# keep-alive: many requests on one connection
s = conn()
for i in range(50):
    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    st, h, body, rest = read_response(s); check(st == 200 and rest == b"", "keep-alive %d" % i)
s.close()

# pipelining: 20 requests in one write, 20 answers in order
s = conn()
reqs = b"".join(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % (b"/" if i % 2 else b"/files/a.txt") for i in range(20))
s.sendall(reqs)
buf = b""
for i in range(20):
    st, h, body, buf = read_response(s, buf)
    check(st == 200 and body == (b"Hello from urt!\n" if i % 2 else b"hello file\n"), "pipelined %d" % i)
s.close()

# split reads: one byte per write
s = conn()
for ch in b"GET /files/a.txt HTTP/1.1\r\nHost: t\r\n\r\n":
    s.sendall(bytes([ch])); time.sleep(0.001)
st, h, body, _ = read_response(s); check(st == 200 and body == b"hello file\n", "split reads")
s.close()

st, h, closed = raw(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"x" * 20000 + b"\r\n\r\n")
check(st == 431 and closed, "oversized head: %d" % st)
st, h, closed = raw(b"GET / HTTP/1.1\r\nHost : t\r\n\r\n"); check(st == 400 and closed, "malformed header")
st, h, closed = raw(b"BLAH\r\n\r\n"); check(st == 400 and closed, "malformed line")
st, h, closed = raw(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"); check(st == 405, "POST")
st, h, closed = raw(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
check(st == 200 and closed and h.get("connection") == "close", "Connection: close")
st, h, closed = raw(b"GET / HTTP/1.0\r\n\r\n"); check(st == 200 and closed, "HTTP/1.0 closes")

# slow client: a partial head, then nothing: 408 after --timeout-ms (a
# server without the timeout never answers: the socket's 30 s time-out)
s = conn(); s.sendall(b"GET / HTTP/1.1\r\nHo")
t0 = time.time()
st, h, body, _ = read_response(s); check(st == 408 and time.time() - t0 < 20, "slow client 408")
s.close()

# many connections at once, spread over both loops
socks = [conn() for _ in range(200)]
for x in socks: x.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
for x in socks: check(read_response(x)[0] == 200, "concurrent")
for x in socks: x.close()
print("e2e: %d checks passed" % checks)
PY
kill -TERM $PID
for _ in $(seq 3000); do kill -0 $PID 2>/dev/null || break; sleep 0.01; done
if kill -0 $PID 2>/dev/null; then echo "FAIL: urt-http did not stop on SIGTERM"; exit 1; fi
wait $PID || { echo "FAIL: urt-http exited with $?"; cat "$DIR/err"; exit 1; }
grep -q '"requests"' "$DIR/out" || { echo "FAIL: no summary line"; exit 1; }
lines=$(grep -c ' req=' "$DIR/access.log" || true)
[ "$lines" -ge 280 ] || { echo "FAIL: access log has $lines lines with a request id"; exit 1; }
grep -q 'GET /files/a.txt 200' "$DIR/access.log" || { echo "FAIL: access log line missing"; exit 1; }
echo "e2e: access log $lines lines; clean shutdown"
