"""The command line (nbs/52_cli.ipynb, and the graph tasks of nbs/62_curriculum.ipynb),
run as a user runs it: `python -m dnc_lit ...` in a subprocess. Every mistake gives one
line on stderr, a non-zero exit status and no traceback; Ctrl-C saves a checkpoint that
resumes; a graph run keeps its lesson across a resume."""
import json, os, signal, subprocess, sys, time
import numpy as onp
import pytest

from dnc_lit.checkpoint import load_checkpoint, save_checkpoint
from dnc_lit.curriculum import Curriculum

SMALL = ["--max-length", "2", "--hidden-size", "16", "--memory-size", "6",
         "--word-size", "4", "--num-reads", "1", "--log-every", "5",
         "--progress", "none"]
GRAPH = ["--hidden-size", "16", "--memory-size", "8", "--word-size", "4",
         "--num-reads", "1", "--batch-size", "2", "--log-every", "5",
         "--evaluate-every", "10", "--eval-sequences", "4", "--progress", "none"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
ENV.pop("DNC_LIT_DEBUG", None)


def dnc_lit(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "dnc_lit", *map(str, args)],
                       capture_output=True, text=True, env=ENV, cwd=cwd, timeout=300)
    return r.returncode, r.stdout, r.stderr


def assert_one_line_error(code, out, err, *words):
    assert code not in (0, None), (code, out, err)
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dnc-lit"), lines[0]
    for w in words: assert w in lines[0], (w, lines[0])


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    "A checkpoint of 20 steps of a small machine, with its log."
    d = tmp_path_factory.mktemp("cli")
    code, out, err = dnc_lit("train", "copy", "--steps", 20, *SMALL,
                             "--out", d / "small.npz", "--log", d / "small.jsonl")
    assert code == 0, err
    return d


@pytest.mark.parametrize("args", [[], ["train"], ["evaluate"], ["show"], ["ask"]])
def test_help(args):
    code, out, err = dnc_lit(*args, "--help")
    assert code == 0 and err == "" and out.startswith("usage: dnc-lit")
    words = {(): ["train", "evaluate", "show", "ask"],
             ("train",): ["--steps", "--out", "--resume", "--seed", "--log",
                          "--checkpoint-every", "--hidden-size", "--dtype",
                          "--optimiser",
                          "--curriculum", "--max-repeats", "--evaluate-every",
                          "--eval-sequences", "traversal", "shortest-path"],
             ("evaluate",): ["--lengths", "--num-sequences", "--seed", "--graph"],
             ("show",): ["--out", "--length"],
             ("ask",): ["--graph", "--start", "--follow", "--relation", "--to"]}
    for word in words[tuple(args)]: assert word in out, word


def test_version():
    from dnc_lit import __version__
    code, out, _ = dnc_lit("--version")
    assert code == 0 and out.strip() == f"dnc-lit {__version__}"


