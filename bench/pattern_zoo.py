"""The comparison's zoo: the trained models in their shipped form, its size rule, and its re-evaluation.

`ship` copies each trained `<out>/motion-<key>/` (fp16 `model.safetensors`, `config.json` and `card.json`
with the measured numbers in `card.extra["results"]`) into `models/weights/zoo/<name>/`, which
`VTSERVE_MODELS=zoo` serves; the whole zoo must stay within `MAX_ZOO_MB`. `reevaluate` measures every
shipped checkpoint's test top-1 again, on the same test set, and compares it with the recorded one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from models.checkpoint import WEIGHTS_DIR

ZOO_DIR = WEIGHTS_DIR / "zoo"
MAX_ZOO_MB = 25.0
SHIPPED_FILES = ("config.json", "card.json", "model.safetensors")
TOLERANCE = 0.01  # one point of top-1
Log = Callable[[str], None]


class ZooError(RuntimeError):
    """A model that cannot be shipped as it is, or a zoo over its size budget."""


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def zoo_mb(zoo_dir: Path) -> float:
    return folder_mb(zoo_dir) if zoo_dir.is_dir() else 0.0


def weight_dtypes(path: Path) -> set[str]:
    """The dtypes in a safetensors file, read from its header (8-byte length, then JSON)."""
    with path.open("rb") as fh:
        header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
    return {entry["dtype"] for name, entry in header.items() if name != "__metadata__"}


def check_shippable(folder: Path) -> None:
    """Every shipped file present, every floating-point tensor fp16, measured numbers in the card."""
    missing = [name for name in SHIPPED_FILES if not (folder / name).is_file()]
    if missing:
        raise ZooError(f"{folder}: missing {', '.join(missing)}")
    dtypes = weight_dtypes(folder / "model.safetensors")
    if dtypes - {"F16", "I64", "I32", "BOOL", "U8"}:
        raise ZooError(f"{folder}: weights are {sorted(dtypes)}, not fp16")
    if "results" not in json.loads((folder / "card.json").read_text()).get("extra", {}):
        raise ZooError(f"{folder}: the card has no measured results (train without --no-eval)")


def ship(sources: Iterable[Path], zoo_dir: Path = ZOO_DIR, *, max_mb: float = MAX_ZOO_MB) -> float:
    """Copy each trained model folder into `zoo_dir/<its name>/`; returns the zoo's size in MB.

    Checked before anything is copied: each folder is shippable, and the zoo after the copy (the models
    already there and not replaced, plus these) fits in `max_mb`.
    """
    folders = list(sources)
    for folder in folders:
        check_shippable(folder)
    names = {folder.name for folder in folders}
    kept = [p for p in zoo_dir.iterdir() if p.is_dir() and p.name not in names] if zoo_dir.is_dir() else []
    new_mb = sum(sum((f / n).stat().st_size for n in SHIPPED_FILES) for f in folders) / 2**20
    total = new_mb + sum(folder_mb(p) for p in kept)
    if total > max_mb:
        raise ZooError(f"the zoo would be {total:.1f} MB, over its {max_mb:g} MB budget")
    for folder in folders:
        target = zoo_dir / folder.name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name in SHIPPED_FILES:
            shutil.copy2(folder / name, target / name)
    return round(zoo_mb(zoo_dir), 2)


def zoo_folders(zoo_dir: Path = ZOO_DIR) -> list[Path]:
    """The checkpoint folders of the zoo, by name."""
    if not zoo_dir.is_dir():
        return []
    return sorted(p for p in zoo_dir.iterdir() if (p / "config.json").is_file())


def recorded_top1(folder: Path) -> tuple[float, int]:
    """(top-1, clips) of the in-distribution test set as recorded in the card."""
    results = json.loads((folder / "card.json").read_text())["extra"]["results"]["test_v2"]
    return float(results["accuracy"]), int(results["clips"])


def reevaluate(
    folders: Iterable[Path],
    published: Mapping[str, float] | None = None,
    *,
    tolerance: float = TOLERANCE,
    log: Log = print,
) -> list[dict[str, Any]]:
    """Each model's test top-1 measured again (the card's test set and size) against the card's value
    and the published one (`published`: name → top-1, e.g. from bench/results/patterns.json)."""
    import numpy as np
    import torch

    import models
    from models.demo import generator
    from models.demo.evaluate import TEST_SEED
    from models.demo.measures import classification

    torch.set_num_threads(1)
    sets: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
    rows = []
    for folder in folders:
        recorded, clips = recorded_top1(folder)
        model = models.load_pretrained(str(folder))
        c = model.card.input
        key = (clips, c.num_frames, c.image_size)
        if key not in sets:
            rendered = generator.render_test_clips(
                clips, TEST_SEED, num_frames=c.num_frames, size=c.image_size
            )
            sets[key] = np.stack([r.frames for r in rendered]), np.array([r.label for r in rendered])
        measured = classification(model, *sets[key], c)["accuracy"]
        values = [recorded] + ([published[folder.name]] if published and folder.name in published else [])
        row = {
            "name": folder.name,
            "clips": clips,
            "recorded": recorded,
            "published": values[1] if len(values) > 1 else None,
            "measured": measured,
            "ok": all(abs(measured - v) <= tolerance for v in values),
        }
        verdict = "ok" if row["ok"] else "DIFFERS"
        log(f"{row['name']:34s} recorded {recorded:.4f} measured {measured:.4f}  {verdict}")
        rows.append(row)
    return rows
