"""Print the accuracy curves of `vtserve train-demo` runs and the results in the shipped cards.

python -m bench.train_report                      # runs/*/log.jsonl and models/weights/motion-*
python -m bench.train_report --runs runs/motion-vivit
python -m bench.train_report --results a.json b.json   # `train-demo --evaluate DIR --no-write` output

Results are printed as one table (a column per model) with every measure issues 9 and 14 check.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def read_curve(run_dir: Path) -> list[dict[str, Any]]:
    log = run_dir / "log.jsonl"
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def curve_table(name: str, points: list[dict[str, Any]], every: int = 1) -> str:
    lines = [
        f"### {name}",
        "",
        "| step | minutes | val acc | val reversal | max difficulty |",
        "|---|---|---|---|---|",
    ]
    for i, p in enumerate(points):
        if i % every == 0 or i == len(points) - 1:
            lines.append(
                f"| {p['step']} | {p['minutes']} | {p['val_acc']:.3f} | {p['val_reversal']:.3f} | "
                f"{p['max_difficulty']:.2f} |"
            )
    return "\n".join(lines)


# (row label, path into the results, bar) for the results table
ROWS: tuple[tuple[str, str, str], ...] = (
    ("v2 test set: top-1", "test_v2.accuracy", ">= 0.97"),
    ("v2: reversal -> partner", "test_v2.reversal_to_partner", ">= 0.95"),
    ("v2: right pair / within pair", "test_v2.pair_accuracy|test_v2.within_pair_accuracy", ""),
    ("v2: rotating cw / ccw", "test_v2.rotation.clockwise|test_v2.rotation.counterclockwise", ""),
    (
        "v2 top-1 by difficulty, fifths",
        "|".join(f"test_v2.by_difficulty.{20 * k}-{20 * (k + 1)}%.accuracy" for k in range(5)),
        "",
    ),
    (
        "v2 rotating top-1 by difficulty",
        "|".join(f"test_v2.by_difficulty.{20 * k}-{20 * (k + 1)}%.rotation" for k in range(5)),
        "",
    ),
    ("renderer B: top-1", "renderer_b.accuracy", ">= 0.93"),
    ("B: reversal -> partner", "renderer_b.reversal_to_partner", ""),
    ("B: right pair / within pair", "renderer_b.pair_accuracy|renderer_b.within_pair_accuracy", ""),
    ("B: rotating cw / ccw", "renderer_b.rotation.clockwise|renderer_b.rotation.counterclockwise", ""),
    (
        "v2 through H.264: top-1 (crf 18-28 / 33-43)",
        "encoded_v2.accuracy|encoded_v2.crf_18_28|encoded_v2.crf_33_43",
        "",
    ),
    ("issue 9 set: top-1", "test.accuracy", ""),
    ("issue 9: reversal -> partner", "test.reversal_to_partner", ""),
    ("issue 9: within pair", "test.within_pair_accuracy", ""),
    ("issue 9 H.264 320x240 / 640x360", "encoded.320x240@30|encoded.640x360@24", ""),
    ("ms per clip, batch 1 (1 thread)", "latency.ms_per_clip_batch1", "< 20"),
)


def _lookup(results: dict[str, Any], path: str) -> str:
    value: Any = results
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return "–"
        value = value[key]
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def results_table(results: dict[str, dict[str, Any]]) -> str:
    """A markdown table: a row per measure, a column per model."""
    names = list(results)
    lines = ["| | " + " | ".join(names) + " | bar |", "|---" * (len(names) + 2) + "|"]
    for label, paths, bar in ROWS:
        cells = [" / ".join(_lookup(results[n], p) for p in paths.split("|")) for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {bar} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, nargs="*", help="run folders (default: runs/*/ with a log)")
    parser.add_argument("--weights", type=Path, default=Path("models/weights"))
    parser.add_argument("--every", type=int, default=2, help="print every n-th curve point")
    parser.add_argument("--results", type=Path, nargs="*", help="results JSON files (named by file stem)")
    args = parser.parse_args(argv)
    runs = args.runs if args.runs else sorted(p.parent for p in Path("runs").glob("*/log.jsonl"))
    for run in runs:
        print(curve_table(run.name, read_curve(run), args.every))
        print()
    table: dict[str, dict[str, Any]] = {}
    for card_path in sorted(args.weights.glob("motion-*/card.json")):
        card = json.loads(card_path.read_text())
        table[card_path.parent.name] = card.get("extra", {}).get("results", {})
    for path in args.results or []:
        table[path.stem] = json.loads(path.read_text())
    if table:
        print(results_table(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
