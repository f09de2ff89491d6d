"""Run a server under test in a subprocess on a free loopback port; wait for readiness; stop it.

Both servers (vtserve through `vtserve serve`, the naive baseline through `python -m bench.baseline`)
run as separate processes so that the load generator's CPU use is not counted against them in-process,
and so that each is measured the way a user would start it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.environment import REPO_ROOT


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, kw_only=True)
class RunningServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def kill(self) -> None:
        """SIGKILL the server's whole process group (it was started in its own session)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def rss_mb(self) -> float | None:
        """Resident memory of the server process tree (Linux /proc), in MB."""
        return tree_rss_mb(self.process.pid)


def children_of(pid: int) -> list[int]:
    """Children of every thread of `pid` (a process started from a thread, such as the decoder pool's
    forkserver started by `asyncio.to_thread`, is listed under that thread only)."""
    found: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(p) for p in children.read_text().split()]
        except OSError:
            continue
    return found


def tree_rss_mb(pid: int) -> float | None:
    total = 0
    stack = [pid]
    seen = False
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    seen = True
        except OSError:
            continue
        stack.extend(children_of(current))
    return round(total / 1024.0, 1) if seen else None


def wait_ready(
    base_url: str, path: str, process: subprocess.Popen[bytes], timeout_s: float, log: Path
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
            raise RuntimeError(f"server exited with code {process.returncode} before it was ready:\n{tail}")
        try:
            if httpx.get(base_url + path, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{base_url}{path} not ready after {timeout_s:g} s (log: {log})")


@contextmanager
def serve(
    command: Sequence[str],
    *,
    port: int,
    ready_path: str,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    ready_timeout_s: float = 300.0,
    stop_timeout_s: float = 30.0,
) -> Iterator[RunningServer]:
    """Start `command` (which must listen on 127.0.0.1:`port`), yield once `ready_path` answers 200."""
    full_env = {**os.environ, **(env or {})}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(command),
            cwd=REPO_ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, ready_path, process, ready_timeout_s, log_path)
        yield RunningServer(base_url=base_url, process=process, log_path=log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(stop_timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def vtserve_command(port: int) -> list[str]:
    return [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]


def baseline_command(weights: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "bench.baseline", "--weights", str(weights), "--port", str(port)]
