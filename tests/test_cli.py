"""The command line (nbs/52_cli.ipynb), run as a user runs it: `python -m dnc_lit ...` in a subprocess. Every mistake
gives one line on stderr, a non-zero exit status and no traceback; Ctrl-C saves a checkpoint that resumes."""
import json, os, signal, subprocess, sys, time
import numpy as onp
import pytest

from dnc_lit.checkpoint import load_checkpoint, save_checkpoint

SMALL = ["--max-length", "2", "--hidden-size", "16", "--memory-size", "6", "--word-size", "4", "--num-reads", "1",
         "--log-every", "5", "--progress", "none"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
ENV.pop("DNC_LIT_DEBUG", None)


def dnc_lit(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "dnc_lit", *map(str, args)], capture_output=True, text=True, env=ENV,
                       cwd=cwd, timeout=300)
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
    code, out, err = dnc_lit("train", "copy", "--steps", 20, *SMALL, "--out", d / "small.npz", "--log", d / "small.jsonl")
    assert code == 0, err
    return d


@pytest.mark.parametrize("args", [[], ["train"], ["evaluate"], ["show"]])
def test_help(args):
    code, out, err = dnc_lit(*args, "--help")
    assert code == 0 and err == "" and out.startswith("usage: dnc-lit")
    for word in {(): ["train", "evaluate", "show"], ("train",): ["--steps", "--out", "--resume", "--seed", "--log",
                 "--checkpoint-every", "--hidden-size", "--dtype", "--optimiser", "--curriculum", "--max-repeats"],
                 ("evaluate",): ["--lengths", "--num-sequences", "--seed"], ("show",): ["--out", "--length"]}[tuple(args)]:
        assert word in out, word


def test_version():
    from dnc_lit import __version__
    code, out, _ = dnc_lit("--version")
    assert code == 0 and out.strip() == f"dnc-lit {__version__}"


