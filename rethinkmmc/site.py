"""`rethinkmmc site`: a static website from a rendered report (``reports/<profile>/*.ipynb``),
built offline without executing anything.

- ``index.html`` leads with the answer: the bottom line computed from the stored verdicts
  (``bottomline.bottom_line``), the verdict table (each row links to the verdict section of its
  claim's page), the outside evaluations beside our figures, the data caveats of the profile's
  datasets, and the provenance (hardware, time, seeds, versions).
- One page per notebook: the markdown (the claim and its verdict rule first, as the notebook
  states it), code folded in ``<details>`` (one click shows it), parameters cells left out
  (their values are listed once at the top), tables and figures inline, the verdict table last
  (``#verdict``).
- Figures are the report's SVG exports (``figures/<profile>/<notebook>-<name>.svg``), matched to
  the notebook's inline PNG by their pixels; a figure without an export stays a PNG file. Each
  has alt text.
- No JavaScript at all: folding is HTML's own ``<details>``, so a reader with JavaScript off
  sees everything, and there is nothing to raise a console error. (So no search box either;
  the navigation lists every claim on every page.)

Pages share one stylesheet instead of nbconvert's 300 KB of CSS per file.
"""
from __future__ import annotations

import base64
import html
import io
import re
import shutil
import time
from pathlib import Path
from typing import Any

from .runs import atomic_write_text

__all__ = ["build_site", "check_links", "SiteError"]

_CSS = """
:root { --fg: #1d2125; --muted: #5b636b; --line: #d8dde2; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--fg); background: #fff; }
header.top { background: #f4f6f8; border-bottom: 1px solid var(--line); padding: .6rem 1.2rem;
              display: flex; flex-wrap: wrap; gap: .2rem .9rem; }
header.top a { white-space: nowrap; }
a.anchor-link { visibility: hidden; text-decoration: none; margin-left: .3rem; }
h1:hover a.anchor-link, h2:hover a.anchor-link, h3:hover a.anchor-link { visibility: visible; }
main { max-width: 64rem; margin: 0 auto; padding: 1rem 1.2rem 3rem; }
a { color: var(--accent); }
h1 { font-size: 1.7rem; margin: .6rem 0 1rem; }
h2 { font-size: 1.3rem; margin-top: 2rem; border-bottom: 1px solid var(--line); }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .88rem; display: block;
        overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left;
         vertical-align: top; }
th { background: #f4f6f8; }
td.holds { background: #e3f4e6; } td.fails { background: #fbe4e2; } td.open { background: #fdf3d8; }
.lead { font-size: 1.05rem; background: #f7f9fb; border-left: 4px solid var(--accent);
        padding: .6rem 1rem; }
details.code { margin: .4rem 0; }
details.code > summary { color: var(--muted); cursor: pointer; font-size: .85rem; }
pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; font-size: .82rem; }
pre.out { background: #fff; border-left: 3px solid var(--line); }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; }
figcaption, .muted { color: var(--muted); font-size: .85rem; }
"""

_VERDICT_CLASS = {"holds": "holds", "does not hold": "fails"}
_PARAM_TAGS = {"parameters", "injected-parameters"}
_ANSI = re.compile("\x1b\\[[0-9;]*m")  # colours in tracebacks


class SiteError(ValueError):
    """Nothing to build from (no rendered notebooks, an unknown profile)."""


def _md(text: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune  # noqa: PLC0415

    return _HEADING.sub(_heading_id, markdown2html_mistune(text))


_HEADING = re.compile(r"<h([1-6])>(.*?)</h\1>", re.S)


def _heading_id(m: re.Match) -> str:
    """A heading with Jupyter's anchor (its text, spaces as '-'), so that the notebooks' own
    links to their sections resolve on the site too."""
    text = html.unescape(re.sub(r"<[^>]+>", "", m.group(2))).strip()
    return f'<h{m.group(1)} id="{html.escape(text.replace(" ", "-"))}">{m.group(2)}</h{m.group(1)}>'



def _title(nb) -> str:
    for c in nb.cells:
        if c.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", c.source, re.M)
            if m:
                return m.group(1).strip()
    return "untitled"


def _png_pixels(data: bytes):
    import numpy as np  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int16)


