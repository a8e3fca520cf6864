"""Asynchronous training measured (chapter "Asynchronous training"). A measurement, not
a test.

On the copy task in the shipped model's configuration (LSTM 64, N = 16, W = 16, R = 4,
batch 16, lengths 1-8, 4 bits, Adam lr 3e-3, global-norm clip 50), every process with
one BLAS thread:

1. throughput: sequences per second (wall clock) of one process (`train`), and of
   `train_parallel` with 1 and 2 asynchronous workers, 2 asynchronous workers that
   exchange every K batches (fetch_every = push_every = K, Downpour's n_fetch and
   n_push; a row `async2_kK` for each K of `--every`, default 4,8) and 2 synchronous
   workers, on one local cluster of 2 workers; 3 interleaved rounds of 300 batches per
   process (300 updates of one process or one worker, 600 of 2 asynchronous workers,
   600 / K of 2 workers exchanging every K batches, 150 synchronous). Each run also
   logs the throughput model's constants: worker_ms (a worker's time per batch),
   transfer_ms (the rest of the round trips of an update) and server_ms (the lock held
   per update);
2. the parameter server's time per update: `apply_gradient` alone (Adam and RMSProp,
   median of 200), the lock held per update in the runs, and the driver process's CPU
   time per update;
3. the race: copy to under 0.01 bit errors per sequence (the mean of a logging interval
   of 50 updates, 800 sequences; of 50 // K updates of K batches for the workers
   exchanging every K batches, 768 sequences for K = 4 or 8), one process against 2
   asynchronous workers, and against 2 asynchronous workers exchanging every K batches
   for each K (a fresh local cluster per run, its start-up included in the time), seeds
   0, 1, 2 interleaved, at most 8000 updates (8000 // K); every run's history is kept;
4. the delayed-gradient simulation: `train_delayed` with the staleness that 1, 2, 4, 8,
   16 and 32 workers produce (`simulate_staleness`, spread 0.1), seeds 0, 1, 2, updates
   to the same target (at most 8000). It counts updates, not seconds, so the load of
   the machine does not change its numbers (`--parts sim` runs it alone).

Writes nbs/data/async_bench.json with, for each part, the command, the machine and the
load average at its start and end (the machine is shared: read the throughput with the
load). `--merge` keeps the parts already in that file that this run does not make.
`--quick` makes tiny runs (to check the script) and writes /tmp/async_bench_quick.json,
marked quick, which the chapter ignores.

Usage: python bench/async_bench.py [--parts throughput,server,race,sim] [--merge]
       [--every K,K,...] [--quick] [--out FILE]

On an idle 2-core machine `--merge --parts throughput,server,race` takes about 5 to 8
minutes (the simulation, `--parts sim`, about 20 more).
"""
import os
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"
import argparse, datetime, json, platform, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import numpy as onp
from dnc_lit.model import DNCConfig, init_params
from dnc_lit.optim import get_optimiser
from dnc_lit.tasks import copy_task
from dnc_lit.train import train
from dnc_lit.parallel import (train_parallel, train_delayed, simulate_staleness,
                              local_cluster, apply_gradient)

CONFIG = DNCConfig(input_size=6, output_size=5)        # the shipped copy model's sizes
ARGS = dict(num_bits=4, batch_size=16, min_length=1, max_length=8)
OPT = dict(optimiser="adam", lr=3e-3, max_grad_norm=50.0)
TARGET = 0.01


class Reached(Exception):
    "Raised by the curriculum hook when an interval's bit errors fall below the target."


def stop_below(target, history):
    "A curriculum that keeps each interval record in `history`; stops below `target`."
    def curriculum(record, task_args):
        history.append(record)
        if record["bit_errors"] < target: raise Reached(record)
        return task_args
    return curriculum


def load():
    return [round(x, 2) for x in os.getloadavg()]


def utc_now():
    return f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"


def machine():
    try: lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError: lscpu = ""
    model = next((l.split(":", 1)[1].strip() for l in lscpu.splitlines()
                  if l.startswith("Model name")), platform.processor())
    return (f"{platform.machine()}, {model}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, NumPy {onp.__version__}")


def timed(fn):
    "(result, wall seconds, CPU seconds of this process)."
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def summed_counts(history):
    "The staleness histogram of a run's interval records, added up."
    out = []
    for r in history:
        c = r.get("staleness_counts", [])
        out += [0] * (len(c) - len(out))
        for i, v in enumerate(c): out[i] += v
    return out


