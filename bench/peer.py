"""The benchmark's real serving peer: LitServe in a virtualenv of its own, started like the other servers.

LitServe pins its own fastapi and uvicorn, so it is not installed into the project's environment: the bench
makes `cache/peer-venv` (`python -m venv`, then pip installs `peer_packages()`: LitServe at a fixed
version; onnxruntime, PyAV, numpy and python-multipart, which LitServe needs for uploads, at the versions
this environment runs, so the peer runs the same builds as vtserve). Making it is idempotent: a stamp in
the venv records what was installed, and a venv whose stamp matches and that imports them is reused.
Without PyPI the run stops at once with `PeerUnavailable` saying so (`--skip-peer` leaves the peer out).

The server (`bench.peer_litserve`) runs from the repository root with the venv's interpreter, reading the
same bundle as vtserve, with vtserve's batch size, batch wait, request timeout and onnxruntime threads, and
the decode request vtserve derives from the bundle's input contract (`service.loading.decode_request_for`).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.environment import REPO_ROOT

LITSERVE_VERSION = "0.2.19"
DEFAULT_VENV = REPO_ROOT / "cache" / "peer-venv"
#: Packages the peer venv gets at this environment's versions (the same runtime and decoder builds).
SAME_AS_HERE = ("onnxruntime", "av", "numpy", "python-multipart")
STAMP = "vtserve-peer-packages.txt"
#: LitServe's worker processes: one per core, as its docs advise for CPU (while one decodes a batch's
#: uploads, the other runs its batch).
DEFAULT_WORKERS = 2


class PeerUnavailable(RuntimeError):
    """The peer's environment could not be made (no PyPI, no venv module...)."""


def peer_packages() -> tuple[str, ...]:
    """Requirement lines of the peer venv: LitServe pinned, the rest at the versions installed here."""
    here = [f"{name}=={importlib.metadata.version(name)}" for name in SAME_AS_HERE]
    return (f"litserve=={LITSERVE_VERSION}", *here)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _run(command: Sequence[str], what: str, timeout_s: float) -> None:
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerUnavailable(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-12:])
        raise PeerUnavailable(f"{what} failed (exit {done.returncode}):\n{tail}")


def _usable(venv: Path, packages: Sequence[str]) -> bool:
    stamp = venv / STAMP
    if not venv_python(venv).is_file() or not stamp.is_file():
        return False
    if stamp.read_text().split() != list(packages):
        return False
    check = [str(venv_python(venv)), "-c", "import litserve, onnxruntime, av, numpy, pydantic, multipart"]
    try:
        return subprocess.run(check, capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_venv(venv: Path = DEFAULT_VENV, *, log: Callable[[str], object] = print) -> Path:
    """The peer venv's interpreter, making or updating the venv first when needed (idempotent)."""
    packages = peer_packages()
    if _usable(venv, packages):
        return venv_python(venv)
    log(f"making the peer's virtualenv {venv} ({', '.join(packages)}) ...")
    if not venv_python(venv).is_file():
        _run([sys.executable, "-m", "venv", str(venv)], f"python -m venv {venv}", 300)
    pip = [str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    try:
        _run([*pip, *packages], f"pip install {' '.join(packages)}", 1800)
    except PeerUnavailable as exc:
        raise PeerUnavailable(
            f"{exc}\nThe LitServe peer needs PyPI to install its packages into {venv} once "
            "(is PyPI reachable from here?); run with --skip-peer to leave it out."
        ) from None
    (venv / STAMP).write_text("\n".join(packages) + "\n")
    return venv_python(venv)


@dataclass(frozen=True, kw_only=True)
class PeerOptions:
    """How the peer serves: vtserve's batching, timeout and runtime threads; LitServe's worker count."""

    max_batch_size: int
    batch_timeout_s: float
    request_timeout_s: float
    intra_op_threads: int
    workers: int = DEFAULT_WORKERS


def options_like_vtserve(workers: int = DEFAULT_WORKERS) -> PeerOptions:
    """vtserve's settings as `vtserve serve` reads them here (defaults and `VTSERVE_*`)."""
    from service.settings import Settings

    settings = Settings()
    return PeerOptions(
        max_batch_size=settings.max_batch_size,
        batch_timeout_s=settings.max_wait_s,
        request_timeout_s=settings.request_timeout_s,
        intra_op_threads=settings.intra_op_threads,
        workers=workers,
    )


def decode_request_json(bundle: Path) -> str:
    """The decode request vtserve derives from the bundle's input contract, as JSON for the peer."""
    from export.manifest import read_manifest
    from service.loading import decode_request_for

    return json.dumps(dataclasses.asdict(decode_request_for(read_manifest(bundle))))


def litserve_command(python: Path, bundle: Path, port: int, options: PeerOptions) -> list[str]:
    return [
        str(python),
        "-m",
        "bench.peer_litserve",
        "--bundle",
        str(bundle),
        "--port",
        str(port),
        "--decode-request",
        decode_request_json(bundle),
        "--max-batch-size",
        str(options.max_batch_size),
        "--batch-timeout",
        str(options.batch_timeout_s),
        "--timeout",
        str(options.request_timeout_s),
        "--intra-op-threads",
        str(options.intra_op_threads),
        "--workers",
        str(options.workers),
    ]
