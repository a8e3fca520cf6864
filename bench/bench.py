"""Training and forward-only speed of dnc_lit's DNC (reference path, fused step, fused sequence), of the PyTorch DNC
(PyPI `dnc`) when it is installed, and of an allocation written in the original NumPy project's style; with
`--ladder`, the measured effect of each fusion step. It prints speeds and ratios; nothing passes or fails.

Run by `make bench` (which makes bench/.venv with torch 2.13 CPU and `dnc` without its extras). Not a test.

Method (for a shared, loaded machine): every (implementation, configuration, mode) runs in its own single-threaded
worker process, started once; the driver then runs `--repeats` rounds, and in each round asks every worker in turn
for one timed block of steps (about `--min-time` CPU seconds), so that load drifting over the run hits all
implementations alike. The primary number is steps per CPU-second of the worker's own process (time.process_time:
what other processes do to the wall clock does not count); steps per wall-second is printed alongside. Reported: the
median over rounds and the spread [min-max]; ratios are taken within each round, then their median [min-max]. The
load average is printed before, during and after.
Usage: python bench/bench.py [--repeats 7] [--min-time 1.0] [--quick] [--ladder] [--out results.json]
"""
import argparse, json, os, platform, subprocess, sys, time, datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                               "VECLIB_MAXIMUM_THREADS")}

CONFIGS = {   # (a) the original NumPy project's model and copy task; (b) a batched one; (graph) the paper's
    "a": dict(hidden=32, N=64, W=8, R=2, batch=1, bits=6, min_len=5, max_len=5),          # graph-task scale
    "b": dict(hidden=64, N=32, W=16, R=4, batch=16, bits=8, min_len=1, max_len=10),
    "graph": dict(hidden=256, N=128, W=50, R=5, batch=8, X=92, Y=90, task="traversal", num_nodes=(3, 12),
                  out_degree=(1, 3), path_length=(1, 4), pool=8),
}
# which implementations run on which configuration (the chapters' code would take seconds per step at graph scale)
IMPLS = {"a": ["fast", "fast32", "torch", "reference", "loop-alloc", "fast-step"],
         "b": ["fast", "fast32", "torch", "reference", "loop-alloc", "fast-step"],
         "graph": ["fast", "fast32", "torch"]}


def sizes(cfg):
    "(X, Y): the input and output widths of a configuration (copy task: bits + 2, bits + 1)."
    return cfg.get("X", cfg.get("bits", 0) + 2), cfg.get("Y", cfg.get("bits", 0) + 1)
LADDER = ["reference", "+alloc", "+content", "+link", "fast-step", "fast"]
LADDER_TEXT = {"reference": "reference (the chapters' code)", "+alloc": "+ fused allocation weighting",
               "+content": "+ fused content weighting", "+link": "+ fused link update",
               "fast-step": "+ fused LSTM, interface and memory step (impl=\"fast-step\")",
               "fast": "fused sequence (impl=\"fast\")"}


# ------------------------------------------------------------------------------------------ worker side
def _rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def graph_pool(cfg, seed=0):
    """The graph configuration's batches: the first `pool` batches of dnc_lit.graphs.traversal_task from seed 0
    (graphs of 3-12 nodes, out-degree 1-3, walks of 1-4 edges, no planning steps; each padded to its longest
    question: 26-37 steps), made once before timing and then cycled, so that every block sees the same lengths."""
    import numpy as onp
    from dnc_lit.graphs import traversal_task
    rng = onp.random.default_rng(seed)
    return [traversal_task(rng, cfg["batch"], num_nodes=cfg["num_nodes"], out_degree=cfg["out_degree"],
                           path_length=cfg["path_length"]) for _ in range(cfg["pool"])]


