"""Where the time of a fused training step goes at the size of the paper's graph tasks, against its arithmetic.

For the graph configuration of bench/bench.py (X = 92, Y = 90, LSTM 256, N = 128, W = 50, R = 5, batch 8, the same
pool of 8 traversal batches of 26-37 steps), in float32 and float64, one thread, each dtype in its own process:

- the FLOPs of a training step (`dnc_lit.fast.training_flops` at the pool's mean length);
- this core's matrix-product rates (one thread, the best of 5 blocks): a large product (1024 x 1024 x 1024, the
  arithmetic peak in practice) and every product the fused sequence does, at its own shape; and a copy of 64 MB
  (memory bandwidth);
- the CPU time of a training step (forward and backward of `graph_loss`, no optimiser), the median of `--steps`
  passes over the pool, and the same at batch 1 (the same calls on 8 times less data: the cost of the calls);
- a profile: the CPU time spent in each function of `dnc_lit.fast` itself (not in the functions it calls), measured
  by wrapping the module's functions with timers (`time.thread_time`) over one more pass; the matrix products the
  sequence loops do themselves (controller, interface, outputs, weight gradients) count under the loops.

Plain `.venv` (no torch). Writes `nbs/data/graph_profile.json`. A measurement, not a test.
Usage: OMP_NUM_THREADS=1 .venv/bin/python bench/graph_profile.py [--steps 3] [--out nbs/data/graph_profile.json]
"""
import argparse, datetime, json, os, platform, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONE = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
# the functions whose own time the profile reports, grouped by what they compute
GROUPS = {"sequence loops (LSTM, interface and output products)": ["_unroll_fwd", "_unroll_bwd",
                                                                   "_lstm_layers_bwd", "_stack_rows"],
          "LSTM gates (elementwise)": ["_lstm_cell", "_lstm_bwd_z", "_sig"],
          "link matrix": ["_link_fwd", "_link_bwd", "_outer2"],
          "content addressing": ["_content_fwd", "_content_bwd"],
          "allocation": ["_alloc_fwd", "_alloc_bwd", "_excl_cumprod", "_excl_cumprod_bwd"],
          "rest of the memory step": ["_mem_fwd", "_mem_bwd", "_mem_bwd_read", "_prod_without"],
          "interface parsing": ["_parse_fwd", "_parse_bwd"]}


def gemm_shapes(c, B, T):
    """(name, (m, k, n), calls per training step) of every matrix product of the fused sequence that does more than
    a few hundred thousand FLOPs, at its own shape."""
    X, Y, H, N, W, R = c.input_size, c.output_size, c.hidden_size, c.memory_size, c.word_size, c.num_reads
    xi = c.interface_size
    return [("controller, forward: [r; h'] W", (B, R * W + H, 4 * H), T),
            ("controller, backward: g_z Wᵀ", (B, 4 * H, R * W + H), T),
            ("controller, the inputs' share", (T * B, X, 4 * H), 1),
            ("controller, weight gradient", (X + R * W + H, T * B, 4 * H), 1),
            ("interface, forward: h W_ξ", (B, H, xi), T),
            ("interface, backward: g_ξ W_ξᵀ", (B, xi, H), T),
            ("interface, weight gradient", (H, T * B, xi), 1),
            ("outputs and their gradients", (T * B, H + R * W, Y), 3),
            ("link, directional weightings (per batch entry)", (R, N, N), 4 * T * B),
            ("content, read keys against slots (per batch entry)", (R, W, N), 3 * T * B)]


def rate(m, k, n, dtype, reps=None):
    "GFLOP/s and seconds per call of an (m, k) @ (k, n) product, one thread, best of 5 blocks."
    import numpy as np
    rng = np.random.default_rng(0)
    a, b = rng.random((m, k)).astype(dtype), rng.random((k, n)).astype(dtype)
    out = np.empty((m, n), dtype)
    np.matmul(a, b, out=out)
    reps = reps or max(3, int(3e7 / (2 * m * k * n)))
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(reps): np.matmul(a, b, out=out)
        best = min(best, (time.process_time() - t0) / reps)
    return 2 * m * k * n / best / 1e9, best


