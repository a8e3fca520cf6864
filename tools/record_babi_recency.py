"""Record how often a bAbI network's answers to task 1 ("where is Mary?") are the place
of the sentence just before the question, which chapter "Joint training on bAbI" reads:

    .venv/bin/python tools/record_babi_recency.py [--weights W] [--out OUT]

A rule that needs no memory at all answers each question of task 1 with the last word
before the '.' of the sentence just before it (in "mary went to the kitchen . john
moved to the hallway . where is mary ?" it says "hallway"). The tool answers every test
story of task 1 with the network (W, by default experiments/babi_task1/babi_task1.npz,
the run trained on task 1 alone), in batches of similar length as `dnc-lit evaluate`
answers them, and counts, over the questions: the rule right, the network right, the
network giving the rule's answer, and the same counts over the questions where the rule
is wrong, and the number of different answers (places) among the questions. It
writes them to OUT (default nbs/data/babi_task1_recency.json) with the
command, the step of the weights, the machine and the date. The data is found as the
record tool finds it (--data, ../shared/data/babi or $DNC_LIT_BABI).
"""
import os
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"
import argparse, datetime, json, platform, shlex, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from dnc_lit import babi
from dnc_lit.checkpoint import load_checkpoint
from dnc_lit.train import build_model, config_from_json
sys.path.insert(0, str(ROOT / "tools"))
from record_babi_evaluation import network_answers         # as the record tool reads

WEIGHTS = "experiments/babi_task1/babi_task1.npz"
OUT = "nbs/data/babi_task1_recency.json"


def recency_answers(story):
    """For each question of `story`, the rule's answer: the word before the '.' of the
    sentence just before the question (None when the story opens with a question)."""
    out, last = [], None
    for line in story.lines:
        if isinstance(line, babi.Question): out.append(last)
        else: last = (line[-2],) if len(line) > 1 and line[-1] == "." else None
    return out


def count(answered):
    """The counts over all questions of `answered`, [(story, the network's answer words
    per question)]."""
    c = dict(questions=0, rule_right=0, network_right=0, network_is_rule=0,
             rule_wrong=0, network_right_when_rule_wrong=0,
             network_is_rule_when_rule_wrong=0)
    for story, said in answered:
        for truth, rule, net in zip(babi.story_answers(story), recency_answers(story),
                                    said):
            c["questions"] += 1
            c["rule_right"] += rule == truth
            c["network_right"] += net == truth
            c["network_is_rule"] += net == rule
            if rule != truth:
                c["rule_wrong"] += 1
                c["network_right_when_rule_wrong"] += net == truth
                c["network_is_rule_when_rule_wrong"] += net == rule
    return c


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=WEIGHTS, help=f"default {WEIGHTS}")
    ap.add_argument("--out", default=OUT, help=f"default {OUT}")
    ap.add_argument("--data", help="the bAbI archive or folder")
    a = ap.parse_args(argv)
    data = Path(a.data) if a.data else babi.find_babi(ROOT)
    if data is None or not data.exists():
        raise SystemExit("no bAbI data: give --data PATH (tasks_1-20_v1-2.tar.gz)")
    ck = load_checkpoint(a.weights)
    m = ck.metadata
    stories = babi.load_babi(data, m["version"], [1]).test[1]
    c = count(network_answers(build_model(config_from_json(ck.config)), ck.params,
                              {1: stories}, babi.Lexicon(m["lexicon"])))
    weights = os.path.relpath(Path(a.weights).resolve(), ROOT)
    record = {"what": "task 1 test questions: the recency rule (the place of the "
                      "sentence just before the question) against the network",
              "command": "python tools/record_babi_recency.py "
                         + shlex.join(["--weights", weights, "--out", a.out]),
              "weights": weights, "step": m["step"], "tasks": m.get("tasks"),
              "stories": len(stories), **c,
              "answers": len({a for st in stories for a in babi.story_answers(st)}),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                         f"{platform.python_version()}, one BLAS thread",
              "recorded": datetime.datetime.now(datetime.timezone.utc).strftime(
                  "%Y-%m-%d %H:%M UTC")}
    out = ROOT / a.out if not Path(a.out).is_absolute() else Path(a.out)
    out.write_text(json.dumps(record, indent=1) + "\n")
    q = c["questions"]
    print(f"wrote {a.out}: {q} questions; rule right {c['rule_right'] / q:.1%}, "
          f"network right {c['network_right'] / q:.1%}, network = rule "
          f"{c['network_is_rule'] / q:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
