# %% [markdown]
# # 08 · Feature geometry: do SCE and MMC features look as pictured?
#
# Claim 5 of Pang et al. (ICLR 2020): the feature representations of SCE and MMC differ as
# their figures picture them: SCE's features spread out radially from the origin, one wedge per
# class, with class means at uneven distances; MMC's gather around fixed, equally spaced
# centers. The 2020 reproduction redrew this (its Figures 2 and 3) with 2-D features and with
# an isometric projection (Isomap) of the full features, and argued from the distances between
# SCE's class means that similar classes (CIFAR-10's cat and dog) sit closer together, where
# MMC's centers keep every pair at the same distance.
#
# Here: (a) models trained with 2-D features (the `features2d` runs: SCE, and MMC-10 whose
# centers are `mm_centers(10, 2)`, a regular 10-gon), their test features drawn directly;
# (b) the 'standard' runs' full features projected to 2-D by Isomap (10 neighbours, the
# reproduction's isometric projection) and by PCA, on a seeded class-stratified subset; UMAP
# beyond the smoke profile where umap-learn is installed; (c) the distances between SCE's class
# means next to MMC's fixed centers, both divided by their mean.
#
# **Verdict rule** (simple, stated before computing):
# 1. *MMC features cluster around their centers*: the share of test features nearer their own
#    class's center than any other center. As MMC's logits are -||z - mu_l||^2, this share *is*
#    MMC's test accuracy, read here from the features. Holds when its 95% Wilson interval lies
#    wholly >= 0.95, does not hold when wholly below, inconclusive otherwise. One row for the
#    standard MMC-10 run, one for the 2-D run of panel (a).
# 2. *SCE's class means are unequally spaced, MMC's centers equally*: the coefficient of
#    variation (std / mean) of the off-diagonal distances between SCE's class means (test
#    features) against that of MMC's centers. Holds when SCE's is larger (point estimates, no
#    intervals: MMC's is 0 by construction, up to rounding); does not hold otherwise.

# %% tags=["parameters"]
profile = "smoke"
data_root = None
runs_dir = None
seeds = [0]
overrides = {}
figures_dir = None
n = None

# %%
import warnings

import numpy as np
import pandas as pd
import torch

from rethinkmmc import analysis as A, data as D, notebook as nb, plots, verdicts as V
from rethinkmmc.evaluate import wilson

ctx = nb.start("08_features", globals(), n=None)
S = ctx.settings
N = ctx.n or min(S.n, 2000)  # points projected by Isomap / PCA (Isomap is O(n^2))
NAMES = list(D.DATASETS[S.dataset].classes)

# %% tags=["nbval-ignore-output"]
ctx.provenance([S.dataset])

# %% [markdown]
# ## (a) 2-D features (the reproduction's Figure 2)
#
# Test features of models whose feature layer has 2 units; crosses: MMC-10's centers.

# %%
runs2d = ctx.runs("features2d")
f2d = {}
for k, r in runs2d.items():
    x, y = r.test_set(ctx.data_root)
    f2d[k] = (A.embed(r.model, x)[0], y)
centers2d = {k: r.model.centers.numpy() for k, r in runs2d.items()
             if r.model.centers is not None}
nb.show_table(pd.DataFrame([{"run": k, "test accuracy": runs2d[k].metrics["test_accuracy"],
                             "mean feature norm": float(z.norm(dim=1).mean()),
                             "center norms": ("-" if k not in centers2d else
                                              f"{np.linalg.norm(centers2d[k], axis=1).mean():.3f}")}
                            for k, (z, y) in f2d.items()]))
fig = plots.scatter_2d({k: (z.numpy(), y.numpy()) for k, (z, y) in f2d.items()}, NAMES,
                       centers=centers2d)
ctx.show(fig, "features-2d")

# %% [markdown]
# ## (b) Projections of the full features (the reproduction's Figure 3)
#
# A seeded, class-stratified subset of the test features (`n` points) of each 'standard' run,
# projected by Isomap (10 neighbours) and PCA. The table gives one number per projection that
# does not depend on its arbitrary sign or rotation: the share of projected points whose
# nearest projected neighbour has the same class (how well the 2-D picture keeps the classes
# apart).

# %%
runs = ctx.runs("standard")
feats = {}
for k, r in runs.items():
    x, y = r.test_set(ctx.data_root)
    feats[k] = (A.embed(r.model, x)[0], y)


def nn_same_class(xy, y):
    d = torch.cdist(torch.as_tensor(xy), torch.as_tensor(xy))
    d.fill_diagonal_(float("inf"))
    return float((y[d.argmin(1)] == y).double().mean())


methods = ["isomap", "pca"]
if ctx.settings.umap:
    try:
        import umap  # noqa: F401

        methods.append("umap")
    except ImportError:
        print("UMAP skipped: umap-learn is not installed (pip install umap-learn)")
else:
    print(f"UMAP off at the {ctx.profile} profile (numba compiles it for a minute)")
