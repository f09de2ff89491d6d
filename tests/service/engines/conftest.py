"""A private copy of the tiny bundle: replicas read it for the whole test, while other test runs may
rebuild (and remove) the shared cached one when models/ or export/ change."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from service.settings import Settings
from tests.service.conftest import tiny_bundle  # noqa: F401


@pytest.fixture(scope="module")
def bundle(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    copy = tmp_path_factory.mktemp("bundle") / "tiny"
    shutil.copytree(tiny_bundle, copy)
    return copy


@pytest.fixture()
def make_settings(bundle: Path, tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"models": [str(bundle)], "cache_dir": tmp_path / "cache"}
        return Settings(**(values | {"max_wait_ms": 5.0} | overrides))

    return make
