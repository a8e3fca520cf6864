"""An experiment, not part of the library: does the DNC learn bAbI task 1 (single
supporting fact) when it cannot answer its training stories from memory?

Trained on task 1 alone, the network of chapter "Joint training on bAbI" answers its
1,800 training stories almost perfectly and the held-out ones no better than the rule
"the place of the sentence just before the question". Here every story drawn for a
batch has its people and its places renamed by a fresh random permutation (the four
names among themselves, the six places among themselves), which keeps the story's logic
and makes each draw, in effect, a story not seen before. Validation is on the held-out
stories as they are, so a network that learns the lookup does well there.

    python bench/babi_permute.py --out experiments/babi_permute/babi_permute.npz \\
        --steps 40000 --data /work/shared/data/babi/tasks_1-20_v1-2.tar.gz

resumes when OUT exists. `--optimiser rmsprop --lr 1e-4 --momentum 0.9 --batch-size 1`
trains with the paper's bAbI settings instead of Adam 1e-3 in batches of 8, and
`--questions K` on the stories cut after their first K questions. The checkpoint is a
bAbI checkpoint like those of `dnc-lit train babi` (the same metadata), so `dnc-lit
evaluate` and the record tool read it;
validation records go to OUT.valid.jsonl every --validate-every steps, in the format of
bench/babi_train.py.
"""
import os
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")
import argparse, json, shlex, sys
from pathlib import Path
import numpy as onp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dnc_lit import babi
from dnc_lit.checkpoint import load_checkpoint
from dnc_lit.model import DNCConfig
from dnc_lit.optim import get_optimiser
from dnc_lit.train import train, config_from_json
from dnc_lit.baseline import LSTMConfig          # registers the LSTM baseline
from babi_train import PRESETS, validate


def entities(stories):
    "(names, places) of task-1 stories: who is asked about, and the answers."
    qs = [line for s in stories for line in s.lines if isinstance(line, babi.Question)]
    return sorted({q.words[2] for q in qs}), sorted({a for q in qs for a in q.answer})


def renamed(story, mapping):
    "The story with every word w replaced by mapping.get(w, w)."
    m = lambda words: tuple(mapping.get(w, w) for w in words)
    return story._replace(lines=tuple(
        line._replace(words=m(line.words), answer=m(line.answer))
        if isinstance(line, babi.Question) else m(line) for line in story.lines))


def first_questions(story, k):
    "The story up to and including its `k`-th question (all of it if it has fewer)."
    ends = [i for i, line in enumerate(story.lines) if isinstance(line, babi.Question)]
    if len(ends) <= k: return story
    return story._replace(lines=story.lines[:ends[k - 1] + 1])


