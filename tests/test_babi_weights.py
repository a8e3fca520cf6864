"""The bAbI network shipped in the package (dnc_lit/weights/babi.npz, chapter "Joint
training on bAbI"): the file holds parameters without optimiser state and the record of
its run that the chapter reads, lexicon included; the recorded evaluation in nbs/data is
of the shipped step and consistent in itself; with the shared data, `dnc-lit evaluate`
on the first test stories of every task agrees exactly with the recount of
tools/record_babi_evaluation.py (skips without the data); the chapter's typed story is
answered as `dnc-lit ask` answers it; and tools/ship_weights.py keeps what a bAbI run
needs to be asked."""
import ast, contextlib, io, json, os, re, shlex, subprocess, sys, tarfile
from importlib.resources import files
from pathlib import Path
import numpy as onp
import pytest

from dnc_lit.babi import (Lexicon, SYMBOLS, FAILURE_ERROR, TASK_FILES, Question, Story,
                          answer_story, find_babi, parse_babi, story_answers)
from dnc_lit.checkpoint import load_checkpoint
from dnc_lit.cli import main as dnc_lit_main
from dnc_lit.model import DNCConfig, DNC
from helpers import check_shipped_file, load_tool

ROOT = Path(__file__).resolve().parents[1]
PATH = files("dnc_lit") / "weights" / "babi.npz"
RECORDS = sorted((ROOT / "nbs" / "data").glob("babi*_evaluation.json"))
CHAPTER = ROOT / "nbs" / "71_babi_training.ipynb"


@pytest.fixture(scope="module")
def ck():
    return load_checkpoint(PATH)


def run(*args):
    "`dnc-lit ARGS` in this process: (exit status, stdout)."
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = dnc_lit_main([*map(str, args)])
    return code, out.getvalue()


# --- the file -------------------------------------------------------------------------

def test_shipped_file_is_parameters_only_and_small(ck):
    check_shipped_file(PATH, ck, 4e6)


def test_metadata_the_chapter_reads(ck):
    m, config = ck.metadata, DNCConfig(**ck.config)
    assert m["task"] == "babi" and m["kind"] == "dnc_lit.train"
    assert m["network"] == "dnc"
    assert m["commands"][0] == {"step": 0, "command": m["command"]}
    widen = "python bench/babi_widen.py --out "     # the second stage, on twenty tasks
    assert all(c["command"].startswith(widen) for c in m["commands"])
    assert "--start-from " in m["command"]
    first = m["widened_from"]                       # the first stage, on task 1
    assert first["command"].startswith("python bench/babi_permute.py ")
    assert first["lexicon_size"] < len(m["lexicon"])
    assert first["step"] > 0 and first["stories_seen"] > 0 and first["cpu_seconds"] > 0
    argv = shlex.split(m["command"])[2:]         # the chapter's default --length-groups
    widen_cli = load_tool("babi_widen", folder="bench").parser()
    assert "--length-groups" not in argv
    assert m["length_groups"] == widen_cli.parse_args(argv).length_groups == 8
    resumed = [c["step"] for c in m["commands"]]
    assert resumed == sorted(resumed) and resumed[-1] <= m["step"]
    assert isinstance(m["seed"], int) and m["step"] > 0
    assert m["sequences"] == m["step"] * m["task_args"]["batch_size"]
    assert m["cpu_seconds"] > 0 and m["seconds"] > 0
    lexicon = Lexicon(m["lexicon"])                  # symbols first, no word twice
    assert lexicon.words[:3] == SYMBOLS
    assert len(lexicon) == config.input_size == config.output_size
    assert m["version"] in ("en-10k", "en")
    assert set(m["validation"]) == {"fraction", "seed"}
    assert all(task in TASK_FILES and split in ("train", "test")
               for task, split in m["substituted"])
    h = m["history"]
    assert [r["step"] for r in h] == list(range(m["log_every"], m["step"] + 1,
                                                m["log_every"]))
    assert all(0 <= r["question_errors"] <= 1 for r in h)
    assert h[-1]["cpu_seconds"] <= m["cpu_seconds"] + 5e-4    # the log rounds to 1 ms


# --- the records ----------------------------------------------------------------------