def _batches(cfg, seed=0):
    """An endless stream of batches: copy-task batches (dnc_lit.tasks, DeepMind layout: X = bits + 2, Y = bits + 1),
    made as they are used; or the graph configuration's pool of traversal batches, cycled."""
    import numpy as onp
    from dnc_lit.tasks import copy_task
    if cfg.get("task") == "traversal":
        pool = graph_pool(cfg, seed)
        while True: yield from pool
    rng = onp.random.default_rng(seed)
    while True:
        yield copy_task(rng, cfg["batch"], cfg["bits"], cfg["min_len"], cfg["max_len"])


def _patch_ladder(impl):
    "The reference step with some of its blocks replaced by the fused ones (the rungs of --ladder)."
    import numpy as onp
    import dnc_lit.access as access
    import dnc_lit.fast as fast
    rungs = LADDER[1:LADDER.index(impl) + 1]
    if "+alloc" in rungs: access.allocation_weighting = fast.allocation_weighting
    if "+content" in rungs: access.content_weighting = fast.content_weighting
    if "+link" in rungs:     # the fused link update; the directional weightings stay the chapter's
        access.link_matrix = lambda L, w, p: fast._link_p(L, w, p, onp.zeros((w.shape[0], 1, w.shape[-1])))[0]


def _numpy_step(impl, cfg, mode):
    "A function doing one step (make a batch, forward from a fresh memory, loss [, backward, RMSProp])."
    import dataclasses
    from autograd import value_and_grad
    from dnc_lit.model import DNCConfig, init_params, _unroll
    from dnc_lit.train import masked_sigmoid_cross_entropy
    from dnc_lit.optim import get_optimiser
    from dnc_lit.graphs import graph_loss
    X, Y = sizes(cfg)
    objective = graph_loss if cfg.get("task") == "traversal" else masked_sigmoid_cross_entropy
    c = DNCConfig(input_size=X, output_size=Y, hidden_size=cfg["hidden"], memory_size=cfg["N"], word_size=cfg["W"],
                  num_reads=cfg["R"], impl="reference")
    if impl == "loop-alloc":        # the chapter path with the original project's style of allocation
        import dnc_lit.access as access
        from loop_allocation import loop_allocation_weighting
        access.allocation_weighting = loop_allocation_weighting
    if impl.startswith("+"): _patch_ladder(impl)
    c = dataclasses.replace(c, impl=impl if impl in ("fast", "fast-step") else "reference")
    if impl == "fast32": c = dataclasses.replace(c, impl="fast", dtype="float32")   # the fused sequence in float32
    run = lambda p, x: _unroll(p, x, c)[0]
    params, batches = init_params(c, 0), _batches(cfg)
    if impl == "fast32":            # the batch in float32 too (as the PyTorch DNC gets it): inputs, targets, mask
        batches = (b._replace(inputs=b.inputs.astype("float32"), targets=b.targets.astype("float32"),
                              mask=b.mask.astype("float32")) for b in _batches(cfg))
    opt = get_optimiser("rmsprop", lr=1e-4)
    state = [params, opt.init(params)]
    if impl == "fast32":            # the optimiser's state in float32 too (rmsprop_init makes float64 zeros and ones)
        state[1] = {k: ({n: a.astype("float32") for n, a in v.items()} if isinstance(v, dict) else v) for k, v in state[1].items()}
    loss = lambda p, b: objective(run(p, b.inputs), b.targets, b.mask)
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
    X, Y = sizes(cfg)
    net = DNC(input_size=X, hidden_size=cfg["hidden"], rnn_type="lstm", num_layers=1, num_hidden_layers=1,
              nr_cells=cfg["N"], cell_size=cfg["W"], read_heads=cfg["R"], batch_first=True, gpu_id=-1)
    opt = torch.optim.RMSprop(net.parameters(), lr=1e-4, alpha=0.9, eps=1e-10)
    batches = _batches(cfg)

    def loss_of(b):
        x = torch.from_numpy(onp.ascontiguousarray(b.inputs))
        out, _ = net(x.float(), (None, None, None), reset_experience=True)   # float32, its default
        logits = out[..., :Y]                                  # the PyTorch DNC's output has input_size channels
        t, m = torch.from_numpy(b.targets).float(), torch.from_numpy(b.mask).float()
        if cfg.get("task") == "traversal":     # dnc_lit.graphs.graph_loss: a softmax over each of the 9 digits
            logp = torch.log_softmax(logits.reshape(*logits.shape[:-1], Y // 10, 10), -1)
            return -(m[..., None, None] * t.reshape(logp.shape) * logp).sum() / x.shape[0]
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


def worker(impl, cfg_name, mode, min_time):
    "Build the step, warm up, size a block to ~min_time CPU seconds, then run one block per 'run' line on stdin."
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    cfg = CONFIGS[cfg_name]
    if mode == "alloc": step = _alloc_micro(impl, cfg)
    elif impl == "torch": step = _torch_step(cfg, mode)
    else: step = _numpy_step(impl, cfg, mode)
    base = _rss_mb()
    for _ in range(3): step()                                    # warm-up
    n, c0 = 0, time.process_time()
    while time.process_time() - c0 < min_time / 3: step(); n += 1
    per_block = max(1, int(round(n * min_time / max(time.process_time() - c0, 1e-9))))   # ~min_time CPU s
    pool = cfg.get("pool", 1) if mode != "alloc" else 1
    per_block = pool * max(1, round(per_block / pool))    # whole passes over a pool of batches
    lengths = [int(b.inputs.shape[1]) for b in graph_pool(cfg)] if cfg.get("task") == "traversal" else None
    print(json.dumps(dict(ready=True, steps=per_block, lengths=lengths)), flush=True)
    for line in sys.stdin:
        if line.strip() != "run": break
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(per_block): step()
        c, w = time.process_time() - c0, time.perf_counter() - w0
        print(json.dumps(dict(cpu=per_block / c, wall=per_block / w, load=os.getloadavg()[0], steps=per_block)),
              flush=True)
    print(json.dumps(dict(rss_base=base, rss_peak=_rss_mb())), flush=True)


# ------------------------------------------------------------------------------------------ driver side
class Worker:
    def __init__(self, impl, cfg_name, mode, min_time):
        self.key, self.runs, self.error = (impl, cfg_name, mode), [], None
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", impl, cfg_name, mode, "--min-time", str(min_time)]
        self.p = subprocess.Popen(cmd, env={**os.environ, **THREAD_ENV}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.info = self._read()

    def _read(self):
        line = self.p.stdout.readline()
        if not line:
            err = self.p.stderr.read().strip().splitlines()
            self.error = err[-1] if err else f"exit {self.p.wait()}"
            return None
        return json.loads(line)

    def run(self):
        if self.error: return
        self.p.stdin.write("run\n"); self.p.stdin.flush()
        r = self._read()
        if r is not None: self.runs.append(r)

    def close(self):
        if not self.error:
            self.p.stdin.write("quit\n"); self.p.stdin.flush()
            self.info.update(self._read() or {})
        self.p.wait()

    def stats(self, what="cpu"):
        if self.error or not self.runs: return None
        r = sorted(x[what] for x in self.runs)
        return dict(median=r[len(r) // 2] if len(r) % 2 else (r[len(r) // 2 - 1] + r[len(r) // 2]) / 2, lo=r[0], hi=r[-1])


def med(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def measure(keys, args):
    "Start a worker per key, then `repeats` interleaved rounds of one block each. Returns {key: Worker}."
    ws = Workers()
    ws.load = [os.getloadavg()[0]]
    for k in keys: ws[k] = Worker(*k, args.min_time)
    for i in range(args.repeats):
        for w in ws.values(): w.run()
        ws.load.append(os.getloadavg()[0])
        print(f"   round {i + 1}/{args.repeats} done, load average {ws.load[-1]:.2f}", file=sys.stderr, flush=True)
    for w in ws.values(): w.close()
    return ws


class Workers(dict):
    "{key: Worker}, and `load`: the 1-minute load average at the start and after every round."


def ratio(ws, num, den, what="cpu"):
    "Per-round ratio of rates num/den (same round), then median and [min-max] over rounds."
    a, b = ws.get(num), ws.get(den)
    if a is None or b is None or not a.runs or not b.runs: return None
    rs = [x[what] / y[what] for x, y in zip(a.runs, b.runs)]
    return dict(median=med(rs), lo=min(rs), hi=max(rs))


def have_torch():
    """Whether torch and the PyTorch DNC are importable, found without importing them: a child process inherits the
    parent's peak RSS across exec on Linux, so the driver must stay small."""
    import importlib.util
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "dnc"))


def header(args, torch_ok):
    import numpy
    from importlib.metadata import version
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"-- dnc_lit benchmark{' (--ladder)' if args.ladder else ''}, "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"-- {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {numpy.__version__}"
          + (f", torch {version('torch')}, dnc {version('dnc')}"
             if torch_ok else ", PyTorch DNC not installed (make bench installs it)"))
    print(f"-- one thread per worker process ({', '.join(f'{k}=1' for k in THREAD_ENV)}; torch.set_num_threads(1)); "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}")
    print(f"-- method: one worker process per row, {args.repeats} interleaved rounds of one block (~{args.min_time:g} CPU s) "
          f"per worker after 3 warm-up steps; steps per CPU-second of the worker's own process (primary) and per "
          f"wall-second; median [min-max] over rounds; ratios per round, then median [min-max]")
    print("-- load average at the start (other processes on the machine; 1, 5, 15 min): "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


def recorded(args, torch_ok):
    "What the JSON record says about itself: when, the command, the machine and the software."
    import numpy
    from importlib.metadata import version
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return {"date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
            "command": "make bench BENCH_ARGS=" + repr(" ".join(sys.argv[1:])),
            "machine": f"{cpu}, {os.cpu_count()} cores",
            "software": f"Python {platform.python_version()}, NumPy {numpy.__version__}"
                        + (f", torch {version('torch')}, dnc {version('dnc')}" if torch_ok else ""),
            "method": f"one single-threaded worker process per row, {args.repeats} interleaved rounds of "
                      f"about {args.min_time:g} CPU-seconds each; steps per CPU-second of the worker; "
                      f"median [min-max] over rounds; ratios per round, then median [min-max]"}


def cell(s, fmt="{:.1f}"):
    return "n/a" if s is None else f"{fmt.format(s['median'])} [{fmt.format(s['lo'])}-{fmt.format(s['hi'])}]"


def main_speed(args, torch_ok):
    configs = args.configs
    impls = {c: [i for i in IMPLS[c] if torch_ok or i != "torch"] for c in configs}
    keys = [(i, c, m) for c in configs for m in ("train", "forward") for i in impls[c]]
    ws = measure(keys, args)
    out = {"rows": [], "ratios": {}, "configs": {c: CONFIGS[c] for c in configs}, "load": ws.load}
    if "graph" in configs and ws["fast", "graph", "train"].info:
        out["graph_lengths"] = ws["fast", "graph", "train"].info.get("lengths")
        print(f"-- (graph): a pool of {CONFIGS['graph']['pool']} traversal batches of 8, cycled; padded lengths "
              f"{out['graph_lengths']} steps")
    print("\n| config | implementation | train steps/CPU-s | train steps/wall-s | forward steps/CPU-s | peak RSS MB (after imports) |")
    print("|---|---|---|---|---|---|")
    for c in configs:
        for i in impls[c]:
            tr, fw = ws[i, c, "train"], ws[i, c, "forward"]
            if tr.error: print(f"| ({c}) | {i} | error: {tr.error} | | | |"); continue
            mem = f"{tr.info.get('rss_peak', 0):.0f} ({tr.info.get('rss_base', 0):.0f})"
            print(f"| ({c}) | {i} | {cell(tr.stats())} | {cell(tr.stats('wall'))} | {cell(fw.stats())} | {mem} |")
            out["rows"].append(dict(config=c, impl=i, train_cpu=tr.stats(), train_wall=tr.stats("wall"),
                                    forward_cpu=fw.stats(), rss_peak=tr.info.get("rss_peak"), rss_base=tr.info.get("rss_base"),
                                    train_rounds=[r["cpu"] for r in tr.runs], forward_rounds=[r["cpu"] for r in fw.runs],
                                    train_steps_per_block=tr.info.get("steps")))
    print("\nRatios of training speed, per round then median [min-max] (CPU-time; wall-clock in parentheses):")
    pairs = [("fast", "torch"), ("fast32", "torch"), ("fast32", "fast"), ("fast-step", "torch"), ("fast", "loop-alloc"), ("fast", "reference"), ("torch", "loop-alloc")]
    for c in configs:
        for n, d in pairs:
            r, rw = ratio(ws, (n, c, "train"), (d, c, "train")), ratio(ws, (n, c, "train"), (d, c, "train"), "wall")
            if r is None: continue
            rs = [x["cpu"] / y["cpu"] for x, y in zip(ws[n, c, "train"].runs, ws[d, c, "train"].runs)]
            out["ratios"][f"{c}: {n}/{d}"] = dict(cpu=r, wall=rw, rounds=rs)
            print(f"  ({c}) {n} / {d}: {cell(r, '{:.2f}')}x  ({cell(rw, '{:.2f}')}x)")
    small = [c for c in configs if c != "graph"]
    if not small: return out
    print("\nAllocation weighting alone, forward + backward (calls per CPU-second, median [min-max]):")
    print("| config (B, N) | loop of np.prod (original style) | chapter (cumprod primitive) | fused |")
    print("|---|---|---|---|")
    al = measure([(i, c, "alloc") for c in small for i in ("loop-alloc", "reference", "fast")], args)
    for c in small:
        cfg = CONFIGS[c]
        print(f"| ({c}) ({cfg['batch']}, {cfg['N']}) | " + " | ".join(cell(al[i, c, "alloc"].stats(), "{:.0f}")
                                                             for i in ("loop-alloc", "reference", "fast")) + " |")
    return out


def main_ladder(args):
    ws = measure([(i, c, "train") for c in ("a", "b") for i in LADDER], args)
    out = {"rows": []}
    print("\nThe measured effect of each step: one training step (batch, forward, loss, backward, RMSProp)")
    print("| step | (a) steps/CPU-s | (a) vs reference | (b) steps/CPU-s | (b) vs reference |")
    print("|---|---|---|---|---|")
    for i in LADDER:
        cells = []
        for c in ("a", "b"):
            r = ratio(ws, (i, c, "train"), ("reference", c, "train"))
            cells += [cell(ws[i, c, "train"].stats()), cell(r, "{:.2f}") + "x"]
            out["rows"].append(dict(config=c, impl=i, train_cpu=ws[i, c, "train"].stats(), vs_reference=r))
        print(f"| {LADDER_TEXT[i]} | " + " | ".join(cells) + " |")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs=3)
    ap.add_argument("--repeats", type=int, default=7, help="rounds")
    ap.add_argument("--min-time", type=float, default=1.0, help="CPU seconds per timed block (approximately)")
    ap.add_argument("--quick", action="store_true", help="3 rounds of short blocks")
    ap.add_argument("--ladder", action="store_true", help="the effect of each fusion step instead")
    ap.add_argument("--out", help="also write the results as JSON here")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated, of: " + ", ".join(CONFIGS))
    args = ap.parse_args()
    if args.quick: args.repeats, args.min_time = 3, 0.3
    if args.worker: return worker(*args.worker, args.min_time)
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    if not args.configs or any(c not in CONFIGS for c in args.configs):
        ap.error(f"--configs must name some of {', '.join(CONFIGS)}, got {args.configs}")
    torch_ok = have_torch()
    header(args, torch_ok)
    out = main_ladder(args) if args.ladder else main_speed(args, torch_ok)
    print("\n-- load average at the end (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    if args.out:
        out["recorded"] = recorded(args, torch_ok)
        with open(args.out, "w") as f: json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
