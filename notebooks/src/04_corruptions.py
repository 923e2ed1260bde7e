# %% [markdown]
# # 04 · General-purpose robustness: Gaussian noise and random rotation
#
# Pang et al. (ICLR 2020, Sec. 5.3, "Performance under general-purpose attacks") test the models
# on inputs nobody crafted against them: additive Gaussian noise (std 0.05) and random rotation
# (within +-30 degrees), on the first 1000 test images, and report MMC at least as robust as SCE.
# A defence that only masks gradients gains nothing here, so these numbers speak to whether MMC's
# features are more stable, not to attack strength.
#
# Here every run of the robustness group meets both corruptions at the original settings and in
# a sweep (noise std 0.02-0.3; rotation angle drawn uniformly within +-10 to +-60 degrees, borders
# filled with the nearest edge pixel as the original's Keras rotation). Noise and angles are
# drawn from a seeded generator: every run sees the same corrupted images.
#
# **Verdict rule** (accuracy on the true labels of the same seeded, class-stratified test points;
# over seeds, a verdict needs every seed to agree):
# 1. *MMC is at least as robust as SCE to Gaussian noise (std 0.05)*: MMC-10's accuracy not below
#    SCE's by more than 1 point, compared point by point (a non-inferiority test): holds when
#    the paired 95% interval of MMC-10 - SCE (Newcombe's method 10; McNemar's exact p in the
#    reason) lies wholly at or above -0.01; does not hold when it lies wholly below -0.01;
#    inconclusive otherwise, also when the point estimate is within 1 point but the interval
#    reaches beyond it (the profile's n points cannot show it).
# 2. *MMC is at least as robust as SCE to rotation (+-30 degrees)*: the same rule.

# %% tags=["parameters"]
profile = "smoke"
data_root = None
runs_dir = None
seeds = [0]
overrides = {}
figures_dir = None
n = None

# %%
from rethinkmmc import notebook as nb, plots
from rethinkmmc.claims import corruptions as C
from rethinkmmc.claims.common import at_seed, one_seed_view, seed_pivot

ctx = nb.start("04_corruptions", globals(), n=None)
S = ctx.settings
N = ctx.n or S.n

# %% tags=["nbval-ignore-output"]
ctx.provenance([S.dataset])

# %% [markdown]
# ## The runs and their accuracy on the clean points

# %%
runs = {s: ctx.runs("robustness", s) for s in ctx.seeds}
data = next(iter(runs[ctx.seed].values())).test_set(ctx.data_root)
res = ctx.over_seeds(lambda s: C.results(runs[s], data, N, s, ctx.progress))
nb.show_table(one_seed_view(res.drop_duplicates(["run", "seed"]).set_index("run")[
    ["n", "clean_accuracy", "seed"]]))

# %% [markdown]
# ## Accuracy under each corruption

# %%
nb.show_table(seed_pivot(res, ["corruption", "level"], "run", "robust_accuracy",
                         list(runs[ctx.seed])))

# %%
for i, (name, g) in enumerate(res.groupby("corruption", sort=False)):
    fig = plots.lines(g, x="level", y="robust_accuracy", hue="run",
                      xlabel=name.replace("Gaussian noise", "noise"), ylabel="accuracy",
                      title=name.split(" (")[0])
    display(ctx.show(fig, ["noise", "rotation"][i]))

# %% [markdown]
# ## Verdict

# %%
verdict = ctx.save_verdicts(ctx.seed_verdicts(lambda s: C.verdicts(at_seed(res, s), N)))
verdict

# %% tags=["nbval-ignore-output"]
ctx.finish()
