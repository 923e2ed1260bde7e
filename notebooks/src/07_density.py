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
# **Verdict rule.** Measure: the median normalised k-NN radius (`scale="centroid"`, k-NN radius
# / mean distance between class means) over the test set's features, at each k of the profile
# (a k is used only where every test class has more than k points). *Holds* when MMC-10's
# median is smaller than SCE's at every k; *does not hold* when it is larger (or equal) at
# every k; *inconclusive* when the answer depends on k. Point estimates: the interquartile range
# is shown, not used.

# %% tags=["parameters"]
profile = "smoke"
data_root = None
runs_dir = None
seeds = [0]
overrides = {}
figures_dir = None

# %%
import numpy as np
import pandas as pd

from rethinkmmc import analysis as A, notebook as nb, plots, verdicts as V

ctx = nb.start("07_density", globals())
S = ctx.settings

# %% tags=["nbval-ignore-output"]
ctx.provenance([S.dataset])

# %% [markdown]
# ## Test-set features of the 'standard' runs

# %%
runs = ctx.runs("standard")
feats = {}
for k, r in runs.items():
    x, y = r.test_set(ctx.data_root)
    feats[k] = (A.embed(r.model, x)[0], y)
smallest = min(int(np.bincount(y.numpy()).min()) for _, y in feats.values())
ks = [k for k in S.density_k if k < smallest]
skipped = [k for k in S.density_k if k >= smallest]
print(f"{S.dataset} test set: {len(y)} points, smallest class {smallest}; k used: "
      f"{', '.join(map(str, ks))}"
      + (f"; skipped (a class has <= k points): {', '.join(map(str, skipped))}" if skipped
         else ""))


def scale(z, y):  # the normaliser of scale="centroid": mean distance between class means
    m = A.class_means(z, y, int(y.max()) + 1)
    iu = np.triu_indices(len(m), 1)
    return float(A.center_distance_table(m, list(range(len(m)))).to_numpy()[iu].mean())


nb.show_table(pd.DataFrame([{"run": k, "test accuracy": runs[k].metrics["test_accuracy"],
                             "feature dim": int(z.shape[1]),
                             "mean feature norm": float(z.norm(dim=1).mean()),
                             "mean distance between class means": scale(z, y)}
                            for k, (z, y) in feats.items()]))

# %% [markdown]
# ## The median k-NN radius: raw, and normalised by the distance between class means

# %%
dens = pd.concat([A.density_table(feats, ks, scale="centroid").assign(scale="normalised"),
                  A.density_table(feats, ks, scale="none").assign(scale="raw")],
                 ignore_index=True)
nb.show_table(dens.pivot_table(index=["scale", "k"], columns="model",
                               values=["median_radius", "q25", "q75"], sort=False), 4)

# %% [markdown]
# What each estimator would conclude at each k ("MMC denser" = MMC's median radius smaller).
# The two readings differ by the ratio of the models' feature scales (the mean distances
# between class means above): where they agree, the unit of the features did not decide it.

# %%
wide = dens.pivot_table(index=["scale", "k"], columns="model", values="median_radius",
                        sort=False)
wide["MMC / SCE"] = wide["MMC-10"] / wide["SCE"]
wide["reading"] = np.where(wide["MMC-10"] < wide["SCE"], "MMC denser",
                           np.where(wide["MMC-10"] > wide["SCE"], "SCE denser", "tie"))
nb.show_table(wide, 4)

# %% [markdown]
# ## How the reading depends on k (median, shaded: interquartile range)

# %%
fig = plots.lines(dens, x="k", y="median_radius", hue="model", panel="scale",
                  ci=("q25", "q75"), xlabel="k (neighbours)", ylabel="k-NN radius",
                  title="k-NN radius,", xticklabels="k")
ctx.show(fig, "knn-radius-vs-k")

# %% [markdown]
# ## Verdict

# %%
norm = wide.loc["normalised"]
per_k = {k: V.greater(norm.loc[k, "SCE"], norm.loc[k, "MMC-10"], names=("SCE", "MMC"))
         for k in ks}
outcome = V.unanimous(per_k.values())
words = {V.HOLDS: "MMC smaller", V.FAILS: "MMC not smaller", V.OPEN: "?"}
why = ("MMC / SCE median normalised radius: "
       + ", ".join(f"k={k} {norm.loc[k, 'MMC / SCE']:.3g}" for k in ks)
       + {V.HOLDS: " (< 1 at every k)", V.FAILS: " (>= 1 at every k)",
          V.OPEN: " (depends on k)"}[outcome.verdict])
rows = [V.Verdict("MMC induces a higher sample density in feature space than SCE",
                  "median k-NN radius within the class / mean distance between class means, "
                  f"{S.dataset} test features, k in {ks}",
                  "paper: density ~ N_k (MMC) vs ~ N/L^2 (SCE); no measured density",
                  "; ".join(f"k={k}: {words[d.verdict]} ({norm.loc[k, 'MMC-10']:.3g} vs "
                            f"{norm.loc[k, 'SCE']:.3g})" for k, d in per_k.items()),
                  *outcome._replace(why=why))]
verdict = ctx.save_verdicts(V.verdict_table(rows))
verdict

# %% tags=["nbval-ignore-output"]
ctx.finish()
