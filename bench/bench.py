"""Training and forward-only speed of dnc_lit's DNC (reference path, fused step, fused sequence), of the PyTorch
DNC (PyPI `dnc`) when it is installed, and of an allocation written in the original NumPy project's style.

Run by `make bench` (which makes bench/.venv with torch 2.13 CPU and `dnc` without its extras). Not a test.
Each measurement runs in its own subprocess, one thread, so its peak memory (ru_maxrss) is its own.
Usage: python bench/bench.py [--repeats 7] [--quick]
"""
import argparse, json, os, platform, subprocess, sys, time, datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                               "VECLIB_MAXIMUM_THREADS")}

CONFIGS = {   # the configurations
    "a": dict(hidden=32, N=64, W=8, R=2, batch=1, bits=6, min_len=5, max_len=5),
    "b": dict(hidden=64, N=32, W=16, R=4, batch=16, bits=8, min_len=1, max_len=10),
}


# ------------------------------------------------------------------------------------------ worker side
def _rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _batches(cfg, seed=0):
    "An endless stream of copy-task batches (dnc_lit.tasks, DeepMind layout): X = bits + 2, Y = bits + 1."
    import numpy as onp
    from dnc_lit.tasks import copy_task
    rng = onp.random.default_rng(seed)
    while True:
        yield copy_task(rng, cfg["batch"], cfg["bits"], cfg["min_len"], cfg["max_len"])


def _numpy_step(impl, cfg, mode):
    "A function doing one step (make a batch, forward from a fresh memory, loss [, backward, RMSProp])."
    import dataclasses
    from autograd import value_and_grad
    from dnc_lit.model import DNCConfig, init_params, _unroll
    from dnc_lit.train import masked_sigmoid_cross_entropy
    from dnc_lit.optim import get_optimiser
    import dnc_lit.fast as fast
    X, Y = cfg["bits"] + 2, cfg["bits"] + 1
    c = DNCConfig(input_size=X, output_size=Y, hidden_size=cfg["hidden"], memory_size=cfg["N"], word_size=cfg["W"],
                  num_reads=cfg["R"], impl="reference")
    if impl == "loop-alloc":        # the chapter path with the original project's style of allocation
        import dnc_lit.access as access
        from loop_allocation import loop_allocation_weighting
        access.allocation_weighting = loop_allocation_weighting
    run = {"reference": lambda p, x: _unroll(p, x, c)[0], "loop-alloc": lambda p, x: _unroll(p, x, c)[0],
           "fast-step": lambda p, x: _unroll(p, x, dataclasses.replace(c, impl="fast-step"))[0],
           "fast": lambda p, x: _unroll(p, x, dataclasses.replace(c, impl="fast"))[0]}[impl]
    params, batches = init_params(c, 0), _batches(cfg)
    opt = get_optimiser("rmsprop", lr=1e-4)
    state = [params, opt.init(params)]
    loss = lambda p, b: masked_sigmoid_cross_entropy(run(p, b.inputs), b.targets, b.mask)
    vg = value_and_grad(loss)

    def train():
        b = next(batches)
        _, g = vg(state[0], b)
        state[0], state[1] = opt.update(state[0], g, state[1])

    def forward():
        b = next(batches)
        loss(state[0], b)
    return train if mode == "train" else forward


def _torch_step(cfg, mode):
    import numpy as onp
    import torch
    from dnc import DNC
    torch.set_num_threads(1)
    torch.manual_seed(0)
    X, Y = cfg["bits"] + 2, cfg["bits"] + 1
    net = DNC(input_size=X, hidden_size=cfg["hidden"], rnn_type="lstm", num_layers=1, num_hidden_layers=1,
              nr_cells=cfg["N"], cell_size=cfg["W"], read_heads=cfg["R"], batch_first=True, gpu_id=-1)
    opt = torch.optim.RMSprop(net.parameters(), lr=1e-4, alpha=0.9, eps=1e-10)
    batches = _batches(cfg)

    def loss_of(b):
        x = torch.from_numpy(onp.ascontiguousarray(b.inputs))
        out, _ = net(x.float(), (None, None, None), reset_experience=True)   # float32, its default
        logits = out[..., :Y]                                  # the PyTorch DNC's output has input_size channels
        t, m = torch.from_numpy(b.targets).float(), torch.from_numpy(b.mask).float()
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, t, reduction="none").sum(-1)
        return (bce * m).sum() / x.shape[0]

    def train():
        b = next(batches)
        opt.zero_grad()
        loss_of(b).backward()
        opt.step()

    def forward():
        b = next(batches)
        with torch.no_grad():
            loss_of(b)
    return train if mode == "train" else forward


def _alloc_micro(impl, cfg):
    "One forward + backward of the allocation weighting alone, at the configuration's (B, N)."
    import numpy as onp
    import autograd.numpy as np
    from autograd import grad
    from dnc_lit import allocation, fast
    from loop_allocation import loop_allocation_weighting
    f = {"loop-alloc": loop_allocation_weighting, "reference": allocation.allocation_weighting,
         "fast": fast.allocation_weighting}[impl]
    rng = onp.random.default_rng(0)
    u, P = rng.random((cfg["batch"], cfg["N"])), rng.standard_normal((cfg["batch"], cfg["N"]))
    g = grad(lambda u: np.sum(P * f(u)))
    return lambda: g(u)


