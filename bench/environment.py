"""Where and under what load a benchmark ran: recorded with every result."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout
SHARED_MEDIA = REPO_ROOT.parent / "shared" / "media"  # the real test clips beside it (read in place)
PACKAGES = ("torch", "onnxruntime", "onnxruntime-gpu", "av", "fastapi", "uvicorn", "numpy")


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def describe_environment() -> dict[str, Any]:
    loads = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {
        "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "host_cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "load_average": [round(x, 2) if x is not None else None for x in loads],
        "mem_available_mb": None if (m := mem_available_mb()) is None else round(m),
        "python": platform.python_version(),
        "packages": {name: v for name in PACKAGES if (v := _version(name)) is not None},
        "git_commit": git_commit(),
    }


def mem_available_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def default_memory_cap_mb(fraction: float = 0.6) -> float:
    """A share of the memory available now (0 = no cap when it cannot be read)."""
    available = mem_available_mb()
    return round(fraction * available) if available else 0.0
