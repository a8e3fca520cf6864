"""`dnc-lit train TASK --workers N [--sync] [--address ADDR]`: the command line's way
into dnc_lit.parallel: a run of workers, its log and checkpoint, resuming it, Ctrl-C
(SIGINT to the whole process group, as a terminal sends it) with nothing left behind,
joining a running cluster and leaving it running, one-line errors (no Dask; --sync or
--address without --workers), --fetch-every and --push-every kept by a resumed run,
and the graph tasks and bAbI with workers. New clusters are started only where that is
what is tested; the rest join one cluster of the module (`--address`). Every cluster
listens on 127.0.0.1 only."""
import json, os, signal, subprocess, sys, time
import pytest

from dnc_lit import cli
from dnc_lit.checkpoint import load_checkpoint

SMALL = ["--max-length", "2", "--hidden-size", "16", "--memory-size", "6",
         "--word-size", "4", "--num-reads", "1", "--log-every", "5",
         "--progress", "none"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
ENV.pop("DNC_LIT_DEBUG", None)
try: import distributed, psutil                                      # noqa: F401
except ImportError: distributed = None


needs_dask = pytest.mark.skipif(distributed is None, reason="needs Dask (cluster)")


@pytest.fixture(scope="module")
def address():
    "The scheduler address of one local cluster of 2 workers for the module's tests."
    if distributed is None: pytest.skip("needs Dask (cluster)")
    from dnc_lit.parallel import local_cluster
    with local_cluster(2) as client:
        yield client.scheduler.address


def dnc_lit(*args, env=ENV, timeout=300):
    r = subprocess.run([sys.executable, "-m", "dnc_lit", *map(str, args)],
                       capture_output=True, text=True, env=env, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def settings(*argv):
    """What cmd_train gets from `dnc-lit train copy ARGV`: (config, task_args, opt, lr,
    clip, seed, steps)."""
    a = cli.make_parser().parse_args(["train", "copy", *argv])
    a.task = cli.task_name(a.task)
    return cli.run_settings(a)


# ---------------------------------------------------------------- as cmd_train calls it

def test_the_parser_has_the_worker_options():
    a = cli.make_parser().parse_args(["train", "copy", "--workers", "2", "--sync",
                                      "--address", "tcp://127.0.0.1:1",
                                      "--fetch-every", "3", "--push-every", "4"])
    assert (a.workers, a.sync, a.address) == (2, True, "tcp://127.0.0.1:1")
    assert (a.fetch_every, a.push_every) == (3, 4)
    a = cli.make_parser().parse_args(["train", "copy"])
    assert (a.workers, a.sync, a.address) == (None, False, None)
    assert (a.fetch_every, a.push_every) == (None, None)


@needs_dask
def test_train_parallel_called_as_the_command_line_calls_it(tmp_path, address):
    from dnc_lit.parallel import train_parallel
    from dnc_lit.train import evaluate
    from dnc_lit.model import DNC
    config, task_args, opt, lr, clip, seed, steps = settings("--steps", "10", *SMALL)
    out = tmp_path / "c.npz"
    meta = {"task": "copy", "command": "dnc-lit train copy --steps 10 --workers 2"}
    run = train_parallel(config, cli.TASKS["copy"], steps, task_args, workers=2,
                         sync=False, address=address, optimiser=opt, lr=lr, seed=seed,
                         max_grad_norm=clip, curriculum=None, checkpoint=out,
                         metadata=meta, log_every=5, checkpoint_every=500,
                         progress=False, log=None)
    assert run.step == 10
    ck, cfg = cli._load_run(out)                        # what `dnc-lit evaluate` reads
    assert ck.metadata["task"] == "copy" and ck.metadata["step"] == 10
    assert ck.metadata["optimiser"] == {"name": "adam", "hyper": {"lr": 0.003}}
    task = cli.TASKS[ck.metadata["task"]]
    errs = evaluate(DNC.from_config(cfg), ck.params, task, ck.metadata["task_args"], 20,
                    seed=1)
    assert errs.shape == (20,)


def test_workers_without_dask_fails_with_one_line_naming_the_extra(monkeypatch):
    """The error the command line turns into one line: a ValueError naming the extra,
    raised before any work (here with Dask made unimportable)."""
    from dnc_lit.model import DNCConfig
    from dnc_lit.tasks import copy_task
    from dnc_lit.parallel import train_parallel
    monkeypatch.setitem(sys.modules, "distributed", None)               # import fails
    config = DNCConfig.tiny(input_size=6, output_size=5)
    with pytest.raises(ValueError) as e:
        train_parallel(config, copy_task, 5, dict(batch_size=4), workers=2,
                       progress=False)
    assert str(e.value) == ("training with workers needs Dask distributed: "
                            "pip install 'dnc_lit[cluster]'")


# ---------------------------------------------------------------- the command line

def test_help_shows_the_worker_options(capsys):
    with pytest.raises(SystemExit) as e: cli.main(["train", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "asynchronous training" in out
    for word in ("--workers", "--sync", "--address", "--fetch-every", "--push-every"):
        assert word in out, word


@needs_dask
def test_workers_train_resume_and_evaluate(tmp_path, address, capsys):
    """A new local cluster for the run; the resumed run joins the module's cluster,
    which it leaves running."""
    out, log = tmp_path / "c.npz", tmp_path / "log.jsonl"
    code, stdout, err = dnc_lit("train", "copy", "--steps", 10, "--workers", 2,
                                "--sync", *SMALL, "--out", out, "--log", log)
    assert code == 0, err
    ck = load_checkpoint(out)
    assert ck.metadata["step"] == 10 and ck.metadata["task"] == "copy"
    assert ck.metadata["parallel"]["workers"] == 2
    assert ck.metadata["parallel"]["sync"] is True
    assert "--workers 2 --sync" in ck.metadata["command"]
    records = [json.loads(l) for l in log.read_text().splitlines()]
    assert [r["step"] for r in records] == [5, 10]
    assert all("sequences_per_second" in r and r["staleness"] == 0 for r in records)
    assert "staleness 0.00" in stdout and "sequences/s" in stdout, stdout
    code, stdout, err = dnc_lit("train", "copy", "--resume", out, "--steps", 15,
                                "--workers", 2, "--sync", "--address", address,
                                "--progress", "lines")
    assert code == 0, err
    assert load_checkpoint(out).metadata["step"] == 15
    lines = err.strip().splitlines()                   # one line per interval: 15
    assert len(lines) == 1 and "step 15/15" in lines[0], err
    assert "sequences per second" in lines[0] and "staleness 0" in lines[0], err
    with distributed.Client(address, timeout="10s") as client:            # left running
        assert len(client.scheduler_info()["workers"]) == 2
    code = cli.main(["evaluate", str(out), "--lengths", "2", "--num-sequences", "20",
                     "--json"])
    stdout = capsys.readouterr().out
    assert code == 0
    assert json.loads(stdout)["2"]["sequences"] == 20


def test_sync_and_address_need_workers(tmp_path, capsys):
    for extra in (["--sync"], ["--address", "tcp://127.0.0.1:1"],
                  ["--fetch-every", "2"], ["--push-every", "2"]):
        code = cli.main(["train", "copy", "--steps", "2", *SMALL, *extra,
                         "--out", str(tmp_path / "c.npz")])
        err = capsys.readouterr().err
        assert code == 1 and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1 and "need" in err, err
        assert "--workers N" in err and extra[0] in err, err
    assert not (tmp_path / "c.npz").exists()


def test_workers_without_dask_is_one_line_from_the_command_line(tmp_path):
    blocker = tmp_path / "distributed.py"               # shadows Dask: its import fails
    blocker.write_text("raise ImportError('no Dask here')\n")
    path = os.pathsep.join([str(tmp_path), ENV.get("PYTHONPATH", "")])
    env = {**ENV, "PYTHONPATH": path}
    code, out, err = dnc_lit("train", "copy", "--steps", 2, "--workers", 2, *SMALL,
                             "--out", tmp_path / "c.npz", env=env)
    assert code == 1 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "pip install 'dnc_lit[cluster]'" in lines[0], err
    assert not (tmp_path / "c.npz").exists()


@needs_dask
def test_ctrl_c_with_workers_saves_and_leaves_no_process(tmp_path, address, capsys):
    """Ctrl-C as a terminal sends it (SIGINT to the whole process group): exit 130, a
    checkpoint that resumes, and no process of the run left."""
    out, log = tmp_path / "c.npz", tmp_path / "log.jsonl"
    argv = ["train", "copy", "--steps", "100000", "--workers", "2", *SMALL,
            "--out", str(out), "--log", str(log)]
    p = subprocess.Popen([sys.executable, "-m", "dnc_lit", *argv], env=ENV,
                         start_new_session=True, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (log.exists() and log.read_text().strip()) and time.time() < deadline:
            assert p.poll() is None, p.communicate()
            time.sleep(0.05)
        os.killpg(p.pid, signal.SIGINT)
        stdout, stderr = p.communicate(timeout=60)
    finally:
        if p.poll() is None: os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130, (p.returncode, stderr)
    assert "interrupted" in stderr and "--resume" in stderr, stderr
    step = load_checkpoint(out).metadata["step"]
    assert 5 <= step < 100000
    deadline = time.time() + 20
    while _session(p.pid) and time.time() < deadline: time.sleep(0.2)
    assert not _session(p.pid), "processes of the interrupted run are still alive"
    code = cli.main(["train", "copy", "--resume", str(out), "--steps", str(step + 2),
                     "--workers", "2", "--address", address, "--progress", "none"])
    assert code == 0, capsys.readouterr().err
    assert load_checkpoint(out).metadata["step"] == step + 2


def _session(sid):
    out = []
    for q in psutil.process_iter():
        try:
            if os.getsid(q.pid) == sid: out.append(q.pid)
        except OSError: pass
    return out


@needs_dask
def test_graph_and_babi_train_and_resume_with_workers(tmp_path, address, capsys):
    """The families of the graph tasks and bAbI take --workers: a traversal run with its
    curriculum (evaluated by the server) and a bAbI run, each on the module's cluster,
    then resumed (traversal with one process)."""
    from test_babi_cli import write_archive          # a small archive
    tiny = ["--hidden-size", "8", "--memory-size", "6", "--word-size", "4",
            "--num-reads", "1", "--log-every", "2", "--progress", "none",
            "--workers", "2", "--address", address]
    g = tmp_path / "g.npz"
    assert cli.main(["train", "traversal", "--steps", "4", "--evaluate-every", "2",
                     "--eval-sequences", "4", "--batch-size", "2", *tiny,
                     "--out", str(g)]) == 0, capsys.readouterr().err
    meta = load_checkpoint(g).metadata
    assert meta["parallel"]["workers"] == 2 and meta["step"] == 4
    assert [e["step"] for e in meta["curriculum_state"]["evaluations"]] == [2, 4]
    assert cli.main(["train", "traversal", "--resume", str(g), "--steps", "6",
                     "--progress", "none"]) == 0, capsys.readouterr().err
    assert load_checkpoint(g).metadata["step"] == 6
    data = write_archive(tmp_path / "data" / "tasks_1-20_v1-2.tar.gz")
    b = tmp_path / "b.npz"
    assert cli.main(["train", "babi", "--data", str(data), "--steps", "4", *tiny,
                     "--out", str(b)]) == 0, capsys.readouterr().err
    meta = load_checkpoint(b).metadata
    assert meta["parallel"]["workers"] == 2 and meta["measure"] == "question_errors"
    assert cli.main(["train", "babi", "--resume", str(b), "--steps", "6", "--workers",
                     "2", "--address", address, "--progress", "none"]) == 0
    assert load_checkpoint(b).metadata["step"] == 6


@needs_dask
def test_fetch_and_push_every_are_kept_by_a_resumed_run(tmp_path, address, capsys):
    """--fetch-every and --push-every reach train_parallel and the checkpoint; a resume
    that does not name them keeps them, one that does changes them."""
    out = tmp_path / "c.npz"
    base = ["train", "copy", *SMALL, "--workers", "2", "--address", address]
    assert cli.main([*base, "--steps", "4", "--fetch-every", "2", "--push-every", "2",
                     "--out", str(out)]) == 0, capsys.readouterr().err
    par = load_checkpoint(out).metadata["parallel"]
    assert (par["fetch_every"], par["push_every"]) == (2, 2)
    assert cli.main(["train", "copy", "--resume", str(out), "--steps", "6",
                     "--workers", "2", "--address", address, "--progress", "none"]) == 0
    ck = load_checkpoint(out)
    assert ck.metadata["step"] == 6
    assert (ck.metadata["parallel"]["fetch_every"],
            ck.metadata["parallel"]["push_every"]) == (2, 2)
    assert cli.main(["train", "copy", "--resume", str(out), "--steps", "7",
                     "--workers", "2", "--address", address, "--push-every", "3",
                     "--progress", "none"]) == 0
    assert load_checkpoint(out).metadata["parallel"]["push_every"] == 3
    capsys.readouterr()
