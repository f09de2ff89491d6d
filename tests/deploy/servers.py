"""Real servers on loopback for the scale-out tests: Debian's redis-server and nginx, and `vtserve serve`
replicas as subprocesses. Each is started with its own config under the test's folder, and stopped by
its own pid (never by name). Missing binaries skip the test with the install command.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REPO_ROOT = Path(__file__).resolve().parents[2]


def require(binary: str, package: str) -> None:
    if not Path(binary).is_file():
        pytest.skip(f"{binary} not found (Debian: apt-get install -y {package}; `make install` does it)")


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{what} is not listening on 127.0.0.1:{port} after {timeout_s}s")


def stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
    """Stop one process we started, by its pid: `sig`, then SIGKILL if it outlives `timeout_s`."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@dataclass
class Redis:
    """A redis-server on 127.0.0.1 with no persistence (`save ""`, no AOF); `stop`/`start` keep the port."""

    folder: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        config = self.folder / "redis.conf"
        config.write_text(
            f'port {self.port}\nbind 127.0.0.1\nprotected-mode yes\nsave ""\nappendonly no\n'
            f"dir {self.folder}\ndaemonize no\nlogfile {self.folder / 'redis.log'}\n"
        )
        self.proc = subprocess.Popen([REDIS_SERVER, str(config)], stdout=subprocess.DEVNULL)
        _wait_port(self.port, self.proc, "redis-server")

    def stop(self) -> None:
        stop(self.proc)
        self.proc = None


@contextmanager
def redis_server(folder: Path) -> Iterator[Redis]:
    require(REDIS_SERVER, "redis-server")
    folder.mkdir(parents=True, exist_ok=True)
    server = Redis(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def start_replica(bundle: Path, port: int, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """`vtserve serve` (the module, same interpreter) on 127.0.0.1:`port` serving `bundle`."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VTSERVE_")}
    environ.update({f"VTSERVE_{k.upper()}": v for k, v in env.items()})
    environ["PYTHONPATH"] = str(REPO_ROOT)
    argv = [
        sys.executable,
        "-m",
        "service.commands.serve",
        "--port",
        str(port),
        "--models",
        str(bundle.resolve()),
    ]
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=environ, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)


@dataclass
class Replicas:
    urls: list[str]
    procs: list[subprocess.Popen[bytes]]
    logs: list[Path]

    def log_text(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self.logs)


def _wait_replica(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 180.0) -> str | None:
    """None once `/readyz` is 200; else why not (exited, loading failed, or still not ready)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with {proc.returncode}"
        try:
            response = httpx.get(f"{url}/readyz", timeout=5)
            if response.status_code == 200:
                return None
            if "loading failed" in response.text:
                return response.text
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return f"not ready after {timeout_s}s"


@contextmanager
def replicas(bundle: Path, folder: Path, count: int, **env: str) -> Iterator[Replicas]:
    """`count` replicas, each ready (`/readyz` 200) before this yields."""
    folder.mkdir(parents=True, exist_ok=True)
    ports = [free_port() for _ in range(count)]
    logs = [folder / f"replica-{i}.log" for i in range(count)]
    procs = [start_replica(bundle, port, log, **env) for port, log in zip(ports, logs, strict=True)]
    group = Replicas([f"http://127.0.0.1:{p}" for p in ports], procs, logs)
    try:
        for url in group.urls:
            if (problem := _wait_replica(url, group.procs[group.urls.index(url)])) is not None:
                raise RuntimeError(f"replica {url} not ready: {problem}\n{group.log_text()}")
        yield group
    finally:
        for proc in procs:
            stop(proc)


NGINX_CONF = """\
{user}
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 512; }}
http {{
    log_format upstreams '$status $upstream_addr $upstream_status';
    access_log {folder}/access.log upstreams;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    client_max_body_size 100m;
    upstream vtserve {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://vtserve;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 2s;
            proxy_read_timeout 120s;
            proxy_next_upstream error timeout non_idempotent;
            proxy_next_upstream_tries 2;
        }}
    }}
}}
"""


@contextmanager
def nginx(upstreams: list[str], folder: Path) -> Iterator[str]:
    """nginx round-robin over `upstreams` (base URLs) on its own port; yields its base URL.

    Start it only once every upstream answers `/readyz`: nginx marks a backend down for `fail_timeout`
    when a request to it fails, and then the round robin is not a round robin for a while.
    """
    require(NGINX, "nginx")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    servers = "\n".join(
        f"        server {u.removeprefix('http://')} max_fails=1 fail_timeout=2s;" for u in upstreams
    )
    config = folder / "nginx.conf"
    # As root, nginx's workers would run as `nobody`, unable to spool request bodies into the test's folder.
    user = "user root;" if os.geteuid() == 0 else ""
    config.write_text(NGINX_CONF.format(user=user, folder=folder, servers=servers, port=port))
    proc = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_port(port, proc, "nginx")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc, signal.SIGQUIT)
