"""The Dockerfile's structure: targets, bases matching the pinned runtimes, non-root users, health checks,
no torch in the GPU image, no package caches left behind; and .dockerignore keeps what the build needs."""

from __future__ import annotations

import os
import re

import pytest

from tests.deploy.conftest import DEPLOY, REPO_ROOT, Stage, parse_dockerfile, stage

# onnxruntime-gpu version -> the CUDA release its PyPI wheels are built for (the wheel's
# onnxruntime/capi/build_and_package_info.py) and the TensorRT major its TensorRT provider links
# (libnvinfer.so.N). Bumping the pin means re-reading these from the new wheel and updating this table.
ORT_GPU_BUILDS = {"1.31.1": {"cuda": "13.0", "cudnn": "9", "tensorrt_major": 10}}


def pins(name: str) -> dict[str, str]:
    out = {}
    for line in (DEPLOY / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            package, version = line.split("==")
            out[package.strip().lower()] = version.strip()
    return out


def final_stages() -> tuple[dict[str, str], list[Stage]]:
    return parse_dockerfile()


def test_targets_and_default() -> None:
    _, stages = final_stages()
    names = [s.name for s in stages]
    assert {"gpu", "cpu", "export"} <= set(names)
    assert names[-1] == "gpu", "the last stage is the default target: it must be gpu"
    assert len(names) == len(set(names))


def test_gpu_base_matches_onnxruntime_gpu_and_tensorrt() -> None:
    args, stages = final_stages()
    gpu_pins = pins("requirements-gpu.txt")
    build = ORT_GPU_BUILDS[gpu_pins["onnxruntime-gpu"]]
    image = args["CUDA_IMAGE"]
    match = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.(\d+)-cudnn(\d*)-runtime-ubuntu(\d+\.\d+)", image)
    assert match, f"expected an nvidia/cuda cuDNN runtime image, got {image}"
    assert f"{match[1]}.{match[2]}" == build["cuda"], "CUDA major.minor must match onnxruntime-gpu's build"
    assert match[4] in ("", build["cudnn"])  # CUDA 12.x+ tags say `cudnn`, older ones `cudnn9`
    assert int(gpu_pins["tensorrt"].split(".")[0]) == build["tensorrt_major"]
    for name in ("gpu", "gpu-build"):
        assert stage(stages, name).base == "${CUDA_IMAGE}"


def test_cpu_image_is_python_slim_and_keeps_torch() -> None:
    args, stages = final_stages()
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert stage(stages, "cpu").base == "python-base"
    assert stage(stages, "python-base").base == "${PYTHON_IMAGE}"
    build = " ".join(i.args for i in stage(stages, "cpu-build").all("RUN"))
    assert '"torch==${TORCH_VERSION}"' in build and "--index-url" in build
    makefile = (REPO_ROOT / "Makefile").read_text()
    torch_pin = re.search(r"TORCH_PIN := torch==(\S+)", makefile)
    assert torch_pin and args["TORCH_VERSION"] == torch_pin[1], "the CPU image installs the Makefile's torch"


@pytest.mark.parametrize("target", ["gpu", "cpu"])
def test_final_images_run_as_non_root_with_a_healthcheck(target: str) -> None:
    _, stages = final_stages()
    s = stage(stages, target)
    users = s.all("USER")
    assert users, f"{target}: no USER"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0"), f"{target} runs as root"
    (health,) = s.all("HEALTHCHECK")
    assert "/healthz" in health.args and "urllib.request" in health.args
    assert "curl" not in health.args and "wget" not in health.args
    assert s.all("CMD")[-1].args == '["vtserve", "serve"]'
    env = s.env()
    assert env["VTSERVE_HOST"] == "0.0.0.0"
    assert env["VTSERVE_CACHE_DIR"].startswith("/"), "an absolute cache dir (the default is relative)"


def test_gpu_image_does_not_install_torch() -> None:
    _, stages = final_stages()
    runs = " ".join(i.args for name in ("gpu-build", "gpu") for i in stage(stages, name).all("RUN"))
    assert "torch" not in runs
    assert "pip install --no-deps ." in runs, "the package's own dependencies would pull torch"
    assert "requirements-gpu.txt" in runs
    assert "torch" not in {p.split("[")[0] for p in pins("requirements-gpu.txt")}
    build_runs = " ".join(i.args for i in stage(stages, "gpu-build").all("RUN"))
    assert "libonnxruntime_providers_tensorrt.so" in build_runs and "ldd" in build_runs, (
        "the build checks that onnxruntime's TensorRT provider finds its libraries"
    )
    gpu = stage(stages, "gpu")
    copies = [i.args for i in gpu.all("COPY")]
    assert any(c.startswith("--from=export /models") for c in copies), "bundles come from the export stage"
    assert gpu.env()["VTSERVE_MODEL_REPOSITORY"] == "/models"


def test_no_caches_or_build_tools_left_behind() -> None:
    _, stages = final_stages()
    for s in stages:
        for run in s.all("RUN"):
            if "apt-get install" in run.args:
                assert "--no-install-recommends" in run.args, run.line
                assert "rm -rf /var/lib/apt/lists/*" in run.args, (
                    f"line {run.line}: apt lists left in the layer"
                )
            assert "build-essential" not in run.args and "gcc" not in run.args.split()
    for name in ("python-base", "gpu-build"):
        assert stage(stages, name).env().get("PIP_NO_CACHE_DIR") == "1"
    gpu_runs = " ".join(i.args for i in stage(stages, "gpu").all("RUN"))
    assert "python3-venv" not in gpu_runs and "pip install" not in gpu_runs


def test_dockerignore_keeps_what_the_build_copies() -> None:
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for must in (".git", ".venv", "tests", "**/__pycache__", "cache"):
        assert must in patterns
    _, stages = final_stages()
    copied = set()
    for s in stages:
        for inst in s.all("COPY"):
            if not inst.args.startswith("--from"):
                copied.update(inst.args.split()[:-1])
    for source in copied:
        top = source.split("/")[0]
        assert (REPO_ROOT / source).exists(), f"COPY {source}: not in the repository"
        ignored = top in patterns and f"!{source}" not in patterns
        if top == "deploy":
            assert "deploy/*" in patterns and "!deploy/requirements-*.txt" in patterns
        else:
            assert not ignored, f"COPY {source} but .dockerignore leaves it out"
    # Shipped weights are package data: they must reach the build context.
    assert not any(p.startswith("models") for p in patterns)


@pytest.mark.parametrize(("target", "service"), [("gpu", "vtserve"), ("cpu", "vtserve-cpu")])
def test_image_and_compose_settings_are_real_settings(
    target: str, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every VTSERVE_* variable the image and the compose file set names a real setting, and the service's
    Settings accept the values together (a typo would otherwise be silently ignored)."""
    from service.settings import ENV_PREFIX, Settings
    from tests.deploy.conftest import COMPOSE_FILE, load_yaml

    _, stages = final_stages()
    env = {k: v for k, v in stage(stages, target).env().items() if k.startswith(ENV_PREFIX)}
    compose_env = load_yaml(COMPOSE_FILE)["services"][service].get("environment", {})
    env.update({k: str(v) for k, v in compose_env.items() if k.startswith(ENV_PREFIX)})
    fields = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert set(env) <= fields, f"not settings: {sorted(set(env) - fields)}"
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.host == "0.0.0.0" and settings.port == 8000
    assert settings.cache_dir.is_absolute()
    if target == "gpu":
        assert settings.runtime == "onnxruntime", (
            "the GPU image has no torch: the torch-based runtimes cannot run"
        )
        assert settings.providers[0] == "tensorrt"
        assert str(settings.model_repository) == "/models"
