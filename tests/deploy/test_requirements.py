"""deploy/requirements-*.txt stay consistent with pyproject.toml: the torch-free serving list is the
package's dependencies minus the export-only ones, every pin sits inside the package's own range, and
the per-image runtime pins do not conflict."""

from __future__ import annotations

import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.conftest import DEPLOY, REPO_ROOT

# Needed to build bundles (or to train), not to serve them.
EXPORT_ONLY = {"torch", "onnx", "onnxscript", "safetensors", "tqdm"}
# Chosen per image: onnxruntime (CPU) or onnxruntime-gpu, which provide the same module.
PER_IMAGE = {"onnxruntime"}
# Optional extras every serving image includes (the shared result store's client).
SERVING_EXTRAS = ("redis",)


def pyproject() -> dict[str, object]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def by_name(requirements: list[str]) -> dict[str, Requirement]:
    parsed = [Requirement(r) for r in requirements]
    return {canonicalize_name(r.name): r for r in parsed}


def read(name: str) -> tuple[list[str], dict[str, Requirement]]:
    """(files included with -r, requirements by name) of one deploy/requirements file."""
    includes, lines = [], []
    for raw in (DEPLOY / name).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            includes.append(line[3:].strip())
        else:
            assert not line.startswith("-"), f"{name}: options belong in the Dockerfile, not here ({line})"
            lines.append(line)
    return includes, by_name(lines)


def pinned_version(req: Requirement) -> str:
    (spec,) = req.specifier
    assert spec.operator == "==", f"{req}: pin exactly (==)"
    return spec.version


def test_serve_list_is_the_dependencies_without_export_only_ones() -> None:
    extras = pyproject()["optional-dependencies"]
    extra_reqs = [r for e in SERVING_EXTRAS for r in extras[e]]  # type: ignore[index]
    project = by_name(pyproject()["dependencies"] + extra_reqs)  # type: ignore[operator]
    includes, serve = read("requirements-serve.txt")
    assert includes == []
    assert set(serve) <= set(project), f"not package dependencies: {set(serve) - set(project)}"
    assert set(project) - set(serve) == EXPORT_ONLY | PER_IMAGE
    for name, req in serve.items():
        version = pinned_version(req)
        assert project[name].specifier.contains(version, prereleases=True), (
            f"{req} is outside {project[name]}"
        )
        assert req.extras == project[name].extras, f"{name}: extras differ from pyproject ({project[name]})"


def test_cpu_pins() -> None:
    project = by_name(pyproject()["dependencies"])  # type: ignore[arg-type]
    includes, cpu = read("requirements-cpu.txt")
    assert includes == ["requirements-serve.txt"]
    assert set(cpu) == {"onnxruntime"}
    assert project["onnxruntime"].specifier.contains(pinned_version(cpu["onnxruntime"]))


def test_gpu_pins_fit_the_gpu_extra_and_leave_out_cpu_onnxruntime() -> None:
    project = pyproject()
    gpu_extra = by_name(project["optional-dependencies"]["gpu"])  # type: ignore[index]
    includes, gpu = read("requirements-gpu.txt")
    assert includes == ["requirements-serve.txt"]
    assert set(gpu) == set(gpu_extra), "the GPU image installs exactly the `gpu` extra, pinned"
    for name, req in gpu.items():
        assert gpu_extra[name].specifier.contains(pinned_version(req)), f"{req} is outside {gpu_extra[name]}"
    assert "onnxruntime" not in gpu, "onnxruntime and onnxruntime-gpu overwrite each other's module"
    assert not (set(gpu) & EXPORT_ONLY)


@pytest.mark.parametrize("name", ["requirements-serve.txt", "requirements-cpu.txt", "requirements-gpu.txt"])
def test_no_duplicates_across_includes(name: str) -> None:
    seen: dict[str, str] = {}
    stack = [name]
    while stack:
        current = stack.pop()
        includes, reqs = read(current)
        for package in reqs:
            assert package not in seen, f"{package} is pinned in both {seen[package]} and {current}"
            seen[package] = current
        stack.extend(includes)
