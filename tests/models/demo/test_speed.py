"""The data-speed command runs and reports every measure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.demo import speed


def test_speed_reports_every_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert speed.main(["--seconds", "0", "--pool-root", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {
        "issue9_clips_per_s_32",
        "v2_clips_per_s_32",
        "v2_clips_per_s_64",
        "h264_items_per_s",
        "batches_per_s_32",
        "batches_per_s_64",
    }
    assert all(v > 0 for v in out.values())
