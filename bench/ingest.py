"""Ingest benchmark: N alerts from C concurrent keep-alive clients against a real `soarbot run` over loopback.

Prints accepted alerts/s and acknowledgement latency p50/p99. Durability is on (synchronous=full: each
acknowledged batch is fsynced). The server runs in its own process; the client is a minimal HTTP/1.1 writer so
that it steals as little CPU as possible from the server on a 2-core machine.

    python bench/ingest.py [--alerts 20000] [--concurrency 32] [--format splunk|generic] [--synchronous full]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOKEN = "bench-token-0123456789"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux), to report the server's cost per alert."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def splunk_body(n: int) -> bytes:
    return json.dumps(
        {
            "sid": f"scheduler_admin_search_bench_{n}",
            "search_name": f"SSH brute force {n % 50}",
            "app": "search",
            "owner": "admin",
            "results_link": f"http://splunk.example.local:8000/app/search/@go?sid=bench_{n}",
            "result": {
                "src_ip": f"203.0.{(n >> 8) % 256}.{n % 256}",
                "dest": f"web-{n % 20:02d}",
                "user": "root",
                "count": "8",
                "_raw": f"Failed password for root from 203.0.{(n >> 8) % 256}.{n % 256} port 51234 ssh2",
            },
        }
    ).encode()


def generic_body(n: int) -> bytes:
    return json.dumps(
        {
            "id": f"bench-{n}",
            "title": f"Suspicious login {n % 50}",
            "severity": "medium",
            "host": f"web-{n % 20}",
            "message": f"login from 198.51.100.{n % 256} for user alice",
        }
    ).encode()


async def client(port: int, source: str, bodies: list[bytes], latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for body in bodies:
            head = (
                f"POST /alerts/{source} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            started = time.perf_counter()
            writer.write(head + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            status = int(status_line.split()[1])
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def wait_ready(port: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        ok = (await reader.read()).startswith(b"HTTP/1.1 200")
        writer.close()
        if ok:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("server did not become ready")


async def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="soarbot-bench-"))
    port = free_port()
    config = workdir / "config.yaml"
    config.write_text(
        f"database: {workdir / 'bench.db'}\nlog_level: warning\n"
        f"server: {{host: 127.0.0.1, port: {port}}}\n"
        f"store: {{synchronous: {args.synchronous}}}\n"
        f"sources:\n  bench:\n    format: {args.format}\n    token: {TOKEN}\n"
    )
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured part
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        await wait_ready(port)
        make = splunk_body if args.format == "splunk" else generic_body
        bodies = [make(n) for n in range(args.alerts)]
        warmup = [make(args.alerts + n) for n in range(200)]
        await client(port, "bench", warmup, [], {})
        shares = [bodies[i :: args.concurrency] for i in range(args.concurrency)]
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        cpu_before = cpu_seconds(server.pid)
        client_before = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(client(port, "bench", share, latencies, statuses) for share in shares))
        elapsed = time.perf_counter() - started
        server_cpu = cpu_seconds(server.pid) - cpu_before
        client_cpu = time.process_time() - client_before
    finally:
        server.terminate()
        server.wait(timeout=30)
    accepted = statuses.get(202, 0)
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(f"alerts={args.alerts} concurrency={args.concurrency} format={args.format} synchronous={args.synchronous}")
    print(f"statuses={dict(sorted(statuses.items()))}")
    print(f"accepted alerts/s: {accepted / elapsed:,.0f}")
    print(f"ack latency p50: {p50:.1f} ms  p99: {p99:.1f} ms  max: {latencies[-1] * 1000:.1f} ms")
    print(
        f"server CPU per alert: {server_cpu / args.alerts * 1e6:.0f} µs ({server_cpu / elapsed:.0%} of one core); "
        f"client: {client_cpu / elapsed:.0%} of one core"
    )
    return 0 if accepted == args.alerts else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--format", choices=["splunk", "generic"], default="splunk")
    parser.add_argument("--synchronous", choices=["full", "normal"], default="full")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
