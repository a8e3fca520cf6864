"""bAbI on the command line (the last section of nbs/70_babi.ipynb): `dnc-lit train
babi`, `evaluate` and `ask`, run as a user runs them (`python -m dnc_lit ...`) on small
archives in the official layout that the tests write themselves. Every mistake is one
line on stderr, exit status 1, no traceback."""
import io, json, os, shutil, signal, subprocess, sys, tarfile, time
from pathlib import Path
import numpy as onp
import pytest

from dnc_lit.babi import (TASK_FILES, load_babi, build_lexicon, split_validation,
                          story_answers, find_babi, FAILURE_ERROR)
from dnc_lit.checkpoint import load_checkpoint

TINY = ["--hidden-size", "8", "--memory-size", "8", "--word-size", "4", "--num-reads",
        "1", "--log-every", "3", "--progress", "none"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
ENV.pop("DNC_LIT_DEBUG", None)
STORY = "mary moved to the bathroom . john moved to the hallway . where is mary ?"
ROOT = Path(__file__).resolve().parents[1]


def dnc_lit(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "dnc_lit", *map(str, args)],
                       capture_output=True, text=True, env=ENV, cwd=cwd, timeout=300)
    return r.returncode, r.stdout, r.stderr


def assert_one_line_error(code, out, err, *words):
    assert code == 1, (code, out, err)
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dnc-lit: error: "), lines[0]
    for w in words: assert w in lines[0], (w, lines[0])


def task_text(task, rng, names, places, n=10):
    """`n` stories of bAbI format for `task`: ids restarting at 1, two questions per
    story, answers after tabs with supporting-fact ids; the lists task (8) answers with
    two words ('milk,apple')."""
    out = []
    for _ in range(n):
        a, b = rng.choice(names, 2, replace=False)
        p, q, r = rng.choice(places, 3, replace=False)
        if task == 8:
            out += [f"1 {a.title()} got the milk there.",
                    f"2 {b.title()} moved to the {p}.",
                    f"3 {a.title()} got the apple there.",
                    f"4 What is {a.title()} carrying?\tmilk,apple\t1 3"]
        else:
            out += [f"1 {a.title()} moved to the {p}.",
                    f"2 {b.title()} went to the {q}.",
                    f"3 Where is {a.title()}? \t{p}\t1",
                    f"4 {a.title()} travelled to the {r}.",
                    f"5 Where is {a.title()}? \t{r}\t4"]
    return "\n".join(out) + "\n"


def write_archive(path, names=("mary", "john", "sandra"),
                  places=("bathroom", "hallway", "kitchen", "garden"), seed=0):
    "A tasks_1-20_v1-2.tar.gz with all 20 tasks of en-10k, small, at `path`."
    rng = onp.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for task, name in TASK_FILES.items():
            for split in ("train", "test"):
                data = task_text(task, rng, list(names), list(places)).encode()
                info = tarfile.TarInfo(f"tasks_1-20_v1-2/en-10k/qa{task}_{name}_"
                                       f"{split}.txt")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    "A tiny bAbI run of 6 steps on a small archive, with its log: (folder, archive)."
    d = tmp_path_factory.mktemp("babi")
    data = write_archive(d / "data" / "tasks_1-20_v1-2.tar.gz")
    code, out, err = dnc_lit("train", "babi", "--data", data, "--steps", 6, *TINY,
                             "--out", d / "babi.npz", "--log", d / "babi.jsonl")
    assert code == 0, err
    assert "saved" in out and "dnc-lit evaluate" in out
    return d, data


