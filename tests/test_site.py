"""`rethinkmmc site`: the static website built from a rendered report, read in a real browser
(headless Chromium through Playwright; .ci/run installs both; where either is missing the
browser test skips and says why)."""
import base64
import filecmp
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from rethinkmmc.cli import main
from rethinkmmc.notebook import load_verdicts
from rethinkmmc.site import SiteError, build_site, check_links

ROOT = Path(__file__).resolve().parents[1]


def _records(folder: Path, rows: dict[str, int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, n in rows.items():
        (folder / f"{stem}.json").write_text(json.dumps({
            "notebook": stem, "profile": "smoke", "finished": "2026-12-01 00:00:00 UTC",
            "hardware": "test", "seconds": 1.0, "seeds": [0], "version": "0", "volatile": False,
            "rows": [{"claim": f"claim {i}", "measure": "m", "reference": "r", "ours": "o",
                      "verdict": ["holds", "does not hold", "inconclusive at this profile"][i % 3],
                      "why": "w", "margin": None} for i in range(n)]}))


@pytest.fixture(scope="module")
def committed_site(tmp_path_factory):
    """The site of the committed smoke notebooks (notebooks/, executed at smoke defaults), with
    synthetic verdict records and one figure export planted for 02."""
    d = tmp_path_factory.mktemp("site")
    _records(d / "verdicts", {"02_whitebox": 3, "05_uncertainty": 2})
    nb = nbformat.read(ROOT / "notebooks" / "02_whitebox.ipynb", as_version=4)
    png = next(base64.b64decode(o["data"]["image/png"]) for c in nb.cells
               for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
    (d / "figures").mkdir()
    (d / "figures" / "02_whitebox-planted.png").write_bytes(png)
    (d / "figures" / "02_whitebox-planted.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    summary = build_site("smoke", reports=ROOT / "notebooks", figures=d / "figures",
                         verdicts=d / "verdicts", out=d / "site")
    return d / "site", summary


def test_the_site_leads_with_the_verdicts_and_hides_code_and_parameters(committed_site):
    site, s = committed_site
    assert s["broken_links"] == [] and s["links_checked"] > 50
    index = (site / "index.html").read_text()
    assert index.count('<tr><td><a href="02_whitebox.html#verdict">') == 3
    assert index.count('<tr><td><a href="05_uncertainty.html#verdict">') == 2
    assert 'class="fails">does not hold' in index and "Data caveats" in index
    assert "load_digits: 1,797 8x8 images" in index  # the smoke profile's dataset and its caveat
    page = (site / "02_whitebox.html").read_text()
    assert '<section id="verdict">' in page and "<details open" not in page
    assert page.count('<details class="code">') >= 5
    assert 'profile = "smoke"' not in page  # the parameters cell is left out
    assert "<script" not in index + page  # nothing needs JavaScript
    assert 'src="figures/02_whitebox-planted.svg"' in page  # the export, matched by pixels
    assert all('alt=""' not in p.read_text() for p in site.glob("*.html"))
    assert s["svg"] == 1 and s["figures"] > 1 and (site / "style.css").is_file()


def test_check_links_finds_a_broken_link_and_a_missing_anchor(tmp_path):
    (tmp_path / "a.html").write_text('<a href="b.html#x">b</a><a href="c.html">c</a>'
                                     '<a href="https://example.org">out</a><p id="y"></p>'
                                     '<a href="#y">self</a>')
    (tmp_path / "b.html").write_text('<p id="z"></p>')
    checked, broken = check_links(tmp_path)
    assert checked == 3 and broken == ["a.html -> b.html#x", "a.html -> c.html"]


def test_site_errors(tmp_path, capsys):
    with pytest.raises(SiteError, match="reports: no rendered notebooks in"):
        build_site("smoke", reports=tmp_path, out=tmp_path / "site")
    with pytest.raises(SiteError, match="profile: unknown 'nope'"):
        build_site("nope", reports=tmp_path)
    rc = main(["site", "--reports", str(tmp_path / "missing")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "reports: no rendered notebooks" in err[0]


def test_the_committed_quick_site_is_built_from_the_committed_quick_report(tmp_path):
    """site/quick is what `rethinkmmc site --profile quick` builds from reports/quick now (the
    build is deterministic: its date is the report's, not the build's)."""
    committed = ROOT / "site" / "quick"
    if not committed.is_dir():
        pytest.skip("no committed site/quick")
    build_site("quick", out=tmp_path / "quick")
    a = sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    b = sorted(p.relative_to(tmp_path / "quick") for p in (tmp_path / "quick").rglob("*")
               if p.is_file())
    assert a == b
    assert [p for p in a if not filecmp.cmp(committed / p, tmp_path / "quick" / p,
                                            shallow=False)] == []


# -- in a real browser ---------------------------------------------------------------------------
def _browser():
    pw = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                             "(.ci/run installs it; it drives the system's chromium)")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("no chromium on PATH (.ci/run installs Debian's chromium)")
    return pw, exe


@pytest.mark.slow
def test_the_smoke_site_in_headless_chromium(cold_smoke, tmp_path):
    pw, exe = _browser()
    d, results = cold_smoke
    assert [k for k, v in results.items() if not v.startswith("ok")] == []
    s = build_site("smoke", reports=d / "reports", figures=d / "figures", out=tmp_path / "site")
    site = tmp_path / "site"
    assert s["broken_links"] == [], s["broken_links"]
    stored = sum(len(r["rows"]) for r in load_verdicts("smoke", d / "reports" / "verdicts")
                 if r["notebook"] != "99_index")
    problems = []
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
        page.goto((site / "index.html").as_uri())
        assert page.locator("table.verdicts tbody tr").count() == stored
        page.screenshot(path=str(site / "landing.png"))
        # Every page, and every link on the landing page, opens without an error.
        for html in sorted(site.glob("*.html")):
            page.goto(html.as_uri())
            assert page.locator("main").inner_text().strip(), html.name
            shown = page.locator("img").evaluate_all(
                "els => els.map(e => e.complete && e.naturalWidth > 0)")
            assert all(shown), f"{html.name}: an image did not load"
        for href in page.locator("header a").evaluate_all("els => els.map(e => e.href)"):
            page.goto(href)
        # A claim page hides its code until the reader clicks.
        page.goto((site / "02_whitebox.html").as_uri())
        code = page.locator("details.code pre").first
        assert not code.is_visible()
        page.locator("details.code summary").first.click()
        assert code.is_visible()
        assert page.locator("section#verdict table").count() >= 1
        assert page.locator("img").count() >= 1
        assert all(a for a in page.locator("img").evaluate_all("els => els.map(e => e.alt)"))
        # With JavaScript off the reader still sees every verdict.
        nojs = browser.new_context(java_script_enabled=False).new_page()
        nojs.goto((site / "index.html").as_uri())
        assert nojs.locator("table.verdicts tbody tr").count() == stored
        browser.close()
    assert problems == []
    print(f"\nsmoke site: {s['pages']} pages, {s['figures']} figures ({s['svg']} SVG), "
          f"{s['bytes'] / 1e6:.2f} MB, {s['links_checked']} links checked, {stored} verdict "
          f"rows; screenshot {site / 'landing.png'}")
