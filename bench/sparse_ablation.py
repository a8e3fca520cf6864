"""A small version of the paper's sparse-link ablation (Extended Data Fig. 4: copy task, feed-forward controller, dense
link matrix, sparse link matrix, no link matrix): the copy task trained with the dense link matrix, with K = 8 and with
no temporal links at all (link_sparsity=0), several seeds, learning curves side by side. Not a test.

Each run is `dnc_lit.train.train` (Adam, gradient clipped to global norm 50, the masked sigmoid cross-entropy) in its
own process with one thread, at most --jobs at once; the same seed gives dense and sparse the same initial parameters
and the same batches. At the end each trained network is scored on fresh sequences of every length (`evaluate_lengths`).

Usage: python bench/sparse_ablation.py [--steps 1500] [--seeds 0 1 2 3 4] [--modes dense sparse none] [--keep]
                                      [--jobs 2] [--out nbs/data/sparse_ablation.json]
--keep keeps the runs already recorded in --out (other modes or seeds) and adds the new ones, so one arm can be added
to a recorded ablation: `python bench/sparse_ablation.py --modes none --keep`.
"""
import argparse, datetime, json, os, platform, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                               "VECLIB_MAXIMUM_THREADS")}
MODEL = dict(controller="feedforward", hidden_size=64, memory_size=32, word_size=16, num_reads=2)
TASK = dict(batch_size=16, num_bits=6, min_length=1, max_length=5)
LR = 3e-3
MODES = ("dense", "sparse", "none")          # the link matrix: N x N, K per row, none (K = 0)


def link_sparsity(mode, K):
    "The DNCConfig.link_sparsity of an arm: None (dense), K (sparse) or 0 (no temporal links)."
    return {"dense": None, "sparse": K, "none": 0}[mode]


def cpu_name():
    "The processor's model name (Linux), for the record."
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def worker(mode, seed, steps, log_every, K, out_path):
    for k, v in THREAD_ENV.items(): os.environ[k] = v
    sys.path.insert(0, ROOT)
    from dnc_lit.model import DNCConfig, DNC
    from dnc_lit.tasks import copy_task
    from dnc_lit.train import train, evaluate_lengths
    b = TASK["num_bits"]
    config = DNCConfig(input_size=b + 2, output_size=b + 1, link_sparsity=link_sparsity(mode, K), **MODEL)
    t0, c0 = time.perf_counter(), time.process_time()
    run = train(config, copy_task, steps, TASK, optimiser="adam", lr=LR, seed=seed, log_every=log_every, progress=False)
    cpu = time.process_time() - c0
    lengths = list(range(1, TASK["max_length"] + 4))           # the trained lengths and three longer ones
    ev = evaluate_lengths(DNC.from_config(config), run.params, copy_task, TASK, lengths, num_sequences=200, seed=1000 + seed)
    res = dict(mode=mode, seed=seed, K=link_sparsity(mode, K), history=run.history,
               wall=time.perf_counter() - t0, cpu=cpu,
               eval={str(L): float(e.mean()) for L, e in ev.items()})
    with open(out_path, "w") as f: json.dump(res, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--K", type=int, default=8)
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="which arms to run")
    ap.add_argument("--keep", action="store_true", help="keep the runs already in --out that are not run again")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once (one thread each)")
    ap.add_argument("--out", default=os.path.join(ROOT, "nbs", "data", "sparse_ablation.json"))
    args = ap.parse_args()
    if args.worker:
        m, s, st, le, K, p = args.worker
        return worker(m, int(s), int(st), int(le), int(K), p)

    tmp = tempfile.mkdtemp(prefix="sparse_ablation_")
    todo = [(mode, seed) for seed in args.seeds for mode in args.modes]
    running, runs, started = [], [], datetime.datetime.now(datetime.timezone.utc)
    cmd = ("python bench/sparse_ablation.py" + (f" --steps {args.steps}" if args.steps != 1500 else "")
           + (f" --seeds {' '.join(map(str, args.seeds))}" if args.seeds != [0, 1, 2, 3, 4] else "")
           + (f" --modes {' '.join(args.modes)}" if args.modes != list(MODES) else "")
           + (" --keep" if args.keep else "") + (f" --K {args.K}" if args.K != 8 else ""))
    record = dict(date=f"{started:%Y-%m-%d %H:%M} UTC", command=cmd, modes=args.modes, python=platform.python_version(),
                  cores=os.cpu_count(), cpu=cpu_name())
    meta = dict(**record, model=MODEL, task=TASK, optimiser=dict(name="adam", lr=LR), max_grad_norm=50.0,
                steps=args.steps, log_every=args.log_every, K=args.K, seeds=args.seeds)
    if args.keep and os.path.exists(args.out):           # add to a recorded ablation: same set-up, new arms
        with open(args.out) as f: old = json.load(f)
        same = ("model", "task", "optimiser", "max_grad_norm", "steps", "log_every", "K")
        differ = [k for k in same if old["meta"].get(k) != json.loads(json.dumps(meta[k]))]
        if differ: sys.exit(f"--keep: {args.out} was recorded with other settings ({', '.join(differ)})")
        meta = {**old["meta"], "added": old["meta"].get("added", []) + [record],
                "seeds": sorted(set(old["meta"]["seeds"]) | set(args.seeds))}
        runs = [r for r in old["runs"] if (r["mode"], r["seed"]) not in set(todo)]
    print(f"# sparse link ablation, {meta['date']}: {len(todo)} runs, {args.jobs} at once, one thread each", flush=True)

    def save():
        with open(args.out, "w") as f:
            json.dump(dict(meta=meta, runs=sorted(runs, key=lambda r: (r["seed"], MODES.index(r["mode"])))), f, indent=1)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    while todo or running:
        while todo and len(running) < args.jobs:
            mode, seed = todo.pop(0)
            path = os.path.join(tmp, f"{mode}_{seed}.json")
            p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", mode, str(seed), str(args.steps),
                                  str(args.log_every), str(args.K), path], env={**os.environ, **THREAD_ENV})
            running.append((p, mode, seed, path))
        time.sleep(2)
        for item in list(running):
            p, mode, seed, path = item
            if p.poll() is None: continue
            running.remove(item)
            if p.returncode != 0 or not os.path.exists(path):
                print(f"  {mode} seed {seed}: FAILED (exit {p.returncode})", flush=True); continue
            with open(path) as f: r = json.load(f)
            runs.append(r); save()
            last = r["history"][-1]
            print(f"  {mode:6} seed {seed}: final interval loss {last['loss']:.3f}, bit errors {last['bit_errors']:.3f}; "
                  f"eval {r['eval']}; {r['cpu']:.0f} s CPU, {r['wall']:.0f} s wall", flush=True)
    save()
    print(f"# written {args.out}")


if __name__ == "__main__":
    main()
