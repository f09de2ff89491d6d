"""The training report's results table: a column per model, every measure, '–' where one is missing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.train_report import ROWS, main, results_table
from models.demo.measures import by_difficulty


def test_results_table_has_a_row_per_measure_and_a_column_per_model() -> None:
    a = {"test_v2": {"accuracy": 0.5, "rotation": {"clockwise": 0.25, "counterclockwise": 0.75}}}
    table = results_table({"a": a, "b": {}}).splitlines()
    assert table[0] == "| | a | b | bar |" and len(table) == 2 + len(ROWS)
    assert "| v2 test set: top-1 | 0.500 | – | >= 0.97 |" in table
    assert "| v2: rotating cw / ccw | 0.250 / 0.750 | – / – |  |" in table


def test_difficulty_rows_read_what_the_evaluation_writes() -> None:
    labels = np.array([0, 5, 1, 6, 2])
    bands = by_difficulty(np.array([0, 5, 2, 5, 2]), labels, np.array([0.05, 0.1, 0.3, 0.5, 0.9]))
    table = results_table({"m": {"test_v2": {"by_difficulty": bands}}}).splitlines()
    assert "| v2 top-1 by difficulty, fifths | 1.000 / 0.000 / 0.000 / nan / 1.000 |  |" in table
    assert "| v2 rotating top-1 by difficulty | 1.000 / nan / 0.000 / nan / nan |  |" in table


def test_results_files_are_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "before.json").write_text(json.dumps({"renderer_b": {"accuracy": 0.7}}))
    assert (
        main(["--runs", "--weights", str(tmp_path / "none"), "--results", str(tmp_path / "before.json")]) == 0
    )
    assert "| renderer B: top-1 | 0.700 | >= 0.93 |" in capsys.readouterr().out
