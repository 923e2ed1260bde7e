"""One short GPU slot, used well: ``python -m rethinkmmc.gpu --budget 540 --out OUT``.

Within `--budget` seconds of wall time, in order (each step logged with its time to stdout and
OUT/log.txt):

1. the environment (torch, GPU, memory, CPU count);
2. a timing probe of the paper's network (Keras ResNet v2, n = 5; Pang et al., ICLR 2020):
   ms per training step, standard and adversarial, SCE and MMC, at batch 50 (the paper's) and
   at the plan's batches; PGD-10 images/s; the cost of torch.compile, which decides whether
   the training processes compile the trunk this slot (a speed choice: channels_last and the
   bf16 trunk of TrainConfig.fast stay on, and the run keys do not change);
3. the plan's four runs (SCE, MMC-10, AT-SCE, AT-MMC-10), trained in parallel processes up to
   a deadline; a run cut there keeps its last epoch checkpoint and resumes in the next slot;
4. each finished run evaluated as it finishes: PGD-10 (CE) on the full test set, then
   ``suites.claim1_eval`` at 8/255 and 16/255 on `--n-eval` test points, all stored under
   ``<run>/evaluations/`` (an evaluation cut at the deadline resumes at its next batch);
5. packing: OUT/runs.tar.gz (or runs-1..k.tar.gz, each under 16 MB: a ResNet-32 model is 6 MB,
   a checkpoint 12 MB), timings.json, training.csv, summary.csv, log.txt (at most 8 files).

``python -m rethinkmmc.gpu --merge OUT/runs*.tar.gz`` (on the CPU afterwards) puts the returned
runs into the store (default runs/gpu, as runs/gpu/paper/<key>/), never replacing a finished
run with an unfinished one, and prints what is there.

Each child (probe, training run, evaluation) is a ``python -m rethinkmmc.gpu --child SPEC``
process in its own session, so that the deadline can end it and everything it started.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
PREPARE = REPO / ".gpu" / "prepare.py"
EPS_LIST = (8 / 255, 16 / 255)
RUNS = (("SCE", "sce", False), ("MMC-10", "mmc", False),   # in order of value
        ("AT-SCE", "sce", True), ("AT-MMC-10", "mmc", True))

# What each plan changes in profile "paper" (adversarial runs: key True). The paper trains 200
# epochs at batch 50, lr 0.01 (decays at 100, 150): days of GPU time for four runs, far beyond a
# slot. "slot" trains with larger batches, the learning rate scaled with them (linear scaling,
# Goyal et al. 2017) and a schedule short enough that each run ends within one slot on an H200
# (adversarial: 10 epochs, ~17 s each at batch 256 eager, by the CPU-side estimate);
# PGD-10 at 8/256, step 2/256 stays as the paper's. "tiny" is the CPU test of this script.
OVERRIDES = {
    "slot": {False: dict(batch_size=128, lr=0.05, epochs=30, milestones=(15, 25)),
             True: dict(batch_size=256, lr=0.1, epochs=10, milestones=(6, 9))},
    "tiny": {adv: dict(train_subset=256, test_subset=200, epochs=2, milestones=(1,),
                       batch_size=64, adv_steps=2, depth_n=1) for adv in (False, True)},
}
# Per plan: the probe's batch sizes (standard, adversarial), steps timed, points for the PGD
# timing, the probe's time limit, seconds kept for packing, the least time worth starting an
# evaluation with.
SETTINGS = {
    "slot": dict(std=(50, 128), adv=(50, 256), steps=10, adv_steps_timed=4, pgd_n=10000,
                 probe_s=50, pack_s=20, min_eval_s=15),
    "tiny": dict(std=(4,), adv=(4,), steps=1, adv_steps_timed=1, pgd_n=8,
                 probe_s=6, pack_s=3, min_eval_s=2),
}
TAR_LIMIT = 15 * 2 ** 20  # raw bytes per tarball (models barely compress)


def plan(name: str) -> list[tuple[str, TrainConfig]]:
    """[(label, TrainConfig)] of a plan, in order of value."""
    from .profiles import train_config
    return [(label, train_config("paper", "cifar10", loss, adv_train=adv,
                                 **({"c_mm": 10.0} if loss == "mmc" else {}),
                                 **OVERRIDES[name][adv]))
            for label, loss, adv in RUNS]


# ---------------------------------------------------------------------------------------------
# logging and children

class Log:
    def __init__(self, path: Path):
        self.t0 = time.monotonic()
        self.f = open(path, "a", buffering=1)

    def __call__(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')} +{time.monotonic() - self.t0:6.1f}s] {msg}"
        print(line, flush=True)
        self.f.write(line + "\n")


def _spawn(kind: str, spec: dict, work: Path, name: str, threads: int) -> subprocess.Popen:
    spec_path = work / f"{name}.spec.json"
    spec_path.write_text(json.dumps({"kind": kind, **spec}))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    if spec.get("data"):
        env["RETHINKMMC_DATA"] = spec["data"]  # Run.test_set() inside evaluate reads it
    with open(work / f"{name}.log", "w") as logf:
        return subprocess.Popen([sys.executable, "-m", "rethinkmmc.gpu", "--child", str(spec_path)],
                                stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """End a child and its own children (its session), SIGTERM first."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    with contextlib.suppress(ProcessLookupError):  # stragglers of the session (compile workers)
        os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def _no_compile():
    """torch.compile as the identity inside the block (train.fast_path then runs eager)."""
    import torch
    real = torch.compile
    torch.compile = lambda fn=None, *a, **k: fn if fn is not None else (lambda f: f)
    try:
        yield
    finally:
        torch.compile = real


