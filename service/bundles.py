"""Finding the bundle to serve for each configured model name (discovery and resolution only).

A model name resolves, in order, to: a bundle folder given as a path; `<model_repository>/<name>/`;
`<cache_dir>/<name>/`; or a shipped model (`models/weights/<name>/`) or checkpoint folder, exported into
`<cache_dir>/<name>/` on first use and again when its weights changed (that step imports torch; serving an
existing bundle never does). The entry `zoo` stands for every model folder of the zoo (`zoo_dir`, by
default the shipped `models/weights/zoo/`), each served under its folder's name. Building a runtime and a
batcher for a bundle is `service.loading`'s job.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from export.manifest import MANIFEST_NAME
from service.settings import ZOO, Settings

log = logging.getLogger(__name__)


class BundleNotFound(LookupError):
    """No bundle for a configured model, and it is not a shipped model that could be exported."""


def is_bundle(path: Path) -> bool:
    return (path / MANIFEST_NAME).is_file()


def _weights_dirs() -> list[Path]:
    """`models/weights/` of the installed `models` package.

    Found with `find_spec`, which locates the package without importing it (importing `models` imports
    torch, which the serving path avoids)."""
    spec = importlib.util.find_spec("models")
    locations = (spec.submodule_search_locations or []) if spec else []
    return [Path(location) / "weights" for location in locations]


def shipped_weights_dir(name: str) -> Path | None:
    """`models/weights/<name>/` inside the installed `models` package, if present."""
    for weights in _weights_dirs():
        folder = weights / name
        if (folder / "config.json").is_file():  # a checkpoint written by models.save_pretrained
            return folder
    return None


def zoo_folder(settings: Settings) -> Path | None:
    """`settings.zoo_dir`, else the shipped zoo `models/weights/zoo/` when it exists."""
    if settings.zoo_dir is not None:
        return settings.zoo_dir
    return next((w / ZOO for w in _weights_dirs() if (w / ZOO).is_dir()), None)


def zoo_entries(settings: Settings) -> list[str]:
    """Every checkpoint or bundle folder in the zoo, as paths (served under their folders' names)."""
    folder = zoo_folder(settings)
    if folder is None or not folder.is_dir():
        raise BundleNotFound(
            f"`models` lists {ZOO!r} but there is no zoo folder ({folder or 'models/weights/zoo'}); "
            "train it with `python -m bench.patterns train` or set VTSERVE_ZOO_DIR"
        )
    entries = sorted(str(p) for p in folder.iterdir() if is_checkpoint(p) or is_bundle(p))
    if not entries:
        raise BundleNotFound(f"the zoo {folder} holds no model folders (*/config.json or */{MANIFEST_NAME})")
    return entries


def folder_name(path: Path) -> str:
    """The name a folder was given (`./x/` → `x`, `.` → the current folder's name); symlinks kept."""
    return Path(os.path.normpath(os.path.abspath(path))).name


def is_checkpoint(path: Path) -> bool:
    """A model checkpoint folder (ours or Hugging Face's): `config.json` beside the weights."""
    return (path / "config.json").is_file() and not is_bundle(path)


def served_name(name: str) -> str:
    """The name a configured entry is served under: a bundle or checkpoint path by its folder's name."""
    path = Path(name)
    return folder_name(path) if is_bundle(path) or is_checkpoint(path) else name


def _newer_than(source: Path, bundle: Path) -> bool:
    """Whether any file of the checkpoint `source` changed after `bundle` was exported."""
    exported = (bundle / MANIFEST_NAME).stat().st_mtime
    return any(p.is_file() and p.stat().st_mtime > exported for p in source.rglob("*"))


def export_checkpoint(source: str | Path, out_dir: Path) -> Path:
    """Export a shipped model (by name) or a checkpoint folder into a bundle folder.

    Imports torch: happens only when no up-to-date bundle exists (a fresh clone's first start).
    """
    import export

    log.info("exporting %s into %s (first start; later starts reuse the bundle)", source, out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    export.build_bundle(source, out_dir)
    return out_dir


def resolve_bundle(name: str, settings: Settings, *, allow_export: bool = True) -> Path:
    """The bundle folder for `name`: a bundle path, a bundle in the repository or the cache, or a shipped
    model / checkpoint folder exported into `<cache_dir>/<name>/` (again when its weights changed)."""
    as_path = Path(name)
    if is_bundle(as_path):
        return as_path
    if is_checkpoint(as_path):
        source: Path | None = as_path
        cached = settings.cache_dir / folder_name(as_path)
        candidates = []
    else:
        source = shipped_weights_dir(name)
        cached = settings.cache_dir / name
        candidates = [settings.model_repository / name] if settings.model_repository else []
    for candidate in candidates:
        if is_bundle(candidate):
            return candidate
    if is_bundle(cached) and (source is None or not allow_export or not _newer_than(source, cached)):
        return cached
    if allow_export and source is not None:
        return export_checkpoint(name if source != as_path else as_path, cached)
    looked = ", ".join(str(c) for c in [*candidates, cached])
    raise BundleNotFound(
        f"no bundle for model {name!r} (looked in {looked}) and no shipped weights models/weights/{name}/; "
        "export one with `vtserve export` or set VTSERVE_MODEL_REPOSITORY"
    )


def configured_names(settings: Settings) -> list[str]:
    """`settings.models` (`zoo` expanded into the zoo's folders), or every bundle in the repository when
    that list is empty."""
    if settings.models:
        return [name for entry in settings.models for name in _expand(entry, settings)]
    repo = settings.model_repository
    if repo is None or not repo.is_dir():
        raise BundleNotFound("`models` is empty and there is no model repository to list")
    names = sorted(p.name for p in repo.iterdir() if is_bundle(p))
    if not names:
        raise BundleNotFound(f"no bundles (*/{MANIFEST_NAME}) in {repo}")
    return names


def _expand(entry: str, settings: Settings) -> list[str]:
    return zoo_entries(settings) if entry == ZOO else [entry]
