#!/usr/bin/env python3
"""Soak client for urt-echo (loopback only, bounded time).

N concurrent clients each run sessions against the server: random message
sizes (1 B .. 64 KiB), with a random misbehaviour per session -- a clean
close, an abrupt reset (SO_LINGER 0), a half-close (shutdown SHUT_WR, then
read the rest of the echo), a slow reader (reads in small, delayed chunks
while the server's buffers fill), or a disconnect in the middle of a
message. Every byte echoed is checked against what was sent. The server's
RSS and fd count are sampled: after warm-up RSS must stay flat, and once
the clients are gone the fd count must return to its baseline.
Exit 0 on success; prints one JSON line of results."""
import asyncio, json, os, random, socket, struct, sys, time

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))

class Stats:
    def __init__(self):
        self.sessions = self.bytes = self.resets = self.half = self.slow = 0
        self.abandoned = self.errors = self.mismatch = 0
        self.first_error = None

def pattern(seed, n):
    r = random.Random(seed)
    return r.randbytes(n)

async def session(port, st, rnd):
    kind = rnd.choices(["clean", "reset", "half", "slow", "abandon"], [50, 15, 15, 10, 10])[0]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    try:
        for _ in range(rnd.randint(1, 4)):
            n = rnd.choice([1, rnd.randint(2, 512), rnd.randint(512, 8192), rnd.randint(8192, 65536)])
            msg = pattern(rnd.random(), n)
            if kind == "abandon":
                writer.write(msg[: max(1, n // 2)])
                await writer.drain()
                st.abandoned += 1
                break
            writer.write(msg)
            await writer.drain()
            if kind == "half":
                writer.write_eof()
            got = bytearray()
            while len(got) < n:
                if kind == "slow":
                    await asyncio.sleep(0.002)
                    chunk = await reader.read(min(256, n - len(got)))
                else:
                    chunk = await reader.read(n - len(got))
                if not chunk:
                    raise ConnectionError(f"EOF after {len(got)} of {n} bytes")
                got += chunk
            if bytes(got) != msg:
                st.mismatch += 1
                raise AssertionError("echoed bytes differ")
            st.bytes += n
            if kind == "half":
                tail = await reader.read(1)  # server must close its side
                if tail:
                    raise AssertionError("data after half-close")
                st.half += 1
                break
        if kind == "slow":
            st.slow += 1
    finally:
        if kind == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            st.resets += 1
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
    st.sessions += 1

async def client(port, st, deadline, seed):
    rnd = random.Random(seed)
    while time.monotonic() < deadline:
        try:
            await session(port, st, rnd)
        except (AssertionError, ConnectionError, OSError) as e:
            st.errors += 1
            if st.first_error is None:
                st.first_error = repr(e)

async def main():
    port, pid, clients, secs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    base_fds = fd_count(pid)
    st = Stats()
    t0 = time.monotonic()
    deadline = t0 + secs
    tasks = [asyncio.create_task(client(port, st, deadline, i)) for i in range(clients)]
    samples = []
    warm = t0 + secs * 0.3
    while time.monotonic() < deadline:
        await asyncio.sleep(1)
        if time.monotonic() >= warm:
            samples.append(rss_kb(pid))
    await asyncio.gather(*tasks)
    fds_after = base_fds
    for _ in range(50):  # the server closes its side as it sees the resets/EOFs
        fds_after = fd_count(pid)
        if fds_after <= base_fds:
            break
        await asyncio.sleep(0.1)
    growth = (samples[-1] - samples[0]) if len(samples) > 1 else 0
    res = {"soak": "urt-echo", "clients": clients, "seconds": round(time.monotonic() - t0, 1),
           "sessions": st.sessions, "bytes_checked": st.bytes, "resets": st.resets,
           "half_closed": st.half, "slow_readers": st.slow, "abandoned": st.abandoned,
           "errors": st.errors, "mismatches": st.mismatch, "first_error": st.first_error,
           "rss_kb_after_warmup": samples[0] if samples else 0, "rss_kb_end": samples[-1] if samples else 0,
           "fds_baseline": base_fds, "fds_after": fds_after}
    print(json.dumps(res))
    ok = (st.mismatch == 0 and st.errors == 0 and fds_after <= base_fds and st.sessions > clients
          and growth <= max(8192, samples[0] // 10 if samples else 0))
    sys.exit(0 if ok else 1)

asyncio.run(main())
