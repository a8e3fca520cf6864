"""Joint training of a DNC on the 20 bAbI tasks with validation along the way, and the
cost of a training step: a thin wrapper over `dnc-lit train babi` (chapter "The bAbI
tasks", section "bAbI on the command line"). Not a test: long runs are started by hand.

    python bench/babi_train.py train --out babi.npz --steps 100000 \\
        [--validate-every 2000] [--validate-stories 25] \\
        [--preset dnc1|dnc1-float32|mid|small|tiny|lstm|lstm-tiny] [OPTIONS OF dnc-lit train babi]

OPTIONS are passed on as they are: the first run needs --data PATH (the official
tasks_1-20_v1-2.tar.gz or its folder); --seed, --lr, --log FILE.jsonl, --log-every ...
as `dnc-lit train --help` lists them (this script's defaults: --progress lines,
--checkpoint-every 200). Run it again with the same --out (and --preset) to continue:
each chunk of --validate-every steps is `dnc-lit train babi --out OUT` or `... --resume
OUT` (a resumed run reads the data from where its checkpoint says unless --data names
it; Ctrl-C saves first). After each chunk the question error on the first
--validate-stories validation stories of every task is appended as a JSON line to
OUT.valid.jsonl (step, stories seen, CPU seconds, per-task and mean error).

    python bench/babi_train.py evaluate ARGS
        the same as `dnc-lit evaluate ARGS` (per-task error table, --split, --json)
    python bench/babi_train.py time --data PATH [--steps 3] [--presets dnc1,small] \\
        [--out nbs/data/babi_step_times.json]
        CPU time of a few training steps of DNC1 and of smaller configurations

Training uses dnc_lit.train.train with the task's objective, dnc_lit.babi.BABI_OBJECTIVE
(babi_loss and babi_errors). One BLAS thread (set before numpy is imported).
"""
import os
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")
import argparse, datetime, json, platform, shlex, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dnc_lit import cli
from dnc_lit.train import train, build_model, config_from_json
from dnc_lit.model import DNCConfig, parameter_count
from dnc_lit.checkpoint import load_checkpoint
from dnc_lit.babi import (load_babi, build_lexicon, split_validation, babi_sampler,
                          evaluate_babi, mean_error, Lexicon, BABI_OBJECTIVE)

PRESETS = {   # the paper's DNC1 (Extended Data Table 2), smaller machines, a tiny one
    "dnc1": dict(hidden_size=256, memory_size=256, word_size=64, num_reads=4),
    "dnc1-float32": dict(hidden_size=256, memory_size=256, word_size=64, num_reads=4,
                         dtype="float32"),
    "mid": dict(hidden_size=256, memory_size=128, word_size=32, num_reads=4,
                dtype="float32"),
    "small": dict(hidden_size=128, memory_size=64, word_size=32, num_reads=4),
    "tiny": dict(hidden_size=16, memory_size=8, word_size=8, num_reads=2),
    # the paper's bAbI LSTM baseline (Extended Data Table 2: 512 units), and a tiny one
    "lstm": dict(model="lstm", hidden_size=512, dtype="float32"),
    "lstm-tiny": dict(model="lstm", hidden_size=16)}
DEFAULTS = ["--progress", "lines", "--checkpoint-every", "200"]


def preset_options(name):
    "The options of `dnc-lit train` for a preset: ['--hidden-size', '256', ...]."
    return [x for k, v in PRESETS[name].items()
            for x in (f"--{k.replace('_', '-')}", str(v))]


