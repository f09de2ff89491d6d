"""`vtserve predict` (the pipeline without a server) and `vtserve serve`'s option handling."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from service.commands import predict, serve
from service.commands.common import settings_from_args


def test_predict_prints_labels_and_writes_the_heatmap(
    tiny_bundle: Path, tmp_path: Path, media: Callable[[str], Path]
) -> None:
    out = tmp_path / "heat.png"
    result = subprocess.run(
        [sys.executable, "-m", "service.commands.predict", str(tiny_bundle), str(media("nasa_13013.mp4")),
         "--heatmap", str(out), "--json", "--top-k", "2"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    body = json.loads(result.stdout)
    assert len(body["labels"]) == 2 and body["heatmap"] == str(out)
    assert abs(sum(body["attention"]["frame_importance"]) - 1.0) < 1e-6
    assert body["clip"]["width"] == 480  # the larger of the file's two video streams
    assert Image.open(io.BytesIO(out.read_bytes())).size == (4 * 128, 128)


def test_predict_refuses_what_is_not_a_video(tiny_bundle: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4096)
    parser = argparse.ArgumentParser()
    predict.add_arguments(parser)
    assert predict.run(parser.parse_args([str(tiny_bundle), str(junk), "--no-heatmap"])) == 1
    err = capsys.readouterr().err
    assert "unsupported_media" in err and "Traceback" not in err
    assert predict.run(parser.parse_args([str(tiny_bundle), str(tmp_path / "missing.mp4")])) == 2


def test_serve_options_override_settings(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    args = parser.parse_args(
        [
            "--port",
            "9100",
            "--models",
            "a,b",
            "--default-model",
            "b",
            "--max-wait-ms",
            "3",
            "--runtime",
            "torch",
        ]
    )
    settings = settings_from_args(
        args,
        host=args.host,
        port=args.port,
        workers=args.workers,
        models=args.models,
        default_model=args.default_model,
    )
    assert (settings.port, settings.models, settings.default_model) == (9100, ["a", "b"], "b")
    assert settings.max_wait_ms == 3.0 and settings.runtime == "torch" and settings.host == "127.0.0.1"
    parser = argparse.ArgumentParser()
    predict.add_arguments(parser)
    args = parser.parse_args(["bundle", "clip.mp4", "--providers", "cuda,cpu"])
    assert settings_from_args(args, models=[args.model]).providers == ["cuda", "cpu"]


def test_serve_writes_private_settings_for_worker_processes(tmp_path: Path) -> None:
    from pydantic import SecretStr

    from service.settings import Settings

    path = serve._settings_file(Settings(api_key=SecretStr("k"), port=9200, models=["x"]))
    try:
        assert path.stat().st_mode & 0o077 == 0
        reloaded = Settings(config_file=path)
        assert reloaded.api_key_value() == "k" and reloaded.port == 9200 and reloaded.models == ["x"]
    finally:
        path.unlink()
