"""Joint training of a DNC on the 20 bAbI tasks (chapter "The bAbI tasks"), resumable,
and the cost of a training step. Not a test: the long run is started by hand.

Training (the paper's protocol: all 20 tasks pooled, no task id, a random story per
sample, 10 % of each task's training stories held out for validation, softmax
cross-entropy at the '-' steps):

    python bench/babi_train.py train --data PATH --out babi.npz --steps 100000 \\
        [--preset dnc1|small|tiny] [--optimiser rmsprop --lr 1e-4] [--batch-size 1] \\
        [--seed 0] [--checkpoint-every 200] [--validate-every 2000] \\
        [--validate-stories 25] [--log babi.jsonl]

Run it again with the same --out to continue: the checkpoint holds the step, the
parameters, the optimiser state, the generator and the settings (Ctrl-C saves first).
With --validate-every V the run stops every V steps, measures the question error on the
first --validate-stories validation stories of each task and appends a JSON line to
OUT.valid.jsonl (step, stories seen, CPU seconds, per-task and mean error).

    python bench/babi_train.py evaluate babi.npz [--data PATH] [--split test|valid]
        per-task question error on the test (or validation) stories, beside the paper's
    python bench/babi_train.py time --data PATH [--steps 3] [--presets dnc1,small] \
        [--out nbs/data/babi_step_times.json]
        CPU time of a few training steps of DNC1 and of a smaller configuration

PATH is the official tasks_1-20_v1-2.tar.gz or its extracted folder. Training uses
dnc_lit.train.train with the task's objective, babi_loss and babi_errors: passed as
loss=/errors= when train takes them; until then the two functions of the masked sigmoid
loop are swapped for them during the run (the log's "bit_errors" is then the fraction of
questions answered wrongly). One BLAS thread (set before numpy is imported).
"""
import os
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")
import argparse, contextlib, dataclasses, datetime, inspect, json, platform, shlex, sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import numpy as onp
import dnc_lit.train as T
from dnc_lit.model import DNCConfig, DNC, parameter_count
from dnc_lit.checkpoint import load_checkpoint
from dnc_lit.babi import (load_babi, build_lexicon, split_validation, babi_sampler,
                          babi_loss, babi_errors, question_error_rate, evaluate_babi,
                          mean_error, failed_tasks, error_table)

PRESETS = {   # the paper's DNC1 (Extended Data Table 2), a smaller machine, a tiny one
    "dnc1": dict(hidden_size=256, memory_size=256, word_size=64, num_reads=4),
    "dnc1-float32": dict(hidden_size=256, memory_size=256, word_size=64, num_reads=4,
                         dtype="float32"),
    "small": dict(hidden_size=128, memory_size=64, word_size=32, num_reads=4),
    "tiny": dict(hidden_size=16, memory_size=8, word_size=8, num_reads=2)}


def objective_kwargs():
    "loss=/errors= for dnc_lit.train.train, if it takes a task's objective; else None."
    names = inspect.signature(T.train).parameters
    if "loss" in names and "errors" in names:
        return dict(loss=babi_loss, errors=babi_errors)
    return None


@contextlib.contextmanager
def babi_objective():
    "Until train takes loss=/errors=: its sigmoid loss and bit errors swapped for ours"
    saved = T.masked_sigmoid_cross_entropy, T.bit_errors
    T.masked_sigmoid_cross_entropy = lambda y, z, m, per_bit=False: babi_loss(y, z, m)
    T.bit_errors = question_error_rate
    try: yield
    finally: T.masked_sigmoid_cross_entropy, T.bit_errors = saved


def run_train(*args, **kw):
    "dnc_lit.train.train with the bAbI objective."
    extra = objective_kwargs()
    if extra is not None: return T.train(*args, **kw, **extra)
    with babi_objective(): return T.train(*args, **kw)


def prepare(path, version, seed, fraction=0.1):
    "(data, train stories, validation stories, lexicon) of the bAbI data at `path`."
    data = load_babi(path, version)
    train, valid = split_validation(data.train, fraction, seed)
    if data.substituted:
        print("note: read from the fallback version: " + ", ".join(
            f"task {t} {s}" for t, s in data.substituted), file=sys.stderr)
    return data, train, valid, build_lexicon(data.train)


def _validate(model, params, valid, lexicon, k):
    "Per-task question error (%) on the first k validation stories of each task."
    res = evaluate_babi(model, params, {t: v[:k] for t, v in valid.items()}, lexicon)
    return {str(t): r.error for t, r in res.items()}, mean_error(res)