@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.name)
def test_a_record_is_consistent(path):
    r = json.loads(path.read_text())
    ev, run_ = r["evaluation"], r["run"]
    assert r["command"].startswith(f"dnc-lit evaluate {r['weights']} --data ")
    assert r["command"].endswith(" --json") and ev["split"] == "test"
    assert ev["step"] == r["step"] == run_["step"]
    assert run_["stories"] == run_["step"] * run_["task_args"]["batch_size"]
    tasks = {int(t): v for t, v in ev["tasks"].items()}
    trained_on = run_.get("tasks") or list(range(1, 21))     # the run's --tasks
    assert sorted(tasks) == trained_on
    for v in tasks.values():
        assert 0 <= v["wrong"] <= v["questions"] and v["questions"] > 0
        assert v["error"] == pytest.approx(100 * v["wrong"] / v["questions"])
    assert ev["mean_error"] == pytest.approx(onp.mean([v["error"]
                                                       for v in tasks.values()]))
    assert ev["failed"] == [t for t, v in sorted(tasks.items())
                            if v["error"] > FAILURE_ERROR]
    valid = r["validation"]["records"]
    steps = [v["step"] for v in valid]
    assert valid and steps == sorted(set(steps)) and steps[-1] <= r["step"]
    assert all(sorted(map(int, v["errors"])) == trained_on for v in valid)
    assert r["seconds"] > 0 and r["cpu_seconds"] > 0
    if "training_stories" in r:              # after the held-out validation stories
        assert 0 < r["training_stories"] < 10_000 * len(trained_on)
    if "training_errors" in r:               # [step, share] as the run's history logged
        steps = [s for s, _ in r["training_errors"]]
        assert steps == sorted(set(steps)) and 0 < steps[-1] <= r["step"]
        assert all(0 <= e <= 1 for _, e in r["training_errors"])


def test_the_record_is_of_the_shipped_weights(ck):
    r = json.loads((ROOT / "nbs" / "data" / "babi_evaluation.json").read_text())
    assert r["weights"] == "dnc_lit/weights/babi.npz"
    assert r["step"] == ck.metadata["step"], "re-run tools/record_babi_evaluation.py"
    assert r["run"]["stories"] == ck.metadata["sequences"]
    assert r["run"]["config"] == ck.config
    logged = {h["step"]: h for h in ck.metadata["history"]}
    for v in r["validation"]["records"]:    # the validation log of this very run
        if v["step"] in logged:
            assert abs(v["cpu_seconds"] - logged[v["step"]]["cpu_seconds"]) <= 0.1


# --- task 1 and the recency rule -----------------------------------------------------

RECENCY = sorted((ROOT / "nbs" / "data").glob("babi*_recency.json"))


def test_the_recency_rule_answers_with_the_place_just_before_the_question():
    rule = load_tool("record_babi_recency").recency_answers
    said = lambda *w: tuple(w) + (".",)
    ask = lambda who, answer: Question(("where", "is", who, "?"), (answer,), (1,))
    story = Story(1, (said("mary", "went", "to", "the", "office"),
                      said("john", "moved", "to", "the", "garden"),
                      ask("mary", "office"),
                      said("mary", "went", "back", "to", "the", "kitchen"),
                      ask("mary", "kitchen"), ask("john", "garden")), "made up")
    assert rule(story) == [("garden",), ("kitchen",), ("kitchen",)]
    count = load_tool("record_babi_recency").count
    c = count([(story, [("office",), ("garden",), ("kitchen",)])])
    assert c == dict(questions=3, rule_right=1, network_right=1, network_is_rule=1,
                     rule_wrong=2, network_right_when_rule_wrong=1,
                     network_is_rule_when_rule_wrong=1)


@pytest.mark.parametrize("path", RECENCY, ids=lambda p: p.name)
def test_a_recency_record_agrees_with_the_evaluation_of_the_same_weights(path):
    """The counts add up, and the network's right answers are exactly the task-1
    questions that the evaluation record of the same weights counts as right."""
    r = json.loads(path.read_text())
    q = r["questions"]
    assert 0 < r["rule_right"] < q and r["rule_wrong"] == q - r["rule_right"]
    assert 1 < r["answers"] < q
    assert 0 <= r["network_right_when_rule_wrong"] <= r["rule_wrong"]
    assert 0 <= r["network_is_rule_when_rule_wrong"] <= r["rule_wrong"]
    assert r["network_right_when_rule_wrong"] + r["network_is_rule_when_rule_wrong"] \
        <= r["rule_wrong"]              # where the rule is wrong, both cannot hold
    for k in ("network_right", "network_is_rule"):   # where the rule is right
        assert r[k] - r[f"{k}_when_rule_wrong"] <= r["rule_right"]
    ev = [e for e in map(json.loads, map(Path.read_text, RECORDS))
          if e["weights"] == r["weights"]]
    assert len(ev) == 1, f"no evaluation record of {r['weights']}"
    task1 = ev[0]["evaluation"]["tasks"]["1"]
    assert ev[0]["step"] == r["step"] and task1["questions"] == q
    assert r["network_right"] == q - task1["wrong"]


