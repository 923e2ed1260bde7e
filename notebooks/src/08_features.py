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
# **Verdict rule** (stated before computing). Both rows compare what the two models learned, on
# the same test points, by a paired bootstrap (1,000 resamples of the points within each class,
# the same resample for both models; 95% percentile interval of the difference):
# 1. *MMC's features are more compact than SCE's*: the mean distance of a test feature to its
#    class mean over the mean distance between the class means (scale-free: MMC's features have
#    norm about C_MM, SCE's any norm). Holds when the interval of SCE's minus MMC's lies above 0,
#    does not hold when below 0, inconclusive when it includes 0. One row for the standard pair,
#    one for the 2-D pair of panel (a). (The share of features nearest their own center is
#    MMC's test accuracy, so it is not used: it cannot fail where the model classifies well.)
# 2. *SCE's class means are less equally spaced than MMC's*: the coefficient of variation (std /
#    mean) of the distances between class means, SCE's minus MMC's, the same rule. MMC's fixed
#    centers are equally spaced by construction (their CV is 0 in the table); what the claim can
#    test is whether MMC's learned features follow them.

# %% tags=["parameters"]
profile = "smoke"
data_root = None
runs_dir = None
seeds = [0]
overrides = {}
figures_dir = None
n = None

# %%
from rethinkmmc import data as D, notebook as nb, plots
from rethinkmmc.claims import features as F
from rethinkmmc.claims.common import one_seed_view, seed_pivot

ctx = nb.start("08_features", globals(), n=None)
S = ctx.settings
N = ctx.n or min(S.n, 2000)  # points projected by Isomap / PCA (Isomap is O(n^2))
NAMES = list(D.DATASETS[S.dataset].classes)

# %% tags=["nbval-ignore-output"]
ctx.provenance([S.dataset])

# %% [markdown]
# ## (a) 2-D features (the reproduction's Figure 2)
#
# Test features of models whose feature layer has 2 units; crosses: MMC-10's centers. Figures
# show the first seed's runs.

# %%
runs2d = {s: ctx.runs("features2d", s) for s in ctx.seeds}
f2d = {s: F.features(runs2d[s], ctx.data_root) for s in ctx.seeds}
centers2d = {s: {k: r.model.centers.numpy() for k, r in runs2d[s].items()
                 if r.model.centers is not None} for s in ctx.seeds}
nb.show_table(one_seed_view(ctx.over_seeds(lambda s: F.table_2d(runs2d[s], f2d[s],
                                                                centers2d[s]))))
fig = plots.scatter_2d({k: (z.numpy(), y.numpy()) for k, (z, y) in f2d[ctx.seed].items()},
                       NAMES, centers=centers2d[ctx.seed])
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
runs = {s: ctx.runs("standard", s) for s in ctx.seeds}
feats = {s: F.features(runs[s], ctx.data_root) for s in ctx.seeds}
methods = ["isomap", "pca"]
if S.umap:
    try:
        import umap  # noqa: F401

        methods.append("umap")
    except ImportError:
        print("UMAP skipped: umap-learn is not installed (pip install umap-learn)")
else:
    print(f"UMAP off at the {ctx.profile} profile (numba compiles it for a minute)")
proj = {s: F.projections(feats[s], methods, N, s) for s in ctx.seeds}
nb.show_table(seed_pivot(ctx.over_seeds(lambda s: proj[s][1]), ["method", "points"], "run",
                         "1-NN same class in 2-D"))

# %%
ctx.show(plots.scatter_2d(proj[ctx.seed][0], NAMES), "projections")

# %% [markdown]
# ## (c) Distances between class means (SCE) and between centers (MMC)
#
# Each table divided by the mean of its off-diagonal entries, so that SCE's unbounded features
# and MMC's centers of norm C_MM compare. MMC's centers are equally spaced by construction (all
# off-diagonal entries 1); MMC's *class means* (of its test features) show how far the
# features follow them. The reproduction's cat/dog argument is about which pairs SCE puts
# close together.

# %%
tables = {s: F.distance_tables(runs[s], feats[s], NAMES) for s in ctx.seeds}
summary = ctx.over_seeds(lambda s: F.distance_summary(tables[s], NAMES))
nb.show_table(one_seed_view(summary))

# %%
for k, t in tables[ctx.seed].items():
    display(ctx.show(plots.heatmap(t, title=f"{k}: distance / mean distance", vmin=0, vmax=1.6),
                     "distances-" + k.lower().replace(" ", "-")))

# %% [markdown]
# ## Verdict

# %%
verdict = ctx.save_verdicts(ctx.seed_verdicts(lambda s: F.verdicts(runs[s], feats[s], f2d[s],
                                                                   seed=s)))
verdict

# %% tags=["nbval-ignore-output"]
ctx.finish()
