"""The GPU image installs deploy/requirements-serve.txt and the package with `--no-deps`: no torch, onnx,
onnxscript, safetensors or tqdm. Prove the service needs none of them: serve a real bundle and a real clip
in a fresh interpreter (and its decoder worker processes) where importing any of them fails."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.deploy.conftest import REPO_ROOT
from tests.deploy.test_requirements import EXPORT_ONLY
from tests.service.decoding.synth import encode_clip

# Import-blocking for every interpreter started with this folder on PYTHONPATH (decoder workers included).
SITECUSTOMIZE = """
import importlib.abc, sys

BLOCKED = {blocked!r}

class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not installed in the serving image")
        return None

sys.meta_path.insert(0, _Block())
"""

SERVE = """
import sys
from fastapi.testclient import TestClient
from service.app import create_app
from service.settings import Settings

bundle, clip, cache = sys.argv[1:4]
settings = Settings(models=[bundle], cache_dir=cache, decoder_workers=1, max_wait_ms=5.0)
with TestClient(create_app(settings, load_in_background=False)) as client:
    assert client.get("/readyz").status_code == 200, client.get("/readyz").text
    with open(clip, "rb") as fh:
        response = client.post("/v1/predictions", files={"file": ("clip.mp4", fh.read(), "video/mp4")})
    assert response.status_code == 200, response.text
    assert client.get("/metrics").status_code == 200
blocked = sorted(m for m in sys.modules if m.split(".")[0] in set(@BLOCKED@))
assert not blocked, blocked
print("served without", @BLOCKED@)
"""


def test_service_serves_a_bundle_without_export_only_packages(tiny_bundle: Path, tmp_path: Path) -> None:
    blocked = sorted(EXPORT_ONLY | {"transformers"})
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE.format(blocked=blocked)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO_ROOT)])}
    argv = [sys.executable, "-c", SERVE.replace("@BLOCKED@", repr(blocked)), str(tiny_bundle)]
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(encode_clip(width=96, height=64, frames=24))
    argv += [str(clip), str(tmp_path / "cache")]
    proc = subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "served without" in proc.stdout


def test_the_blocker_really_blocks(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(SITECUSTOMIZE.format(blocked=["torch"])))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", "import torch"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0 and "not installed in the serving image" in proc.stderr