def rate_record(res, wall, cpu, sequences_per_update, steps):
    "The throughput record of one run of train_parallel."
    keys = ("sequences_per_second", "staleness", "worker_ms", "transfer_ms",
            "server_ms")
    tail = res.history[1:] or res.history        # the first interval includes start-up
    return dict(steps=steps, wall=round(wall, 3), driver_cpu=round(cpu, 3),
                sequences_per_second=round(steps * sequences_per_update / wall, 2),
                driver_cpu_ms_per_update=round(1000 * cpu / steps, 4),
                steady={k: statistics.median(r[k] for r in tail) for k in keys},
                staleness_counts=summed_counts(res.history))


def part_throughput(rec, steps, rounds, every):
    B = ARGS["batch_size"]
    modes = ([("async1", 1, False, 1), ("async2", 2, False, 1)]
             + [(f"async2_k{K}", 2, False, K) for K in every] + [("sync2", 2, True, 1)])
    kw = dict(**OPT, log_every=max(steps // 5, 1), progress=False)
    out = []
    with local_cluster(2) as client:
        for r in range(rounds):
            row = {}
            res, wall, cpu = timed(lambda: train(CONFIG, copy_task, steps, ARGS, seed=r,
                                                 **kw))
            row["train"] = dict(steps=steps, wall=round(wall, 3),
                                driver_cpu=round(cpu, 3),
                                sequences_per_second=round(steps * B / wall, 2))
            for name, n, sync, k in modes:
                s = steps // 2 if sync else max(steps * n // k, 1)
                res, wall, cpu = timed(lambda: train_parallel(
                    CONFIG, copy_task, s, ARGS, workers=n, sync=sync, client=client,
                    seed=r, fetch_every=k, push_every=k,
                    **{**kw, "log_every": max(steps // 5 // k, 1)}))
                row[name] = {**rate_record(res, wall, cpu, B * k * (n if sync else 1),
                                           s), "fetch_every": k, "push_every": k}
            row["load"] = load()
            out.append(row)
            print(json.dumps({k: v["sequences_per_second"] if isinstance(v, dict) else v
                              for k, v in row.items()}), flush=True)
    rec["throughput"] = dict(steps=steps, every=every, rounds=out, note=(
        "updates per run: train and async1 `steps`, async2 twice as many (the same "
        "wall time for perfect scaling), async2_kK twice as many batches in updates "
        "of K batches, sync2 half as many (each of 2 batches)"))


def part_server(rec, repeats):
    params = init_params(CONFIG, 0)
    rng = onp.random.default_rng(0)
    grads = {k: rng.normal(0, 0.01, v.shape) for k, v in params.items()}
    out = {}
    for name, lr in (("adam", 3e-3), ("rmsprop", 1e-4)):
        opt = get_optimiser(name, lr=lr)
        p, s, times = params, opt.init(params), []
        for _ in range(repeats):
            t = time.perf_counter()
            p, s, _, _ = apply_gradient(p, s, grads, 1.0, opt, 50.0)
            times.append(time.perf_counter() - t)
        out[name] = round(1000 * statistics.median(times), 4)
    n = int(sum(v.size for v in params.values()))
    rec["server"] = dict(apply_ms=out, parameters=n, repeats=repeats)
    print(json.dumps(rec["server"]), flush=True)


KEEP = ("step", "loss", "bit_errors", "seconds", "staleness", "staleness_counts",
        "sequences_per_second")


def part_race(rec, seeds, max_steps, log_every, every):
    runs, modes = [], [("train", 1), ("async2", 1)] + [(f"async2_k{K}", K)
                                                       for K in every]
    for seed in seeds:
        for mode, k in modes:
            hist = []
            kw = dict(**OPT, seed=seed, log_every=max(log_every // k, 1),
                      progress=False, curriculum=stop_below(TARGET, hist))
            t = time.perf_counter()
            try:
                if mode == "train": train(CONFIG, copy_task, max_steps, ARGS, **kw)
                else: train_parallel(CONFIG, copy_task, max_steps // k, ARGS,
                                     workers=2, fetch_every=k, push_every=k, **kw)
                reached = None
            except Reached as e: reached = e.args[0]
            runs.append(dict(mode=mode, seed=seed, every=k,
                             reached=reached is not None,
                             step=None if reached is None else reached["step"],
                             seconds=None if reached is None else reached["seconds"],
                             wall_total=round(time.perf_counter() - t, 3), load=load(),
                             history=[{k: r[k] for k in KEEP if k in r} for r in hist]))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "history"}),
                  flush=True)
    rec["race"] = dict(target=TARGET, log_every=log_every, max_steps=max_steps,
                       seeds=seeds, every=every, runs=runs, note=(
                           "seconds: from the start of the run to the end of the first "
                           "logging interval below the target; for the workers it "
                           "includes starting the local cluster; step counts updates "
                           "(of K batches each for async2_kK)"))


def part_sim(rec, workers, seeds, max_steps, log_every, spread):
    runs = []
    for seed in seeds:
        for n in workers:
            rng = onp.random.default_rng([seed, n])
            tau = simulate_staleness(n, max_steps, rng, spread)
            hist = []
            kw = dict(**OPT, seed=seed, log_every=log_every, progress=False,
                      curriculum=stop_below(TARGET, hist))
            t = time.perf_counter()
            try:
                train_delayed(CONFIG, copy_task, max_steps, ARGS, staleness=tau, **kw)
                reached = None
            except Reached as e: reached = e.args[0]
            runs.append(dict(workers=n, seed=seed, reached=reached is not None,
                             step=None if reached is None else reached["step"],
                             staleness_mean=round(float(tau.mean()), 3),
                             staleness_counts=onp.bincount(tau).tolist(),
                             wall=round(time.perf_counter() - t, 2), load=load(),
                             history=[{k: r[k] for k in ("step", "loss", "bit_errors")}
                                      for r in hist]))
            print(json.dumps({k: v for k, v in runs[-1].items()
                              if k not in ("history", "staleness_counts")}), flush=True)
    rec["simulation"] = dict(target=TARGET, log_every=log_every, max_steps=max_steps,
                             spread=spread, seeds=seeds, runs=runs)


PARTS = ("throughput", "server", "race", "sim")


def run_part(rec, part, q, every=(4, 8)):
    "Run one part into `rec`, with its own provenance under rec['provenance'][part]."
    start = dict(command=rec["command"], recorded=utc_now(), machine=rec["machine"],
                 load_average_start=load())
    if part == "throughput":
        part_throughput(rec, 20 if q else 300, 1 if q else 3, every)
    if part == "server": part_server(rec, 20 if q else 200)
    if part == "race":
        part_race(rec, [0] if q else [0, 1, 2], 100 if q else 8000, 10 if q else 50,
                  every)
    if part == "sim":
        part_sim(rec, [1, 4] if q else [1, 2, 4, 8, 16, 32], [0] if q else [0, 1, 2],
                 60 if q else 8000, 10 if q else 50, 0.1)
    rec["provenance"][part] = {**start, "finished": utc_now(),
                               "load_average_end": load()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--quick", action="store_true", help="tiny runs, to check it")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other parts already recorded in the output file")
    ap.add_argument("--out", default=None)
    ap.add_argument("--every", default="4,8", metavar="K,K,...",
                    help="fetch_every = push_every of the rows async2_kK (default 4,8)")
    a = ap.parse_args()
    try: every = [int(k) for k in a.every.split(",")]
    except ValueError: every = []
    if not every or min(every) < 2: ap.error("--every: integers >= 2, e.g. 4,8")
    q = a.quick
    out = a.out or (os.path.join("/tmp", "async_bench_quick.json") if q else
                    os.path.join(ROOT, "nbs", "data", "async_bench.json"))
    parts = a.parts.split(",")
    if set(parts) - set(PARTS): ap.error(f"--parts: choose from {', '.join(PARTS)}")
    old = json.load(open(out)) if a.merge and os.path.exists(out) else {}
    rec = dict(what="asynchronous training of the copy task (chapter Asynchronous "
                    "training)",
               command=" ".join(["python", "bench/async_bench.py", *sys.argv[1:]]),
               recorded=utc_now(), machine=machine(), quick=q,
               model=dict(config=dict(vars(CONFIG)), task_args=ARGS, **OPT),
               target=TARGET, provenance={})
    for part, key in (("throughput", "throughput"), ("server", "server"),
                      ("race", "race"), ("sim", "simulation")):
        if part not in parts and key in old:                 # kept from the earlier run
            rec[key] = old[key]
            rec["provenance"][part] = old.get("provenance", {}).get(part, {})
    for part in PARTS:
        if part in parts: run_part(rec, part, q, every)
    rec["finished"] = utc_now()
    with open(out, "w") as f: json.dump(rec, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