def cmd_train(a, argv):
    out = Path(a.out)
    resume = out if out.exists() else None
    if resume is not None:
        meta = load_checkpoint(out).metadata
        path, version, seed = a.data or meta["data"], meta["version"], meta["seed"]
    else:
        path, version, seed = a.data, a.version, a.seed
        if path is None: raise SystemExit("babi_train.py train: --data PATH is needed")
    data, train, valid, lexicon = prepare(path, version, seed)
    if resume is not None and meta["lexicon"] != list(lexicon.words):
        raise SystemExit(f"{out}: trained with another lexicon than the data at {path}")
    config = DNCConfig(input_size=len(lexicon), output_size=len(lexicon),
                       **PRESETS[a.preset]) if resume is None else None
    command = " ".join(["python bench/babi_train.py", *map(shlex.quote, argv)])
    if resume is None:
        metadata = {"task": "babi", "data": str(path), "version": version,
                    "lexicon": list(lexicon.words), "preset": a.preset,
                    "validation": {"fraction": 0.1, "seed": seed}, "command": command}
    else:
        keep = ("task", "data", "version", "lexicon", "preset", "validation", "command")
        metadata = {k: meta[k] for k in keep if k in meta}
        metadata["resumed"] = meta.get("resumed", []) + [{"step": meta["step"],
                                                          "command": command}]
    sampler = babi_sampler(train, lexicon)
    every = a.validate_every or a.steps
    step = 0 if resume is None else load_checkpoint(out).metadata["step"]
    while step < a.steps:
        stop = min(a.steps, (step // every + 1) * every)
        run = run_train(config if step == 0 and resume is None else None, sampler, stop,
                        dict(batch_size=a.batch_size), optimiser=a.optimiser, lr=a.lr,
                        seed=seed, max_grad_norm=a.max_grad_norm, log_every=a.log_every,
                        log=a.log, checkpoint=out, checkpoint_every=a.checkpoint_every,
                        resume=out if (step > 0 or resume is not None) else None,
                        progress="lines", metadata=metadata)
        step = run.step
        if a.validate_every:
            ck = load_checkpoint(out)
            model = DNC.from_config(DNCConfig(**ck.config))
            per_task, mean = _validate(model, run.params, valid, lexicon,
                                       a.validate_stories)
            rec = {"step": step, "stories_seen": step * a.batch_size,
                   "cpu_seconds": round(run.cpu_seconds, 1),
                   "seconds": round(run.seconds, 1),
                   "valid_stories_per_task": a.validate_stories, "mean_error": mean,
                   "errors": per_task}
            with open(f"{out}.valid.jsonl", "a") as f: f.write(json.dumps(rec) + "\n")
            print(f"step {step}: validation mean error {mean:.1f} %", file=sys.stderr)
    print(f"{out}: step {step}")


def cmd_evaluate(a):
    ck = load_checkpoint(a.checkpoint)
    meta = ck.metadata
    if meta.get("task") != "babi": raise SystemExit(f"{a.checkpoint}: not a bAbI run")
    data, train, valid, lexicon = prepare(a.data or meta["data"], meta["version"],
                                          meta["validation"]["seed"])
    if list(lexicon.words) != meta["lexicon"]:
        raise SystemExit(f"{a.checkpoint}: trained with another lexicon than this data")
    model = DNC.from_config(DNCConfig(**ck.config))
    stories = data.test if a.split == "test" else valid
    res = evaluate_babi(model, ck.params, stories, lexicon)
    print(error_table(res, f"DNC, step {meta['step']}"))
    print(f"\nmean error {mean_error(res):.2f} %, failed {len(failed_tasks(res))}: "
          f"{failed_tasks(res)}")


def cmd_time(a):
    "CPU seconds of a few training steps of each preset on random training stories."
    data, train, valid, lexicon = prepare(a.data, "en-10k", 0)
    sampler = babi_sampler(train, lexicon)
    rec = dict(what="CPU time of training steps on bAbI (batch 1, random training "
                    "stories, RMSProp; forward, softmax loss at the '-' steps, "
                    "backward, update), one BLAS thread, after one untimed step",
               command="python bench/babi_train.py time " + " ".join(
                   map(shlex.quote, sys.argv[2:])),
               machine=f"{platform.machine()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}",
               recorded=f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}"
                        " UTC",
               load_average_start=os.getloadavg(), results=[])
    for name in a.presets.split(","):
        config = DNCConfig(input_size=len(lexicon), output_size=len(lexicon),
                           **PRESETS[name])
        lengths = []
        def counted(rng, **kw):
            b = sampler(rng, **kw)
            lengths.append(int(b.inputs.shape[1]))
            return b
        kw = dict(optimiser="rmsprop", lr=1e-4, progress=False, log_every=10 ** 6)
        run_train(config, sampler, 1, dict(batch_size=1), seed=99, **kw)    # warm-up
        run = run_train(config, counted, a.steps, dict(batch_size=1), seed=1, **kw)
        r = dict(name=name, **PRESETS[name], parameters=parameter_count(config),
                 steps=a.steps, time_steps=sum(lengths), lengths=lengths,
                 cpu_seconds=round(run.cpu_seconds, 3), seconds=round(run.seconds, 3))
        rec["results"].append(r)
        print(json.dumps(r), flush=True)
    rec["load_average_end"] = os.getloadavg()
    if a.out:
        Path(a.out).write_text(json.dumps(rec, indent=1) + "\n")
        print(f"wrote {a.out}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data"); t.add_argument("--version", default="en-10k")
    t.add_argument("--out", default="babi.npz")
    t.add_argument("--steps", type=int, required=True)
    t.add_argument("--preset", choices=sorted(PRESETS), default="dnc1")
    t.add_argument("--optimiser", default="rmsprop"); t.add_argument("--lr", type=float,
                                                                     default=1e-4)
    t.add_argument("--max-grad-norm", type=float, default=50.0)
    t.add_argument("--batch-size", type=int, default=1)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--log"); t.add_argument("--log-every", type=int, default=100)
    t.add_argument("--checkpoint-every", type=int, default=200)
    t.add_argument("--validate-every", type=int)
    t.add_argument("--validate-stories", type=int, default=25)
    e = sub.add_parser("evaluate")
    e.add_argument("checkpoint"); e.add_argument("--data")
    e.add_argument("--split", choices=("test", "valid"), default="test")
    m = sub.add_parser("time")
    m.add_argument("--data", required=True)
    m.add_argument("--steps", type=int, default=3)
    m.add_argument("--presets", default="dnc1,small"); m.add_argument("--out")
    a = p.parse_args(argv)
    if a.command == "train": return cmd_train(a, argv)
    if a.command == "evaluate": return cmd_evaluate(a)
    return cmd_time(a)


if __name__ == "__main__":
    main()
