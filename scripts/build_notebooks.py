"""Build notebooks/NN_name.ipynb (unexecuted) from their sources notebooks/src/NN_name.py.

The sources are plain Python in the "percent" format: a line ``# %%`` starts a code cell,
``# %% [markdown]`` a markdown cell (its lines are comments, "# " stripped), and
``# %% tags=["parameters"]`` gives the cell tags. Reviewing and diffing a .py is easier than
an .ipynb; the executed notebooks are then made by `rethinkmmc report --profile smoke --out
notebooks`.

    python scripts/build_notebooks.py [NAMES...]
"""
import json
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1] / "notebooks"
HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def cells(text: str):
    cur = None
    for line in text.splitlines():
        m = HEADER.match(line)
        if m:
            if cur:
                yield cur
            cur = {"md": bool(m["md"]), "tags": json.loads(m["tags"]) if m["tags"] else [],
                   "lines": []}
        elif cur is not None:
            cur["lines"].append(line)
    if cur:
        yield cur


def build(src: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for c in cells(src.read_text()):
        body = "\n".join(c["lines"]).strip("\n")
        if c["md"]:
            body = "\n".join(re.sub(r"^# ?", "", ln) for ln in body.splitlines())
            cell = nbformat.v4.new_markdown_cell(body)
        else:
            cell = nbformat.v4.new_code_cell(body)
        if c["tags"]:
            cell.metadata["tags"] = c["tags"]
        nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):  # stable ids: diffs show content changes only
        cell["id"] = f"{src.stem[:2]}-{i:02d}"
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
