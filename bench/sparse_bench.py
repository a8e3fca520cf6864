"""Time and peak memory of one training step of the DNC with the dense link matrix and with the sparse one (K = 8),
for memory sizes N = 64 ... 16384 (issue 7, the paper's Methods subsection "Sparse link matrix"). Not a test.

One training step = forward over T = 20 steps of a batch of 1 (LSTM controller, H = 32, W = 16, R = 2, X = Y = 8,
random input bits and random target bits) + the masked sigmoid cross-entropy (a scalar) + autograd's backward pass
to every parameter. Each (N, mode) runs in its own process, with one thread and an address-space limit
(RLIMIT_AS, default min(20 GB, 60% of the memory available at the start)), so a configuration that does not fit fails
with MemoryError inside that process instead of exhausting the machine; it is reported as "does not fit", with an
estimate of what it would need. Times: the median of the timed repeats after one warm-up step, in CPU time of the
process (time.process_time: user + system; the targets use it, since other processes on a shared machine stretch the
wall clock but not the work) and in wall time. Memory: the process's
peak resident set (VmHWM in /proc/self/status, which starts afresh at exec) minus its baseline after imports and set-up
(the "step memory"); the total peak is printed too. A second, untimed step under tracemalloc (NumPy reports its
buffers to it) gives the peak of Python-allocated memory of one step as a cross-check.

Usage: python bench/sparse_bench.py [--quick] [--out nbs/data/sparse_bench.json] [--limit-gb 20]
       python bench/sparse_bench.py --profile 16384 [--out nbs/data/sparse_bench.json]   (only the profile)
The full run ends with a cProfile of one sparse step at the largest N (own time per function): where the time goes.
"""
import argparse, datetime, json, os, platform, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                               "VECLIB_MAXIMUM_THREADS")}
CONFIG = dict(input_size=8, output_size=8, hidden_size=32, word_size=16, num_reads=2, controller="lstm")
T, BATCH, K = 20, 1, 8
SIZES = [64, 256, 1024, 4096, 16384]
QUICK_SIZES = [64, 256, 1024]
MODES = ["dense", "sparse"]


def repeats_for(N, mode):
    "Timed repeats: fewer where a step takes seconds."
    if mode == "dense": return {4096: 3, 16384: 1}.get(N, 7)
    return {16384: 5}.get(N, 7)


# ------------------------------------------------------------------------------------------ worker side
def _hwm_mb():
    "Peak resident set of this process in MB (VmHWM: reset at exec, unlike ru_maxrss on Linux)."
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"): return int(line.split()[1]) / 1024
    except OSError: pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(N, mode, repeats):
    for k, v in THREAD_ENV.items(): os.environ[k] = v          # before NumPy is imported
    sys.path.insert(0, ROOT)
    import numpy as onp
    from autograd import grad
    from dnc_lit.model import DNC
    from dnc_lit.train import masked_sigmoid_cross_entropy
    model = DNC(memory_size=N, link_sparsity=K if mode == "sparse" else None, **CONFIG)
    params = model.init(0)
    rng = onp.random.default_rng(0)
    x = rng.integers(0, 2, (BATCH, T, CONFIG["input_size"])).astype(float)
    y = rng.integers(0, 2, (BATCH, T, CONFIG["output_size"])).astype(float)
    mask = onp.ones((BATCH, T))
    g = grad(lambda p: masked_sigmoid_cross_entropy(model.apply(p, x), y, mask))
    out = dict(N=N, mode=mode, base_mb=_hwm_mb(), times=[], cpu_times=[])
    try:
        t0 = time.perf_counter(); g(params); out["warmup"] = time.perf_counter() - t0
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time(); g(params)
            out["times"].append(time.perf_counter() - t0); out["cpu_times"].append(time.process_time() - c0)
        out["peak_mb"] = _hwm_mb()
        import tracemalloc
        tracemalloc.start(); g(params); out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        out["fits"] = True
    except MemoryError:
        out.update(fits=False, peak_mb=_hwm_mb(), error="MemoryError under the address-space limit")
    print(json.dumps(out), flush=True)