def test_train_records_data_lexicon_and_validation(run):
    d, data = run
    ck = load_checkpoint(d / "babi.npz")
    m, lexicon = ck.metadata, build_lexicon(load_babi(data).train)
    assert m["task"] == "babi" and m["step"] == 6 and m["measure"] == "question_errors"
    assert m["lexicon"] == list(lexicon.words) and m["lexicon"][:3] == [".", "?", "-"]
    assert "apple" in m["lexicon"] and "bathroom" in m["lexicon"]
    assert m["data"] == str(data.resolve()) and m["version"] == "en-10k"
    assert m["validation"] == {"fraction": 0.1, "seed": 0}
    assert m["command"].startswith("dnc-lit train babi --data ")
    assert ck.config["input_size"] == ck.config["output_size"] == len(lexicon)
    assert ck.config["hidden_size"] == 8 and ck.config["memory_size"] == 8
    assert m["optimiser"] == {"name": "rmsprop", "hyper": {"lr": 1e-4}}
    assert m["task_args"] == {"batch_size": 1}
    log = [json.loads(l) for l in (d / "babi.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [3, 6]
    assert all(0 <= r["question_errors"] <= 1 and r["loss"] > 0 for r in log)


def test_defaults_are_the_papers_dnc1(run, tmp_path):
    d, data = run
    code, out, err = dnc_lit("train", "babi", "--data", data, "--steps", 1,
                             "--progress", "none", "--out", tmp_path / "dnc1.npz")
    assert code == 0, err
    ck = load_checkpoint(tmp_path / "dnc1.npz")
    c = ck.config
    assert (c["hidden_size"], c["memory_size"], c["word_size"], c["num_reads"],
            c["num_layers"], c["controller"]) == (256, 256, 64, 4, 1, "lstm")
    assert ck.metadata["optimiser"] == {"name": "rmsprop", "hyper": {"lr": 1e-4}}
    assert ck.metadata["task_args"] == {"batch_size": 1}


def test_resume_continues_exactly_and_follows_moved_data(run, tmp_path):
    d, data = run
    moved = shutil.copy(data, tmp_path / "moved.tar.gz")
    args = ["train", "babi", "--data", data, *TINY]
    assert dnc_lit(*args, "--steps", 9, "--out", tmp_path / "straight.npz")[0] == 0
    assert dnc_lit(*args, "--steps", 4, "--out", tmp_path / "split.npz")[0] == 0
    code, out, err = dnc_lit("train", "babi", "--resume", tmp_path / "split.npz",
                             "--steps", 9, "--data", moved, "--progress", "none")
    assert code == 0, err
    a, b = load_checkpoint(tmp_path / "straight.npz"), load_checkpoint(
        tmp_path / "split.npz")
    assert b.metadata["step"] == 9 and b.metadata["resumed"][0]["step"] == 4
    assert b.metadata["data"] == str(moved.resolve())
    assert b.metadata["lexicon"] == a.metadata["lexicon"]
    for k in a.params: assert onp.array_equal(a.params[k], b.params[k]), k
    code, out, _ = dnc_lit("train", "babi", "--resume", tmp_path / "split.npz",
                           "--steps", 9)
    assert code == 0 and "nothing to train" in out


def test_resume_refuses_other_data_and_settings(run, tmp_path):
    d, data = run
    other = write_archive(tmp_path / "other.tar.gz", names=("daniel", "sandra", "bill"))
    ck = d / "babi.npz"
    assert_one_line_error(*dnc_lit("train", "babi", "--resume", ck, "--steps", 9,
                                   "--data", other, "--out", tmp_path / "x.npz"),
                          "not the data", "lexicon differs", "words new bill, daniel",
                          "words missing john, mary")
    assert_one_line_error(*dnc_lit("train", "babi", "--resume", ck, "--steps", 9,
                                   "--hidden-size", 16, "--out", tmp_path / "x.npz"),
                          "--hidden-size 16 differs from the checkpoint's 8")
    assert_one_line_error(*dnc_lit("train", "babi", "--resume", ck, "--steps", 9,
                                   "--version", "en", "--out", tmp_path / "x.npz"),
                          "--version en differs")
    assert_one_line_error(*dnc_lit("evaluate", ck, "--data", other),
                          "not the data", "lexicon differs")
    assert not (tmp_path / "x.npz").exists()


def test_length_groups_are_recorded_and_may_change_on_resume(run, tmp_path):
    d, data = run
    ck = tmp_path / "g.npz"
    args = ["train", "babi", "--data", data, *TINY, "--batch-size", 4]
    assert dnc_lit(*args, "--steps", 3, "--out", ck, "--length-groups", 4)[0] == 0
    assert load_checkpoint(ck).metadata["length_groups"] == 4
    assert dnc_lit("train", "babi", "--resume", ck, "--steps", 6)[0] == 0
    assert load_checkpoint(ck).metadata["length_groups"] == 4       # kept
    code, _, err = dnc_lit("train", "babi", "--resume", ck, "--steps", 9,
                           "--length-groups", 2)
    assert code == 0, err
    m = load_checkpoint(ck).metadata
    assert m["length_groups"] == 2
    assert "--length-groups 2" in m["resumed"][-1]["command"]
    assert load_checkpoint(d / "babi.npz").metadata["length_groups"] == 1
    assert_one_line_error(*dnc_lit("train", "copy", "--length-groups", 2, "--out",
                                   tmp_path / "x.npz"),
                          "--length-groups: for babi, not copy")


def test_tasks_train_on_some_keep_them_and_evaluate_those(run, tmp_path):
    d, data = run
    ck = tmp_path / "some.npz"
    args = ["train", "babi", "--data", data, *TINY, "--out", ck]
    assert dnc_lit(*args, "--steps", 3, "--tasks", "8,1-2")[0] == 0
    m = load_checkpoint(ck).metadata
    assert m["tasks"] == [1, 2, 8]
    assert m["lexicon"] == list(build_lexicon(load_babi(data, tasks=[1, 2, 8]).train)
                                .words)
    assert "apple" in m["lexicon"]                   # task 8's words, and only its
    code, out, err = dnc_lit("evaluate", ck, "--json")
    assert code == 0, err
    assert sorted(json.loads(out)["tasks"]) == ["1", "2", "8"]
    code, out, err = dnc_lit("evaluate", ck, "--split", "valid", "--json")
    assert code == 0 and sorted(json.loads(out)["tasks"]) == ["1", "2", "8"], err
    code, _, err = dnc_lit("train", "babi", "--resume", ck, "--steps", 5)
    assert code == 0, err
    assert load_checkpoint(ck).metadata["tasks"] == [1, 2, 8]           # kept
    assert dnc_lit("train", "babi", "--resume", ck, "--steps", 6, "--tasks",
                   "1,2,8")[0] == 0
    assert_one_line_error(*dnc_lit("train", "babi", "--resume", ck, "--steps", 9,
                                   "--tasks", "1"),
                          "--tasks 1 differs from the checkpoint's 1,2,8")
    one = tmp_path / "one.npz"
    assert dnc_lit("train", "babi", "--data", data, *TINY, "--out", one, "--steps", 2,
                   "--tasks", "1")[0] == 0
    assert "apple" not in load_checkpoint(one).metadata["lexicon"]
    assert load_checkpoint(d / "babi.npz").metadata["tasks"] == list(range(1, 21))


@pytest.mark.parametrize("tasks", ["0", "21", "3-1", "1,3-1", "a", "1,,2", "1-",
                                   "1-2-3", "", " 1"])
def test_tasks_that_are_not_task_numbers_are_refused(run, tmp_path, tasks):
    _, data = run
    code, out, err = dnc_lit("train", "babi", "--data", data, "--tasks", tasks,
                             *TINY, "--steps", 1, "--out", tmp_path / "x.npz")
    assert code not in (0, None) and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("dnc-lit train: error: argument "
                                                   "--tasks"), err
    assert not (tmp_path / "x.npz").exists()


def test_tasks_are_for_babi_only(tmp_path):
    assert_one_line_error(*dnc_lit("train", "copy", "--tasks", "1", "--out",
                                   tmp_path / "x.npz"), "--tasks: for babi, not copy")


def test_data_that_moved_away_must_be_named(run, tmp_path):
    d, data = run
    gone = shutil.copy(data, tmp_path / "gone.tar.gz")
    assert dnc_lit("train", "babi", "--data", gone, "--steps", 2, *TINY,
                   "--out", tmp_path / "g.npz")[0] == 0
    os.remove(gone)
    for cmd in (["train", "babi", "--resume", tmp_path / "g.npz", "--steps", 4],
                ["evaluate", tmp_path / "g.npz"]):
        assert_one_line_error(*dnc_lit(*cmd), "which is not there: give --data PATH")


def test_evaluate_prints_the_table_and_json(run):
    d, data = run
    code, out, err = dnc_lit("evaluate", d / "babi.npz")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{d / 'babi.npz'}: babi, step 6")
    assert "test stories" in lines[0]
    assert not any(set(l) <= set("|-: ") and "|" in l for l in lines)   # plain text
    rows = [l for l in lines if l[:1].isdigit() and ":" in l]
    assert [int(r.split(":")[0]) for r in rows] == list(range(1, 21))
    assert any(l.startswith("mean error (%)") for l in lines)
    assert lines[-1].startswith("mean error ") and "failed (> 5 %)" in lines[-1]
    code, out, err = dnc_lit("evaluate", d / "babi.npz", "--json")
    assert code == 0, err
    r = json.loads(out)
    test = load_babi(data).test
    assert r["step"] == 6 and r["split"] == "test" and r["version"] == "en-10k"
    for t in range(1, 21):
        got = r["tasks"][str(t)]
        assert got["questions"] == sum(len(story_answers(s)) for s in test[t])
        assert 0 <= got["wrong"] <= got["questions"]
        assert got["error"] == pytest.approx(100 * got["wrong"] / got["questions"])
    errors = [r["tasks"][str(t)]["error"] for t in range(1, 21)]
    assert r["mean_error"] == pytest.approx(onp.mean(errors))
    assert r["failed"] == [t for t, e in zip(range(1, 21), errors) if e > FAILURE_ERROR]


def test_evaluate_on_the_validation_stories(run):
    d, data = run
    code, out, err = dnc_lit("evaluate", d / "babi.npz", "--split", "valid", "--json")
    assert code == 0, err
    _, valid = split_validation(load_babi(data).train, 0.1, seed=0)
    r = json.loads(out)
    assert r["split"] == "valid"
    assert {t: v["questions"] for t, v in r["tasks"].items()} == {
        str(t): sum(len(story_answers(s)) for s in valid[t]) for t in valid}


def test_ask_prints_words_of_the_lexicon(run):
    d, _ = run
    lexicon = load_checkpoint(d / "babi.npz").metadata["lexicon"]
    code, out, err = dnc_lit("ask", d / "babi.npz", STORY)
    assert code == 0, err
    assert len(out.split()) == 1 and out.split()[0] in lexicon
    code, out, err = dnc_lit("ask", d / "babi.npz", "mary got the milk there . what is "
                             "mary carrying ?", "--words", 2)
    assert code == 0, err
    assert len(out.split()) == 2 and set(out.split()) <= set(lexicon)


@pytest.mark.parametrize("args,words", [
    (["STORY-CK", "mary flew to florida . where is mary ?"],
     "words not in the lexicon|'flew', 'florida'"),
    (["STORY-CK"], "is a bAbI run: ask it a story"),
    (["STORY-CK", "mary moved to the bathroom ."], "must end with a question"),
    (["STORY-CK", "--graph", "london", "--start", "Bank", "--to", "Angel"],
     "is a bAbI run"),
    (["STORY-CK", STORY, "--graph", "london", "--start", "Bank", "--to", "Angel"],
     "not both"),
    (["STORY-CK", "--graph", "london", "--start", "Bank"], "required"),
])
def test_ask_mistakes_give_one_line(run, args, words):
    d, _ = run
    args = [d / "babi.npz" if a == "STORY-CK" else a for a in args]
    assert_one_line_error(*dnc_lit("ask", *args), *words.split("|"))


def test_graph_and_babi_checkpoints_share_ask(run, tmp_path):
    d, _ = run
    code, out, err = dnc_lit("train", "traversal", "--steps", 2, "--hidden-size", 8,
                             "--memory-size", 8, "--word-size", 4, "--num-reads", 1,
                             "--batch-size", 1, "--evaluate-every", 100,
                             "--progress", "none", "--out", tmp_path / "t.npz")
    assert code == 0, err
    graph = tmp_path / "g.csv"
    graph.write_text("source,edge,destination\na,x,b\nb,x,c\n")
    code, out, err = dnc_lit("ask", tmp_path / "t.npz", "--graph", graph, "--start",
                             "a", "--follow", "x", "x")
    assert code == 0, err
    assert out.splitlines()[-1] in ("right", "wrong")
    assert_one_line_error(*dnc_lit("ask", tmp_path / "t.npz", STORY),
                          "is a traversal run", "--follow")
    assert_one_line_error(*dnc_lit("ask", tmp_path / "t.npz"), "required")
    assert_one_line_error(*dnc_lit("evaluate", tmp_path / "t.npz", "--split", "valid"),
                          "--split: for babi, not traversal")
    assert_one_line_error(*dnc_lit("evaluate", d / "babi.npz", "--lengths", "2"),
                          "--lengths is for copy and graph checkpoints")
    assert_one_line_error(*dnc_lit("show", d / "babi.npz", "--out", tmp_path / "x.png"),
                          "draws copy and repeat-copy runs")


@pytest.mark.parametrize("args,words", [
    (["train", "babi", "--steps", "2"], "needs --data PATH"),
    (["train", "babi", "--data", "no/such/tasks.tar.gz"],
     "no/such/tasks.tar.gz: no such file or folder"),
    (["train", "babi", "--data", "DATA", "--max-length", "3"],
     "--max-length: for the copy and graph tasks, not babi"),
    (["train", "babi", "--data", "DATA", "--version", "en"],
     "no en/qa1_single-supporting-fact_train.txt"),
    (["train", "copy", "--data", "DATA"], "--data: for babi, not copy"),
])
def test_train_mistakes_give_one_line(run, tmp_path, args, words):
    _, data = run
    args = [data if a == "DATA" else a for a in args]
    assert_one_line_error(*dnc_lit(*args, "--out", tmp_path / "x.npz", cwd=tmp_path),
                          words)
    assert not (tmp_path / "x.npz").exists()


def _default_sigint():
    "In the child: the default SIGINT, even under a background job that ignores it."
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_saves_a_checkpoint_that_resumes(run, tmp_path):
    _, data = run
    out, log = tmp_path / "c.npz", tmp_path / "c.jsonl"
    p = subprocess.Popen([sys.executable, "-m", "dnc_lit", "train", "babi", "--data",
                          str(data), "--steps", "100000", *TINY, "--out", str(out),
                          "--log", str(log)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=ENV,
                         preexec_fn=_default_sigint)
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n")):
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    _, stderr = p.communicate(timeout=120)
    assert p.returncode == 130, stderr
    assert "Traceback" not in stderr and "dnc-lit train babi --resume" in stderr
    step = load_checkpoint(out).metadata["step"]
    assert step >= 3
    code, _, err = dnc_lit("train", "babi", "--resume", out, "--steps", step + 2,
                           "--progress", "none")
    assert code == 0, err
    assert load_checkpoint(out).metadata["step"] == step + 2


def test_the_shared_data_gives_the_papers_lexicon(tmp_path):
    shared = find_babi(ROOT)
    if shared is None:
        pytest.skip("the bAbI data is not at ../shared/data/babi (nor DNC_LIT_BABI)")
    code, out, err = dnc_lit("train", "babi", "--data", shared, "--steps", 1, *TINY,
                             "--out", tmp_path / "s.npz")
    assert code == 0, err
    m = load_checkpoint(tmp_path / "s.npz").metadata
    assert len(m["lexicon"]) == 159                     # 156 words and '.', '?', '-'
    assert all(f"task {t} {s}: read from the en version" in err
               for t, s in m["substituted"])
    code, out, err = dnc_lit("ask", tmp_path / "s.npz", STORY)
    assert code == 0 and out.split()[0] in m["lexicon"]