def worker(impl, cfg_name, mode, repeats, min_time):
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    cfg = CONFIGS[cfg_name]
    if mode == "alloc": step = _alloc_micro(impl, cfg)
    elif impl == "torch": step = _torch_step(cfg, mode)
    else: step = _numpy_step(impl, cfg, mode)
    base = _rss_mb()
    for _ in range(3): step()                                    # warm-up
    n, t0 = 0, time.perf_counter()                               # steps per timed block: about min_time seconds
    while time.perf_counter() - t0 < min_time / 3: step(); n += 1
    per_block = max(1, int(round(n * 3)))
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(per_block): step()
        rates.append(per_block / (time.perf_counter() - t0))
    print(json.dumps(dict(rates=rates, steps=per_block, rss_base=base, rss_peak=_rss_mb())))


# ------------------------------------------------------------------------------------------ driver side
def measure(impl, cfg_name, mode, args):
    env = {**os.environ, **THREAD_ENV}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", impl, cfg_name, mode,
           "--repeats", str(args.repeats), "--min-time", str(args.min_time)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        return dict(error=p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}")
    res = json.loads(p.stdout.strip().splitlines()[-1])
    r = sorted(res["rates"])
    res.update(median=r[len(r) // 2], lo=r[0], hi=r[-1])
    return res


def have_torch():
    """Whether torch and the PyTorch DNC are importable, found without importing them: a child process inherits the
    parent's peak RSS across exec on Linux, so the driver must stay small."""
    import importlib.util
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "dnc"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs=3)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds per timed block (approximately)")
    ap.add_argument("--quick", action="store_true", help="3 repeats of short blocks")
    args = ap.parse_args()
    if args.quick: args.repeats, args.min_time = 3, 0.3
    if args.worker: return worker(*args.worker, args.repeats, args.min_time)

    torch_ok = have_torch()
    impls = ["reference", "loop-alloc", "fast-step", "fast"] + (["torch"] if torch_ok else [])
    import numpy
    from importlib.metadata import version
    print(f"-- dnc_lit benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"-- {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {numpy.__version__}"
          + (f", torch {version('torch')}, dnc {version('dnc')}"
             if torch_ok else ", PyTorch DNC not installed (make bench installs it)"))
    print(f"-- one thread ({', '.join(f'{k}=1' for k in THREAD_ENV)}; torch.set_num_threads(1)); "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}")
    print(f"-- medians of {args.repeats} timed blocks of ~{args.min_time:g} s each after 3 warm-up steps, each "
          f"measurement in its own process; [min-max]; peak RSS of that process (its baseline after imports in parentheses)")
    print(f"-- load average before the run (other processes on the machine add noise): {os.getloadavg()[0]:.2f}")
    results = {}
    print("\n| config | implementation | train steps/s | forward steps/s | peak RSS MB (baseline) |")
    print("|---|---|---|---|---|")
    for cfg_name in CONFIGS:
        for impl in impls:
            tr, fw = measure(impl, cfg_name, "train", args), measure(impl, cfg_name, "forward", args)
            results[cfg_name, impl] = tr, fw
            cell = lambda r: (f"error: {r['error']}" if "error" in r else f"{r['median']:.1f} [{r['lo']:.1f}-{r['hi']:.1f}]")
            mem = "" if "error" in tr else f"{tr['rss_peak']:.0f} ({tr['rss_base']:.0f})"
            print(f"| ({cfg_name}) | {impl} | {cell(tr)} | {cell(fw)} | {mem} |", flush=True)

    print("\nRatios of training steps/s (medians):")
    for cfg_name in CONFIGS:
        get = lambda i: results[cfg_name, i][0].get("median")
        line = f"  ({cfg_name}) fast / reference = {get('fast') / get('reference'):.1f}x, fast / loop-alloc = {get('fast') / get('loop-alloc'):.1f}x"
        if torch_ok and get("torch"): line += f", fast / PyTorch DNC = {get('fast') / get('torch'):.2f}x, fast-step / PyTorch DNC = {get('fast-step') / get('torch'):.2f}x"
        print(line)

    print("\nAllocation weighting alone, forward + backward (calls/s, median):")
    print("| config (B, N) | loop of np.prod (original style) | chapter (cumprod primitive) | fused |")
    print("|---|---|---|---|")
    for cfg_name, cfg in CONFIGS.items():
        r = [measure(i, cfg_name, "alloc", args) for i in ("loop-alloc", "reference", "fast")]
        cells = [f"error: {x['error']}" if "error" in x else f"{x['median']:.0f}" for x in r]
        print(f"| ({cfg_name}) ({cfg['batch']}, {cfg['N']}) | " + " | ".join(cells) + " |", flush=True)
    print(f"\n-- load average after the run: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