def permuting_sampler(stories, lexicon, length_groups=8, questions=None):
    """babi_sampler's draw (uniform, batched by similar length), each story renamed by
    its own random permutation of the names and of the places and, if `questions` is
    given, cut after its first `questions` questions."""
    names, places = entities(stories)
    if questions: stories = [first_questions(s, questions) for s in stories]
    lengths = onp.array([len(babi.story_words(s)) for s in stories])
    def sample(rng, batch_size=1):
        drawn = rng.integers(len(stories), size=batch_size * length_groups)
        drawn = drawn[onp.argsort(lengths[drawn], kind="stable")]
        g = int(rng.integers(length_groups))
        drawn = rng.permutation(drawn[g * batch_size:(g + 1) * batch_size])
        out = []
        for i in drawn:
            mapping = dict(zip(names, rng.permutation(names).tolist()))
            mapping.update(zip(places, rng.permutation(places).tolist()))
            out.append(renamed(stories[i], mapping))
        return babi.babi_batch(out, lexicon)
    return sample


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--data", help="the bAbI archive (new runs; resumes use the run's)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--optimiser", choices=("adam", "rmsprop"), default="adam")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--momentum", type=float, default=0.9,
                    help="RMSProp's momentum (the paper's 0.9); Adam ignores it")
    ap.add_argument("--preset", default="mid", choices=sorted(PRESETS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--validate-every", type=int, default=500)
    ap.add_argument("--validate-stories", type=int, default=100)
    ap.add_argument("--log", required=True)
    ap.add_argument("--questions", type=int, help="train on the stories cut after "
                    "their first QUESTIONS questions (validation keeps them whole)")
    ap.add_argument("--lessons", type=lambda v: [int(k) for k in v.split(",")],
                    help="a curriculum: questions per story, lesson by lesson (e.g. "
                    "1,2,3,5); the run moves on when its training batches of the "
                    "last --validate-every steps err on fewer than --advance-below")
    ap.add_argument("--advance-below", type=float, default=0.1)
    a = ap.parse_args(argv)
    out = Path(a.out)
    ck = load_checkpoint(out) if out.exists() else None
    data_path = ck.metadata["data"] if ck else a.data
    data = babi.load_babi(data_path, "en-10k", [1])
    train_s, _ = babi.split_validation(data.train, 0.1, a.seed)
    lexicon = babi.build_lexicon(data.train)
    stories = train_s[1]
    command = "python bench/babi_permute.py " + shlex.join(argv or sys.argv[1:])
    if ck is None:
        out.parent.mkdir(parents=True, exist_ok=True)
        sizes = {k: v for k, v in PRESETS[a.preset].items() if k != "model"}
        network = LSTMConfig if PRESETS[a.preset].get("model") == "lstm" else DNCConfig
        config = network(input_size=len(lexicon), output_size=len(lexicon), **sizes)
        meta = {"task": "babi", "command": command, "length_groups": 8,
                "data": str(Path(data.path).resolve()), "version": data.version,
                "tasks": [1], "lexicon": list(lexicon.words),
                "validation": {"fraction": 0.1, "seed": a.seed},
                "substituted": [list(x) for x in data.substituted],
                "renamed": "every drawn story's names and places permuted at random"}
    else:
        config, meta = config_from_json(ck.config), {
            **{k: v for k, v in ck.metadata.items() if k not in ("history", "step")},
            "resumed": ck.metadata.get("resumed", []) + [
                {"step": ck.metadata["step"], "command": command}]}
    if a.questions: meta["questions"] = a.questions    # a resume may lengthen stories
    if a.lessons:
        meta.update(lessons=a.lessons, advance_below=a.advance_below)
        meta.setdefault("questions", a.lessons[0])
        meta.setdefault("advanced", [[ck.metadata["step"] if ck else 0,
                                      meta["questions"]]])
    sampler = permuting_sampler(stories, lexicon, questions=meta.get("questions"))
    step, cache = ck.metadata["step"] if ck else 0, {}
    while step < a.steps:
        stop = min(a.steps, (step // a.validate_every + 1) * a.validate_every)
        kw = dict(resume=load_checkpoint(out)) if out.exists() else dict(
            task_args={"batch_size": a.batch_size}, seed=a.seed,
            optimiser=get_optimiser(a.optimiser, lr=a.lr, **(
                {"momentum": a.momentum} if a.optimiser == "rmsprop" else {})))
        train(config, sampler, stop, checkpoint=str(out), checkpoint_every=500,
              log=a.log, progress="lines", metadata=meta,
              objective=babi.BABI_OBJECTIVE, **kw)
        step = load_checkpoint(out).metadata["step"]
        if step < stop: break                           # interrupted
        validate(str(out), a.validate_stories, cache)
        lessons, q = meta.get("lessons"), meta.get("questions")
        if lessons and q in lessons[:-1] and training_error(
                a.log, step - a.validate_every, step) < meta["advance_below"]:
            meta["questions"] = lessons[lessons.index(q) + 1]
            meta["advanced"].append([step, meta["questions"]])
            sampler = permuting_sampler(stories, lexicon, questions=meta["questions"])
            print(f"step {step}: on to stories of {meta['questions']} questions",
                  file=sys.stderr)
    return 0


def training_error(log, after, upto):
    "The mean question error of the training batches logged in (after, upto]."
    with open(log) as f:
        rows = [json.loads(line) for line in f]
    e = [r["question_errors"] for r in rows if after < r["step"] <= upto]
    return sum(e) / len(e) if e else 1.0


if __name__ == "__main__":
    sys.exit(main())