class _Figures:
    """The report's exported figures of one notebook, matched to its inline PNGs by pixels
    (the same drawing at the same size: a mean difference under 2 of 255; measured 0.2-0.4 for
    the right export and over 3 for any other)."""

    def __init__(self, folder: Path | None, stem: str):
        self.exports = {}
        if folder is not None and folder.is_dir():
            for png in sorted(folder.glob(f"{stem}-*.png")):
                if png.with_suffix(".svg").exists():
                    self.exports[png.with_suffix(".svg")] = _png_pixels(png.read_bytes())

    def match(self, data: bytes) -> Path | None:
        a = _png_pixels(data)
        best, score = None, 2.0
        for svg, b in self.exports.items():
            if b.shape == a.shape:
                d = float(abs(b - a).mean())
                if d < score:
                    best, score = svg, d
        return best


def _outputs(cell, ctx: dict) -> str:
    parts = []
    for o in cell.get("outputs", []):
        kind = o.get("output_type")
        if kind == "stream":
            parts.append(f'<pre class="out">{html.escape(o.get("text", ""))}</pre>')
        elif kind == "error":
            tb = _ANSI.sub("", "\n".join(o.get("traceback", [])))
            parts.append(f'<pre class="out">{html.escape(tb)}</pre>')
        elif kind in ("execute_result", "display_data"):
            data = o.get("data", {})
            if "image/png" in data:
                parts.append(_figure(base64.b64decode(data["image/png"]), ctx))
            elif "image/svg+xml" in data:
                parts.append(f"<figure>{data['image/svg+xml']}</figure>")
            elif "text/html" in data:
                parts.append(f'<div class="table">{data["text/html"]}</div>')
            elif "text/markdown" in data:
                parts.append(_md(data["text/markdown"]))
            elif "text/plain" in data:
                parts.append(f'<pre class="out">{html.escape(data["text/plain"])}</pre>')
    return "\n".join(parts)


def _figure(png: bytes, ctx: dict) -> str:
    ctx["n_fig"] += 1
    k, stem = ctx["n_fig"], ctx["stem"]
    svg = ctx["figures"].match(png)
    if svg is not None:
        name = svg.name
        shutil.copyfile(svg, ctx["out"] / "figures" / name)
        what = svg.stem[len(stem) + 1:].replace("-", " ")
    else:
        name = f"{stem}-figure-{k}.png"
        (ctx["out"] / "figures" / name).write_bytes(png)
        what = f"figure {k}"
    alt = f"{ctx['title']}: {what}"
    ctx["figure_files"].append(name)
    return (f'<figure><img src="figures/{html.escape(name)}" alt="{html.escape(alt)}" '
            f'><figcaption>{html.escape(what)}'
            f'{" (SVG)" if svg is not None else " (PNG: no SVG export found)"}</figcaption></figure>')


def _page(title: str, nav: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title>"
            f'<link rel="stylesheet" href="style.css"></head>\n'
            f'<body><header class="top">{nav}</header><main>\n{body}\n</main></body></html>\n')


def _notebook_page(path: Path, nb, nav: str, ctx: dict) -> str:
    parts = []
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    if injected:
        # Values, not this machine's paths (figures_dir, runs_dir, data_root).
        lines = [ln for ln in injected[0].source.splitlines() if ln and not ln.startswith("#")
                 and not ln.startswith(("figures_dir", "runs_dir", "data_root"))]
        parts.append('<p class="muted">Rendered with: '
                     + html.escape("; ".join(lines)) + "</p>")
    cells = [c for c in nb.cells if not _PARAM_TAGS & set(c.metadata.get("tags", []))]
    # The verdict table: the last output table with a verdict column.
    last = max((i for i, c in enumerate(cells) if c.cell_type == "code"
                and any(">verdict<" in o.get("data", {}).get("text/html", "")
                        for o in c.get("outputs", []))), default=None)
    for i, c in enumerate(cells):
        if c.cell_type == "markdown":
            parts.append(_md(c.source))
            continue
        if c.cell_type != "code":
            continue
        if i == last:
            parts.append('<section id="verdict"><h2>Verdict</h2>')
        if c.source.strip():
            parts.append(f'<details class="code"><summary>code</summary><pre><code>'
                         f"{html.escape(c.source)}</code></pre></details>")
        parts.append(_outputs(c, ctx))
        if i == last:
            parts.append("</section>")
    return _page(ctx["title"], nav, "\n".join(parts))


