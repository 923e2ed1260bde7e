# %% [markdown]
# # 07 · Sample density: does MMC pack each class's features more densely than SCE?
#
# Claim 4 of Pang et al. (ICLR 2020): the MMC loss induces a higher sample density in feature
# space than SCE. Their argument counts pairs: the density of class k's features scales with
# N_k for MMC (every feature pulled to one fixed point) but with N_{k,k~}, about N / L^2, for
# SCE (a class's features spread over the regions it shares with each other class). The
# paper measures no density; here it is measured with the k-nearest-neighbour radius: the
# distance r_k from each test feature to its k-th nearest neighbour *of the same class* (the
# k-NN density estimate p ~ k / (n_c V_d r_k^d): a smaller radius is a higher density).
#
# A naive radius rewards a model for the *unit* of its features: MMC's features sit at the
# scale C_MM = 10 of its centers, SCE's have no fixed scale, so multiplying an SCE model's
# features by 0.1 would make it "denser" without changing anything it does. The measure
# is therefore scale-free: `analysis.knn_radius(..., scale="centroid")` divides each radius
# by the mean distance between the class means of the same features, i.e. how tightly a class
# clusters relative to how far apart the classes are. The raw radii (`scale="none"`) are shown
# too, to show the bias a naive estimator would have. k is a free parameter of the estimator:
# the verdict is read at every k of the profile (`density_k`).
#
# The scale is not the only thing a naive measure rewards. SCE's linear head reads its d
# features through L rows, so d - L + 1 feature directions cost it nothing however far they
# spread, and they still enter a k-NN radius; MMC's loss pulls every direction toward the
# center. So the radius is also measured in the class-mean subspace: the features projected
# onto the span of their class means (`analysis.class_mean_subspace`, L - 1 dimensions), the
# only directions that separate the classes.
#
# **Verdict rule.** Measure: the median normalised k-NN radius (`scale="centroid"`, k-NN radius
# / mean distance between class means) over the test set's features, at each k of the profile
# (a k is used only where every test class has more than k points), in the full feature space
# and in the class-mean subspace, for the main dataset and, where the profile has CIFAR-10 runs,
# for those. Both models are measured on the same test points: SCE's median minus MMC-10's has
# a 95% paired bootstrap interval (200 resamples of the points, within their classes, once for
# both models; `stats.paired_bootstrap`). Per dataset and space: *holds* when that interval
# lies above 0 (MMC denser) at every k; *does not hold* when it lies at or below 0 at every k;
# *inconclusive* otherwise. Over seeds: every seed must agree.

# %% tags=["parameters"]
profile = "smoke"
data_root = None
runs_dir = None
seeds = [0]
overrides = {}
figures_dir = None

# %%
import pandas as pd

from rethinkmmc import notebook as nb, plots
from rethinkmmc.claims import density as Dn
from rethinkmmc.claims.common import at_seed, one_seed_view

ctx = nb.start("07_density", globals())
S = ctx.settings
CIFAR = S.cifar if S.cifar and S.cifar != S.dataset else None

# %% tags=["nbval-ignore-output"]
ctx.provenance([S.dataset] + ([CIFAR] if CIFAR else []))

# %% [markdown]
# ## Test-set features of the 'standard' runs

# %%
runs = {s: ctx.runs("standard", s) for s in ctx.seeds}
feats = {s: Dn.features(runs[s], ctx.data_root) for s in ctx.seeds}
ks, skipped, smallest = Dn.usable_k(feats[ctx.seed], S.density_k)
n_test = len(next(iter(feats[ctx.seed].values()))[1])
print(f"{S.dataset} test set: {n_test} points, smallest class {smallest}; k used: "
      f"{', '.join(map(str, ks))}"
      + (f"; skipped (a class has <= k points): {', '.join(map(str, skipped))}" if skipped
         else ""))
nb.show_table(one_seed_view(ctx.over_seeds(lambda s: Dn.feature_table(runs[s], feats[s]))))

# %% [markdown]
# ## The median k-NN radius: raw, and normalised by the distance between class means

# %%
dens = ctx.over_seeds(lambda s: Dn.density(feats[s], ks))
nb.show_table(dens.pivot_table(index=["scale", "k"], columns=["model"] + (
    ["seed"] if len(ctx.seeds) > 1 else []), values=["median_radius", "q25", "q75"],
    sort=False), 4)

# %% [markdown]
# What each estimator would conclude at each k ("MMC denser" = MMC's median radius smaller).
# The two readings differ by the ratio of the models' feature scales (the mean distances
# between class means above): where they agree, the unit of the features did not decide it.

# %%
wide = {s: Dn.readings(at_seed(dens, s)) for s in ctx.seeds}
for s in ctx.seeds:
    display(nb.show_table(wide[s], 4))

# %% [markdown]
# ## How the reading depends on k (median, shaded: interquartile range; first seed)

# %%
fig = plots.lines(at_seed(dens, ctx.seed), x="k", y="median_radius", hue="model",
                  panel="scale", ci=("q25", "q75"), xlabel="k (neighbours)",
                  ylabel="k-NN radius", title="k-NN radius,", xticklabels="k")
ctx.show(fig, "knn-radius-vs-k")

# %% [markdown]
# ## MMC against SCE on the same points, in both spaces (and on CIFAR-10 where the profile has it)

# %%
extra = {s: {CIFAR: Dn.features(ctx.runs("cifar", s), ctx.data_root)} if CIFAR else {}
         for s in ctx.seeds}
by_data = {s: {S.dataset: feats[s], **extra[s]} for s in ctx.seeds}
pair = {s: {d: Dn.paired(f, Dn.usable_k(f, S.density_k)[0], s) for d, f in by_data[s].items()}
        for s in ctx.seeds}
nb.show_table(one_seed_view(ctx.over_seeds(lambda s: pd.concat(
    [p.assign(data=d) for d, p in pair[s].items()], ignore_index=True))), 4)

# %% [markdown]
# ## Verdict

# %%
verdict = ctx.save_verdicts(ctx.seed_verdicts(lambda s: Dn.verdicts(pair[s], ks)))
verdict

# %% tags=["nbval-ignore-output"]
ctx.finish()
