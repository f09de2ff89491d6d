"""The `vtserve` command line.

Each subcommand lives in the package that owns it and is imported only when it runs, so
`vtserve --help` stays fast and `vtserve serve` never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

# name -> (module, help). The module defines `add_arguments(parser)` and `run(args) -> int`.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("service.commands.serve", "run the HTTP service"),
    "predict": ("service.commands.predict", "classify one clip without a server and write its heatmap"),
    "timeline": (
        "service.commands.timeline",
        "a long video's actions over time, without a server (PNG, JSON)",
    ),
    "export": ("export.cli", "export a model to an ONNX (and optionally TensorRT) bundle"),
    "build-engine": ("export.engine_cli", "build a TensorRT engine for this host into an exported bundle"),
    "train-demo": ("models.demo.train", "train a demo model on the synthetic `motion` dataset"),
    "bench": ("bench.cli", "run the benchmarks and write results"),
}


def _importable(module_name: str) -> bool:
    """Whether `module_name` exists, found by path without importing any package on the way.

    `importlib.util.find_spec("models.demo.train")` would import `models` (and with it torch) just to
    list subcommands; only the top-level package is looked up, the rest is a file check.
    """
    top, *rest = module_name.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    if not rest:
        return True
    for location in spec.submodule_search_locations or []:
        base = Path(location).joinpath(*rest)
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return True
    return False


def _available() -> dict[str, tuple[str, str]]:
    """The subcommands whose modules are present in this installation."""
    return {name: spec for name, spec in SUBCOMMANDS.items() if _importable(spec[0])}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vtserve", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_module, help_text) in _available().items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _available()
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        build_parser().parse_args(argv)  # prints help or the error, exits
        return 2
    name, rest = argv[0], argv[1:]
    module = importlib.import_module(commands[name][0])
    parser = argparse.ArgumentParser(prog=f"vtserve {name}", description=commands[name][1])
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    run: Callable[[argparse.Namespace], int] = module.run
    return int(run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
