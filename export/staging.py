"""Write a bundle folder all at once: build it in a temporary folder beside its place, then rename it in.

Used by `vtserve export` (a new bundle) and `vtserve build-engine` (a bundle with an engine added): a
reader sees the old bundle or the new one, never half of one, and a failure leaves the old one as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from export.errors import ExportError
from export.manifest import MANIFEST_NAME


def check_replaceable(out_dir: Path) -> None:
    """`out_dir` may be absent (its parents are created), an empty folder, or a previous bundle (replaced)."""
    if not out_dir.exists():
        try:
            out_dir.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(
                f"cannot create the parent folder of --out {out_dir}: {exc}", "choose a writable --out"
            ) from exc
        return
    if not out_dir.is_dir():
        raise ExportError(f"--out {out_dir} exists and is not a folder", "choose another --out")
    if any(out_dir.iterdir()) and not (out_dir / MANIFEST_NAME).is_file():
        raise ExportError(
            f"--out {out_dir} is a non-empty folder that is not a bundle (no {MANIFEST_NAME})",
            "choose a new or empty folder for --out",
        )


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename the finished `tmp` to `out_dir`, replacing a previous bundle there."""
    os.chmod(tmp, 0o755)
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    old = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(out_dir, old)
    try:
        os.rename(tmp, out_dir)
    except OSError:
        os.rename(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_bundle(out_dir: Path) -> Iterator[Path]:
    """A fresh folder beside `out_dir` to write the bundle into; it replaces `out_dir` when the block ends
    normally and is deleted when the block raises. `out_dir` must have passed `check_replaceable`."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        yield tmp
        _move_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
