"""Run `soarbot run` as a real subprocess for crash and CLI tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TOKEN = "proc-token-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {tmp_path / 'soarbot.db'}\n"
        f"server:\n  host: 127.0.0.1\n  port: {port}\n"
        "sources:\n"
        f"  generic:\n    format: generic\n    token: {TOKEN}\n"
        f"  splunk:\n    format: splunk\n    token: {TOKEN}\n"
    )
    return config


def start(config: Path, port: int) -> subprocess.Popen[bytes]:
    """Start the server on ``port``; its output goes to ``server.log`` beside the config."""
    log = config.parent / "server.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(config)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not become ready")


def soarbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=60, check=False
    )
