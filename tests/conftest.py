"""Shared fixtures. Real clips are read in place from ../shared/media (never copied into the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_MEDIA = REPO_ROOT.parent / "shared" / "media"


@pytest.fixture(scope="session")
def media_dir() -> Path:
    """The folder of real test clips; tests that need it skip (with the reason) when it is missing."""
    if not (SHARED_MEDIA / "README.md").is_file():
        pytest.skip(f"real test clips not found at {SHARED_MEDIA} (expected ../shared/media beside the repo)")
    return SHARED_MEDIA


@pytest.fixture(scope="session")
def media(media_dir: Path):  # type: ignore[no-untyped-def]
    """Look up one real clip by file name, skipping when it is absent."""

    def get(name: str) -> Path:
        path = media_dir / name
        if not path.is_file():
            pytest.skip(f"test clip {name} not found in {media_dir}")
        return path

    return get