def profile_worker(N, out_path):
    "cProfile of one sparse training step at N (after a warm-up): the functions with the largest own time, as JSON."
    for k, v in THREAD_ENV.items(): os.environ[k] = v
    sys.path.insert(0, ROOT)
    import cProfile, pstats
    import numpy as onp
    from autograd import grad
    from dnc_lit.model import DNC
    from dnc_lit.train import masked_sigmoid_cross_entropy
    model = DNC(memory_size=N, link_sparsity=K, **CONFIG)
    params, rng = model.init(0), onp.random.default_rng(0)
    x = rng.integers(0, 2, (BATCH, T, CONFIG["input_size"])).astype(float)
    y = rng.integers(0, 2, (BATCH, T, CONFIG["output_size"])).astype(float)
    g = grad(lambda p: masked_sigmoid_cross_entropy(model.apply(p, x), y, onp.ones((BATCH, T))))
    g(params)
    prof = cProfile.Profile(); prof.enable(); g(params); prof.disable()
    st = pstats.Stats(prof).stats                       # (file, line, name) -> (cc, nc, tottime, cumtime, callers)
    total = sum(v[2] for v in st.values())
    rows = sorted(((v[2], f"{os.path.relpath(f, ROOT) if f.startswith(ROOT) else os.path.basename(f)}:{l}({n})", v[1])
                   for (f, l, n), v in st.items()), reverse=True)[:15]
    res = dict(N=N, total_s=total, top=[dict(function=name, own_s=t, share=t / total, calls=c) for t, name, c in rows])
    with open(out_path, "w") as f: json.dump(res, f)


# ------------------------------------------------------------------------------------------ driver side
def mem_available_gb():
    with open("/proc/meminfo") as f:
        info = {l.split(":")[0]: int(l.split()[1]) for l in f}
    return info["MemAvailable"] / 2**20, info["MemTotal"] / 2**20


def median(xs):
    xs = sorted(xs); n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def measure(N, mode, repeats, limit_bytes):
    "Run one configuration in its own process under RLIMIT_AS; its JSON record."
    def limit():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    env = {**os.environ, **THREAD_ENV}
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(N), mode, str(repeats)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, preexec_fn=limit)
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        last = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}"
        res = dict(N=N, mode=mode, fits=False, error=last, times=[])
    else: res = json.loads(lines[-1])
    res["wall"] = time.perf_counter() - t0
    if res["times"]:
        t, c = sorted(res["times"]), sorted(res["cpu_times"])
        res.update(median=median(t), lo=t[0], hi=t[-1], cpu_median=median(c), cpu_lo=c[0], cpu_hi=c[-1])
        res["spread"] = (t[-1] - t[0]) / res["median"]
        res["step_mb"] = res["peak_mb"] - res["base_mb"]
    return res


def dense_estimate(results):
    """Estimated step memory of the dense mode at every N, from the largest dense run that fitted: c link-sized
    arrays (N x N float64) per time step, c = step memory / (T N^2 8 bytes). Analytically c = 3: autograd keeps the fade
    factor (1 - w_i - w_j), the constant diagonal mask (1 - I) and L_t itself for every step; the rest is transient."""
    fitted = [r for r in results if r["mode"] == "dense" and r.get("fits") and r["N"] >= 1024]
    if not fitted: return None
    r = max(fitted, key=lambda r: r["N"])
    c = r["step_mb"] * 2**20 / (T * r["N"] ** 2 * 8)
    return dict(arrays_per_step=c, from_N=r["N"], analytic_arrays_per_step=3)


def fmt_mb(mb):
    return f"{mb / 1024:.2f} GB" if mb >= 1024 else f"{mb:.1f} MB"


def table(results, est):
    rows = ["| N | mode | CPU s/step, median [min-max] | wall s/step, median [min-max] | step memory | peak RSS | tracemalloc peak |",
            "|---:|---|---|---|---:|---:|---:|"]
    for r in results:
        name = "dense" if r["mode"] == "dense" else f"sparse K={K}"
        if r.get("fits"):
            rows.append(f"| {r['N']} | {name} | {r['cpu_median']:.3g} [{r['cpu_lo']:.3g}-{r['cpu_hi']:.3g}] "
                        f"({len(r['times'])}) | {r['median']:.3g} [{r['lo']:.3g}-{r['hi']:.3g}] | "
                        f"{fmt_mb(r['step_mb'])} | {fmt_mb(r['peak_mb'])} | {fmt_mb(r['traced_peak_mb'])} |")
        else:
            need = (f"needs ~{fmt_mb(r['estimate_mb'])}" if "estimate_mb" in r else "")
            rows.append(f"| {r['N']} | {name} | does not fit ({need}) | {r.get('error', '')} | | "
                        f"{fmt_mb(r['peak_mb']) + ' when stopped' if 'peak_mb' in r else ''} | |")
    return "\n".join(rows)