def _child(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    return {"probe": _probe, "train": _train_child, "eval": _eval_child}[spec["kind"]](spec)


class _SlotEnd(Exception):
    pass


def _train_child(spec: dict) -> int:
    from .config import TrainConfig
    from .train import train
    cfg = TrainConfig.from_dict(spec["config"])
    done = [0]
    t0 = time.monotonic()

    def on_epoch(epoch, rec):
        print(f"epoch {epoch}/{cfg.epochs} loss {rec['loss']:.4g} test "
              f"{rec['test_accuracy']:.4f} ({rec['seconds']:.1f}s, {time.monotonic() - t0:.0f}s "
              "in this call)", flush=True)
        done[0] += 1
        Path(spec["progress"]).write_text(json.dumps(
            {"epoch": epoch, "epochs": cfg.epochs, "epoch_s": rec["seconds"], "at": time.time()}))
        if spec.get("epochs_per_call") and done[0] >= spec["epochs_per_call"] and epoch < cfg.epochs:
            raise _SlotEnd

    use_compile = spec["compile"]
    for attempt in range(2):
        try:
            with contextlib.nullcontext() if use_compile else _no_compile():
                train(cfg, runs_dir=spec["runs"], data_root=spec["data"], device=spec["device"],
                      progress=False, on_epoch_end=on_epoch,
                      threads=spec["threads"] if spec["device"] == "cpu" else None)
            print("finished", flush=True)
            return 0
        except _SlotEnd:
            print(f"stopped after {done[0]} epoch(s) in this call (epochs_per_call)", flush=True)
            return 0
        except Exception as e:
            if not use_compile or attempt:
                raise
            print(f"training with torch.compile failed ({type(e).__name__}: {e}); resuming "
                  "eager", flush=True)
            use_compile = False
    return 1


def _eval_child(spec: dict) -> int:
    import pandas as pd

    from .attacks import PGD
    from .evaluate import evaluate
    from .runs import Run
    from .suites import claim1_eval
    run, out = Run(spec["run"]), Path(spec["csv"])
    frames = []

    def save(df, suite, seconds):
        df = df.copy()
        df.insert(0, "suite", suite)
        df.insert(0, "run", spec["label"])
        df["call_seconds"] = seconds
        frames.append(df)
        pd.concat(frames, ignore_index=True).to_csv(out, index=False)
        print(f"{suite}: {seconds:.1f}s", flush=True)

    for eps in spec["eps"]:  # first: seconds on a GPU, and the timing the report quotes
        t0 = time.monotonic()
        save(evaluate(run, [PGD(eps, steps=10, step_size=2.5 * eps / 10, objective="ce")],
                      n=None, device=spec["device"], progress=False), "pgd10-full",
             time.monotonic() - t0)
    t0 = time.monotonic()
    save(claim1_eval(run, spec["eps"], n=spec["n"], seed=0, device=spec["device"],
                     progress=False), "claim1", time.monotonic() - t0)
    return 0


# ---------------------------------------------------------------------------------------------
# 2. the timing probe

def _step_ms(cfg, device, steps: int, compiled: bool) -> dict:
    """ms per training step of `cfg` on random data (train.train_epoch itself), after a warm-up
    step; with `compiled`, the warm-up's time is the compile cost."""
    import torch

    from .build import build_model
    from .losses import make_loss
    from .train import fast_path, make_optimizer, train_epoch
    model = build_model(cfg).to(device)
    opt = make_optimizer(cfg, model)
    loss_fn = make_loss(cfg.loss, model.head, cfg.center_lambda, cfg.lgm_alpha, cfg.lgm_lambda)
    with contextlib.nullcontext() if compiled else _no_compile():
        model, features = fast_path(cfg, model, device)
    gen = torch.Generator(device=device).manual_seed(0)

    def timed(k):
        x = torch.rand(k * cfg.batch_size, 3, 32, 32, device=device)
        y = torch.randint(0, 10, (len(x),), device=device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        train_epoch(cfg, model, features, loss_fn, opt, x, y, gen)  # reads .item(): synchronised
        return time.perf_counter() - t
    first = timed(1)
    return {"loss": cfg.loss, "adv": cfg.adv_train, "batch": cfg.batch_size,
            "compiled": compiled, "first_step_s": round(first, 3),
            "ms_per_step": round(1000 * timed(steps) / steps, 3)}


def _probe(spec: dict) -> int:
    import torch

    from .attacks import PGD
    from .build import build_model
    from .torchutil import eval_mode
    s, device, out = SETTINGS[spec["plan"]], torch.device(spec["device"]), Path(spec["json"])
    cfgs = {(c.loss, c.adv_train): c for _, c in plan(spec["plan"])}
    res: dict = {"steps": []}

    def save():
        out.write_text(json.dumps(res, indent=1))
    for adv in (False, True):
        for bs in s["adv" if adv else "std"]:
            for loss in ("sce", "mmc"):
                cfg = cfgs[(loss, adv)].replace(batch_size=bs)
                res["steps"].append(_step_ms(cfg, device, s["adv_steps_timed" if adv else "steps"],
                                             False))
                print(res["steps"][-1], flush=True)
                save()
    # PGD-10 (CE, 8/255) as the evaluation runs it: the stored fp32 model, batches of 500.
    model = build_model(cfgs[("mmc", False)]).to(device).eval()
    attack = PGD(8 / 255, steps=10, step_size=2.5 * (8 / 255) / 10, objective="ce")
    bs = min(500, s["pgd_n"])
    x = torch.rand(bs, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (bs,), device=device)
    with eval_mode(model):
        attack(model, x, y)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        t, done = time.perf_counter(), 0
        while done < s["pgd_n"] and time.perf_counter() - t < 5:
            attack(model, x, y).sum().item()
            done += bs
        dt = time.perf_counter() - t
    res["pgd10"] = {"images": done, "seconds": round(dt, 3), "images_per_s": round(done / dt, 1),
                    "full_test_s_est": round(10000 / (done / dt), 1)}
    print(res["pgd10"], flush=True)
    save()
    if spec["measure_compile"]:
        cfg = cfgs[("mmc", False)]  # also warms the inductor cache for the standard runs
        res["compile"] = _step_ms(cfg, device, s["steps"], True)
        print(res["compile"], flush=True)
        save()
    return 0


def _decide_compile(mode: str, probe: dict, cfgs, device: str) -> dict:
    """Whether training compiles the trunk: 'auto' compiles when the probe's compiled step is
    faster by more than the estimated compile cost (graphs per run: train and eval mode, full
    and last batch) over the plan's steps."""
    if device != "cuda" or mode == "off":
        return {"compile": False, "why": "off" if mode == "off" else "not CUDA"}
    if mode == "on":
        return {"compile": True, "why": "--compile on"}
    c = probe.get("compile")
    if not c:
        return {"compile": False, "why": "the probe did not finish compiling within its limit"}
    eager = {(r["loss"], r["adv"], r["batch"]): r["ms_per_step"] for r in probe["steps"]}
    base = eager.get(("mmc", False, c["batch"]))
    if not base:
        return {"compile": False, "why": "no eager timing to compare"}
    gain = max(0.0, 1 - c["ms_per_step"] / base)
    saved = cost = 0.0
    for cfg in cfgs:
        ms = eager.get((cfg.loss, cfg.adv_train, cfg.batch_size), base)
        steps = cfg.epochs * math.ceil(50000 / cfg.batch_size)
        saved += gain * ms * steps / 1000
        cost += (4 if cfg.adv_train else 2) * c["first_step_s"]
    return {"compile": saved > cost, "speedup": round(base / c["ms_per_step"], 3),
            "compile_s": c["first_step_s"], "est_saved_s": round(saved, 1),
            "est_cost_s": round(cost, 1), "why": "auto: saved vs cost, summed over the runs"}


# ---------------------------------------------------------------------------------------------
# 5. packing and merging

def _run_files(path: Path) -> list[Path]:
    finished = (path / "metrics.json").exists()
    names = ("config.json", "metrics.json", "history.json", "model.pt") if finished else (
        "config.json", "checkpoint.pt")
    files = [path / n for n in names if (path / n).is_file()]
    return files + sorted((path / "evaluations").glob("*.json"))


def pack(run_paths: list[Path], store: Path, out: Path) -> list[Path]:
    """Tarballs of the runs (relative to the store), each under TAR_LIMIT raw bytes."""
    bins: list[list[Path]] = []
    size = TAR_LIMIT + 1
    for p in run_paths:
        files = _run_files(p)
        if not files:
            continue
        n = sum(f.stat().st_size for f in files)
        if size + n > TAR_LIMIT:
            bins.append([])
            size = 0
        bins[-1] += files
        size += n
    tars = []
    for i, files in enumerate(bins, 1):
        tar_path = out / ("runs.tar.gz" if len(bins) == 1 else f"runs-{i}.tar.gz")
        with tarfile.open(tar_path, "w:gz", compresslevel=6) as tar:
            for f in files:
                tar.add(f, arcname=str(f.relative_to(store)))
        tars.append(tar_path)
    return tars


def _state(path: Path) -> tuple[bool, int, float | None]:
    """(finished, epochs, test accuracy) of a run folder, from metrics.json or checkpoint.pt."""
    if (path / "metrics.json").exists():
        m = json.loads((path / "metrics.json").read_text())
        return True, int(m.get("epochs") or 0), m.get("test_accuracy")
    if (path / "checkpoint.pt").exists():
        import collections

        import torch
        with torch.serialization.safe_globals([collections.Counter]):
            ck = torch.load(path / "checkpoint.pt", map_location="cpu", weights_only=True)
        hist = ck.get("history") or [{}]
        return False, int(ck.get("epoch", 0)), hist[-1].get("test_accuracy")
    return False, 0, None


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    out = []
    for m in tar.getmembers():
        p = Path(m.name)
        if p.is_absolute() or ".." in p.parts or not (m.isfile() or m.isdir()):
            raise ValueError(f"merge: {tar.name}: refusing member {m.name!r}")
        out.append(m)
    return out


def merge(tarballs: list[Path], store: Path) -> list[str]:
    """Unpack each tarball beside the store and move each run in whole (os.replace), unless the
    store's copy is finished and the incoming one is not, or is unfinished with more epochs.
    A finished run already there keeps its files; evaluation records it lacks are added."""
    store.mkdir(parents=True, exist_ok=True)
    notes = []
    for tb in tarballs:
        with tempfile.TemporaryDirectory(dir=store, prefix=".merge-") as tmp:
            with tarfile.open(tb) as tar:
                members = _safe_members(tar)
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(tmp, members=members, filter="data")
                else:
                    tar.extractall(tmp, members=members)
            for new in sorted(p for p in Path(tmp).glob("*/*") if p.is_dir()):
                dest = store / new.relative_to(tmp)
                (nf, ne, _), (of, oe, _) = _state(new), _state(dest)
                if dest.exists() and of:
                    added = 0
                    same = nf and (json.loads((new / "metrics.json").read_text())
                                   .get("model_sha256") == json.loads(
                                       (dest / "metrics.json").read_text()).get("model_sha256"))
                    for rec in sorted((new / "evaluations").glob("*.json")) if same else []:
                        if not (dest / "evaluations" / rec.name).exists():
                            (dest / "evaluations").mkdir(exist_ok=True)
                            os.replace(rec, dest / "evaluations" / rec.name)
                            added += 1
                    notes.append(f"{dest.name}: kept the finished run already there"
                                 + (f" (+{added} evaluation records)" if added else ""))
                    continue
                if dest.exists() and not nf and ne <= oe:
                    notes.append(f"{dest.name}: kept the store's {oe} epochs (incoming {ne})")
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                old = dest.with_name(dest.name + ".old")
                if dest.exists():
                    os.replace(dest, old)
                os.replace(new, dest)
                shutil.rmtree(old, ignore_errors=True)
                notes.append(f"{dest.name}: {'finished' if nf else f'{ne} epochs'} from {tb}")
    return notes


def table(store: Path) -> str:
    rows = []
    for p in sorted(q for q in store.glob("*/*") if q.is_dir() and not q.name.startswith(".")):
        fin, ep, acc = _state(p)
        cfg = json.loads((p / "config.json").read_text()) if (p / "config.json").exists() else {}
        evals = len(list((p / "evaluations").glob("*.json")))
        rows.append(f"{p.parent.name}/{p.name:<44} {'done' if fin else 'open':<5} "
                    f"{ep:>3}/{cfg.get('epochs', '?'):<3} "
                    f"{'-' if acc is None else f'{acc:.4f}':>7} {evals:>3} evals")
    return "\n".join(rows) or f"(no runs under {store})"


# ---------------------------------------------------------------------------------------------
# the call

class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        sys.stderr.write(f"rethinkmmc.gpu: error: {message}\n")
        sys.exit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m rethinkmmc.gpu", description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=540, help="wall seconds for the whole call")
    p.add_argument("--out", type=Path, help="results folder (at most 8 files)")
    p.add_argument("--runs", type=Path, default=Path("runs/gpu"), help="the run store")
    p.add_argument("--data", type=Path, default=None,
                   help="data root (default /tmp/rethinkmmc-data, prepared from .gpu/)")
    p.add_argument("--plan", choices=tuple(OVERRIDES), default="slot")
    p.add_argument("--device", choices=("cuda", "cpu"), default=None)
    p.add_argument("--n-eval", type=int, default=2000, help="test points for claim1_eval")
    p.add_argument("--no-eval", action="store_true")
    p.add_argument("--compile", choices=("auto", "on", "off"), default="auto",
                   help="torch.compile of the trunk while training (CUDA)")
    p.add_argument("--epochs-per-call", type=int, default=None,
                   help="stop each run after this many epochs in this call (resumes later)")
    p.add_argument("--merge", type=Path, nargs="+", metavar="TARBALL",
                   help="put returned runs into --runs and list them; nothing else")
    p.add_argument("--child", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    a = parser.parse_args(argv)
    if a.child:
        return _child(a.child)
    if a.merge:
        missing = [str(t) for t in a.merge if not t.is_file()]
        if missing:
            parser.error(f"--merge: no such file: {', '.join(missing)}")
        for note in merge(a.merge, a.runs):
            print(note)
        print(table(a.runs))
        return 0
    if not a.budget > 0 or not math.isfinite(a.budget):
        parser.error(f"--budget: must be a positive number of seconds, got {a.budget}")
    if a.n_eval < 1:
        parser.error(f"--n-eval: must be >= 1, got {a.n_eval}")
    if a.epochs_per_call is not None and a.epochs_per_call < 1:
        parser.error(f"--epochs-per-call: must be >= 1, got {a.epochs_per_call}")
    if a.out is None:
        parser.error("--out: required (the results folder)")
    import torch
    if a.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")
    return run_slot(a)


def run_slot(a) -> int:
    import torch
    t_end = time.monotonic() + a.budget
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    s = SETTINGS[a.plan]
    a.out.mkdir(parents=True, exist_ok=True)
    for old in [*a.out.glob("runs*.tar.gz"), *(a.out / n for n in (
            "log.txt", "timings.json", "training.csv", "summary.csv"))]:
        old.unlink(missing_ok=True)  # this call's results only
    store = a.runs.resolve()
    work = Path(tempfile.mkdtemp(prefix="rethinkmmc-gpu-"))
    log = Log(a.out / "log.txt")
    timings: dict = {"argv": sys.argv[1:], "plan": a.plan, "budget_s": a.budget,
                     "overrides": {("adversarial" if k else "standard"): v
                                   for k, v in OVERRIDES[a.plan].items()}}

    # 1. environment
    env = {"torch": torch.__version__, "python": sys.version.split()[0], "device": device,
           "cpu_count": os.cpu_count(), "cuda": torch.version.cuda}
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2 ** 30, 1))
    timings["environment"] = env
    log(f"1. environment: {env}")

    # data: prepared beside the probe (CPU work while the GPU is timed)
    data = (a.data or Path("/tmp/rethinkmmc-data")).resolve()
    prep = None
    if not (data / "cifar-10-batches-py" / "batches.meta").exists():
        if not PREPARE.exists():
            log(f"no CIFAR-10 under {data} and no {PREPARE}: stopping")
            return 1
        log(f"data: preparing {data} from {PREPARE.parent}")
        prep = subprocess.Popen([sys.executable, str(PREPARE), str(data)],
                                stdout=open(work / "prepare.log", "w"), stderr=subprocess.STDOUT,
                                start_new_session=True)

    # 2. probe
    cfgs = plan(a.plan)
    limit = min(s["probe_s"], 0.15 * a.budget)
    log(f"2. probe (limit {limit:.0f}s)")
    t0 = time.monotonic()
    probe_json = work / "probe.json"
    proc = _spawn("probe", {"plan": a.plan, "device": device, "json": str(probe_json),
                            "measure_compile": device == "cuda" and a.compile == "auto"},
                  work, "probe", os.cpu_count() or 1)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(limit)
    cut = proc.poll() is None
    _stop(proc)
    probe = json.loads(probe_json.read_text()) if probe_json.exists() else {"steps": []}
    probe.update(seconds=round(time.monotonic() - t0, 1), cut_at_limit=cut,
                 exit_code=proc.returncode)
    for r in probe["steps"]:
        r["epoch_s_est"] = round(r["ms_per_step"] * math.ceil(50000 / r["batch"]) / 1000, 1)
    ratio = {}
    for adv in (False, True):
        for bs in s["adv" if adv else "std"]:
            ms = {r["loss"]: r["ms_per_step"] for r in probe["steps"]
                  if r["adv"] == adv and r["batch"] == bs}
            if len(ms) == 2:
                ratio[f"{'adv' if adv else 'std'}@{bs}"] = round(ms["mmc"] / ms["sce"], 3)
    probe["mmc_over_sce"] = ratio
    timings["probe"] = probe
    log(f"   probe: {probe['seconds']}s{' (cut at its limit)' if cut else ''}; MMC/SCE step time "
        f"{ratio}; PGD-10 {probe.get('pgd10', {}).get('images_per_s')} images/s")
    for r in probe["steps"]:
        log(f"   {r['loss']:<3} {'adv' if r['adv'] else 'std'} batch {r['batch']:>3}: "
            f"{r['ms_per_step']:8.2f} ms/step, epoch ~{r['epoch_s_est']} s")
    decision = _decide_compile(a.compile, probe, [c for _, c in cfgs], device)
    timings["compile"] = decision
    log(f"   torch.compile while training: {decision}")
    if proc.returncode not in (0, None) and not cut:
        log("   probe failed; its log:\n" + (work / "probe.log").read_text()[-3000:])

    if prep is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            prep.wait(max(1.0, t_end - time.monotonic() - s["pack_s"]))
        if prep.poll() != 0:
            _stop(prep)
            log("data: prepare.py failed:\n" + (work / "prepare.log").read_text()[-2000:])
            return 1
        log(f"data: ready at {data}")

    # 3. train (and 4. evaluate each run as it finishes)
    pgd = probe.get("pgd10", {}).get("images_per_s")
    if a.no_eval:
        reserve = 0.0
    elif pgd:  # the last run's evaluation: APGD x2 x 50 steps on n_eval, PGD-10 on 10,000, per eps
        n_test = cfgs[0][1].test_subset or 10000
        passes = len(EPS_LIST) * (2 * 51 * a.n_eval + 11 * n_test)
        reserve = min(max(2 * passes / (11 * pgd) + s["min_eval_s"], 2 * s["min_eval_s"]),
                      0.25 * a.budget)
    else:
        reserve = 0.15 * a.budget
    t_stop = t_end - s["pack_s"]
    t_train = t_stop - reserve
    timings["deadlines"] = {"training_left_s": round(t_train - time.monotonic(), 1),
                            "eval_reserve_s": round(reserve, 1), "pack_reserve_s": s["pack_s"]}
    log(f"3. training {len(cfgs)} runs in parallel for up to {t_train - time.monotonic():.0f}s "
        f"(evaluation reserve {reserve:.0f}s, packing {s['pack_s']}s), store {store}")
    threads = max(1, (os.cpu_count() or 1) // len(cfgs))
    procs, started, results = {}, {}, {}
    for label, cfg in cfgs:
        spec = {"config": cfg.to_dict(), "runs": str(store), "data": str(data), "device": device,
                "compile": decision["compile"], "threads": threads,
                "epochs_per_call": a.epochs_per_call, "progress": str(work / f"progress-{label}")}
        procs[label] = _spawn("train", spec, work, f"train-{label}", threads)
        started[label] = time.monotonic()
        log(f"   {label}: {cfg.key()} started")
    paths = {label: store / cfg.profile / cfg.key() for label, cfg in cfgs}
    queue, evaluating, eval_log = [], None, {}
    while True:
        now = time.monotonic()
        for label, p in list(procs.items()):
            if p.poll() is not None or (now >= t_train and not _finishes_by(
                    work / f"progress-{label}", t_stop - 5)):
                cut = p.poll() is None
                _stop(p)
                fin, ep, acc = _state(paths[label])
                results[label] = {"key": paths[label].name, "seconds": round(time.monotonic()
                                                                            - started[label], 1),
                                  "epochs": ep, "of": dict(cfgs)[label].epochs, "finished": fin,
                                  "test_accuracy": acc, "cut_at_deadline": cut,
                                  "exit_code": p.returncode}
                log(f"   {label}: {'finished' if fin else 'not finished'}, epoch {ep}, test "
                    f"accuracy {acc}, {results[label]['seconds']}s"
                    + (" (cut at the training deadline)" if cut else "")
                    + ("" if fin or cut or a.epochs_per_call else f", exit code {p.returncode}"))
                del procs[label]
                if fin and not a.no_eval:
                    queue.append(label)
        if evaluating and (evaluating[1].poll() is not None or now >= t_stop):
            label, p, t0 = evaluating
            cut = p.poll() is None
            _stop(p)
            eval_log[label] = {"seconds": round(time.monotonic() - t0, 1), "cut": cut,
                               "exit_code": p.returncode}
            log(f"4. evaluation of {label}: {eval_log[label]}")
            evaluating = None
        queue.sort(key=[lb for lb, _ in cfgs].index)
        if evaluating is None and queue:
            if t_stop - now >= s["min_eval_s"]:
                label = queue.pop(0)
                spec = {"run": str(paths[label]), "label": label, "eps": list(EPS_LIST),
                        "n": a.n_eval, "device": device, "csv": str(work / f"eval-{label}.csv"),
                        "data": str(data)}
                evaluating = (label, _spawn("eval", spec, work, f"eval-{label}",
                                            max(1, (os.cpu_count() or 1) // 2)), now)
                log(f"4. evaluating {label} (claim1_eval at {len(EPS_LIST)} eps on {a.n_eval} "
                    f"points, PGD-10 on the full test set)")
            else:
                log(f"4. no time left to evaluate {', '.join(queue)}")
                queue.clear()
        if not procs and evaluating is None and not queue:
            break
        time.sleep(0.2)

    # 5. pack
    log("5. packing")
    timings["runs"] = results
    timings["evaluation"] = eval_log
    _write_tables(a.out, work, cfgs, results, timings)
    tars = pack([paths[lb] for lb, _ in cfgs], store, a.out)
    timings["tarballs"] = {t.name: t.stat().st_size for t in tars}
    (a.out / "timings.json").write_text(json.dumps(timings, indent=1, default=str))
    for name in sorted(work.glob("*.log")):
        tail = name.read_text().splitlines()[-30:]
        log.f.write(f"----- {name.name} (last {len(tail)} lines)\n" + "\n".join(tail) + "\n")
    log(f"   {', '.join(f'{t.name} {t.stat().st_size / 2**20:.1f} MB' for t in tars)}; "
        f"{len(list(a.out.iterdir()))} files in {a.out}")
    _print_summary(log, timings, a.out)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _finishes_by(progress: Path, t_mono: float) -> bool:
    """Whether a training child's last epoch time predicts that it finishes before `t_mono`
    (past the training deadline, a run about to finish keeps going: a finished run is worth
    more than an evaluation, which a later slot can do)."""
    try:
        p = json.loads(progress.read_text())
    except (OSError, ValueError):
        return False
    left = (p["epochs"] - p["epoch"]) * p["epoch_s"] - (time.time() - p["at"])
    return time.monotonic() + max(left, 0) + 2 < t_mono


def _write_tables(out: Path, work: Path, cfgs, results: dict, timings: dict) -> None:
    import pandas as pd
    rows = [{"run": label, **results.get(label, {}), "loss": cfg.loss, "adv_train": cfg.adv_train,
             "batch_size": cfg.batch_size, "lr": cfg.lr} for label, cfg in cfgs]
    pd.DataFrame(rows).to_csv(out / "training.csv", index=False)
    frames = [pd.read_csv(f) for f in sorted(work.glob("eval-*.csv"))]
    if frames:
        pd.concat(frames, ignore_index=True).to_csv(out / "summary.csv", index=False)


def _print_summary(log: Log, timings: dict, out: Path) -> None:
    lines = ["", "run        epochs  done  test acc  seconds"]
    for label, r in timings["runs"].items():
        acc = r["test_accuracy"]
        lines.append(f"{label:<10} {r['epochs']:>3}/{r['of']:<3} {'yes' if r['finished'] else 'no':<5}"
                     f" {'-' if acc is None else f'{acc:.4f}':>8} {r['seconds']:>8}")
    if (out / "summary.csv").exists():
        import pandas as pd
        df = pd.read_csv(out / "summary.csv")
        keep = df[(df["attack"] == "worst-case") | (df["suite"] == "pgd10-full")]
        lines.append("")
        lines.append(keep[["run", "suite", "attack", "eps_label", "n", "clean_accuracy",
                           "robust_accuracy"]].to_string(index=False))
    st = {f"{r['loss']} {'adv' if r['adv'] else 'std'} b{r['batch']}": r["epoch_s_est"]
          for r in timings["probe"]["steps"]}
    lines += ["", f"epoch seconds (probe, one process): {st}",
              f"MMC/SCE step time: {timings['probe'].get('mmc_over_sce')}",
              f"PGD-10: {timings['probe'].get('pgd10')}",
              f"compile: {timings['compile']}"]
    for line in lines:
        log(line)


if __name__ == "__main__":
    sys.exit(main())
