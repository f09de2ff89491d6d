"""Print the accuracy curves of `vtserve train-demo` runs and the results in the shipped cards.

python -m bench.train_report                      # runs/*/log.jsonl and models/weights/motion-*
python -m bench.train_report --runs runs/motion-vivit
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, nargs="*", help="run folders (default: runs/*/ with a log)")
    parser.add_argument("--weights", type=Path, default=Path("models/weights"))
    parser.add_argument("--every", type=int, default=2, help="print every n-th curve point")
    args = parser.parse_args(argv)
    runs = args.runs if args.runs else sorted(p.parent for p in Path("runs").glob("*/log.jsonl"))
    for run in runs:
        print(curve_table(run.name, read_curve(run), args.every))
        print()
    for card_path in sorted(args.weights.glob("motion-*/card.json")):
        card = json.loads(card_path.read_text())
        print(f"### {card_path.parent.name} results")
        print(json.dumps(card.get("extra", {}).get("results", {}), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
