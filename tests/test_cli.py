import subprocess
import sys

from service.cli import SUBCOMMANDS, main


def test_help_lists_available_subcommands(capsys):
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    assert "vtserve" in out


def test_unknown_subcommand_fails():
    proc = subprocess.run(
        [sys.executable, "-m", "service.cli", "no-such-command"], capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0
    assert "invalid choice" in proc.stderr


def test_subcommand_table_names_owning_packages():
    for name, (module, _help) in SUBCOMMANDS.items():
        assert module.split(".")[0] in {"service", "export", "models", "bench"}, name


def test_listing_subcommands_imports_no_torch():
    code = (
        "import sys; from service.cli import _available; names = sorted(_available()); "
        "print(names); assert 'torch' not in sys.modules, 'torch imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    for name in ("serve", "predict", "export", "train-demo", "bench"):
        assert name in proc.stdout
