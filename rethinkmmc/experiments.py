"""What each claim notebook trains and attacks, per profile: one table, so that the notebooks,
`rethinkmmc report` and the scripts that pre-train a profile all ask for the same runs.

A notebook asks its context for a named group (``ctx.runs("robustness")``) and gets a dict of
display name -> trained :class:`~rethinkmmc.runs.Run` (cached ones read from runs/).
:func:`plan` lists the TrainConfigs without training, for `rethinkmmc report --prepare`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from .config import TrainConfig
from .profiles import PROFILES, train_config

__all__ = ["Settings", "SETTINGS", "GROUPS", "SURROGATE_SEED", "SEEDS", "settings", "configs",
           "plan", "notebook_seeds", "seeded_plan"]

# The transfer surrogate of seed s trains with seed s + SURROGATE_SEED: an SCE model that shares
# no training randomness with any target a profile's seeds train, so that MMC and SCE targets
# both meet transferred (black-box) adversarials from it (Papernot et al. 2017).
SURROGATE_SEED = 1000
# The adversarially trained MMC-10 whose inner attack only pulls toward the target (an ablation).
PULL = "AT-MMC-10 (pull)"

# Per profile: the main dataset (robustness, density, features), the second dataset of the
# uncertainty notebook (CIFAR models against MNIST there), evaluation sizes and eps lists.
# MNIST budgets are the usual 0.1 / 0.2 / 0.3 (over 1); the original's 8/256 and 16/256 are
# CIFAR budgets, far below what an MNIST model resists. UMAP (optional umap-learn) is off at
# smoke: its first call compiles with numba for a minute, longer than the whole smoke notebook.
@dataclass(frozen=True)
class Settings:
    """What a profile evaluates, read as attributes (``S.eps_main``): the datasets of each
    claim, the number of test points and the budgets of every attack."""

    dataset: str                      # robustness, density, features
    cifar: str | None                 # the CIFAR models of 02 and 05 (None: digits only)
    ood: tuple[str, ...]              # out-of-distribution sets of 05
    n: int                            # test points per white-box evaluation
    n_cw: int
    n_spsa: int
    eps: tuple[float, ...]            # the eps sweep
    eps_main: tuple[float, ...]       # the budgets verdicts are computed at
    eps_strong: tuple[float, ...]     # claim 1's strong cascade: eps_main + the original's
    strong: dict                      # its size: suites.strong_suite's steps, targets, queries
    eps_cifar: tuple[float, ...]      # the cascade on the CIFAR models, where not the main set
    eps_label_den: int | None
    hmmc_dataset: str
    hmmc_c2: tuple[float, ...]        # HMMC's C2 sweep (the reproduction's best range [0.1, 2])
    cmm_dataset: str
    cmm: tuple[float, ...]
    spsa_steps: int
    spsa_samples: int
    square_queries: int
    cw_steps: int
    cw_binary: int
    density_k: tuple[int, ...]
    extras: bool                      # MM-LDA, center loss, L-GM beside SCE and MMC
    umap: bool

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


# The strong cascade's size. AutoAttack's standard version: APGD 100 steps, APGD-T toward the 9
# top classes, Square 5,000 queries. The smoke profile (8x8 digits, a cold CI run) takes a
# reduced one and only the digits budgets: it checks that the cascade runs and breaks what it
# should, not how robust a digits model is at CIFAR budgets.
AUTOATTACK_SIZE = {"steps": 100, "targets": 9, "square_queries": 5000}
SMOKE_STRONG = {"steps": 20, "targets": 3, "square_queries": 100}
HMMC_C2 = (0.1, 1.0, 2.0)  # C1 = 10 (= C_MM) with C2 across the reproduction's best range

SETTINGS: dict[str, Settings] = {
    "smoke": Settings(dataset="digits", cifar=None, ood=("noise", "photos"), n=450, n_cw=100,
                      n_spsa=100, eps=(0.05, 0.1, 0.2, 0.3), eps_main=(0.1, 0.3),
                      eps_strong=(0.1, 0.3), strong=SMOKE_STRONG, eps_cifar=(),
                      eps_label_den=None, hmmc_dataset="digits", hmmc_c2=HMMC_C2,
                      cmm_dataset="digits",
                      cmm=(1, 10, 50, 100), spsa_steps=10, spsa_samples=32, square_queries=300,
                      cw_steps=100, cw_binary=5, density_k=(5, 10, 20, 50), extras=True,
                      umap=False),
    "quick": Settings(dataset="mnist", cifar="cifar10",
                      ood=("fashion_mnist", "noise", "photos", "cifar10"),
                      n=500, n_cw=100, n_spsa=100, eps=(0.05, 0.1, 0.2, 0.3), eps_main=(0.1, 0.3),
                      eps_strong=(8 / 256, 16 / 256, 0.1, 0.3), strong=AUTOATTACK_SIZE,
                      eps_cifar=(8 / 255, 16 / 255),
                      eps_label_den=None, hmmc_dataset="cifar10", hmmc_c2=HMMC_C2,
                      cmm_dataset="mnist",
                      cmm=(1, 10, 50, 100), spsa_steps=10, spsa_samples=64, square_queries=500,
                      cw_steps=100, cw_binary=5, density_k=(5, 10, 20, 50), extras=True,
                      umap=True),
    "paper": Settings(dataset="cifar10", cifar="cifar10", ood=("mnist", "noise", "photos"),
                      n=10000, n_cw=500, n_spsa=1000,
                      eps=(4 / 256, 8 / 256, 16 / 256, 24 / 256, 32 / 256),
                      eps_main=(8 / 256, 16 / 256), eps_strong=(8 / 256, 16 / 256),
                      strong=AUTOATTACK_SIZE, eps_cifar=(),
                      eps_label_den=256, hmmc_dataset="cifar10", hmmc_c2=HMMC_C2,
                      cmm_dataset="cifar10", cmm=(1, 10, 50, 100), spsa_steps=10,
                      spsa_samples=128, square_queries=5000, cw_steps=1000, cw_binary=9,
                      density_k=(5, 10, 20, 50), extras=True, umap=True),
}


def settings(profile: str) -> Settings:
    if profile not in SETTINGS:
        raise ValueError(f"profile: unknown {profile!r} (allowed: {', '.join(SETTINGS)})")
    return SETTINGS[profile]


def _robustness(p: str, s: Settings) -> dict[str, TrainConfig]:
    d = s.dataset
    out = {"SCE": train_config(p, d, "sce"), "MMC-10": train_config(p, d, "mmc"),
           "AT-SCE": train_config(p, d, "sce", adv_train=True),
           "AT-MMC-10": train_config(p, d, "mmc", adv_train=True)}
    if s.extras:
        out.update({"MM-LDA": train_config(p, d, "mmlda"),
                    "Center": train_config(p, d, "center"),
                    "L-GM": train_config(p, d, "lgm")})
    return out


def _standard(p: str, s: Settings) -> dict[str, TrainConfig]:
    return {"SCE": train_config(p, s.dataset, "sce"),
            "MMC-10": train_config(p, s.dataset, "mmc")}


def _cifar(p: str, s: Settings) -> dict[str, TrainConfig]:
    if s.cifar is None:
        return {}
    return {"SCE": train_config(p, s.cifar, "sce"), "MMC-10": train_config(p, s.cifar, "mmc")}


def _cifar_at(p: str, s: Settings) -> dict[str, TrainConfig]:
    if s.cifar is None:
        return {}
    return {"AT-SCE": train_config(p, s.cifar, "sce", adv_train=True),
            "AT-MMC-10": train_config(p, s.cifar, "mmc", adv_train=True)}


def _at_pull(p: str, s: Settings) -> dict[str, TrainConfig]:
    # The ablation of the MMC inner attack: pull-only (-||z - mu_t||^2 toward a target among
    # the other classes) instead of the original's targeted softmax CE over all classes.
    return {PULL: train_config(p, s.dataset, "mmc", adv_train=True, adv_target="pull")}


def _surrogate(p: str, s: Settings) -> dict[str, TrainConfig]:
    return {"SCE surrogate": train_config(p, s.dataset, "sce", seed=SURROGATE_SEED)}


def _cmm(p: str, s: Settings) -> dict[str, TrainConfig]:
    return {f"MMC-{c:g}": train_config(p, s.cmm_dataset, "mmc", c_mm=float(c))
            for c in s.cmm}


def _optimizers(p: str, s: Settings) -> dict[str, TrainConfig]:
    # Adam and RMSProp at their usual lr 1e-3 (Keras' defaults, as the reproduction used), no
    # momentum for RMSProp; SGD with the profile's own settings.
    d = s.dataset
    return {"SGD momentum": train_config(p, d, "mmc"),
            "Adam": train_config(p, d, "mmc", optimizer="adam", lr=1e-3),
            "RMSProp": train_config(p, d, "mmc", optimizer="rmsprop", lr=1e-3, momentum=0.0)}


def _features2d(p: str, s: Settings) -> dict[str, TrainConfig]:
    d = s.dataset
    return {"SCE 2-D": train_config(p, d, "sce", feat_dim=2),
            "MMC-10 2-D": train_config(p, d, "mmc", feat_dim=2)}


def _hmmc(p: str, s: Settings) -> dict[str, TrainConfig]:
    d = s.hmmc_dataset
    return {"MMC-10": train_config(p, d, "mmc"),
            **{f"HMMC 10/{c2:g}": train_config(p, d, "mmc", centers="hierarchical", c_mm=10.0,
                                               hmmc_c2=float(c2)) for c2 in s.hmmc_c2}}


GROUPS: dict[str, Callable[[str, Settings], dict[str, TrainConfig]]] = {
    "robustness": _robustness, "standard": _standard, "cifar": _cifar, "cifar_at": _cifar_at,
    "at_pull": _at_pull, "surrogate": _surrogate, "cmm": _cmm,
    "optimizers": _optimizers, "features2d": _features2d, "hmmc": _hmmc,
}


def configs(profile: str, group: str, **overrides: Any) -> dict[str, TrainConfig]:
    """Display name -> TrainConfig of `group` at `profile`, with `overrides` (TrainConfig
    fields, e.g. seed or epochs) applied to every config; a seed adds to the config's own."""
    if group not in GROUPS:
        raise ValueError(f"group: unknown {group!r} (allowed: {', '.join(GROUPS)})")
    s = settings(profile)
    out = GROUPS[group](profile, s)
    if not overrides:
        return out
    # `seed` shifts each config's own seed (0, but SURROGATE_SEED for the surrogate), so that
    # seed s asks every group for its s-th model.
    shift = {k: v for k, v in overrides.items() if k != "seed"}
    return {k: c.replace(**shift, seed=c.seed + overrides.get("seed", 0))
            for k, c in out.items()}


