# %% [markdown]
# # 99 · Index: every claim and its verdict
#
# The claims of Pang et al. (ICLR 2020) and of the 2020 reproduction report, with the verdict
# each notebook computed from its data, read from the verdicts they stored (runs/<profile>/
# verdicts/). This notebook runs last; it computes nothing new. A claim marked
# *inconclusive at this profile* needs a larger profile (more data, epochs or points).
#
# Data caveats that apply to every number here: the offline MNIST training set is the first
# 17,435 of the 60,000 official images; the offline CIFAR-10 went through JPEG (quality 75) once;
# there is no CIFAR-100 on this machine; the smoke profile uses scikit-learn's 8x8 digits.

# %% tags=["parameters"]
profile = "smoke"
data_root = None
runs_dir = None
seeds = [0]
overrides = {}
figures_dir = None

# %%
import pandas as pd
from IPython.display import Markdown

from rethinkmmc import notebook as nb
from rethinkmmc.bottomline import bottom_line, stored_rows

ctx = nb.start("99_index", globals())
records = [r for r in nb.load_verdicts(ctx.profile) if r["notebook"] != "99_index"]

# whether each record's runs are still those in the store (a retrained run gets a new key):
# notebook -> (state, the state in words)
runs_state = {r["notebook"]: nb.record_runs(r, ctx.runs_dir) for r in records}
rows = [{"notebook": r["notebook"], "volatile": r.get("volatile", False),
         "runs": runs_state[r["notebook"]][0], **row}
        for r in records for row in r["rows"]]
index = pd.DataFrame(rows, columns=["notebook", "volatile", "runs", "claim", "measure",
                                    "reference", "ours", "verdict", "why"])
stable = index[~index["volatile"]]

# %% [markdown]
# ## Bottom line
#
# Written from the verdict rows below (`rethinkmmc.bottomline`; the timing rows of 06 left out),
# not by hand.

# %%
Markdown(bottom_line(stored_rows(records), ctx.profile))

# %% [markdown]
# Where each notebook's verdicts come from. `runs`: whether the runs a notebook read are still
# the ones in the store; a *stale* notebook's verdicts describe models that were retrained or
# removed since it was rendered, and need a re-render (its rows say so in the tables below).

# %% tags=["nbval-ignore-output"]
pd.DataFrame([{"notebook": r["notebook"], "hardware": r["hardware"], "seconds": r["seconds"],
               "finished": r["finished"], "seeds": r["seeds"],
               "runs": runs_state[r["notebook"]][1]} for r in records])

# %%
off = {k: words for k, (state, words) in runs_state.items() if state != "current"}
print("\n".join(f"{k}: {v}" for k, v in off.items()) if off
      else "every notebook's verdicts come from the runs now in the store")

# %% [markdown]
# ## Verdicts

# %%
if index.empty:
    print(f"no stored verdicts for profile {ctx.profile}: run the other notebooks first")
else:
    display(Markdown(stable[["notebook", "claim", "ours", "verdict", "runs"]]
                     .to_markdown(index=False)))

# %% [markdown]
# Verdicts that rest on timings (06: they vary from one execution to the next, so re-execution
# checks do not compare them):

# %% tags=["nbval-ignore-output"]
volatile = index[index["volatile"]]
display(Markdown(volatile[["notebook", "claim", "ours", "verdict"]].to_markdown(index=False))
        if not volatile.empty else Markdown("none"))

# %% [markdown]
# ### What was measured, against which reference, and why each verdict

# %%
if not stable.empty:
    display(stable[["notebook", "measure", "reference", "why"]])

# %% [markdown]
# ## Tally (all verdicts, timing ones included)

# %% tags=["nbval-ignore-output"]
if not index.empty:
    display(index.groupby("verdict").size().rename("claims").to_frame())

# %% tags=["nbval-ignore-output"]
ctx.finish()
