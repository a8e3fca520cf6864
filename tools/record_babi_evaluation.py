"""Record the per-task test error of a bAbI network, which chapter "Joint training on
bAbI" reads (the bAbI data is not on every machine that builds the book, and the 20 test
files take minutes to evaluate):

    .venv/bin/python tools/record_babi_evaluation.py [--check]

runs `dnc-lit evaluate dnc_lit/weights/babi.npz --data DATA --json` from the
repository's root with one BLAS thread (DATA: --data, else the archive found as chapter
"The bAbI tasks" finds it, ../shared/data/babi/tasks_1-20_v1-2.tar.gz or $DNC_LIT_BABI)
and writes its JSON to nbs/data/babi_evaluation.json with the command, the wall-clock
and CPU time it took, the machine and the date, a summary of the run (configuration,
commands, steps, stories seen, CPU time), the number of training stories its batches
were drawn from, the share of questions answered wrongly in its training batches as its
history logged them ([step, share] pairs), and the run's validation curve: the
records of its validation log (--valid, by default
experiments/babi_widened/babi_widened.npz.valid.jsonl, the log of the run the shipped
weights come from, written by bench/babi_widen.py) up to the step of the weights,
checked against the run's own history. Run it again whenever the weights are shipped
again; the chapter refuses a record of another step.

The LSTM baseline (or any other bAbI checkpoint) is recorded the same way:

    .venv/bin/python tools/record_babi_evaluation.py \\
        --weights experiments/babi_lstm/babi_lstm.npz \\
        --valid experiments/babi_lstm/babi_lstm.npz.valid.jsonl \\
        --out nbs/data/babi_lstm_evaluation.json

With --check, every test story is also answered again in the same batches, with the
tool's own one-hot encoding and counting (`recount` below): a task whose count of wrong
answers differs from the evaluation's is an error. Then once more one story at a time,
and the tasks whose counts change are recorded (a float32 network's answers to long
stories can depend on the batch it runs in: rounding differences grow over the steps).
"""
import os
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"
import argparse, contextlib, datetime, inspect, io, json, platform, shlex, sys
import time
from pathlib import Path
import numpy as onp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dnc_lit import babi
from dnc_lit.checkpoint import load_checkpoint
from dnc_lit.cli import main as dnc_lit_main
from dnc_lit.train import build_model, config_from_json
from dnc_lit import model as dnc_model, baseline

WEIGHTS = "dnc_lit/weights/babi.npz"
VALID = "experiments/babi_widened/babi_widened.npz.valid.jsonl"
OUT = "nbs/data/babi_evaluation.json"
RUN_KEYS = ("network", "step", "seed", "task_args", "optimiser", "max_grad_norm",
            "version", "validation", "substituted", "length_groups", "tasks",
            "seconds", "cpu_seconds",
            # bench/babi_permute.py's runs: renamed stories, cut to lessons
            "renamed", "questions", "lessons", "advance_below", "advanced",
            # bench/babi_widen.py's runs: the task-1 run their first weights came from
            "widened_from")


def relative(path):
    """`path` relative to the repository's root if it lies in the folder that holds the
    repository (../shared/... beside it, say), else absolute (a str)."""
    p = Path(path).resolve()
    return os.path.relpath(p, ROOT) if p.is_relative_to(ROOT.parent) else str(p)


# the batch size of `dnc-lit evaluate` (its call of babi.evaluate_babi uses the default)
EVAL_BATCH = inspect.signature(babi.evaluate_babi).parameters["batch_size"].default


