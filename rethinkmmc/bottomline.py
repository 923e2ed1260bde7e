"""The report's bottom line in plain words, computed from the stored verdict rows (what 99 and
the README lead with). It reads only the rows' claims, ``ours`` and verdicts, so that the words
cannot say more than the data the notebooks measured."""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Mapping

from .verdicts import FAILS, HOLDS, OPEN

__all__ = ["bottom_line", "stored_rows", "readme_block", "fill_readme"]

PAPER = "The paper's attack measures MMC's robustness"
VS_SCE = "MMC is more robust than SCE under the strongest attacks"
VS_AT = "AT-MMC is more robust than AT-SCE under the strongest attacks"
_WHERE = re.compile(r"\(([^()]*)\)\s*$")
_NUMBERS = re.compile(r"[-+]?\d*\.\d+|\d+")


def _where(claim: str) -> str:
    m = _WHERE.search(claim)
    return m.group(1) if m else "?"


def _pick(rows, prefix):
    return [r for r in rows if r["claim"].startswith(prefix)]


def _listing(rows, fmt) -> str:
    return "; ".join(fmt(r) for r in rows)


def _paper_vs_worst(r) -> str:
    nums = _NUMBERS.findall(r["ours"])
    return (f"{_where(r['claim'])}: {nums[0]} under the paper's attack, {nums[1]} in the worst "
            "case" if len(nums) >= 2 else f"{_where(r['claim'])}: {r['ours']}")


def _comparison(rows, who: str) -> str:
    parts = []
    for v, words in ((HOLDS, "holds"), (FAILS, "does not hold"),
                     (OPEN, "is inconclusive at this profile")):
        some = [r for r in rows if r["verdict"] == v]
        if some:
            parts.append(f"{words} at " + _listing(
                some, lambda r: f"{_where(r['claim'])} ({r['ours']})"))
    return f"{who} " + ", and ".join(parts) + "."


def bottom_line(rows: Iterable[Mapping], profile: str) -> str:
    """A paragraph (Markdown) on claim 1 at `profile` from the verdict rows of its notebooks
    (each a mapping with ``claim``, ``ours`` and ``verdict``), then the tally of every row.
    Claim 1's rows are those of ``claims.whitebox.claim1_verdicts``; where they are absent the
    paragraph says so rather than guess."""
    rows = list(rows)
    out = []
    paper = _pick(rows, PAPER)
    tested = [r for r in paper if r["verdict"] != OPEN]  # OPEN: its cascade was not evaluated
    low = [r for r in tested if r["verdict"] == FAILS]
    head = f"**Claim 1 (MMC is adversarially robust), at the {profile} profile:**"
    if low:
        out.append(f"{head} the paper's own attack (PGD-10 on softmax cross-entropy) overstates "
                   f"MMC's robustness at {len(low)} of {len(tested)} budgets tested: the strong "
                   f"cascade of notebook 02 (AutoAttack's attacks and MMC's center margin) "
                   f"finds lower accuracy, below that attack's 95% interval "
                   f"({_listing(low, _paper_vs_worst)}).")
    elif tested:
        out.append(f"{head} at every budget tested, MMC's worst case under the strong cascade "
                   f"of notebook 02 (AutoAttack's attacks and MMC's center margin) stays within "
                   f"the interval of the paper's attack ({_listing(tested, _paper_vs_worst)}).")
    else:
        out.append(f"**Claim 1, at the {profile} profile:** no strong-cascade verdicts are "
                   "stored; render notebook 02 to compute them.")
    if len(tested) < len(paper):
        out.append("The cascade was not evaluated at this render: " + _listing(
            [r for r in paper if r["verdict"] == OPEN], lambda r: _where(r["claim"])) + ".")
    vs = _pick(rows, VS_SCE)
    if vs:
        out.append(_comparison(vs, "Against an undefended SCE model under the strongest "
                                   "attacks, MMC's advantage"))
    at = _pick(rows, VS_AT)
    if at:
        out.append(_comparison(at, "Between the adversarially trained models, AT-MMC's "
                                   "advantage over AT-SCE"))
    tally = Counter(r["verdict"] for r in rows)
    h, f, o = (tally.get(v, 0) for v in (HOLDS, FAILS, OPEN))
    out.append(f"Over all {len(rows)} verdicts here: {h} {'holds' if h == 1 else 'hold'}, "
               f"{f} {'does' if f == 1 else 'do'} not hold, {o} "
               f"{'is' if o == 1 else 'are'} inconclusive at this profile.")
    return " ".join(out)


def stored_rows(records: Iterable[Mapping]) -> list[dict]:
    """The verdict rows of stored notebook records (``notebook.load_verdicts``) that the bottom
    line reads: the index's own left out, and those resting on timings (``volatile``), which
    change from one render to the next."""
    return [dict(row) for r in records
            if r.get("notebook") != "99_index" and not r.get("volatile", False)
            for row in r["rows"]]


def _markers(profile: str) -> tuple[str, str]:
    return f"<!-- bottom-line {profile} -->", "<!-- /bottom-line -->"


def readme_block(text: str, profile: str) -> str:
    """The paragraph between the README's markers for `profile` (ValueError where absent)."""
    start, end = _markers(profile)
    if start not in text:
        raise ValueError(f"readme: no {start!r} marker")
    return text.split(start, 1)[1].split(end, 1)[0].strip()


def fill_readme(text: str, profile: str, paragraph: str) -> str:
    """`text` with the paragraph between `profile`'s markers replaced by `paragraph`."""
    start, end = _markers(profile)
    readme_block(text, profile)
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{paragraph}\n{end}{rest.split(end, 1)[1]}"


def main(argv=None) -> int:
    import argparse  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from .notebook import load_verdicts  # noqa: PLC0415
    from .runs import atomic_write_text  # noqa: PLC0415

    p = argparse.ArgumentParser(description="Write a profile's bottom line into the README.")
    p.add_argument("--profile", required=True)
    p.add_argument("--verdicts", default=None, help="folder of the stored verdict records")
    p.add_argument("--readme", default="README.md")
    a = p.parse_args(argv)
    text = Path(a.readme).read_text()
    para = bottom_line(stored_rows(load_verdicts(a.profile, a.verdicts)), a.profile)
    atomic_write_text(Path(a.readme), fill_readme(text, a.profile, para))
    print(para)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
