"""The service imports these modules without torch installed (or at least without importing it)."""

from __future__ import annotations

import subprocess
import sys


def test_export_package_and_tensorrt_builder_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "import export, export.manifest, export.errors, export.tensorrt_build, export.describe\n"
        "import export.ort_session, export.parity\n"
        "assert callable(export.engine_matches) and callable(export.build_engine)\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "assert not bad, bad[:5]\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