def test_train_writes_a_checkpoint_with_its_command_and_a_log(small):
    ck = load_checkpoint(small / "small.npz")
    m = ck.metadata
    assert m["task"] == "copy" and m["step"] == 20 and m["seed"] == 0
    assert m["command"].startswith("dnc-lit train copy --steps 20 --max-length 2 --hidden-size 16")
    assert m["task_args"] == dict(num_bits=4, batch_size=16, min_length=1, max_length=2)
    assert m["optimiser"] == {"name": "adam", "hyper": {"lr": 0.003}}
    assert ck.config["hidden_size"] == 16 and ck.config["input_size"] == 6 and ck.config["output_size"] == 5
    assert int(ck.opt_state["step"]) == 20
    lines = [json.loads(l) for l in (small / "small.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines] == [5, 10, 15, 20] and lines == m["history"]


def test_resume_continues_like_an_uninterrupted_run(small, tmp_path):
    code, _, err = dnc_lit("train", "copy", "--steps", 13, *SMALL, "--out", tmp_path / "a.npz")
    assert code == 0, err
    code, out, err = dnc_lit("train", "copy", "--steps", 20, "--resume", tmp_path / "a.npz", "--progress", "none")
    assert code == 0, err
    a, b = load_checkpoint(tmp_path / "a.npz"), load_checkpoint(small / "small.npz")
    assert a.metadata["step"] == 20
    for k in b.params: assert onp.array_equal(a.params[k], b.params[k]), k
    for k in b.params: assert onp.array_equal(a.opt_state["v"][k], b.opt_state["v"][k]), k
    assert a.metadata["resumed"][0]["step"] == 13 and "--resume" in a.metadata["resumed"][0]["command"]
    # nothing left to do: says so and succeeds
    code, out, err = dnc_lit("train", "copy", "--steps", 20, "--resume", tmp_path / "a.npz")
    assert code == 0 and "nothing to train" in out


def test_train_with_curriculum_and_repeat_copy(tmp_path):
    code, out, err = dnc_lit("train", "repeat-copy", "--steps", 10, *SMALL, "--max-repeats", 2, "--curriculum", 100,
                             "--curriculum-limit", 3, "--out", tmp_path / "rc.npz")
    assert code == 0, err
    m = load_checkpoint(tmp_path / "rc.npz").metadata
    assert m["task"] == "repeat-copy" and m["task_args"]["max_length"] == 3 and m["task_args"]["max_repeats"] == 2
    assert m["curriculum"]["threshold"] == 100 and m["curriculum"]["limit"] == 3


def test_evaluate_prints_trained_lengths_and_beyond(small):
    code, out, err = dnc_lit("evaluate", small / "small.npz", "--num-sequences", 40)
    assert code == 0, err
    rows = [l.split()[0] for l in out.splitlines()[2:]]
    assert rows == ["as", "1", "2", "3", "4"]                                # as trained, 1-2, then 3 and 4 beyond
    assert "(longer than trained)" in out.splitlines()[-1]
    code2, out2, _ = dnc_lit("evaluate", small / "small.npz", "--num-sequences", 40)
    assert out2 == out                                                        # seeded
    code, out, err = dnc_lit("evaluate", small / "small.npz", "--num-sequences", 30, "--lengths", "2,5", "--json")
    res = json.loads(out)
    assert sorted(res) == ["2", "5", "as trained"] and res["5"]["sequences"] == 30
    assert 0 <= res["2"]["perfect"] <= 1 and res["5"]["mean_bit_errors"] > 0


def test_show_writes_a_png(small, tmp_path):
    code, out, err = dnc_lit("show", small / "small.npz", "--out", tmp_path / "m.png", "--length", 3)
    assert code == 0, err
    data = (tmp_path / "m.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert out.startswith("wrote") and "length 3" in out


def test_float32_trains_resumes_evaluates_and_shows(tmp_path):
    "--dtype float32: float32 parameters and optimiser state, a resumable run, and evaluate and show on it."
    code, _, err = dnc_lit("train", "copy", "--steps", 6, *SMALL, "--dtype", "float32", "--out", tmp_path / "f.npz")
    assert code == 0, err
    ck = load_checkpoint(tmp_path / "f.npz")
    assert ck.config["dtype"] == "float32" and all(v.dtype == onp.float32 for v in ck.params.values())
    assert all(v.dtype == onp.float32 for v in ck.opt_state["m"].values())
    code, _, err = dnc_lit("train", "copy", "--steps", 10, "--resume", tmp_path / "f.npz", "--progress", "none")
    assert code == 0, err
    ck = load_checkpoint(tmp_path / "f.npz")
    assert ck.metadata["step"] == 10 and all(v.dtype == onp.float32 for v in ck.params.values())
    code, out, err = dnc_lit("evaluate", tmp_path / "f.npz", "--num-sequences", 20, "--lengths", "2", "--json")
    assert code == 0 and json.loads(out)["2"]["sequences"] == 20, err
    code, out, err = dnc_lit("show", tmp_path / "f.npz", "--out", tmp_path / "f.png")
    assert code == 0 and (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG", err
    assert_one_line_error(*dnc_lit("train", "copy", "--steps", 10, "--resume", tmp_path / "f.npz", "--dtype", "float64",
                                   "--out", tmp_path / "g.npz"), "--dtype float64 differs from the checkpoint's float32")


def test_broken_checkpoints_give_one_line(small, tmp_path):
    (tmp_path / "truncated.npz").write_bytes((small / "small.npz").read_bytes()[:1000])
    (tmp_path / "text.npz").write_text("hello")
    onp.savez(tmp_path / "foreign.npz", weights=onp.zeros(3))
    save_checkpoint(tmp_path / "bare.npz", {"w": onp.zeros(2)})               # dnc_lit, but not a training run
    cases = [("missing.npz", "no such checkpoint"), ("truncated.npz", "truncated or corrupt"),
             ("text.npz", "not a readable"), ("foreign.npz", "not a dnc_lit checkpoint"), ("bare.npz", "not of a training run")]
    for name, words in cases:
        for cmd in (["evaluate", tmp_path / name], ["show", tmp_path / name, "--out", tmp_path / "x.png"],
                    ["train", "copy", "--resume", tmp_path / name, "--steps", 5]):
            assert_one_line_error(*dnc_lit(*cmd), words)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args,words", [
    (["train", "copy", "--steps", "0"], "--steps"),
    (["train", "copy", "--lr", "-1"], "--lr"),
    (["train", "sort"], "unknown task 'sort'"),
    (["train", "copy", "--steps", "5", "--max-repeats", "3"], "repeat-copy"),
    (["train", "copy", "--steps", "5", "--min-length", "4", "--max-length", "2"], "--max-length 2 is below"),
    (["train", "copy", "--steps", "5", "--curriculum", "0.1"], "--curriculum-limit"),
    (["train", "copy", "--controller", "gru"], "--controller"),
    (["evaluate", "x.npz", "--lengths", "3-1"], "--lengths"),
    (["show", "x.npz"], "--out"),
    (["train", "copy", "--dtype", "float32", "--controller", "feedforward"], "dtype"),
    (["train", "copy", "--dtype", "float16"], "--dtype"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
])
def test_bad_options_give_one_line(args, words, tmp_path):
    assert_one_line_error(*dnc_lit(*args, cwd=tmp_path), words)


def test_resume_refuses_changed_settings(small, tmp_path):
    assert_one_line_error(*dnc_lit("train", "copy", "--steps", 30, "--resume", small / "small.npz", "--hidden-size", 32,
                                   "--out", tmp_path / "x.npz"), "--hidden-size 32 differs from the checkpoint's 16")
    assert_one_line_error(*dnc_lit("train", "copy", "--steps", 30, "--resume", small / "small.npz", "--dtype", "float32",
                                   "--out", tmp_path / "x.npz"), "--dtype float32 differs from the checkpoint's float64")
    assert_one_line_error(*dnc_lit("train", "copy", "--steps", 30, "--resume", small / "small.npz", "--seed", 3,
                                   "--out", tmp_path / "x.npz"), "--seed 3 differs from the checkpoint's 0")
    assert_one_line_error(*dnc_lit("train", "copy", "--steps", 30, "--resume", small / "small.npz", "--batch-size", 8,
                                   "--out", tmp_path / "x.npz"), "--batch-size 8 differs from the checkpoint's 16")
    assert_one_line_error(*dnc_lit("train", "repeat-copy", "--steps", 30, "--resume", small / "small.npz",
                                   "--out", tmp_path / "x.npz"), "is a run of copy")
    assert_one_line_error(*dnc_lit("show", small / "small.npz", "--out", tmp_path / "x.jpg"), ".png")
    assert_one_line_error(*dnc_lit("train", "copy", "--steps", 5, *SMALL, "--out", "/proc/dnc_lit_test/x.npz"), "/proc/dnc_lit_test")


def test_ctrl_c_saves_a_checkpoint_and_resumes(tmp_path):
    out, log = tmp_path / "run.npz", tmp_path / "run.jsonl"
    p = subprocess.Popen([sys.executable, "-m", "dnc_lit", "train", "copy", "--steps", "100000", *SMALL,
                          "--checkpoint-every", "1000", "--out", str(out), "--log", str(log)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= 1):
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 130, (p.returncode, stderr)
    assert "Traceback" not in stderr and "interrupted: checkpoint of step" in stderr
    step = load_checkpoint(out).metadata["step"]
    assert step >= 5
    code, _, err = dnc_lit("train", "copy", "--steps", step + 3, "--resume", out, "--progress", "none")
    assert code == 0, err
    assert load_checkpoint(out).metadata["step"] == step + 3
