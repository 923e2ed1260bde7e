"""DataFrame -> matplotlib Figure, in one style for every figure of the report.

Figures are built with the object API (no pyplot state between cells) and returned, so a
notebook shows them inline and `Context.show` exports them as PNG and SVG.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["figure", "lines", "centers_figure", "heatmap", "scatter_2d", "histograms", "bars"]

STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.grid": True, "grid.alpha": 0.3,
         "axes.spines.top": False, "axes.spines.right": False, "legend.fontsize": 8,
         "legend.frameon": False}
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf"]


def figure(ncols: int = 1, nrows: int = 1, width: float = 3.6, height: float = 2.8,
           **kw) -> tuple[Figure, np.ndarray]:
    """A Figure with a grid of axes (always a flat array) in the report's style."""
    import matplotlib  # noqa: PLC0415

    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    for ax in axes.flat:
        for k, v in STYLE.items():
            if k == "axes.grid" and v:
                ax.grid(True, alpha=STYLE["grid.alpha"])
        ax.spines["top"].set_visible(False)
        ax.spines["right"].set_visible(False)
    return fig, axes.ravel()


def lines(df: pd.DataFrame, x: str, y: str, hue: str, panel: str | None = None,
          style: str | None = None, ci: tuple[str, str] | None = ("ci_low", "ci_high"),
          xlabel: str | None = None, ylabel: str | None = None, title: str = "",
          logx: bool = False, xticklabels: str | None = None) -> Figure:
    """y against x, one line per `hue` (and dash per `style`), one panel per `panel`, with the
    interval columns `ci` shaded where present. Rows that repeat a point (several seeds, a
    ``seed`` column) are drawn as their mean with a band of +- one standard deviation over
    them (seaborn's ``errorbar="sd"``) instead."""
    keys = [k for k in (panel, hue, style, x) if k]
    if df.duplicated(keys).any():
        return _lines_over_seeds(df, x, y, hue, panel, style, xlabel, ylabel, title, logx,
                                 xticklabels)
    panels = list(dict.fromkeys(df[panel])) if panel else [None]
    fig, axes = figure(len(panels))
    hues = list(dict.fromkeys(df[hue]))
    styles = list(dict.fromkeys(df[style])) if style else [None]
    dashes = ["-", "--", ":", "-."]
    for ax, p in zip(axes, panels):
        sub = df if p is None else df[df[panel] == p]
        for i, h in enumerate(hues):
            for j, s in enumerate(styles):
                d = sub[sub[hue] == h]
                if s is not None:
                    d = d[d[style] == s]
                if d.empty:
                    continue
                d = d.sort_values(x)
                label = str(h) if s is None else f"{h}, {s}"
                ax.plot(d[x], d[y], dashes[j % 4], color=COLORS[i % 10], marker="o", ms=3,
                        label=label)
                if ci and set(ci) <= set(d.columns):
                    ax.fill_between(d[x], d[ci[0]], d[ci[1]], color=COLORS[i % 10], alpha=0.12)
        _axes_text(ax, sub, x, y, p, xlabel, ylabel, title, logx, xticklabels)
    axes[0].legend(loc="best")
    return fig


def _axes_text(ax, sub, x, y, p, xlabel, ylabel, title, logx, xticklabels, note=""):
    """Ticks, scale, labels and the panel's title of one axes of `lines`."""
    if xticklabels:
        ticks = sub.drop_duplicates(x).sort_values(x)
        ax.set_xticks(ticks[x], ticks[xticklabels])
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.set_title(f"{title}{' ' if title and p is not None else ''}{'' if p is None else p}{note}")


def _lines_over_seeds(df, x, y, hue, panel, style, xlabel, ylabel, title, logx,
                      xticklabels) -> Figure:
    import seaborn as sns  # noqa: PLC0415

    panels = list(dict.fromkeys(df[panel])) if panel else [None]
    fig, axes = figure(len(panels))
    hues = list(dict.fromkeys(df[hue]))
    for ax, p in zip(axes, panels):
        sub = df if p is None else df[df[panel] == p]
        sns.lineplot(sub, x=x, y=y, hue=hue, hue_order=hues, style=style, errorbar="sd",
                     marker="o", markersize=3, palette=COLORS[:len(hues)], ax=ax,
                     legend=ax is axes[0])
        _axes_text(ax, sub, x, y, p, xlabel, ylabel, title, logx, xticklabels,
                   " (mean +- sd over seeds)")
    return fig