def network_answers(model, params, stories, lexicon, batch_size=EVAL_BATCH):
    """[(story, [answer words per question])] of `stories` (dict task -> list), read
    here from the network's outputs: the stories in order of length, as `dnc-lit
    evaluate` batches them, `batch_size` at a time (zero-padded at the end), their words
    one-hot, the most probable word at each '-' step."""
    dash = lexicon.words.index(babi.ANSWER)
    pool = sorted((s for t in sorted(stories) for s in stories[t]),
                  key=lambda s: len(babi.story_words(s)))
    out = []
    for i in range(0, len(pool), batch_size):
        group = pool[i:i + batch_size]
        ids = [lexicon.encode(babi.story_words(s)) for s in group]
        x = onp.zeros((len(group), max(map(len, ids)), len(lexicon)))
        for b, w in enumerate(ids): x[b, onp.arange(len(w)), w] = 1.0
        said = onp.asarray(model.apply(params, x)).argmax(-1)
        for b, (story, w) in enumerate(zip(group, ids)):
            at, k, answers = said[b, :len(w)][w == dash], 0, []
            for answer in babi.story_answers(story):
                answers.append(tuple(lexicon.decode(at[k:k + len(answer)])))
                k += len(answer)
            assert k == len(at), (story.where, k, len(at))
            out.append((story, answers))
    return out


def recount(model, params, stories, lexicon, batch_size=EVAL_BATCH):
    """{task: (questions, wrong)} of `stories` (dict task -> list), counted here from
    the network's answers (`network_answers`): a question wrong if any of its answer
    words is."""
    counts = {t: [0, 0] for t in sorted(stories)}
    for story, said in network_answers(model, params, stories, lexicon, batch_size):
        for answer, got in zip(babi.story_answers(story), said):
            counts[story.task][0] += 1
            counts[story.task][1] += got != tuple(answer)
    return {t: tuple(c) for t, c in counts.items()}


def run_summary(ck):
    "What the chapter states about the run of checkpoint `ck`."
    m, config = ck.metadata, config_from_json(ck.config)
    count = (baseline.parameter_count if isinstance(config, baseline.LSTMConfig)
             else dnc_model.parameter_count)
    commands = m.get("commands") or (
        [{"step": 0, "command": m.get("command")}]
        + [{"step": r["step"], "command": r["command"]} for r in m.get("resumed", [])])
    return {**{k: m[k] for k in RUN_KEYS if k in m}, "config": ck.config,
            "parameters": int(count(config)), "commands": commands,
            "stories": m["step"] * m["task_args"]["batch_size"]}


def validation_curve(path, ck):
    """The records of the validation log `path` up to the checkpoint's step, each
    checked against the run's history (same step: the same CPU time, to 0.1 s)."""
    step, logged = ck.metadata["step"], {r["step"]: r for r in
                                         ck.metadata.get("history", [])}
    records = [json.loads(line) for line in Path(path).read_text().splitlines()
               if line.strip()]
    kept = {}
    for r in records:
        if r["step"] > step: continue
        h = logged.get(r["step"])
        if h is not None and abs(h["cpu_seconds"] - r["cpu_seconds"]) > 0.1:
            raise SystemExit(f"{path}: the record of step {r['step']} does not match "
                             "the run's history: the validation log of another run?")
        kept[r["step"]] = r                         # a step validated twice: the last
    if not kept: raise SystemExit(f"{path}: no validation record up to step {step}")
    return {"source": relative(path), "records": [kept[s] for s in sorted(kept)]}


def training_stories(ck, data):
    """How many stories the run of `ck` drew its batches from: the training stories of
    its tasks in `data` less those held out for validation (as `dnc-lit train babi`
    splits them)."""
    m = ck.metadata
    train = babi.load_babi(data, m["version"], m.get("tasks")).train
    kept = babi.split_validation(train, m["validation"]["fraction"],
                                 m["validation"]["seed"])[0]
    return sum(len(s) for s in kept.values())


def evaluate(weights, data):
    "(JSON of `dnc-lit evaluate`, its command, wall seconds, CPU seconds), from ROOT."
    args = ["evaluate", relative(weights), "--data", relative(data), "--json"]
    out, here = io.StringIO(), os.getcwd()
    os.chdir(ROOT)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(out): code = dnc_lit_main(args)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally: os.chdir(here)
    if code: raise SystemExit(f"dnc-lit {shlex.join(args)} failed ({code})")
    return (json.loads(out.getvalue()), "dnc-lit " + shlex.join(args), seconds, cpu)


