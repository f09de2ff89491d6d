from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import SHIPPED_MODELS, Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("VTSERVE_"):
            monkeypatch.delenv(key)


def test_defaults_serve_the_shipped_models() -> None:
    s = Settings()
    assert s.models == list(SHIPPED_MODELS) and s.runtime == "onnxruntime"
    assert s.providers == ["tensorrt", "cuda", "cpu"] and s.cache_dir == Path("cache/bundles")
    assert s.api_key is None and s.metrics_enabled


def test_environment_with_prefix_and_comma_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VTSERVE_MAX_BATCH_SIZE", "16")
    monkeypatch.setenv("VTSERVE_MODELS", "a, b")
    monkeypatch.setenv("VTSERVE_PROVIDERS", '["cuda","cpu"]')
    monkeypatch.setenv("VTSERVE_API_KEY", "s3cret")
    s = Settings()
    assert s.max_batch_size == 16 and s.models == ["a", "b"] and s.providers == ["cuda", "cpu"]
    assert s.api_key_value() == "s3cret" and "s3cret" not in repr(s)


@pytest.mark.parametrize("suffix", [".toml", ".json", ".yaml"])
def test_config_file_with_env_and_arguments_on_top(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    path = tmp_path / f"vtserve{suffix}"
    if suffix == ".toml":
        path.write_text('port = 9001\nmax_wait_ms = 3.5\nmodels = ["x"]\n')
    elif suffix == ".json":
        path.write_text(json.dumps({"port": 9001, "max_wait_ms": 3.5, "models": ["x"]}))
    else:
        path.write_text("port: 9001\nmax_wait_ms: 3.5\nmodels: [x]\n")
    monkeypatch.setenv("VTSERVE_CONFIG", str(path))
    s = Settings()
    assert (s.port, s.max_wait_ms, s.models) == (9001, 3.5, ["x"])
    monkeypatch.setenv("VTSERVE_PORT", "9002")
    assert Settings().port == 9002  # environment beats the file
    assert Settings(port=9003).port == 9003  # arguments beat both
    monkeypatch.delenv("VTSERVE_CONFIG")
    assert Settings(config_file=path).max_wait_ms == 3.5


def test_invalid_values_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        Settings(max_batch_size=0)
    with pytest.raises(ValidationError):
        Settings(runtime="tensorflow")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Settings(models=["a"], default_model="b")
    with pytest.raises(ValidationError):
        Settings(no_such_setting=1)  # type: ignore[call-arg]
    with pytest.raises(FileNotFoundError):
        Settings(config_file=tmp_path / "missing.toml")


def test_only_settings_reads_the_environment() -> None:
    root = Path(__file__).resolve().parents[2] / "service"
    readers = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if "os.environ" in p.read_text(encoding="utf-8") or "getenv" in p.read_text(encoding="utf-8")
    ]
    # serve.py only *writes* VTSERVE_CONFIG for its worker processes
    assert set(readers) <= {"settings.py", "commands/serve.py"} | {
        r for r in readers if r.startswith("decoding/")
    }