def verdicts(results, machine_gb):
    "The issue's targets: (name, measured value as text, target as text, PASS/FAIL/N/A)."
    get = {(r["N"], r["mode"]): r for r in results}
    out = []
    s4, s16, d4 = get.get((4096, "sparse")), get.get((16384, "sparse")), get.get((4096, "dense"))
    d16 = get.get((16384, "dense"))
    if s4 and s16 and s4.get("fits") and s16.get("fits"):
        g = s16["cpu_median"] / s4["cpu_median"]
        out.append(("sparse step time growth N=4096 -> 16384", f"{g:.2f}x CPU ({s16['median'] / s4['median']:.2f}x wall; "
                    f"N log N: {4 * 14 / 12:.2f}x, N^2: 16x)",
                    "<= 6x", "PASS" if g <= 6 else "FAIL"))
    else: out.append(("sparse step time growth N=4096 -> 16384", "not measured", "<= 6x", "N/A"))
    if s4 and d4 and s4.get("fits") and d4.get("fits"):
        sp, mem = d4["cpu_median"] / s4["cpu_median"], d4["step_mb"] / s4["step_mb"]
        out.append(("dense / sparse time at N=4096", f"{sp:.1f}x CPU ({d4['median'] / s4['median']:.1f}x wall)", ">= 10x",
                    "PASS" if sp >= 10 else "FAIL"))
        out.append(("dense / sparse step memory at N=4096", f"{mem:.0f}x (peak RSS {d4['peak_mb'] / s4['peak_mb']:.0f}x)",
                    ">= 20x", "PASS" if mem >= 20 else "FAIL"))
    else:
        out += [("dense / sparse time at N=4096", "not measured", ">= 10x", "N/A"),
                ("dense / sparse step memory at N=4096", "not measured", ">= 20x", "N/A")]
    if s16 and d16:
        ok = s16.get("fits") and s16["peak_mb"] < machine_gb * 1024 and not d16.get("fits") \
             and d16.get("estimate_mb", 0) > machine_gb * 1024
        out.append((f"N=16384 trains sparse, not dense, in {machine_gb:.0f} GB",
                    f"sparse peak {fmt_mb(s16.get('peak_mb', float('nan')))}; dense "
                    + ("fits" if d16.get("fits") else f"does not fit (needs ~{fmt_mb(d16.get('estimate_mb', float('nan')))})"),
                    "sparse fits, dense does not", "PASS" if ok else "FAIL"))
    else: out.append(("N=16384 trains sparse, not dense", "not measured", "sparse fits, dense does not", "N/A"))
    return out


def lscpu_model():
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"): return line.split(":", 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()


