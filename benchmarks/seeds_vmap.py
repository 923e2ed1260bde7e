"""Several seeds trained at once with torch.func (stack_module_state + vmap) against one after
another, measured in one run.

    python benchmarks/seeds_vmap.py [--profile smoke] [--dataset digits] [--seeds 3 5]
                                    [--steps 20] [--repeats 3]

Each seed's model (the profile's architecture, MMC head) takes SGD steps (momentum 0.9) on its
own batches of the profile's batch size. "One after another" is what training seeds as separate
runs costs: K models, K steps each. "vmap" stacks the K models' parameters and buffers
(BatchNorm's running statistics included, so every seed keeps its own), computes all K losses
and gradients in one vmapped call and updates the stacked parameters with one optimiser. The
loss is MMC's, -logit_y / 2 = ||z - mu_y||^2 / 2 (Pang et al., ICLR 2020), on the model's own
head. Both take turns, repeats alternating; printed: images per second and the ratio
(vmap / one after another; above 1 means vmap pays). The first step checks that vmap computes
each seed's own loss (to float tolerance), so the timing compares the same work.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from rethinkmmc.data import DATASETS
from rethinkmmc.profiles import train_config
from rethinkmmc.train import build_model, hardware


def _loss(logits, y):
    return -logits.gather(1, y[:, None]).mean() / 2


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="smoke")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--seeds", type=int, nargs="+", default=[3, 5])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    from torch.func import functional_call, grad_and_value, stack_module_state, vmap

    cfg = train_config(a.profile, a.dataset, "mmc")
    shape, bs = DATASETS[cfg.dataset].shape, cfg.batch_size
    print(f"profile {a.profile}, {cfg.dataset}, arch {cfg.arch}, batch {bs}, {a.steps} steps, "
          f"{hardware(torch.device('cpu'))}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}")
    for k in a.seeds:
        models = []
        for s in range(k):
            torch.manual_seed(s)
            models.append(build_model(cfg).train())
        g = torch.Generator().manual_seed(0)
        xs = torch.rand(a.steps, k, bs, *shape, generator=g)
        ys = torch.randint(0, 10, (a.steps, k, bs), generator=g)

        seq_models = [copy.deepcopy(m) for m in models]
        seq_opts = [torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for m in seq_models]

        params, buffers = stack_module_state([copy.deepcopy(m) for m in models])
        base = copy.deepcopy(models[0]).to("meta")
        vopt = torch.optim.SGD(list(params.values()), lr=0.01, momentum=0.9)

        def one(p, b, x, y):
            return _loss(functional_call(base, (p, b), (x,)), y)

        step_all = vmap(grad_and_value(one), in_dims=(0, 0, 0, 0), randomness="different")

        def sequential():
            losses = []
            for i in range(a.steps):
                for j, (m, o) in enumerate(zip(seq_models, seq_opts)):
                    o.zero_grad(set_to_none=True)
                    loss = _loss(m(xs[i, j]), ys[i, j])
                    loss.backward()
                    o.step()
                    losses.append(float(loss))
            return losses

        def vmapped():
            losses = []
            for i in range(a.steps):
                grads, loss = step_all(params, buffers, xs[i], ys[i])
                for name, t in params.items():
                    t.grad = grads[name]
                vopt.step()
                losses.extend(loss.tolist())
            return losses

        # Same work: the first step's losses agree per seed (later ones drift with rounding).
        # Checked on copies, since a training-mode call moves BatchNorm's running statistics.
        with torch.no_grad():
            first_seq = [float(_loss(copy.deepcopy(m)(xs[0, j]), ys[0, j]))
                         for j, m in enumerate(models)]
        _, first_v = step_all(*stack_module_state([copy.deepcopy(m) for m in models]),
                              xs[0], ys[0])
        err = max(abs(u - v) / max(abs(u), 1e-12) for u, v in zip(first_seq, first_v.tolist()))
        assert err < 1e-4, f"vmap's first losses differ from the seeds' own ({err:.2e})"

        secs = {"one after another": [], "vmap": []}
        fns = {"one after another": sequential, "vmap": vmapped}
        for r in range(a.repeats + 1):  # the first round warms up
            for name in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
                t = time.perf_counter()
                fns[name]()
                if r:
                    secs[name].append(time.perf_counter() - t)
        ips = {n: k * a.steps * bs / statistics.median(v) for n, v in secs.items()}
        print(f"\n{k} seeds (first-step losses agree to {err:.1e})")
        for n, v in ips.items():
            print(f"  {n}: {v:.0f} img/s (median of {a.repeats})")
        print(f"  vmap / one after another: {ips['vmap'] / ips['one after another']:.2f}x")


if __name__ == "__main__":
    main()
