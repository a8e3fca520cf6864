"""Time and peak memory of one training step of dnc_lit's fast path as N grows and as T grows, one thread, each point
in its own process. Writes nbs/data/scale.json, which chapter "Making it fast" draws. A measurement, not a test.

The model: configuration (a)'s sizes (LSTM 32, W = 8, R = 2, batch 1), input 8 and output 8 channels, `impl="fast"`;
the step: forward over T steps of random bits from a fresh memory, masked sigmoid cross-entropy against random target
bits, autograd backward to every parameter (no optimiser update). N = 16 ... 1024 at T = 20; T = 10 ... 500 at N = 64.
Time: median of `--repeats` steps after one warm-up, CPU seconds of the process (time.process_time, the primary
number on a shared machine) and wall seconds. Memory: the process's peak resident set (VmHWM, /proc/self/status)
minus its resident set after imports and set-up ("step memory"), and the peak that tracemalloc sees (NumPy reports its
buffers to it) during one further step.
Usage: python bench/scale.py [--repeats 5] [--out nbs/data/scale.json]
"""
import os
for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"): os.environ[k] = "1"
import argparse, json, subprocess, sys, time, platform, datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NS, TS, T_FIXED, N_FIXED = [16, 32, 64, 128, 256, 512, 1024], [10, 20, 50, 100, 200, 500], 20, 64


def _status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field): return int(line.split()[1]) / 1024     # MB
    return float("nan")


def worker(N, T, repeats):
    sys.path.insert(0, ROOT)
    import numpy as onp
    import tracemalloc
    from autograd import grad
    from dnc_lit.model import DNCConfig, init_params, _unroll
    from dnc_lit.train import masked_sigmoid_cross_entropy
    c = DNCConfig(input_size=8, output_size=8, hidden_size=32, memory_size=N, word_size=8, num_reads=2, impl="fast")
    rng = onp.random.default_rng(0)
    params = init_params(c, 0)
    x, y, m = rng.integers(0, 2, (1, T, 8)).astype(float), rng.integers(0, 2, (1, T, 8)).astype(float), onp.ones((1, T))
    g = grad(lambda p: masked_sigmoid_cross_entropy(_unroll(p, x, c)[0], y, m))
    base = _status("VmRSS")
    g(params)                                                              # warm-up
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        g(params)
        cpu.append(time.process_time() - c0); wall.append(time.perf_counter() - w0)
    hwm = _status("VmHWM")
    tracemalloc.start(); g(params); traced = tracemalloc.get_traced_memory()[1] / 2 ** 20; tracemalloc.stop()
    med = lambda v: sorted(v)[len(v) // 2]
    print(json.dumps(dict(N=N, T=T, cpu=med(cpu), cpu_lo=min(cpu), cpu_hi=max(cpu), wall=med(wall), wall_lo=min(wall),
                          wall_hi=max(wall), step_mb=hwm - base, rss_base_mb=base, traced_mb=traced, repeats=repeats)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs=2, type=int)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "nbs", "data", "scale.json"))
    a = ap.parse_args()
    if a.worker: return worker(*a.worker, a.repeats)
    rec = dict(what="one training step (forward + backward) of dnc_lit's fast path, one thread, each point its own process",
               model="LSTM 32, W = 8, R = 2, batch 1, X = Y = 8, impl='fast'", recorded=f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
               machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               load_average_start=os.getloadavg(), T_fixed=T_FIXED, N_fixed=N_FIXED, by_N=[], by_T=[])
    for key, points in (("by_N", [(n, T_FIXED) for n in NS]), ("by_T", [(N_FIXED, t) for t in TS])):
        for N, T in points:
            p = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", str(N), str(T), "--repeats", str(a.repeats)],
                               capture_output=True, text=True)
            r = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else dict(N=N, T=T, error=p.stderr[-300:])
            rec[key].append(r)
            print(json.dumps(r), flush=True)
    rec["load_average_end"] = os.getloadavg()
    with open(a.out, "w") as f: json.dump(rec, f, indent=1)


if __name__ == "__main__":
    main()