def test_train_writes_a_checkpoint_with_its_command_and_a_log(small):
    ck = load_checkpoint(small / "small.npz")
    m = ck.metadata
    assert m["task"] == "copy" and m["step"] == 20 and m["seed"] == 0
    assert m["command"].startswith("dnc-lit train copy --steps 20 --max-length 2 "
                                   "--hidden-size 16")
    assert m["task_args"] == dict(num_bits=4, batch_size=16, min_length=1, max_length=2)
    assert m["optimiser"] == {"name": "adam", "hyper": {"lr": 0.003}}
    assert m["measure"] == "bit_errors" and "curriculum_state" not in m
    assert ck.config["hidden_size"] == 16 and ck.config["input_size"] == 6
    assert ck.config["output_size"] == 5 and int(ck.opt_state["step"]) == 20
    lines = [json.loads(l) for l in (small / "small.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines] == [5, 10, 15, 20] and lines == m["history"]


def test_resume_continues_like_an_uninterrupted_run(small, tmp_path):
    code, _, err = dnc_lit("train", "copy", "--steps", 13, *SMALL,
                           "--out", tmp_path / "a.npz")
    assert code == 0, err
    code, out, err = dnc_lit("train", "copy", "--steps", 20, "--resume",
                             tmp_path / "a.npz", "--progress", "none")
    assert code == 0, err
    a, b = load_checkpoint(tmp_path / "a.npz"), load_checkpoint(small / "small.npz")
    assert a.metadata["step"] == 20
    for k in b.params: assert onp.array_equal(a.params[k], b.params[k]), k
    for k in b.params:
        assert onp.array_equal(a.opt_state["v"][k], b.opt_state["v"][k]), k
    assert a.metadata["resumed"][0]["step"] == 13
    assert "--resume" in a.metadata["resumed"][0]["command"]
    # nothing left to do: says so and succeeds
    code, out, err = dnc_lit("train", "copy", "--steps", 20, "--resume",
                             tmp_path / "a.npz")
    assert code == 0 and "nothing to train" in out


def test_train_with_curriculum_and_repeat_copy(tmp_path):
    code, out, err = dnc_lit("train", "repeat-copy", "--steps", 10, *SMALL,
                             "--max-repeats", 2, "--curriculum", 100,
                             "--curriculum-limit", 3, "--out", tmp_path / "rc.npz")
    assert code == 0, err
    m = load_checkpoint(tmp_path / "rc.npz").metadata
    assert m["task"] == "repeat-copy" and m["task_args"]["max_length"] == 3
    assert m["task_args"]["max_repeats"] == 2
    assert m["curriculum"]["threshold"] == 100 and m["curriculum"]["limit"] == 3


def test_evaluate_prints_trained_lengths_and_beyond(small):
    code, out, err = dnc_lit("evaluate", small / "small.npz", "--num-sequences", 40)
    assert code == 0, err
    rows = [l.split()[0] for l in out.splitlines()[2:]]
    assert rows == ["as", "1", "2", "3", "4"]       # as trained, 1-2, then 3, 4 beyond
    assert "(longer than trained)" in out.splitlines()[-1]
    code2, out2, _ = dnc_lit("evaluate", small / "small.npz", "--num-sequences", 40)
    assert out2 == out                                                        # seeded
    code, out, err = dnc_lit("evaluate", small / "small.npz", "--num-sequences", 30,
                             "--lengths", "2,5", "--json")
    res = json.loads(out)
    assert sorted(res) == ["2", "5", "as trained"] and res["5"]["sequences"] == 30
    assert 0 <= res["2"]["perfect"] <= 1 and res["5"]["mean_bit_errors"] > 0


def test_show_writes_a_png(small, tmp_path):
    code, out, err = dnc_lit("show", small / "small.npz", "--out", tmp_path / "m.png",
                             "--length", 3)
    assert code == 0, err
    data = (tmp_path / "m.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert out.startswith("wrote") and "length 3" in out


def test_float32_trains_resumes_evaluates_and_shows(tmp_path):
    "--dtype float32: float32 parameters and state, resumable, evaluate and show on it."
    code, _, err = dnc_lit("train", "copy", "--steps", 6, *SMALL, "--dtype", "float32",
                           "--out", tmp_path / "f.npz")
    assert code == 0, err
    ck = load_checkpoint(tmp_path / "f.npz")
    assert ck.config["dtype"] == "float32"
    assert all(v.dtype == onp.float32 for v in ck.params.values())
    assert all(v.dtype == onp.float32 for v in ck.opt_state["m"].values())
    code, _, err = dnc_lit("train", "copy", "--steps", 10, "--resume",
                           tmp_path / "f.npz", "--progress", "none")
    assert code == 0, err
    ck = load_checkpoint(tmp_path / "f.npz")
    assert ck.metadata["step"] == 10
    assert all(v.dtype == onp.float32 for v in ck.params.values())
    code, out, err = dnc_lit("evaluate", tmp_path / "f.npz", "--num-sequences", 20,
                             "--lengths", "2", "--json")
    assert code == 0 and json.loads(out)["2"]["sequences"] == 20, err
    code, out, err = dnc_lit("show", tmp_path / "f.npz", "--out", tmp_path / "f.png")
    assert code == 0 and (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG", err
    assert_one_line_error(*dnc_lit("train", "copy", "--steps", 10, "--resume",
                                   tmp_path / "f.npz", "--dtype", "float64",
                                   "--out", tmp_path / "g.npz"),
                          "--dtype float64 differs from the checkpoint's float32")


def test_broken_checkpoints_give_one_line(small, tmp_path):
    (tmp_path / "truncated.npz").write_bytes((small / "small.npz").read_bytes()[:1000])
    (tmp_path / "text.npz").write_text("hello")
    onp.savez(tmp_path / "foreign.npz", weights=onp.zeros(3))
    save_checkpoint(tmp_path / "bare.npz", {"w": onp.zeros(2)})   # dnc_lit, not a run
    cases = [("missing.npz", "no such checkpoint"),
             ("truncated.npz", "truncated or corrupt"), ("text.npz", "not a readable"),
             ("foreign.npz", "not a dnc_lit checkpoint"),
             ("bare.npz", "not of a training run")]
    for name, words in cases:
        for cmd in (["evaluate", tmp_path / name],
                    ["show", tmp_path / name, "--out", tmp_path / "x.png"],
                    ["train", "copy", "--resume", tmp_path / name, "--steps", 5],
                    ["ask", tmp_path / name, "--graph", "london", "--start", "Bank",
                     "--to", "Angel"]):
            assert_one_line_error(*dnc_lit(*cmd), words)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args,words", [
    (["train", "copy", "--steps", "0"], "--steps"),
    (["train", "copy", "--lr", "-1"], "--lr"),
    (["train", "sort"], "unknown task 'sort'"),
    (["train", "copy", "--steps", "5", "--max-repeats", "3"], "repeat-copy"),
    (["train", "copy", "--steps", "5", "--min-length", "4", "--max-length", "2"],
     "--max-length 2 is below"),
    (["train", "copy", "--steps", "5", "--curriculum", "0.1"], "--curriculum-limit"),
    (["train", "copy", "--controller", "gru"], "--controller"),
    (["evaluate", "x.npz", "--lengths", "3-1"], "--lengths"),
    (["show", "x.npz"], "--out"),
    (["train", "copy", "--dtype", "float32", "--controller", "feedforward"], "dtype"),
    (["train", "copy", "--dtype", "float16"], "--dtype"),
    (["train", "traversal", "--steps", "5", "--max-length", "3"], "for the copy tasks"),
    (["train", "inference", "--steps", "5", "--num-bits", "3"], "for the copy tasks"),
    (["train", "traversal", "--evaluate-every", "0"], "--evaluate-every"),
    (["train", "copy", "--steps", "5", "--confirm-sequences", "9"],
     "for the graph tasks"),
    (["train", "repeat-copy", "--steps", "5", "--edge-pool", "4", "8"],
     "--edge-pool: for the graph tasks, not repeat-copy"),
    (["ask", "x.npz", "--graph", "london", "--start", "Bank"], "required"),
    (["ask", "x.npz", "--graph", "london", "--start", "Bank", "--to", "A", "--follow",
      "B"], "not allowed with"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
])
def test_bad_options_give_one_line(args, words, tmp_path):
    assert_one_line_error(*dnc_lit(*args, cwd=tmp_path), words)


def test_resume_refuses_changed_settings(small, tmp_path):
    ck = small / "small.npz"
    for option, value, words in (
            ("--hidden-size", 32, "--hidden-size 32 differs from the checkpoint's 16"),
            ("--dtype", "float32",
             "--dtype float32 differs from the checkpoint's float64"),
            ("--seed", 3, "--seed 3 differs from the checkpoint's 0"),
            ("--batch-size", 8, "--batch-size 8 differs from the checkpoint's 16")):
        assert_one_line_error(*dnc_lit("train", "copy", "--steps", 30, "--resume", ck,
                                       option, value, "--out", tmp_path / "x.npz"),
                              words)
    assert_one_line_error(*dnc_lit("train", "repeat-copy", "--steps", 30, "--resume",
                                   ck, "--out", tmp_path / "x.npz"), "is a run of copy")
    assert_one_line_error(*dnc_lit("show", ck, "--out", tmp_path / "x.jpg"), ".png")
    assert_one_line_error(*dnc_lit("train", "copy", "--steps", 5, *SMALL, "--out",
                                   "/proc/dnc_lit_test/x.npz"), "/proc/dnc_lit_test")


def _step_change(start, out, *extra, task="copy"):
    "The largest parameter change of one resumed step from `start` (with `extra`)."
    code, _, err = dnc_lit("train", task, "--steps", load_checkpoint(start).metadata[
        "step"] + 1, "--resume", start, "--out", out, "--progress", "none", *extra)
    assert code == 0, err
    before, after = load_checkpoint(start).params, load_checkpoint(out).params
    return max(float(onp.abs(onp.asarray(after[k]) - onp.asarray(before[k])).max())
               for k in before)


@pytest.mark.parametrize("task", ["copy", "traversal"])
def test_resume_with_a_smaller_step_size(small, trav, tmp_path, task):
    """--lr on resume: the new rate is recorded and used (Adam's step is proportional to
    it, its state does not depend on it); another optimiser is still refused."""
    start = small / "small.npz" if task == "copy" else trav / "t.npz"
    lr = load_checkpoint(start).metadata["optimiser"]["hyper"]["lr"]
    same = _step_change(start, tmp_path / "same.npz", task=task)
    tenth = _step_change(start, tmp_path / "tenth.npz", "--lr", lr / 10, task=task)
    m = load_checkpoint(tmp_path / "tenth.npz").metadata
    assert m["optimiser"]["hyper"]["lr"] == pytest.approx(lr / 10)
    assert "--lr" in m["resumed"][-1]["command"]
    assert load_checkpoint(tmp_path / "same.npz").metadata["optimiser"]["hyper"][
        "lr"] == lr
    assert tenth == pytest.approx(same / 10, rel=0.05), (same, tenth)
    assert_one_line_error(*dnc_lit("train", task, "--steps", 10 ** 6, "--resume", start,
                                   "--optimiser", "rmsprop", "--out", tmp_path / "x.npz"),
                          "--optimiser rmsprop differs")


def _default_sigint():
    """In the child: the default SIGINT, even when the tests run as a background job
    (which ignores SIGINT, and a child would inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(args, log, out):
    "Start `dnc-lit ARGS`, send SIGINT after its first log line; (code, stderr, step)."
    p = subprocess.Popen([sys.executable, "-m", "dnc_lit", *map(str, args)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=ENV, preexec_fn=_default_sigint)
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n")):
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    return p.returncode, stderr, load_checkpoint(out).metadata["step"]


def test_ctrl_c_saves_a_checkpoint_and_resumes(tmp_path):
    out, log = tmp_path / "run.npz", tmp_path / "run.jsonl"
    code, stderr, step = _interrupt(["train", "copy", "--steps", "100000", *SMALL,
                                     "--checkpoint-every", "1000", "--out", out,
                                     "--log", log], log, out)
    assert code == 130, (code, stderr)
    assert "Traceback" not in stderr and "interrupted: checkpoint of step" in stderr
    assert step >= 5
    code, _, err = dnc_lit("train", "copy", "--steps", step + 3, "--resume", out,
                           "--progress", "none")
    assert code == 0, err
    assert load_checkpoint(out).metadata["step"] == step + 3


# --- graph tasks --------------------------------------------------------------------

@pytest.fixture(scope="module")
def trav(tmp_path_factory):
    "A traversal checkpoint of 30 steps (lesson 1: labels 0-9), with its log."
    d = tmp_path_factory.mktemp("graph")
    code, out, err = dnc_lit("train", "traversal", "--steps", 30, *GRAPH,
                             "--out", d / "t.npz", "--log", d / "t.jsonl")
    assert code == 0, err
    assert "lesson 1/16" in out and "saved" in out
    return d


def in_lesson(src, dst, k):
    "A copy of the graph checkpoint `src` in lesson k (as if lessons 1..k-1 passed)."
    ck = load_checkpoint(src)
    m = ck.metadata
    cur = Curriculum.from_json(m["curriculum"])
    state = {**m["curriculum_state"], "lesson": k,
             "passed": [{"lesson": j, "step": 10 * j} for j in range(1, k)]}
    meta = {**m, "curriculum_state": state,
            "task_args": {**m["task_args"], **cur.lessons[k - 1]}}
    save_checkpoint(dst, ck.params, ck.opt_state, ck.config, meta)
    return dst


def test_train_traversal_records_the_curriculum(trav):
    ck = load_checkpoint(trav / "t.npz")
    m = ck.metadata
    assert m["task"] == "traversal" and m["step"] == 30 and m["measure"] == "errors"
    assert (ck.config["input_size"], ck.config["output_size"]) == (92, 90)
    assert m["curriculum"]["type"] == "Curriculum"
    assert m["curriculum"]["task"] == "traversal"
    assert m["curriculum"]["evaluate_every"] == 10
    assert m["curriculum_state"]["lesson"] == 1
    assert [e["step"] for e in m["curriculum_state"]["evaluations"]] == [10, 20, 30]
    assert m["task_args"] == {"batch_size": 2, "num_nodes": [3, 10],
                              "out_degree": [2, 4], "path_length": [1, 1],
                              "label_range": [0, 9]}
    lines = [json.loads(l) for l in (trav / "t.jsonl").read_text().splitlines()]
    assert [l["lesson"] for l in lines] == [1] * 6
    assert ["accuracy" in l for l in lines] == [False, True] * 3
    assert all(0 <= l["errors"] <= 1 for l in lines)


def test_graph_defaults(tmp_path):
    from dnc_lit import cli
    a = cli.make_parser().parse_args(["train", "shortest-path"])
    a.task = cli.task_name(a.task)
    config, args, opt, lr, clip, seed, steps, cur = cli._graph_settings(a)
    assert (config.hidden_size, config.memory_size, config.word_size,
            config.num_reads) == (128, 32, 32, 2)
    assert args == {"batch_size": 1} and steps == 100_000 and lr == 3e-3
    assert cur.task == "shortest_path" and cur.threshold == 0.8 and cur.replay == 0
    assert cli.task_name("shortest_path") == "shortest-path"


def test_evaluate_a_graph_checkpoint_per_lesson(trav, tmp_path):
    code, out, err = dnc_lit("evaluate", trav / "t.npz", "--num-sequences", 6)
    assert code == 0, err
    lines = out.splitlines()
    assert "lesson 1/16" in lines[0] and "threshold 0.9" in lines[0]
    assert lines[2].split()[:2] == ["1", "ours"] and "current" in lines[2]
    third = in_lesson(trav / "t.npz", tmp_path / "t3.npz", 3)
    code, out, err = dnc_lit("evaluate", third, "--num-sequences", 4, "--json")
    assert code == 0, err
    res = json.loads(out)
    assert sorted(res) == ["1", "2", "3"]
    assert [res[k]["passed_at"] for k in "123"] == [10, 20, None]
    assert res["3"]["from"] == "paper 1" and "label range 0-999" in res["3"]["lesson"]
    assert all(0 <= r["accuracy"] <= 1 and r["sequences"] == 4 for r in res.values())


def test_resume_continues_in_the_same_lesson(trav, tmp_path):
    third = in_lesson(trav / "t.npz", tmp_path / "r.npz", 3)
    code, out, err = dnc_lit("train", "traversal", "--steps", 40, "--resume", third,
                             "--log", tmp_path / "r.jsonl", "--progress", "none")
    assert code == 0, err
    m = load_checkpoint(third).metadata
    assert m["step"] == 40 and m["curriculum_state"]["lesson"] == 3
    assert m["task_args"]["label_range"] == [0, 999]
    lines = [json.loads(l) for l in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [l["lesson"] for l in lines] == [3, 3]
    assert_one_line_error(*dnc_lit("train", "traversal", "--steps", 50, "--resume",
                                   third, "--eval-sequences", 9),
                          "--eval-sequences 9 differs from the checkpoint's 4")
    assert Curriculum.from_json(m["curriculum"]).confirm_sequences == 1000
    code, _, err = dnc_lit("train", "traversal", "--steps", 45, "--resume", third,
                           "--confirm-sequences", 0)       # the pass rule may change
    assert code == 0, err
    m = load_checkpoint(third).metadata
    assert m["step"] == 45
    assert Curriculum.from_json(m["curriculum"]).confirm_sequences == 0
    assert_one_line_error(*dnc_lit("train", "inference", "--steps", 50, "--resume",
                                   third),
                          "is a run of traversal")


def test_edge_pool_on_a_new_run_and_on_resume(trav, tmp_path):
    """--edge-pool lays edge_pool over every lesson of a new traversal run; on resume
    over the current lesson, the later ones and the current task arguments, while the
    lessons passed keep their graphs; only traversal takes it."""
    new = tmp_path / "new.npz"
    code, _, err = dnc_lit("train", "traversal", "--steps", 10, *GRAPH, "--out", new,
                           "--edge-pool", 4, 8)
    assert code == 0, err
    m = load_checkpoint(new).metadata
    assert all(l["edge_pool"] == [4, 8] for l in m["curriculum"]["lessons"])
    assert m["task_args"]["edge_pool"] == [4, 8]
    third = in_lesson(trav / "t.npz", tmp_path / "p.npz", 3)
    code, _, err = dnc_lit("train", "traversal", "--steps", 35, "--resume", third,
                           "--edge-pool", 4, 30, "--progress", "none")
    assert code == 0, err
    m = load_checkpoint(third).metadata
    assert m["step"] == 35 and m["curriculum_state"]["lesson"] == 3
    pools = [l.get("edge_pool") for l in m["curriculum"]["lessons"]]
    assert pools[:2] == [None, None] and set(map(tuple, pools[2:])) == {(4, 30)}
    assert m["task_args"]["edge_pool"] == [4, 30]
    assert "--edge-pool 4 30" in m["resumed"][-1]["command"]
    code, _, err = dnc_lit("train", "traversal", "--steps", 40, "--resume", third,
                           "--edge-pool", 4, 12, "--progress", "none")   # may change
    assert code == 0, err
    assert load_checkpoint(third).metadata["task_args"]["edge_pool"] == [4, 12]
    code, out, err = dnc_lit("evaluate", third, "--num-sequences", 2)
    assert code == 0 and "edge pool 4-12" in out and out.count("edge pool") == 1, out
    m = load_checkpoint(third).metadata
    assert [l["edge_pool"] for l in m["curriculum"]["lessons"][:2]] == [None, None]
    from dnc_lit import graphs
    lessons = m["curriculum"]["lessons"]
    for k in (1, 2):    # a passed lesson laid over the current task arguments, as the
        pooled = {**m["task_args"], **lessons[k - 1]}      # evaluations and replays do,
        own = {**m["task_args"], **Curriculum("traversal").lessons[k - 1]}    # draws
        own.pop("edge_pool")                               # the lesson's own graphs
        x, y = (graphs.traversal_task(onp.random.default_rng(5), **d)
                for d in (pooled, own))
        assert onp.array_equal(x.inputs, y.inputs), k
    fourth = in_lesson(third, tmp_path / "p4.npz", 4)    # a later pool from lesson 4:
    code, _, err = dnc_lit("train", "traversal", "--steps", 45, "--resume", fourth,
                           "--edge-pool", 5, 9, "--progress", "none")
    assert code == 0, err                               # lesson 3 keeps its own
    pools = [l["edge_pool"] for l in load_checkpoint(fourth).metadata["curriculum"][
        "lessons"]]
    assert pools[:4] == [None, None, [4, 12], [5, 9]] and pools[-1] == [5, 9]
    assert_one_line_error(*dnc_lit("train", "inference", "--steps", 5, *GRAPH, "--out",
                                   tmp_path / "i.npz", "--edge-pool", 4, 8),
                          "--edge-pool is for traversal")
    assert_one_line_error(*dnc_lit("train", "traversal", "--steps", 5, *GRAPH, "--out",
                                   tmp_path / "j.npz", "--edge-pool", 9, 4),
                          "expected LO <= HI")


def test_graph_resume_is_exact(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert dnc_lit("train", "traversal", "--steps", 25, *GRAPH, "--out", a)[0] == 0
    assert dnc_lit("train", "traversal", "--steps", 13, *GRAPH, "--out", b)[0] == 0
    code, _, err = dnc_lit("train", "traversal", "--steps", 25, "--resume", b,
                           "--progress", "none")
    assert code == 0, err
    x, y = load_checkpoint(a), load_checkpoint(b)
    for k in x.params: assert onp.array_equal(x.params[k], y.params[k]), k
    assert x.metadata["curriculum_state"] == y.metadata["curriculum_state"]


def test_ctrl_c_saves_a_graph_run_in_its_lesson(tmp_path):
    out, log = tmp_path / "g.npz", tmp_path / "g.jsonl"
    code, stderr, step = _interrupt(["train", "traversal", "--steps", "100000", *GRAPH,
                                     "--checkpoint-every", "1000", "--out", out,
                                     "--log", log], log, out)
    assert code == 130 and "interrupted: checkpoint of step" in stderr, stderr
    m = load_checkpoint(out).metadata
    assert step >= 5 and m["curriculum_state"]["lesson"] == 1


def _write(path, text):
    path.write_text(text); return path


CSV = "source,edge,destination\na,x,b\nb,x,c\nc,y,a\nb,y,d\nd,x,a\n"


def test_ask_and_evaluate_on_a_csv_graph(trav, tmp_path):
    g = _write(tmp_path / "g.csv", CSV)
    code, out, err = dnc_lit("ask", trav / "t.npz", "--graph", g, "--start", "a",
                             "--follow", "x")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 4 and lines[0] == "From a, take the x: where are you?"
    assert lines[1].startswith("network: ") and lines[2] == "answer:  a --x--> b"
    assert lines[3] in ("right", "wrong")
    code, out, err = dnc_lit("evaluate", trav / "t.npz", "--graph", g,
                             "--num-sequences", 5, "--json")
    assert code == 0, err
    assert json.loads(out) == {"1": {"solved": json.loads(out)["1"]["solved"],
                                     "questions": 5}}


def test_ask_a_traversal_on_the_underground(trav, tmp_path):
    from dnc_lit import testgraphs as tg
    third = in_lesson(trav / "t.npz", tmp_path / "l.npz", 3)
    edges = ["Victoria line, northbound", "Victoria line, northbound"]
    code, out, err = dnc_lit("ask", third, "--graph", "london", "--start",
                             "Oxford Circus", "--follow", *edges)
    assert code == 0, err
    walk = tg.follow(tg.london_underground(), "Oxford Circus", edges)
    want = ", ".join(f"{s} --{e}--> {d}" for s, e, d in walk)
    lines = out.splitlines()
    assert lines[2] == f"answer:  {want}" and lines[1].startswith("network: ")
    code, out, err = dnc_lit("evaluate", third, "--graph", "london",
                             "--num-sequences", 3)
    assert code == 0 and "length" in out and "on london" in out, err


def test_ask_inference_and_shortest_path(tmp_path):
    fam, sp = tmp_path / "i.npz", tmp_path / "s.npz"
    assert dnc_lit("train", "inference", "--steps", 2, *GRAPH, "--out", fam)[0] == 0
    assert dnc_lit("train", "shortest-path", "--steps", 2, *GRAPH, "--out", sp)[0] == 0
    fam3 = in_lesson(fam, tmp_path / "i3.npz", 3)
    code, out, err = dnc_lit("ask", fam3, "--graph", "family", "--start", "Bella",
                             "--relation", "mother", "mother")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Who is Bella's mother's mother?"
    assert lines[2] == "answer:  Bella --mother, mother--> Julia"
    g = _write(tmp_path / "g.csv", CSV)
    code, out, err = dnc_lit("ask", sp, "--graph", g, "--start", "a", "--to", "d")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[2] == "answer:  a --x--> b, b --y--> d"
    walk = lines[1][len("network: "):].split(", ")
    assert 1 <= len(walk) <= 3 and walk[0].startswith("a --")    # legal moves from a
    assert_one_line_error(*dnc_lit("ask", sp, "--graph", g, "--start", "a", "--to",
                                   "zz"), "unknown node 'zz'")


@pytest.mark.parametrize("text,args,words", [
    ("src,edge,dst\na,x,b\n", ["--follow", "x"], "unknown column 'src'"),
    ("source,edge,destination\na,x,b\na,x,c\n", ["--follow", "x"],
     "already has an out-edge 'x'"),
    (None, ["--follow", "x"], "at most 1000 nodes"),
    (CSV, ["--follow", "x", "q"], "unknown edge 'q'"),
    ("source,edge,destination\np,x,q\n", ["--follow", "x"], "unknown node 'a'"),
    (CSV, ["--follow", "y", "x", "x", "x"], "no answer"),
    (CSV, ["--to", "b"], "--to is for shortest-path checkpoints"),
    (CSV, ["--relation", "x", "y"], "--relation is for inference checkpoints"),
])
def test_bad_graphs_and_questions_give_one_line(trav, tmp_path, text, args, words):
    if text is None:
        text = "source,edge,destination\n" + "".join(f"n{i},x,n{i + 1}\n"
                                                   for i in range(1001))
    g = _write(tmp_path / "bad.csv", text)
    assert_one_line_error(*dnc_lit("ask", trav / "t.npz", "--graph", g, "--start", "a",
                                   *args), *words.split("|"))


def test_ask_london_on_an_early_checkpoint(trav):
    "A graph larger than the lessons' label range is asked in 0-999, with a note."
    code, out, err = dnc_lit("ask", trav / "t.npz", "--graph", "london", "--start",
                             "Bank", "--follow", "Central line, westbound")
    assert code == 0, err
    note = err.strip().splitlines()
    assert len(note) == 1 and note[0].startswith("note:"), err
    assert "trained on node labels 0-9" in note[0] and "labels in 0-99" in note[0], err
    assert "St. Paul's" in out, out                      # the true answer, in words
    code, out, err = dnc_lit("evaluate", trav / "t.npz", "--graph", "london",
                             "--num-sequences", 2)
    assert code == 0, err
    assert "labels 0-99," in out.splitlines()[0], out     # the range it was asked in


def test_graph_mistakes_give_one_line(trav, small, tmp_path):
    code, out, err = dnc_lit("ask", trav / "t.npz", "--graph", "london",
                             "--start", "Bank", "--follow", "x")
    assert code == 1 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("dnc-lit: error:"), err
    assert "unknown edge 'x'" in err, err
    assert_one_line_error(*dnc_lit("ask", small / "small.npz", "--graph", "london",
                                   "--start", "Bank", "--to", "Angel"),
                          "needs a checkpoint of a graph task")
    assert_one_line_error(*dnc_lit("evaluate", small / "small.npz", "--graph",
                                   "london"),
                          "--graph is for checkpoints of graph tasks")
    assert_one_line_error(*dnc_lit("evaluate", trav / "t.npz", "--lengths", "2"),
                          "--lengths is for copy checkpoints")
    assert_one_line_error(*dnc_lit("ask", trav / "t.npz", "--graph",
                                   tmp_path / "no.csv", "--start", "a", "--follow",
                                   "x"), "no such file")
    assert_one_line_error(*dnc_lit("show", trav / "t.npz", "--out", tmp_path / "x.png"),
                          "draws copy and repeat-copy runs")


def test_running_a_registering_cell_again_replaces_its_options():
    """A chapter's cell that registers parser options, run a second time in a
    notebook, defines a new function under the same name: the parser must still build,
    with each option once (a list of extensions would add every option twice: argparse
    refuses)."""
    from dnc_lit import cli
    saved = dict(cli.PARSER_EXTENSIONS)
    assert {"graph tasks", "model", "babi"} <= set(saved)
    try:
        for name, f in saved.items():   # what a re-run cell does: a new function
            cli.PARSER_EXTENSIONS[name] = lambda sub, parsers, f=f: f(sub, parsers)
        a = cli.make_parser().parse_args(["ask", "w.npz", "--graph", "london",
                                          "--start", "Bank", "--to", "Angel"])
        assert (a.command, a.to) == ("ask", "Angel")
        assert list(cli.PARSER_EXTENSIONS) == list(saved)
    finally:
        cli.PARSER_EXTENSIONS.clear(); cli.PARSER_EXTENSIONS.update(saved)