def bandwidth(dtype):
    "GB/s of a copy of 64 MB (read and write counted), one thread, best of 5."
    import numpy as np
    a = np.ones(64 * 2 ** 20 // np.dtype(dtype).itemsize, dtype)
    b = np.empty_like(a)
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time(); np.copyto(b, a); best = min(best, time.process_time() - t0)
    return 2 * a.nbytes / best / 1e9


def measure(dtype, steps):
    "Everything for one dtype, in this (single-threaded) process."
    sys.path.insert(0, ROOT); sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from autograd import value_and_grad
    import dnc_lit.fast as fast
    from dnc_lit.model import DNCConfig, init_params, _unroll
    from dnc_lit.graphs import graph_loss
    from bench import CONFIGS, graph_pool
    g = CONFIGS["graph"]
    c = DNCConfig(input_size=g["X"], output_size=g["Y"], hidden_size=g["hidden"], memory_size=g["N"],
                  word_size=g["W"], num_reads=g["R"], dtype=dtype)
    pool = [(b.inputs.astype(dtype), b.targets.astype(dtype), b.mask.astype(dtype)) for b in graph_pool(g)]
    T = sum(b[0].shape[1] for b in pool) / len(pool)
    params = init_params(c, 0)
    vg = value_and_grad(lambda p, b: graph_loss(_unroll(p, b[0], c)[0], b[1], b[2]))

    def per_step(batches, passes):
        "Median CPU seconds of one training step over `passes` passes over `batches`."
        for b in batches[:2]: vg(params, b)
        times = []
        for _ in range(passes):
            t0 = time.process_time()
            for b in batches: vg(params, b)
            times.append((time.process_time() - t0) / len(batches))
        return sorted(times)[len(times) // 2]

    step_b8 = per_step(pool, steps)
    step_b1 = per_step([tuple(a[:1] for a in b) for b in pool], steps)
    # the profile: own time of each function of the module, one more pass over the pool
    own, stack = {}, []

    def wrap(name):
        f = getattr(fast, name)

        def timed(*a, **k):
            t0 = time.thread_time(); stack.append(0.0)
            try: return f(*a, **k)
            finally:
                d, inner = time.thread_time() - t0, stack.pop()
                own[name] = own.get(name, 0.0) + d - inner
                if stack: stack[-1] += d
        setattr(fast, name, timed)
    for name in sorted({n for ns in GROUPS.values() for n in ns}): wrap(name)
    vg(params, pool[0]); own.clear()
    t0 = time.thread_time()
    for b in pool: vg(params, b)
    profiled = (time.thread_time() - t0) / len(pool)
    groups = {k: sum(own.get(n, 0.0) for n in ns) / len(pool) for k, ns in GROUPS.items()}
    groups["autograd, loss and the rest"] = profiled - sum(groups.values())
    peak, _ = rate(1024, 1024, 1024, dtype, reps=3)
    gemms = []
    for name, (m, k, n), calls in gemm_shapes(c, g["batch"], round(T)):
        gf, sec = rate(m, k, n, dtype)
        gemms.append(dict(name=name, shape=[m, k, n], calls=calls, gflops=gf, seconds=sec * calls))
    flops = fast.training_flops(c, g["batch"], T)
    return dict(dtype=dtype, mean_length=T, lengths=[int(b[0].shape[1]) for b in pool],
                flops=flops, total_flops=sum(flops.values()), step_cpu=step_b8, step_cpu_batch1=step_b1,
                profiled_step_cpu=profiled, profile=groups, own={k: v / len(pool) for k, v in own.items()},
                peak_gflops=peak, gemms=gemms, bandwidth_gbs=bandwidth(dtype))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3, help="passes over the pool of 8 batches per timing")
    ap.add_argument("--out", default=os.path.join(ROOT, "nbs", "data", "graph_profile.json"))
    ap.add_argument("--worker")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.steps)))
        return
    import numpy
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    out = {"recorded": {"date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
                        "command": " ".join(["OMP_NUM_THREADS=1 .venv/bin/python bench/graph_profile.py"]
                                            + sys.argv[1:]),
                        "machine": f"{cpu}, {os.cpu_count()} cores",
                        "software": f"Python {platform.python_version()}, NumPy {numpy.__version__}",
                        "load_before": os.getloadavg()[0]}, "dtypes": {}}
    for dtype in ("float32", "float64"):
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", dtype, "--steps", str(args.steps)],
                           env={**os.environ, **ONE}, capture_output=True, text=True, check=True)
        d = out["dtypes"][dtype] = json.loads(r.stdout)
        print(f"{dtype}: {d['total_flops'] / 1e9:.2f} GFLOP per step (mean length {d['mean_length']:.1f}); "
              f"{1e3 * d['step_cpu']:.0f} ms per step, {1e3 * d['step_cpu_batch1']:.0f} ms at batch 1; "
              f"peak {d['peak_gflops']:.0f} GFLOP/s, copy {d['bandwidth_gbs']:.1f} GB/s")
        for k, v in d["profile"].items(): print(f"   {k:55s} {1e3 * v:7.1f} ms")
        for gm in d["gemms"]:
            print(f"   {gm['name']:55s} {gm['gflops']:6.1f} GFLOP/s, {1e3 * gm['seconds']:6.2f} ms per step")
    out["recorded"]["load_after"] = os.getloadavg()[0]
    with open(args.out, "w") as f: json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