def _verdict_rows(records: list[dict]) -> list[tuple[str, dict]]:
    """(notebook, row) of every stored verdict, the index's own left out."""
    return [(r["notebook"], row) for r in records if r.get("notebook") != "99_index"
            for row in r["rows"]]


def _landing(profile: str, records: list[dict], pages: dict[str, str], nav: str,
             datasets: list[str], built: str) -> str:
    from . import __version__  # noqa: PLC0415
    from .bottomline import bottom_line, stored_rows  # noqa: PLC0415
    from .claims.whitebox import OUTSIDE  # noqa: PLC0415
    from .data import DATASETS  # noqa: PLC0415

    rows = _verdict_rows(records)
    timed = sum(len(r["rows"]) for r in records
                if r.get("notebook") != "99_index" and r.get("volatile", False))
    body = [f"<h1>Does the MMC loss give adversarial robustness? The {html.escape(profile)} "
            f"report</h1>",
            '<div class="lead">' + _md(bottom_line(stored_rows(records), profile)) + "</div>",
            "<h2 id=\"verdicts\">Verdicts</h2>",
            f'<p class="muted">{len(rows)} verdicts, each computed by its notebook\'s stated rule '
            f"from the stored results; the claim links to the notebook's verdict section."
            + (f" The bottom line above counts the {len(rows) - timed} that do not rest on "
               f"timings ({timed} do: they change from one render to the next)." if timed
               else "") + "</p>",
            '<table class="verdicts"><thead><tr><th>claim</th><th>notebook</th>'
            "<th>reference (paper, outside evaluations)</th><th>ours</th><th>verdict</th>"
            "</tr></thead><tbody>"]
    for stem, row in rows:
        href = f"{pages[stem]}#verdict" if stem in pages else None
        claim = html.escape(row.get("claim", ""))
        cls = _VERDICT_CLASS.get(row.get("verdict", ""), "open")
        body.append("<tr>" + (f'<td><a href="{href}">{claim}</a></td>' if href else
                              f"<td>{claim}</td>")
                    + f"<td>{html.escape(stem)}</td><td>{html.escape(str(row.get('reference', '')))}"
                      f"</td><td>{html.escape(str(row.get('ours', '')))}</td>"
                      f'<td class="{cls}">{html.escape(row.get("verdict", ""))}</td></tr>')
    body.append("</tbody></table>")
    body.append("<h2 id=\"outside\">Outside evaluations</h2><ul>")
    for model, text in OUTSIDE.items():
        ours = [f"{html.escape(row['ours'])} ({html.escape(stem)})" for stem, row in rows
                if row.get("reference") == text]
        body.append(f"<li><b>{html.escape(model)}</b>: {html.escape(text)}"
                    + (f"<br>ours: {'; '.join(ours)}" if ours else "") + "</li>")
    body.append("</ul><p class=\"muted\">Every verdict's reference column names the paper's "
                "figure or the outside evaluation it is read against.</p>")
    body.append("<h2 id=\"data\">Data caveats</h2><ul>")
    for d in datasets:
        body.append(f"<li><b>{html.escape(d)}</b>: {html.escape(DATASETS[d].notes)}</li>")
    body.append("</ul><h2 id=\"provenance\">Provenance</h2>"
                "<table><thead><tr><th>notebook</th><th>hardware</th><th>finished</th>"
                "<th>seconds</th><th>seeds</th><th>rethinkmmc</th></tr></thead><tbody>")
    for r in records:
        link = (f'<a href="{pages[r["notebook"]]}">{html.escape(r["notebook"])}</a>'
                if r["notebook"] in pages else html.escape(r["notebook"]))
        body.append(f"<tr><td>{link}</td><td>{html.escape(str(r.get('hardware')))}</td>"
                    f"<td>{html.escape(str(r.get('finished')))}</td>"
                    f"<td>{r.get('seconds')}</td><td>{html.escape(str(r.get('seeds')))}</td>"
                    f"<td>{html.escape(str(r.get('version')))}</td></tr>")
    body.append(f"</tbody></table><p class=\"muted\">Site of the report finished {html.escape(built)}, built by "
                f"rethinkmmc {__version__} from the rendered notebooks, without executing "
                f"anything; torch and Python versions are in each page's provenance table.</p>")
    return _page(f"rethinkmmc: {profile} report", nav, "\n".join(body))


