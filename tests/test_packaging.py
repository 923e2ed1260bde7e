"""What users install: every third-party module the package imports is declared in pyproject
(as a dependency or an extra), and environment.yml lists the same."""
import ast
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = None

import pytest

ROOT = Path(__file__).resolve().parents[1]
# import name -> distribution name, where they differ
DIST = {"sklearn": "scikit-learn", "umap": "umap-learn", "yaml": "pyyaml", "PIL": "pillow"}
STDLIB = set(sys.stdlib_module_names)


def imported_modules():
    out = set()
    for p in (ROOT / "rethinkmmc").rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                out |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                out.add(node.module.split(".")[0])
    return {m for m in out if m not in STDLIB and m not in ("rethinkmmc", "__future__")}


def names(reqs):
    return {re.split(r"[<>=!\[ ;]", r, maxsplit=1)[0].lower() for r in reqs}


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python 3.11")
def test_every_import_is_declared_and_in_environment_yml():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = names(meta["dependencies"])
    for extra in meta["optional-dependencies"].values():
        declared |= names(extra)
    needed = {DIST.get(m, m).lower() for m in imported_modules()}
    # IPython and jupyter_client come with ipykernel (report/test extras)
    needed -= {"ipython", "jupyter_client"}
    assert needed - declared == set()
    env = (ROOT / "environment.yml").read_text()
    for dist in names(meta["dependencies"]) | names(meta["optional-dependencies"]["lab"]):
        want = "pytorch" if dist == "torch" else dist
        assert re.search(rf"^\s*- {re.escape(want)}\b", env, re.M), f"environment.yml lacks {want}"
    assert {"jupyterlab", "seaborn", "umap-learn"} <= names(meta["optional-dependencies"]["lab"])
