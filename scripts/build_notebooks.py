"""Build notebooks/NN_name.ipynb (unexecuted) from their sources notebooks/src/NN_name.py.

The sources are jupytext "percent" scripts: ``# %%`` starts a code cell, ``# %% [markdown]`` a
markdown cell (its lines are comments), ``# %% tags=["parameters"]`` gives the cell tags.
jupytext (https://jupytext.readthedocs.io) reads them; this script only adds the kernel and
stable cell ids, so that diffs of the .ipynb show content changes only. Reviewing and diffing
a .py is easier than an .ipynb; the executed notebooks are then made by `rethinkmmc report
--profile smoke --out notebooks`. JupyterLab users with the jupytext extension can open the
.py sources directly.

    python scripts/build_notebooks.py [NAMES...]
"""
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1] / "notebooks"


def build(src: Path) -> nbformat.NotebookNode:
    nb = jupytext.read(src, fmt="py:percent")
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                  "language": "python"},
                   "language_info": {"name": "python"}}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{src.stem[:2]}-{i:02d}"
        if not cell.metadata.get("tags"):
            cell.metadata = {}
    return nb


def main(names):
    for src in sorted((ROOT / "src").glob("*.py")):
        if names and not any(n in src.stem for n in names):
            continue
        out = ROOT / f"{src.stem}.ipynb"
        nbformat.write(build(src), out)
        print(out)


if __name__ == "__main__":
    main(sys.argv[1:])