def centers_figure(centers: Mapping[int, np.ndarray]) -> Figure:
    """Class centers for several L (the reproduction's Figure 1): 2-D panels for centers of
    dimension <= 2, 3-D panels for dimension 3."""
    fig = Figure(figsize=(3.2 * len(centers), 3.0), layout="constrained")
    for i, (L, mu) in enumerate(centers.items(), start=1):
        mu = np.asarray(mu, dtype=float)
        if mu.shape[1] == 1:
            mu = np.concatenate([mu, np.zeros_like(mu)], 1)
        if mu.shape[1] == 3:
            ax = fig.add_subplot(1, len(centers), i, projection="3d")
            ax.scatter(*mu.T, c=COLORS[:L], s=30)
            for m in mu:
                ax.plot([0, m[0]], [0, m[1]], [0, m[2]], color="gray", lw=0.8)
        else:
            ax = fig.add_subplot(1, len(centers), i)
            ax.scatter(mu[:, 0], mu[:, 1], c=COLORS[:L], s=30, zorder=3)
            for m in mu:
                ax.plot([0, m[0]], [0, m[1]], color="gray", lw=0.8)
            ax.set_aspect("equal")
            ax.grid(True, alpha=0.3)
        ax.set_title(f"L = {L}")
    return fig


def heatmap(matrix: pd.DataFrame, title: str = "", fmt: str = ".2f", cmap: str = "viridis",
            vmin: float | None = None, vmax: float | None = None) -> Figure:
    """A labelled matrix with its values written in the cells (seaborn's heatmap)."""
    import seaborn as sns  # noqa: PLC0415

    n, m = matrix.shape
    fig, (ax,) = figure(1, width=0.5 * m + 2.2, height=0.42 * n + 1.4)
    sns.heatmap(matrix.astype(float), annot=True, fmt=fmt, cmap=cmap, vmin=vmin, vmax=vmax,
                ax=ax, annot_kws={"fontsize": 7}, cbar_kws={"shrink": 0.8})
    ax.set_xticklabels(ax.get_xticklabels(), rotation=45, ha="right")
    ax.set_xlabel(matrix.columns.name or "")
    ax.set_ylabel(matrix.index.name or "")
    ax.set_title(title)
    return fig


def scatter_2d(panels: Mapping[str, tuple[np.ndarray, np.ndarray]], class_names: Sequence[str],
               centers: Mapping[str, np.ndarray] | None = None, s: float = 3) -> Figure:
    """One panel per name: 2-D points coloured by label, optional centers as black crosses."""
    fig, axes = figure(len(panels), width=3.4, height=3.2)
    for ax, (name, (xy, y)) in zip(axes, panels.items()):
        y = np.asarray(y)
        for c in range(len(class_names)):
            sel = y == c
            ax.scatter(xy[sel, 0], xy[sel, 1], s=s, color=COLORS[c % 10], label=class_names[c],
                       alpha=0.6, linewidths=0, rasterized=True)
        if centers and name in centers:
            mu = np.asarray(centers[name])
            ax.scatter(mu[:, 0], mu[:, 1], marker="x", color="black", s=40, zorder=4)
        ax.set_title(name)
    axes[-1].legend(markerscale=3, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def histograms(panels: Mapping[str, Mapping[str, np.ndarray]], xlabel: str = "score",
               bins: int = 40) -> Figure:
    """One panel per name, one step histogram (density) per series."""
    fig, axes = figure(len(panels))
    for ax, (name, series) in zip(axes, panels.items()):
        allv = np.concatenate([np.asarray(v, float) for v in series.values()])
        edges = np.histogram_bin_edges(allv[np.isfinite(allv)], bins=bins)
        for i, (label, v) in enumerate(series.items()):
            ax.hist(np.asarray(v, float), bins=edges, histtype="step", density=True,
                    color=COLORS[i % 10], label=label)
        ax.set_title(name)
        ax.set_xlabel(xlabel)
    axes[0].legend()
    return fig


def bars(df: pd.DataFrame, x: str, y: str, hue: str | None = None, ylabel: str | None = None,
         title: str = "", err: tuple[str, str] | None = None) -> Figure:
    """Grouped bars of y per x (and hue), with optional error bars from interval columns."""
    xs = list(dict.fromkeys(df[x]))
    hues = list(dict.fromkeys(df[hue])) if hue else [None]
    fig, (ax,) = figure(1, width=max(3.6, 0.6 * len(xs) * len(hues) + 1.5))
    w = 0.8 / len(hues)
    for j, h in enumerate(hues):
        d = df if h is None else df[df[hue] == h]
        d = d.set_index(x).reindex(xs)
        pos = np.arange(len(xs)) + (j - (len(hues) - 1) / 2) * w
        yerr = None
        if err:
            yerr = np.vstack([d[y] - d[err[0]], d[err[1]] - d[y]])
        ax.bar(pos, d[y], w, yerr=yerr, color=COLORS[j % 10], label=None if h is None else str(h),
               capsize=2)
    ax.set_xticks(range(len(xs)), [str(v) for v in xs], rotation=30 if len(xs) > 4 else 0)
    ax.set_ylabel(ylabel or y)
    ax.set_title(title)
    if hue:
        ax.legend()
    return fig
