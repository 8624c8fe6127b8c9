"""Environment that every Snakemake job inherits.

Jobs import the package from the checkout (no install needed, also inside
``--sdm conda`` environments and on cluster nodes), and without conda they run
on the interpreter that runs Snakemake.
"""

from __future__ import annotations

import os
import sys


def export_for_jobs(src_dir: str) -> None:
    def prepend(var: str, value: str) -> None:
        rest = os.environ.get(var)
        os.environ[var] = value if not rest else os.pathsep.join((value, rest))

    prepend("PYTHONPATH", src_dir)
    prepend("PATH", os.path.dirname(sys.executable))
