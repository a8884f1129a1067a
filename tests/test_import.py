"""`import pyrerank` stays light: numpy and pluggy only."""

from __future__ import annotations

import subprocess
import sys


def test_import_pyrerank_does_not_import_heavy_packages():
    code = (
        "import sys, pyrerank, pyrerank.ops; "
        "heavy = [m for m in ('torch', 'transformers', 'redis', 'faiss', 'matplotlib') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_kernel_reports_an_instruction_set():
    from pyrerank import _core, ops

    assert ops.isa() in _core.runnable_isas()
    assert _core.runnable_isas()[-1] == "generic"