def check(ck, data, result):
    """Recount every test story as `dnc-lit evaluate` batches them (SystemExit if a
    task's count differs), and again one story at a time: (stories, {task: [wrong in
    batches, wrong alone]} of the tasks where the two differ)."""
    m = ck.metadata
    stories = babi.load_babi(data, m["version"], m.get("tasks")).test
    model, lexicon = build_model(config_from_json(ck.config)), babi.Lexicon(
        ck.metadata["lexicon"])
    counts = recount(model, ck.params, stories, lexicon)
    stated = {int(t): (r["questions"], r["wrong"]) for t, r in result["tasks"].items()}
    if counts != stated:
        bad = {t: (stated.get(t), c) for t, c in counts.items() if stated.get(t) != c}
        raise SystemExit(f"the recount differs from dnc-lit evaluate: {bad}")
    alone = recount(model, ck.params, stories, lexicon, batch_size=1)
    return (sum(len(s) for s in stories.values()),
            {str(t): [counts[t][1], alone[t][1]] for t in counts
             if counts[t] != alone[t]})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=WEIGHTS,
                    help=f"the network (default {WEIGHTS})")
    ap.add_argument("--valid", default=VALID,
                    help=f"its run's validation log (default {VALID})")
    ap.add_argument("--data", help="the bAbI archive or folder (default: found as the "
                    "chapter finds it)")
    ap.add_argument("--out", default=OUT, help=f"the record to write (default {OUT})")
    ap.add_argument("--check", action="store_true",
                    help="recount every test story one at a time as well")
    a = ap.parse_args(argv)
    data = Path(a.data) if a.data else babi.find_babi(ROOT)
    if data is None or not data.exists():
        raise SystemExit("no bAbI data: give --data PATH (tasks_1-20_v1-2.tar.gz)")
    weights = Path(a.weights).resolve()
    ck = load_checkpoint(weights)
    if ck.metadata.get("task") != "babi":
        raise SystemExit(f"{a.weights}: not a bAbI network")
    valid = validation_curve(a.valid, ck)
    result, command, seconds, cpu = evaluate(weights, data)
    record = {"what": "question error (%) of every bAbI task on its test stories",
              "command": command, "weights": relative(weights),
              "step": ck.metadata["step"],
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                         f"{platform.python_version()}, one BLAS thread",
              "recorded": datetime.datetime.now(datetime.timezone.utc).strftime(
                  "%Y-%m-%d %H:%M UTC"),
              "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
              "evaluation": result, "run": run_summary(ck), "validation": valid,
              "training_stories": training_stories(ck, data),
              "training_errors": [[h["step"], h["question_errors"]]
                                  for h in ck.metadata.get("history", [])
                                  if "question_errors" in h]}
    if a.check:
        n, differ = check(ck, data, result)
        record["checked"] = {
            "stories": n, "batch_size": EVAL_BATCH,
            "what": f"every one of the {n} test stories answered again in the same "
                    f"batches of {EVAL_BATCH} (tools/record_babi_evaluation.py "
                    "--check), encoded and counted by the tool: the same count of "
                    "wrong answers in every task",
            "alone": "the same stories answered one at a time: [wrong in batches, "
                     "wrong alone] for the tasks where the counts differ",
            "differ": differ}
    out = ROOT / a.out if not Path(a.out).is_absolute() else Path(a.out)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {relative(out)}: step {record['step']:,}, mean error "
          f"{result['mean_error']:.1f} %, {len(result['failed'])} tasks failed; "
          f"evaluation {seconds:.0f} s ({cpu:.0f} CPU-s)"
          + (f"; recount agrees; alone: {record['checked']['differ']}" if a.check
             else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