proj, rows = {}, []
for k, (z, y) in feats.items():
    for m in methods:
        with warnings.catch_warnings():
            # Well-separated classes leave Isomap's 10-neighbour graph in several components;
            # scikit-learn then joins them by their closest points (and says so, slowly).
            warnings.simplefilter("ignore")
            xy, idx = A.project_2d(z, method=m, n_neighbors=10, seed=ctx.seed, max_points=N,
                                   y=y)
        proj[f"{k}, {m}"] = (xy, y[idx].numpy())
        rows.append({"run": k, "method": m, "points": len(idx),
                     "1-NN same class in 2-D": nn_same_class(xy, y[idx])})
nb.show_table(pd.DataFrame(rows).pivot_table(index=["method", "points"], columns="run",
                                             values="1-NN same class in 2-D", sort=False))

# %%
ctx.show(plots.scatter_2d(proj, NAMES), "projections")

# %% [markdown]
# ## (c) Distances between class means (SCE) and between centers (MMC)
#
# Each table divided by the mean of its off-diagonal entries, so that SCE's unbounded features
# and MMC's centers of norm C_MM compare. MMC's centers are equally spaced by construction (all
# off-diagonal entries 1); MMC's *class means* (of its test features) show how far the
# features follow them. The reproduction's cat/dog argument is about which pairs SCE puts
# close together.

# %%
def normalised(table):
    off = ~np.eye(len(table), dtype=bool)
    return table / table.to_numpy()[off].mean()


def off_diagonal(table):
    return table.to_numpy()[~np.eye(len(table), dtype=bool)]


L = len(NAMES)
tables = {"SCE class means": normalised(A.center_distance_table(
              A.class_means(*feats["SCE"], L), NAMES)),
          "MMC-10 class means": normalised(A.center_distance_table(
              A.class_means(*feats["MMC-10"], L), NAMES)),
          "MMC-10 centers": normalised(A.center_distance_table(
              runs["MMC-10"].model.centers, NAMES))}
cv = {k: float(off_diagonal(t).std() / off_diagonal(t).mean()) for k, t in tables.items()}
summary = []
for k, t in tables.items():
    iu = np.triu_indices(L, 1)
    pairs = sorted(zip(t.to_numpy()[iu], iu[0], iu[1]))
    lo, hi = pairs[0], pairs[-1]
    equal = cv[k] < 1e-6  # equal up to rounding: no closest pair to name
    summary.append({"distances of": k, "coefficient of variation": cv[k],
                    "min / mean": lo[0], "max / mean": hi[0],
                    "closest pair": "all equal" if equal else f"{NAMES[lo[1]]}-{NAMES[lo[2]]}",
                    "farthest pair": "all equal" if equal else f"{NAMES[hi[1]]}-{NAMES[hi[2]]}"})
if {"cat", "dog"} <= set(NAMES):
    for s, (k, t) in zip(summary, tables.items()):
        s["cat-dog / mean"] = float(t.loc["cat", "dog"])
nb.show_table(pd.DataFrame(summary))

# %%
for k, t in tables.items():
    ctx.show(plots.heatmap(t, title=f"{k}: distance / mean distance", vmin=0, vmax=1.6),
             "distances-" + k.lower().replace(" ", "-"))

# %% [markdown]
# ## Verdict

# %%
def own_center_share(run, z, y):
    nearest = torch.cdist(z.double(), run.model.centers.double()).argmin(1)
    k = int((nearest == y).sum())
    return k / len(y), wilson(k, len(y)), len(y)


rows = []
for label, run, (z, y) in [("MMC-10", runs["MMC-10"], feats["MMC-10"]),
                           ("MMC-10 2-D", runs2d["MMC-10 2-D"], f2d["MMC-10 2-D"])]:
    share, ci, m = own_center_share(run, z, y)
    rows.append(V.Verdict("MMC features cluster around their centers",
                          f"{label}: share of {m} test features nearest their own center "
                          "(= test accuracy)",
                          "paper Fig. 2/3; reproduction Fig. 2/3 (pictures)",
                          f"{share:.3f} (accuracy {run.metrics['test_accuracy']:.3f})",
                          *V.at_least(share, 0.95, ci, "share")))
rows.append(V.Verdict("SCE's class means are unequally spaced, MMC's centers equally",
                      "coefficient of variation of the off-diagonal distances: SCE class means "
                      "vs MMC-10 centers",
                      "reproduction: cat/dog closer for SCE; MMC centers equidistant",
                      f"SCE {cv['SCE class means']:.3f} vs MMC centers "
                      f"{cv['MMC-10 centers']:.3g} (MMC class means "
                      f"{cv['MMC-10 class means']:.3f})",
                      *V.greater(cv["SCE class means"], cv["MMC-10 centers"],
                                 names=("SCE CV", "MMC centers CV"))))
verdict = ctx.save_verdicts(V.verdict_table(rows))
verdict

# %% tags=["nbval-ignore-output"]
ctx.finish()
