"""`vtserve export --quantize int8`: the shipped motion-timesformer's linear layers in int8, recorded in
`model.json`, checked against the float32 graph, served by the onnxruntime runtime, and still right on
the motion test set.

Skips (with the reason) until `models/weights/motion-timesformer/` exists.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from export.errors import ExportError
from export.manifest import ONNX_NAME, read_manifest, verify_files
from export.quantize import MIN_TOP1_AGREEMENT, PARITY_CLIPS, top1_matches

NAME = "motion-timesformer"
TEST_CLIPS = 220


@pytest.fixture(scope="module")
def int8_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import models
    from export import build_bundle

    if models.shipped_path(NAME) is None:
        pytest.skip(f"shipped model {NAME} has no weights yet (models/weights/{NAME}/ is missing)")
    out = tmp_path_factory.mktemp("int8") / NAME
    build_bundle(NAME, out, quantize="int8")
    return out


def test_the_manifest_records_int8_and_its_parity(int8_bundle: Path) -> None:
    manifest = read_manifest(int8_bundle)
    assert manifest.quantization == "int8-dynamic"
    assert verify_files(int8_bundle, manifest) == []  # hashes are of the int8 graph
    assert manifest.parity is not None and manifest.parity.passed  # the float32 graph vs PyTorch
    report = manifest.quantized_parity
    assert report is not None and report.passed and report.clips == PARITY_CLIPS
    assert report.top1_agreement >= MIN_TOP1_AGREEMENT and report.top1_same <= report.top1_agreement
    assert 0 < report.max_abs_logit_diff < 1 and report.max_abs_attention_diff is not None


def test_only_the_linear_layers_are_int8(int8_bundle: Path) -> None:
    import models

    graph = onnx.load(str(int8_bundle / ONNX_NAME)).graph
    constants = {i.name for i in graph.initializer}
    linear = sum(isinstance(m, torch.nn.Linear) for m in models.load_pretrained(NAME).modules())
    assert sum(n.op_type == "MatMulInteger" for n in graph.node) == linear - 1  # all but the head
    float_matmuls = [n for n in graph.node if n.op_type in ("MatMul", "Gemm")]
    weighted = [n for n in float_matmuls if n.input[1] in constants]
    assert len(weighted) == 1 and "head" in weighted[0].input[1]  # the classifier head stays float32
    assert len(float_matmuls) > 1  # and the attention products (both inputs activations)


def test_the_int8_bundle_serves_and_keeps_its_answers_on_motion(int8_bundle: Path) -> None:
    import models
    from models.demo.data import to_tensor
    from models.demo.evaluate import TEST_SEED
    from models.demo.motion import make_test_set
    from service.runtimes import RuntimeOptions, create_runtime

    manifest = read_manifest(int8_bundle)
    contract = manifest.input
    clips, labels = make_test_set(
        TEST_CLIPS, seed=TEST_SEED, num_frames=contract.num_frames, size=contract.image_size
    )
    runtime = create_runtime("onnxruntime", int8_bundle, manifest, RuntimeOptions(providers=("cpu",)))
    int8 = np.concatenate([runtime.infer(clips[i : i + 8]).logits for i in range(0, TEST_CLIPS, 8)])
    runtime.close()
    model = models.load_pretrained(NAME).eval()
    with torch.no_grad():
        fp32 = model(to_tensor(clips, contract.mean, contract.std)).logits.numpy()
    same, _ = top1_matches(fp32, int8)
    assert same / TEST_CLIPS >= 0.98, same
    accuracy = (int8.argmax(1) == labels).mean(), (fp32.argmax(1) == labels).mean()
    assert accuracy[0] >= accuracy[1] - 0.02, accuracy


def test_int8_with_tensorrt_is_refused_before_anything_is_exported(tmp_path: Path) -> None:
    from export import build_bundle

    with pytest.raises(ExportError, match="int8 quantization is for onnxruntime"):
        build_bundle(NAME, tmp_path / "b", fmt="tensorrt", quantize="int8")
    with pytest.raises(ExportError, match="unknown quantization"):
        build_bundle(NAME, tmp_path / "b", quantize="int4")  # type: ignore[arg-type]
    assert not (tmp_path / "b").exists()


def test_near_ties_count_as_agreement_only_within_the_band() -> None:
    reference = np.array([[2.0, 1.99, -2.0], [2.0, 1.5, -2.0], [0.0, 3.0, -1.0]])  # ranges 4, 4, 4
    candidate = np.array([[1.0, 1.5, 0.0], [1.0, 1.5, 0.0], [0.0, 3.0, -1.0]])
    assert top1_matches(reference, candidate) == (1, 2)  # row 0: a 0.01 tie (band 0.2); row 1: 0.5 apart