def test_the_task1_run_trained_on_the_stories_the_record_says(tmp_path):
    """The task-1 record's count of training stories is what the record tool finds in
    the data for that run (skips without the data)."""
    shared = find_babi(ROOT)
    if shared is None:
        pytest.skip("the bAbI data is not at ../shared/data/babi (nor DNC_LIT_BABI)")
    r = json.loads((ROOT / "nbs" / "data" / "babi_task1_evaluation.json").read_text())
    ck = load_checkpoint(ROOT / r["weights"])
    assert ck.metadata["tasks"] == [1] and ck.metadata["step"] == r["step"]
    assert load_tool("record_babi_evaluation").training_stories(ck, shared) \
        == r["training_stories"]


# --- against the data (skips without it) ---------------------------------------------

_MEMBER = re.compile(r"(?:^|/)(en-10k|en)/qa\d+_[a-z-]+_(train|test)\.txt$")


def first_stories(text, k):
    "The first `k` stories of a bAbI file's text."
    lines, starts = text.splitlines(keepends=True), 0
    for n, line in enumerate(lines):
        if line.split(" ", 1)[0] == "1":
            starts += 1
            if starts > k: return "".join(lines[:n])
    return text


def copy_with_few_test_stories(archive, folder, k):
    "The archive's en-10k and en task files in `folder`, test files cut to k stories."
    with tarfile.open(archive, "r:*") as tar:
        for m in tar:
            hit = _MEMBER.search(m.name)
            if not (m.isfile() and hit): continue
            text = tar.extractfile(m).read().decode("utf-8")
            if hit[2] == "test": text = first_stories(text, k)
            out = folder / hit[1] / Path(m.name).name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
    return folder


def test_evaluate_agrees_with_a_recount_on_the_first_test_stories(ck, tmp_path):
    """`dnc-lit evaluate --json` on the first 2 test stories of every task (the training
    files whole, so that the lexicon is the network's) counts exactly the wrong answers
    that the record tool's own recount finds, story by story from the outputs."""
    shared = find_babi(ROOT)
    if shared is None:
        pytest.skip("the bAbI data is not at ../shared/data/babi (nor DNC_LIT_BABI)")
    folder = copy_with_few_test_stories(shared, tmp_path / "babi", 2)
    code, out = run("evaluate", PATH, "--data", folder, "--json")
    assert code == 0
    stated = {int(t): (v["questions"], v["wrong"])
              for t, v in json.loads(out)["tasks"].items()}
    test = {}                                   # the test files, as evaluate reads them
    for version in (ck.metadata["version"], "en"):
        for f in sorted((folder / version).glob("qa*_test.txt")):
            task = int(f.name[2:].split("_")[0])
            test.setdefault(task, parse_babi(f.read_text(), task, str(f)))
    assert sorted(test) == list(range(1, 21))
    assert all(len(s) == 2 for s in test.values())
    assert {t: sum(map(len, map(story_answers, s))) for t, s in test.items()} \
        == {t: q for t, (q, _) in stated.items()}
    model = DNC.from_config(DNCConfig(**ck.config))
    recount = load_tool("record_babi_evaluation").recount
    assert recount(model, ck.params, test, Lexicon(ck.metadata["lexicon"])) == stated


# --- asking it ------------------------------------------------------------------------

def chapter_story():
    "The story typed in the chapter (its assignment `story = ...`)."
    cells = json.loads(CHAPTER.read_text())["cells"]
    for c in cells:
        if c["cell_type"] != "code": continue
        for node in ast.parse("".join(c["source"])).body:
            if isinstance(node, ast.Assign) and \
                    [getattr(t, "id", None) for t in node.targets] == ["story"]:
                return ast.literal_eval(node.value)
    raise AssertionError(f"no `story = ...` in {CHAPTER.name}")