def plan(profile: str, groups=None, **overrides: Any) -> list[TrainConfig]:
    """Every distinct TrainConfig the report needs at `profile`, in training order."""
    seen: dict[str, TrainConfig] = {}
    for g in groups or GROUPS:
        for cfg in configs(profile, g, **overrides).values():
            seen.setdefault(cfg.key(), cfg)
    return list(seen.values())


# The seeds a profile's report runs a notebook over when the caller gives none (a notebook's own
# default is seed 0), with the groups those seeds train. Quick gives 3 seeds to the notebooks
# whose runs are all MNIST (the C_MM sweep, the optimizers and the feature geometry, issue 14),
# and 2 to the notebooks whose runs are the standard MNIST pair and the CIFAR-10 pair
# (uncertainty, density, Remark 3): a CIFAR-10 pair costs about 40 minutes on a 2-core CPU, so
# 3 seeds of the whole quick plan, CIFAR-10 included, do not fit a working session there. The
# transfer and corruption notebooks (03, 04) are MNIST only and get 3: each seed of their
# robustness group holds two adversarially trained runs (seed 1's: 1825 s and 1104 s there)
# and five standard runs (about 300 s each), about 70 minutes a seed.
_MNIST_CIFAR = ((0, 1), ("standard", "cifar"))
SEEDS: dict[str, dict[str, tuple[tuple[int, ...], tuple[str, ...]]]] = {
    "smoke": {},
    "quick": {"06_cost": ((0, 1, 2), ("optimizers",)), "10_cmm_sweep": ((0, 1, 2), ("cmm",)),
              "08_features": ((0, 1, 2), ("standard", "features2d")),
              "05_uncertainty": _MNIST_CIFAR, "07_density": _MNIST_CIFAR,
              "09_remark3": _MNIST_CIFAR,
              "03_blackbox": ((0, 1, 2), ("robustness", "surrogate")),
              "04_corruptions": ((0, 1, 2), ("robustness",))},
    "paper": {},
}


def notebook_seeds(profile: str, notebook: str) -> list[int] | None:
    """The seeds `profile`'s report gives `notebook` by default (SEEDS), or None: the
    notebook's own default."""
    hit = SEEDS.get(profile, {}).get(notebook)
    return list(hit[0]) if hit else None


def seeded_plan(profile: str, **overrides: Any) -> list[TrainConfig]:
    """The runs SEEDS adds to :func:`plan` (the other seeds of those notebooks' groups), each
    key once, in table order."""
    seen: dict[str, TrainConfig] = {}
    for seeds, groups in SEEDS.get(profile, {}).values():
        for s in seeds:
            for g in groups:
                for cfg in configs(profile, g, **{**overrides, "seed": s}).values():
                    seen.setdefault(cfg.key(), cfg)
    return list(seen.values())


assert set(SETTINGS) == set(PROFILES) == set(SEEDS), "experiments.SETTINGS and profiles.PROFILES disagree"