def build_site(profile: str, reports: str | Path | None = None,
               figures: str | Path | None = None, out: str | Path | None = None,
               verdicts: str | Path | None = None) -> dict[str, Any]:
    """Build the site of `profile` from `reports` (default reports/<profile>) with the SVG
    exports in `figures` (default figures/<profile>) and the verdict records in `verdicts`
    (default <reports>/verdicts) into `out` (default site/<profile>); returns what was built
    (pages, files, bytes, seconds, and the links checked)."""
    import nbformat  # noqa: PLC0415

    from .experiments import plan  # noqa: PLC0415
    from .notebook import load_verdicts  # noqa: PLC0415
    from .profiles import PROFILES  # noqa: PLC0415
    from .runs import in_checkout  # noqa: PLC0415

    t0 = time.perf_counter()
    if profile not in PROFILES:
        raise SiteError(f"profile: unknown {profile!r} (allowed: {', '.join(PROFILES)})")
    reports = Path(reports) if reports else in_checkout(Path("reports") / profile)
    figures = Path(figures) if figures else in_checkout(Path("figures") / profile)
    out = Path(out) if out else in_checkout(Path("site") / profile)
    paths = sorted(reports.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise SiteError(f"reports: no rendered notebooks in {reports} (render them first: "
                        f"rethinkmmc report --profile {profile})")
    records = load_verdicts(profile, verdicts or reports / "verdicts")
    tmp = out.with_name(f".{out.name}.building")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "figures").mkdir(parents=True)
    notebooks = [(p, nbformat.read(p, as_version=4)) for p in paths]
    pages = {p.stem: f"{p.stem}.html" for p, _ in notebooks}
    nav = '<a href="index.html"><b>rethinkmmc</b></a>' + "".join(
        f'<a href="{pages[p.stem]}">{html.escape(p.stem.replace("_", " "))}</a>'
        for p, _ in notebooks)
    figure_files: list[str] = []
    for p, nb in notebooks:
        ctx = {"out": tmp, "stem": p.stem, "title": _title(nb), "n_fig": 0,
               "figures": _Figures(figures, p.stem), "figure_files": figure_files}
        atomic_write_text(tmp / pages[p.stem], _notebook_page(p, nb, nav, ctx))
    datasets = sorted({c.dataset for c in plan(profile)})
    # The report's date, not the build's: the same report builds the same site.
    built = max((str(r.get("finished", "")) for r in records), default="") or "undated"
    atomic_write_text(tmp / "index.html", _landing(profile, records, pages, nav, datasets, built))
    atomic_write_text(tmp / "style.css", _CSS.lstrip())
    checked, broken = check_links(tmp)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)  # the previous site stays whole until the new one is
    files = [f for f in out.rglob("*") if f.is_file()]
    return {"profile": profile, "out": str(out), "pages": len(pages) + 1,
            "verdict_rows": len(_verdict_rows(records)),
            "figures": len(figure_files),
            "svg": sum(f.endswith(".svg") for f in figure_files),
            "files": len(files), "bytes": sum(f.stat().st_size for f in files),
            "links_checked": checked, "broken_links": broken,
            "seconds": round(time.perf_counter() - t0, 2)}


_LINK = re.compile(r'(?:href|src)="([^"]+)"')
_ID = re.compile(r'id="([^"]+)"')


def check_links(site: str | Path) -> tuple[int, list[str]]:
    """(links checked, the broken ones as "page -> target") over every internal href and src of
    the site's pages: the file must exist and a #fragment must be an id on the target page."""
    site = Path(site)
    ids: dict[Path, set[str]] = {}
    checked, broken = 0, []
    for page in sorted(site.rglob("*.html")):
        for target in _LINK.findall(page.read_text(encoding="utf-8")):
            target = html.unescape(target)
            if re.match(r"^[a-z]+:", target):  # http:, mailto:, data: (none are made here)
                continue
            checked += 1
            file, _, frag = target.partition("#")
            dest = (page.parent / file).resolve() if file else page.resolve()
            if not dest.is_file():
                broken.append(f"{page.name} -> {target}")
                continue
            if frag:
                if dest not in ids:
                    ids[dest] = {html.unescape(i)
                                 for i in _ID.findall(dest.read_text(encoding="utf-8"))}
                if frag not in ids[dest]:
                    broken.append(f"{page.name} -> {target}")
    return checked, broken