def validate(out, k, cache):
    """Append the question error of the checkpoint `out` on the first `k` validation
    stories of each task to OUT.valid.jsonl; `cache` holds the data between calls."""
    ck = load_checkpoint(out)
    meta, v = ck.metadata, ck.metadata["validation"]
    key = (meta["data"], meta["version"], v["seed"], v["fraction"],
           tuple(meta.get("tasks", ())))
    if cache.get("key") != key:
        data = load_babi(meta["data"], meta["version"], meta.get("tasks"))
        valid = split_validation(data.train, v["fraction"], v["seed"])[1]
        cache.update(key=key, valid={t: s[:k] for t, s in valid.items()})
    model = build_model(config_from_json(ck.config))
    res = evaluate_babi(model, ck.params, cache["valid"], Lexicon(meta["lexicon"]))
    step = meta["step"]
    rec = {"step": step, "stories_seen": step * meta["task_args"]["batch_size"],
           "cpu_seconds": round(meta["cpu_seconds"], 1),
           "seconds": round(meta["seconds"], 1), "valid_stories_per_task": k,
           "mean_error": mean_error(res), "errors": {str(t): r.error
                                                     for t, r in res.items()}}
    with open(f"{out}.valid.jsonl", "a") as f: f.write(json.dumps(rec) + "\n")
    print(f"step {step}: validation mean error {rec['mean_error']:.1f} %",
          file=sys.stderr)


def cmd_train(a, rest):
    "Train in chunks of --validate-every steps with `dnc-lit train babi`."
    out, every, cache = Path(a.out), a.validate_every or a.steps, {}
    step = load_checkpoint(out).metadata["step"] if out.exists() else 0
    while step < a.steps:
        stop = min(a.steps, (step // every + 1) * every)
        where = ["--resume", str(out)] if out.exists() else ["--out", str(out)]
        code = cli.main(["train", "babi", *where, "--steps", str(stop),
                         *preset_options(a.preset), *DEFAULTS, *rest])
        if code: return code
        step = stop
        if a.validate_every: validate(out, a.validate_stories, cache)
    print(f"{out}: step {step}")
    return 0


def cmd_time(a):
    "CPU seconds of a few training steps of each preset on random training stories."
    data = load_babi(a.data, "en-10k")
    lexicon = build_lexicon(data.train)
    sampler = babi_sampler(split_validation(data.train, 0.1, 0)[0], lexicon)
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
        if "model" in PRESETS[name]:
            raise SystemExit(f"time: {name} is not a DNC preset")
        config = DNCConfig(input_size=len(lexicon), output_size=len(lexicon),
                           **PRESETS[name])
        lengths = []
        def counted(rng, **kw):
            b = sampler(rng, **kw)
            lengths.append(int(b.inputs.shape[1]))
            return b
        kw = dict(optimiser="rmsprop", lr=1e-4, progress=False, log_every=10 ** 6,
                  objective=BABI_OBJECTIVE)
        train(config, sampler, 1, dict(batch_size=1), seed=99, **kw)    # warm-up
        run = train(config, counted, a.steps, dict(batch_size=1), seed=1, **kw)
        r = dict(name=name, **PRESETS[name], parameters=parameter_count(config),
                 steps=a.steps, time_steps=sum(lengths), lengths=lengths,
                 cpu_seconds=round(run.cpu_seconds, 3), seconds=round(run.seconds, 3))
        rec["results"].append(r)
        print(json.dumps(r), flush=True)
    rec["load_average_end"] = os.getloadavg()
    if a.out:
        Path(a.out).write_text(json.dumps(rec, indent=1) + "\n")
        print(f"wrote {a.out}")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["evaluate"]: return cli.main(argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", allow_abbrev=False,
                       help="dnc-lit train babi in chunks, validating after each "
                            "(other options go to dnc-lit train)")
    t.add_argument("--out", default="babi.npz")
    t.add_argument("--steps", type=int, required=True)
    t.add_argument("--preset", choices=sorted(PRESETS), default="dnc1")
    t.add_argument("--validate-every", type=int)
    t.add_argument("--validate-stories", type=int, default=25)
    sub.add_parser("evaluate", help="the same as dnc-lit evaluate")
    m = sub.add_parser("time")
    m.add_argument("--data", required=True)
    m.add_argument("--steps", type=int, default=3)
    m.add_argument("--presets", default="dnc1,small"); m.add_argument("--out")
    a, rest = p.parse_known_args(argv)
    if a.command == "time":
        if rest: p.error(f"unrecognized arguments: {' '.join(rest)}")
        return cmd_time(a)
    try: return cmd_train(a, rest)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr); return 130


if __name__ == "__main__":
    sys.exit(main())