def test_the_chapters_story_is_answered_as_dnc_lit_ask_answers_it(ck):
    story = chapter_story()
    said = answer_story(DNC.from_config(DNCConfig(**ck.config)), ck.params, story,
                        Lexicon(ck.metadata["lexicon"]))
    r = subprocess.run([sys.executable, "-m", "dnc_lit", "ask", str(PATH), story],
                       capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == list(said) and len(said) == 1


# --- the tool -------------------------------------------------------------------------

def tiny_babi(folder):
    "A folder in the official layout: every task one story, its test file the same."
    for task, name in TASK_FILES.items():
        for split in ("train", "test"):
            f = folder / "en-10k" / f"qa{task}_{name}_{split}.txt"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text("1 Mary went to the office.\n2 John moved to the garden.\n"
                         "3 Where is Mary? \toffice\t1\n")
    return folder


def test_ship_weights_keeps_what_a_babi_network_is_asked_with(tmp_path):
    data = tiny_babi(tmp_path / "data")
    src, log, dst = tmp_path / "run.npz", tmp_path / "run.jsonl", tmp_path / "w.npz"
    code, _ = run("train", "babi", "--data", data, "--steps", 4, "--out", src,
                  "--log", log, "--log-every", 2, "--hidden-size", 8, "--memory-size",
                  4, "--word-size", 4, "--num-reads", 1, "--progress", "none")
    assert code == 0
    assert load_tool("ship_weights").main([str(src), str(dst), "--log", str(log)]) == 0
    before, after = load_checkpoint(src).metadata, load_checkpoint(dst).metadata
    for k in ("lexicon", "version", "validation", "substituted", "data", "network"):
        assert after[k] == before[k], k
    assert [r["question_errors"] for r in after["history"]] == \
        [json.loads(line)["question_errors"] for line in log.read_text().splitlines()]
    code, out = run("ask", dst, "john moved to the office . where is john ?")
    assert code == 0 and len(out.split()) == 1


LESSONS = [p for p in RECORDS if "lessons" in json.loads(p.read_text())["run"]]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_a_run_with_lessons_moved_on_as_its_rule_says(path):
    """bench/babi_permute.py --lessons: a run moves to the next lesson, in order, only
    when its training batches of the last --validate-every steps erred on fewer than
    --advance-below of their questions, and only at a validation step."""
    r = json.loads(path.read_text())
    run_, errs = r["run"], r["training_errors"]
    every = {int(c["command"].split("--validate-every ")[1].split()[0])
             for c in run_["commands"]}
    assert len(every) == 1
    every = every.pop()
    qs = [q for _, q in run_["advanced"]]
    assert qs == run_["lessons"][:len(qs)] and run_["questions"] == qs[-1]
    valid_steps = {v["step"] for v in r["validation"]["records"]}
    for s, _ in run_["advanced"][1:]:
        assert s % every == 0 and s in valid_steps
        window = [e for k, e in errs if s - every < k <= s]
        assert window and onp.mean(window) < run_["advance_below"]
    moved = {s for s, _ in run_["advanced"][1:]}
    for s in valid_steps - moved:       # no move: not yet right enough, or at the end
        q = [q for k, q in run_["advanced"] if k <= s]
        if s <= run_["advanced"][0][0] or not q or q[-1] == run_["lessons"][-1] \
                or s % every:                # before the lessons, in the last one, or
            continue                         # validated where the run was stopped
        window = [e for k, e in errs if s - every < k <= s]
        assert onp.mean(window) >= run_["advance_below"], s


WIDENED = [p for p in RECORDS if "widened_from" in json.loads(p.read_text())["run"]]


@pytest.mark.parametrize("path", WIDENED, ids=lambda p: p.name)
def test_a_widened_run_started_from_a_recorded_task1_network(path):
    """bench/babi_widen.py: a joint run that starts from a task-1 network names a
    network whose own record is in nbs/data, at the step of that record; the network
    is the same but for its lexicon, widened from task 1's words to the twenty
    tasks'."""
    r = json.loads(path.read_text())
    w = r["run"]["widened_from"]
    src = [json.loads(p.read_text()) for p in RECORDS]
    src = [s for s in src if s["weights"] == w["checkpoint"]]
    assert len(src) == 1, "record the task-1 network the run started from"
    s = src[0]
    assert (w["step"], w["stories_seen"]) == (s["step"], s["run"]["stories"])
    assert w["cpu_seconds"] == pytest.approx(s["run"]["cpu_seconds"], abs=0.1)
    assert w["command"] == s["run"]["commands"][0]["command"]
    assert s["run"]["tasks"] == [1] and r["run"].get("tasks", list(range(1, 21))) == \
        list(range(1, 21))
    small, big = s["run"]["config"], r["run"]["config"]
    assert small["input_size"] == small["output_size"] == w["lexicon_size"]
    assert big["input_size"] == big["output_size"] > w["lexicon_size"]
    same = lambda c: {k: v for k, v in c.items() if not k.endswith("put_size")}
    assert same(small) == same(big)
