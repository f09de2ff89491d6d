"""`vtserve export` through the real command-line dispatcher."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from export.manifest import INPUT_NAME, ONNX_NAME, OUTPUT_LOGITS, read_manifest
from service.cli import main
from tests.export.conftest import IMAGE_SIZE, NUM_FRAMES


@pytest.fixture(scope="module")
def logits_only_bundle(
    hf_folder: Callable[[str], tuple[Path, Any]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int, str]:
    folder, _ = hf_folder("timesformer")
    out = tmp_path_factory.mktemp("cli") / "tsf-logits"
    import contextlib
    import io

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = main(["export", str(folder), "--out", str(out), "--no-attention"])
    return out, status, stdout.getvalue()


def test_cli_exports_logits_only_bundle(logits_only_bundle: tuple[Path, int, str]) -> None:
    out, status, stdout = logits_only_bundle
    assert status == 0
    assert "parity vs PyTorch" in stdout
    manifest = read_manifest(out)
    assert not manifest.has_attention
    assert [o.name for o in manifest.outputs] == [OUTPUT_LOGITS]
    session = ort.InferenceSession(str(out / ONNX_NAME), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == [OUTPUT_LOGITS]


def test_logits_only_graph_gives_the_same_logits_as_the_attention_graph(
    logits_only_bundle: tuple[Path, int, str], hf_bundle: Callable[[str], Path]
) -> None:
    video = np.random.default_rng(3).integers(
        0, 256, (2, NUM_FRAMES, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8
    )
    plain = ort.InferenceSession(str(logits_only_bundle[0] / ONNX_NAME), providers=["CPUExecutionProvider"])
    full = ort.InferenceSession(str(hf_bundle("timesformer") / ONNX_NAME), providers=["CPUExecutionProvider"])
    (a,) = plain.run([OUTPUT_LOGITS], {INPUT_NAME: video})
    (b,) = full.run([OUTPUT_LOGITS], {INPUT_NAME: video})
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_cli_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["export", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--out",
        "--format",
        "--precision",
        "--frames",
        "--image-size",
        "--max-batch",
        "--no-attention",
    ):
        assert option in out