def profile(N, out):
    "Run profile_worker in its own process (one thread) and print the table; merge it into `out` if given."
    import tempfile
    path = os.path.join(tempfile.mkdtemp(), "profile.json")
    subprocess.run([sys.executable, os.path.abspath(__file__), "--profile-worker", str(N), path],
                   env={**os.environ, **THREAD_ENV}, check=True)
    with open(path) as f: res = json.load(f)
    res["date"] = f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
    res["command"] = f"python bench/sparse_bench.py --profile {N}" + (f" --out {out}" if out else "")
    print(f"# one sparse (K={K}) training step at N={N} under cProfile: {res['total_s']:.2f} s of own time in all")
    for r in res["top"]:
        print(f"  {100 * r['share']:5.1f}%  {r['own_s']:.3f} s  {r['calls']:>6} calls  {r['function']}")
    if out:
        data = json.load(open(out)) if os.path.exists(out) else {}
        data["profile"] = res
        with open(out, "w") as f: json.dump(data, f, indent=1)
        print(f"# added to {out}")
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="N = 64, 256, 1024 only, 3 repeats")
    ap.add_argument("--sizes", type=int, nargs="+", help="memory sizes N (default 64 256 1024 4096 16384)")
    ap.add_argument("--limit-gb", type=float, default=20.0, help="address-space limit per process (GB; at most 60%% "
                    "of the memory available at the start)")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--profile", type=int, metavar="N", help="only profile one sparse step at this N (cProfile, own "
                    "time per function) and add it to the --out file, keeping its measurements")
    ap.add_argument("--profile-worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker: return worker(int(args.worker[0]), args.worker[1], int(args.worker[2]))
    if args.profile_worker: return profile_worker(int(args.profile_worker[0]), args.profile_worker[1])
    if args.profile: return profile(args.profile, args.out)

    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    avail_gb, total_gb = mem_available_gb()
    limit_gb = min(args.limit_gb, 0.6 * avail_gb)     # the machine is shared: leave the others room
    started = datetime.datetime.now(datetime.timezone.utc)
    meta = dict(date=f"{started:%Y-%m-%d %H:%M} UTC", cpu=lscpu_model(), cores=os.cpu_count(),
                memory_gb=round(total_gb, 1), python=platform.python_version(),
                command="python bench/sparse_bench.py" + (" --quick" if args.quick else "")
                + (f" --sizes {' '.join(map(str, args.sizes))}" if args.sizes else ""),
                config=dict(**CONFIG, T=T, batch=BATCH, K=K, loss="masked sigmoid cross-entropy, random bits"),
                threads=1, limit_gb=round(limit_gb, 1), load_average_start=round(os.getloadavg()[0], 2))
    print(f"# sparse link benchmark, {meta['date']}; {meta['cpu']}, {meta['cores']} cores, {total_gb:.1f} GB; "
          f"Python {meta['python']}; one thread")
    print(f"# one training step: forward T={T}, batch {BATCH}, LSTM H={CONFIG['hidden_size']}, W={CONFIG['word_size']}, "
          f"R={CONFIG['num_reads']}, X=Y={CONFIG['input_size']}; loss + autograd backward; sparse K={K}")
    print(f"# each configuration in its own process under RLIMIT_AS = {limit_gb:.1f} GB; median of the timed repeats "
          f"after one warm-up; load average at the start {meta['load_average_start']}", flush=True)
    results = []
    for N in sizes:
        for mode in MODES:
            r = measure(N, mode, 3 if args.quick else repeats_for(N, mode), int(limit_gb * 2**30))
            results.append(r)
            state = (f"{r['median']:.3g} s, step memory {fmt_mb(r['step_mb'])}" if r.get("fits")
                     else f"does not fit: {r.get('error')}")
            print(f"  N={N:>5} {mode:6}: {state}  ({r['wall']:.0f} s wall)", flush=True)
    est = dense_estimate(results)
    for r in results:
        if r["mode"] == "dense" and not r.get("fits") and est:
            r["estimate_mb"] = (est["arrays_per_step"] * T * r["N"] ** 2 * 8) / 2**20 + r.get("base_mb", 0)
            r["estimate_analytic_mb"] = (est["analytic_arrays_per_step"] * T * r["N"] ** 2 * 8) / 2**20
    meta["load_average_end"] = round(os.getloadavg()[0], 2)
    print()
    print(table(results, est))
    if est:
        print(f"\nDense step memory ~ {est['arrays_per_step']:.2f} link-sized arrays (N x N float64) per time step "
              f"(measured at N={est['from_N']}; analytically 3 are kept: 1 - w_i - w_j, the mask 1 - I, and L_t)")
    print("\nGrowth of the median CPU time per step when N quadruples (N log N: ~4.5-4.7x, N^2: 16x):")
    for mode in MODES:
        rs = [r for r in results if r["mode"] == mode and r.get("fits")]
        print(f"  {mode:6}: " + ", ".join(f"{a['N']}->{b['N']}: {b['cpu_median'] / a['cpu_median']:.2f}x"
                                         for a, b in zip(rs, rs[1:])))
    print("\nTargets (issue 7):")
    checks = verdicts(results, 24)
    for name, value, target, verdict in checks:
        print(f"  {verdict:4}  {name}: {value}  (target {target})")
    print(f"\n# load average at the end {meta['load_average_end']}")
    data = dict(meta=meta, results=results, dense_estimate=est,
                targets=[dict(name=n, value=v, target=t, verdict=d) for n, v, t, d in checks])
    if max(sizes) >= 4096:                     # where the sparse step's time goes, at the largest N
        print(); data["profile"] = profile(max(sizes), None)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f: json.dump(data, f, indent=1)
        print(f"# written {args.out}")


if __name__ == "__main__":
    main()
