"""Asynchronous training (nbs/43_async.ipynb, dnc_lit.parallel): the parameter server's
staleness bookkeeping, the staleness simulator and the delayed-gradient trainer (equal
to `train` without delay), and a local Dask cluster of two workers: asynchronous and
synchronous runs, checkpoints, resume in synchronous mode bit for bit, a curriculum kept
by the server (one synchronous worker is `train`, lesson after lesson), the graph
tasks' objective and curriculum and bAbI's objective with workers, worker errors,
joining a cluster by address, the real Ctrl-C (SIGINT to the whole process group, as a
terminal sends it), and no process left behind. Downpour's n_fetch and n_push
(`fetch_every`, `push_every`): the flat layout and the plan of calls, a worker's k
batches pushed as one mean gradient (in the worker, and through the cluster against an
explicit loop and the delayed-gradient trainer), the default unchanged, and resume.

Every cluster here listens on 127.0.0.1 only. The tests that need Dask skip without
it."""
import json, math, os, signal, subprocess, sys, time
import numpy as onp
import pytest
from hypothesis import given, strategies as st

from dnc_lit.model import DNCConfig, DNC, init_params
from dnc_lit.tasks import copy_task
from dnc_lit.train import train, loss_grad_logits, rng_state, LengthCurriculum
from dnc_lit.optim import get_optimiser
from dnc_lit.checkpoint import load_checkpoint
from dnc_lit import parallel
from dnc_lit.parallel import (ParameterServer, MissingExtra, apply_gradient,
                              mean_gradient, simulate_staleness, train_delayed,
                              train_parallel, throughput, bottleneck_workers,
                              worker_rng, Worker, _new_meter, _add, _Layout,
                              _exchange_plan)

CONFIG = DNCConfig.tiny(input_size=6, output_size=5, hidden_size=32)
ARGS = dict(batch_size=8, num_bits=4, min_length=1, max_length=2)
KW = dict(optimiser="adam", lr=1e-2, progress=False)
HAVE_DASK = True
try: import distributed, psutil                                           # noqa: F401
except ImportError: HAVE_DASK = False
needs_dask = pytest.mark.skipif(not HAVE_DASK, reason="needs the cluster extra (Dask)")


def same_params(a, b):
    return all(onp.array_equal(a[k], b[k]) for k in a) and sorted(a) == sorted(b)


def strip(history):
    "Interval records without their times (which differ between runs)."
    timed = ("seconds", "_ms", "per_second")
    return [{k: v for k, v in r.items() if not k.endswith(timed)} for r in history]


# ---------------------------------------------------------------- no cluster

def test_missing_extra_is_one_line_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)               # import fails
    with pytest.raises(MissingExtra) as e:
        train_parallel(CONFIG, copy_task, 2, ARGS, workers=2, progress=False)
    assert "pip install 'dnc_lit[cluster]'" in str(e.value) and "\n" not in str(e.value)
    assert isinstance(e.value, ImportError) and isinstance(e.value, ValueError)


def test_the_module_imports_without_dask():
    code = ("import sys; sys.modules['distributed'] = None\n"
            "import dnc_lit.parallel as p; print(p.train_parallel.__name__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "train_parallel", r.stderr


@pytest.mark.parametrize("kwargs, message", [
    (dict(workers=0), "workers must be an integer >= 1"),
    (dict(workers=True), "workers must be an integer >= 1"),
    (dict(workers=2.0), "workers must be an integer >= 1"),
    (dict(sync="yes"), "sync must be True or False"),
    (dict(address=8786), "address must be a string"),
    (dict(address="tcp://127.0.0.1:1", client=object()), "not both"),
    (dict(steps=-1), "steps must be an integer >= 0"),
    (dict(fetch_every=0), "fetch_every must be an integer >= 1"),
    (dict(push_every=True), "push_every must be an integer >= 1"),
    (dict(push_every=1.5), "push_every must be an integer >= 1"),
    (dict(sync=True, fetch_every=3, push_every=2),
     "fetch_every=3 must be <= push_every=2"),
])
def test_bad_arguments_are_named(kwargs, message):
    kw = {"steps": 2, **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        train_parallel(CONFIG, copy_task, kw.pop("steps"), ARGS, progress=False, **kw)


def test_apply_gradient_skips_what_is_not_finite():
    opt = get_optimiser("rmsprop", lr=1e-3)
    p = {"w": onp.ones(3)}
    s = opt.init(p)
    nan = {"w": onp.array([1.0, onp.nan, 0.0])}
    for grads, loss in ((nan, 1.0), ({"w": onp.ones(3)}, math.inf)):
        p2, s2, _, skipped = apply_gradient(p, s, grads, loss, opt)
        assert skipped == 1 and p2 is p and s2 is s
    p2, s2, norm, skipped = apply_gradient(p, s, {"w": onp.full(3, 100.0)}, 1.0, opt,
                                           10.0)
    assert skipped == 0 and math.isclose(norm, 100 * math.sqrt(3))
    assert int(s2["step"]) == 1


@given(st.lists(st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=3), min_size=1,
                max_size=6))
def test_mean_gradient_is_the_mean_in_list_order(rows):
    gs = [{"w": onp.array(r)} for r in rows]
    expected = gs[0]["w"].copy()
    for g in gs[1:]: expected = expected + g["w"]
    assert onp.array_equal(mean_gradient(gs)["w"], expected / len(gs))
    assert gs[0]["w"] is not mean_gradient(gs)["w"]                      # no aliasing


@given(st.integers(1, 6), st.lists(st.integers(0, 5), min_size=1, max_size=60))
def test_staleness_is_the_number_of_pushes_in_between(n, order):
    """Workers push in the random `order` (indices mod n), each pulling again right
    after its push: the staleness the server reports is the number of other pushes in
    between, and the meter's histogram counts them all."""
    opt = get_optimiser("rmsprop", lr=1e-3)
    params = {"w": onp.zeros(2)}
    server = ParameterServer(params, opt.init(params), opt)
    pulled = [server.pull()[1] for _ in range(n)]                  # every worker pulls
    pushes, meter = [], _new_meter()
    for w in (i % n for i in order):
        _, _, tau = server.push({"w": onp.ones(2)}, 1.0, pulled[w])
        assert tau == sum(1 for x in pushes[pulled[w]:] if x != w)  # others' pushes
        pushes.append(w)
        pulled[w] = server.pull()[1]
        meter = _add(meter, dict(loss=1.0, bit_errors=0.0, grad_norm=1.0, skipped=0,
                                 staleness=tau, sequences=8, server=0.0, worker=0.0,
                                 transfer=0.0))
    assert server.step == len(order) == meter["count"] == sum(meter["counts"])
    assert meter["staleness"] == sum(i * c for i, c in enumerate(meter["counts"]))
    assert json.loads(json.dumps(meter)) == meter


@given(st.integers(1, 12), st.integers(1, 300), st.floats(0.0, 1.0),
       st.integers(0, 2 ** 32))
def test_simulated_staleness_is_consistent(n, updates, spread, seed):
    tau = simulate_staleness(n, updates, onp.random.default_rng(seed), spread)
    assert tau.shape == (updates,) and tau.dtype.kind == "i"
    assert (tau >= 0).all() and (tau <= onp.arange(updates)).all()   # not before start
    assert tau[0] == 0                                              # the first is fresh
    if n == 1: assert (tau == 0).all()


def test_simulated_staleness_averages_n_minus_1():
    for n in (2, 4, 16):
        tau = simulate_staleness(n, 20000, onp.random.default_rng(n), spread=0.3)
        assert abs(tau.mean() - (n - 1)) < 0.02 * n, (n, tau.mean())
        assert tau.min() < n - 1 < tau.max()                      # the spread shuffles
    assert (simulate_staleness(4, 12, onp.random.default_rng(0), 0.0)[3:] == 3).all()


def test_delayed_training_without_delay_is_train():
    kw = dict(**KW, seed=3, log_every=5)
    plain = train(CONFIG, copy_task, 15, ARGS, **kw)
    sim = train_delayed(CONFIG, copy_task, 15, ARGS, staleness=onp.zeros(15, int), **kw)
    assert same_params(sim.params, plain.params)
    assert [r["loss"] for r in sim.history] == [r["loss"] for r in plain.history]
    assert rng_state(sim.rng) == rng_state(plain.rng)


def test_delayed_training_uses_the_old_parameters():
    "An explicit loop with gradients at θ_{k-τ_k}, against train_delayed."
    tau = onp.array([0, 1, 2, 1, 0, 3, 1, 2])
    opt = get_optimiser("adam", lr=1e-2)
    model, rng = DNC.from_config(CONFIG), worker_rng(5, 0)
    params = init_params(CONFIG, 5)
    state, past = opt.init(params), [params]
    for k, t in enumerate(tau):
        batch = copy_task(rng, **ARGS)
        loss, grads, _ = loss_grad_logits(model.apply, past[k - min(t, k)], batch)
        params, state, _, _ = apply_gradient(params, state, grads, loss, opt)
        past.append(params)
    sim = train_delayed(CONFIG, copy_task, len(tau), ARGS, staleness=tau, seed=5,
                        log_every=4, **KW)
    assert same_params(sim.params, params)
    assert [r["staleness"] for r in sim.history] == [1.0, 1.5]


def test_throughput_model():
    assert math.isclose(float(throughput(1, 0.01, 0.0, 0.001, 10)), 10 / 0.011)
    rates = throughput(onp.arange(1, 100), 0.02, 0.002, 0.001, 16)
    assert (onp.diff(rates) >= 0).all() and math.isclose(rates[-1], 16000.0)
    assert math.isclose(bottleneck_workers(0.02, 0.002, 0.001), 23.0)
    n = bottleneck_workers(0.02, 0.002, 0.001)
    assert math.isclose(float(throughput(n, 0.02, 0.002, 0.001, 1)), 1000.0)


@given(st.integers(1, 64), st.floats(1e-3, 0.1), st.floats(0.0, 0.01),
       st.floats(1e-5, 1e-2), st.integers(1, 16))
def test_throughput_with_k_batches_per_exchange(n, t_w, t_x, t_s, k):
    """k batches per exchange: the rate of k-batch cycles, never below k = 1 (the
    exchange is paid once per k batches), the server's cap k times higher, and N*
    where the two limits meet."""
    one, many = (float(throughput(n, t_w, t_x, t_s, 16, k=j)) for j in (1, k))
    assert math.isclose(many, 16 * k * min(n / (k * t_w + t_x + t_s), 1 / t_s))
    assert many >= one * (1 - 1e-12)
    n_star = bottleneck_workers(t_w, t_x, t_s, k=k)
    assert math.isclose(n_star, (k * t_w + t_x + t_s) / t_s)
    assert math.isclose(float(throughput(n_star, t_w, t_x, t_s, 1, k=k)), k / t_s)


@given(st.lists(st.lists(st.integers(1, 4), min_size=0, max_size=3), min_size=1,
                max_size=5), st.sampled_from(["float64", "float32"]),
       st.integers(0, 2 ** 32))
def test_layout_packs_and_unpacks_any_dict(shapes, dtype, seed):
    rng = onp.random.default_rng(seed)
    d = {f"p{i}": rng.normal(size=tuple(s)).astype(dtype) for i, s in enumerate(shapes)}
    lay = _Layout(d)
    v = lay.flat(d)
    assert v.shape == (sum(a.size for a in d.values()),) and v.dtype == dtype
    back = lay.unflat(v)
    assert list(back) == list(d)
    for k in d:
        assert back[k].dtype == d[k].dtype and onp.array_equal(back[k], d[k])
        assert back[k].size == 0 or onp.shares_memory(back[k], v)       # views
    assert onp.array_equal(lay.add(lay.flat(d), d), 2 * v)


@given(st.integers(1, 12), st.integers(1, 12))
def test_the_plan_of_calls_fetches_and_pushes_where_the_counts_fall(f, p):
    """Batch s is computed after a fetch iff s is a multiple of fetch_every and pushed
    after it iff s + 1 is a multiple of push_every; calls never span a fetch or a
    push."""
    reps = 2 * math.lcm(f, p)
    plan = _exchange_plan(f, p, reps)
    starts = onp.cumsum([0] + [n for n, _, _ in plan])[:-1]
    assert sum(n for n, _, _ in plan) == reps
    assert all(n == math.gcd(f, p) for n, _, _ in plan)
    fetched = {int(s) for s, (_, fetch, _) in zip(starts, plan) if fetch}
    pushed = {int(s) + n - 1 for s, (n, _, push) in zip(starts, plan) if push}
    assert fetched == set(range(0, reps, f))
    assert pushed == {s for s in range(reps) if (s + 1) % p == 0}


def test_a_workers_k_batches_are_one_mean_gradient():
    """Worker.steps in this process: 3 batches, fetched once, pushed once, give the mean
    (in order) of the 3 gradients that `gradient` gives on the same stream at the same
    θ, with the mean loss and the version of the fetch; nothing is pushed before."""
    params = init_params(CONFIG, 2)
    lay = _Layout(params)
    ws = [Worker(CONFIG, copy_task, rng_state(worker_rng(2, 1)), layout=lay)
          for _ in range(2)]
    outs = [ws[0].gradient(params, 5, ARGS) for _ in range(3)]
    nothing, call = ws[1].steps(lay.flat(params), 5, 2, False, ARGS)  # fetch, 2 batches
    assert nothing is None and list(call) == ["call_seconds"]
    g, rec = ws[1].steps(None, None, 1, True, ARGS)                 # 1 more, and push
    mean = mean_gradient([o["grads"] for o in outs])
    assert onp.array_equal(g, lay.flat(mean))
    assert rec["batches"] == 3 and rec["version"] == 5
    assert rec["loss"] == (outs[0]["loss"] + outs[1]["loss"] + outs[2]["loss"]) / 3
    assert rec["sequences"] == 3 * ARGS["batch_size"]
    assert rec["rng"] == rng_state(ws[0].rng)
    g2, rec2 = ws[1].steps(None, None, 1, True, ARGS)              # a new sum
    assert rec2["batches"] == 1 and rec2["version"] == 5
    assert onp.array_equal(g2, lay.flat(ws[0].gradient(params, 5, ARGS)["grads"]))


# ---------------------------------------------------------------- a local cluster

@pytest.fixture(scope="module")
def client():
    if not HAVE_DASK: pytest.skip("needs the cluster extra (Dask)")
    with parallel.local_cluster(2) as c:
        yield c


def _own_children():
    "This process's child processes, except multiprocessing's resource tracker."
    return {p.pid for p in psutil.Process().children(recursive=True)
            if "resource_tracker" not in " ".join(p.cmdline())}


@needs_dask
def test_the_cluster_listens_on_loopback_only(client):
    info = client.scheduler_info()
    assert info["address"].startswith("tcp://127.0.0.1:")
    assert len(info["workers"]) == 2
    assert all(a.startswith("tcp://127.0.0.1:") for a in info["workers"])
    procs = [psutil.Process()] + psutil.Process().children(recursive=True)
    listening = [c.laddr for p in procs for c in p.net_connections("tcp")
                 if c.status == "LISTEN"]
    assert listening and all(a.ip == "127.0.0.1" for a in listening), listening
    env = client.run(lambda: {k: os.environ.get(k) for k in parallel._BLAS_1})
    assert all(e == parallel._BLAS_1 for e in env.values()), env


@needs_dask
def test_async_two_workers_checkpoint_and_log(client, tmp_path):
    log, ckp = tmp_path / "log.jsonl", tmp_path / "c.npz"
    run = train_parallel(CONFIG, copy_task, 16, ARGS, workers=2, client=client, seed=0,
                         log_every=4, log=log, checkpoint=ckp, checkpoint_every=8, **KW)
    assert run.step == 16 and [r["step"] for r in run.history] == [4, 8, 12, 16]
    assert sum(sum(r["staleness_counts"]) for r in run.history) == 16
    assert all(r["workers"] == 2 and r["sync"] is False for r in run.history)
    assert all(r["sequences_per_second"] > 0 < r["worker_ms"] for r in run.history)
    assert [json.loads(l) for l in log.read_text().splitlines()] == run.history
    ck = load_checkpoint(ckp)
    assert ck.metadata["kind"] == "dnc_lit.train" and ck.metadata["step"] == 16
    assert int(ck.opt_state["step"]) == 16 and same_params(ck.params, run.params)
    par = ck.metadata["parallel"]
    assert par["workers"] == 2 and par["sync"] is False and len(par["rngs"]) == 2
    assert par["rngs"][0] == ck.metadata["rng"] and par["rngs"][0] != par["rngs"][1]
    # a checkpoint of workers resumes with one process (worker 0's stream)
    more = train(None, copy_task, 20, resume=ckp, log_every=4, progress=False)
    assert more.step == 20


@needs_dask
def test_sync_with_one_worker_is_train(client):
    kw = dict(**KW, seed=7, log_every=5)
    one = train_parallel(CONFIG, copy_task, 10, ARGS, workers=1, sync=True,
                         client=client, **kw)
    ref = train(CONFIG, copy_task, 10, ARGS, **kw)
    assert same_params(one.params, ref.params)
    assert strip(one.history) == [{**r, "workers": 1, "sync": True, "staleness": 0.0,
                                   "fetch_every": 1, "push_every": 1,
                                   "staleness_counts": [5]} for r in strip(ref.history)]


@needs_dask
def test_async_with_one_worker_is_train(client):
    "The default exchange (a fetch and a push every batch) with one worker: `train`."
    kw = dict(**KW, seed=8, log_every=4)
    one = train_parallel(CONFIG, copy_task, 8, ARGS, workers=1, client=client, **kw)
    ref = train(CONFIG, copy_task, 8, ARGS, **kw)
    assert same_params(one.params, ref.params)
    assert [r["loss"] for r in one.history] == [r["loss"] for r in ref.history]


def _explicit(k, updates, seed):
    """Updates of the mean gradient of k batches of worker 0's stream, all at the
    parameters of the update before, the mean loss with them: (params, losses)."""
    opt = get_optimiser("adam", lr=1e-2)
    model, rng = DNC.from_config(CONFIG), worker_rng(seed, 0)
    params = init_params(CONFIG, seed)
    state, losses = opt.init(params), []
    for _ in range(updates):
        outs = [loss_grad_logits(model.apply, params, copy_task(rng, **ARGS))
                for _ in range(k)]
        loss = outs[0][0]
        for o in outs[1:]: loss += o[0]
        grads = mean_gradient([g for _, g, _ in outs])
        params, state, _, _ = apply_gradient(params, state, grads, loss / k, opt)
        losses.append(loss / k)
    return params, losses


@needs_dask
@pytest.mark.parametrize("sync", [False, True])
def test_k_batches_pushed_together_are_one_update_of_their_mean(client, sync):
    """One worker, fetch_every = push_every = 3 (asynchronous), or push_every = 3
    (synchronous): every update is the mean gradient of 3 batches at the parameters of
    the update before, bit for bit; the records count 3 batches per update."""
    run = train_parallel(CONFIG, copy_task, 4, ARGS, workers=1, sync=sync,
                         client=client, seed=6, log_every=2, push_every=3,
                         fetch_every=None if sync else 3, **KW)
    params, losses = _explicit(3, 4, 6)
    assert same_params(run.params, params)
    assert [r["loss"] for r in run.history] == [(losses[0] + losses[1]) / 2,
                                                (losses[2] + losses[3]) / 2]
    assert all(r["staleness_counts"] == [2] for r in run.history)
    assert all((r["fetch_every"], r["push_every"]) == (3, 3) for r in run.history)
    assert int(run.opt_state["step"]) == 4


@needs_dask
def test_fetching_every_second_batch_is_the_delayed_trainer(client):
    """One worker with fetch_every = 2, push_every = 1 pushes every batch, but every
    second one is computed at the copy fetched the batch before: exactly train_delayed
    with staleness 0, 1, 0, 1, ..."""
    kw = dict(**KW, seed=9, log_every=3)
    run = train_parallel(CONFIG, copy_task, 6, ARGS, workers=1, client=client,
                         fetch_every=2, **kw)
    sim = train_delayed(CONFIG, copy_task, 6, ARGS, staleness=[0, 1] * 3, **kw)
    assert same_params(run.params, sim.params)
    assert [r["staleness_counts"] for r in run.history] == [[2, 1], [1, 2]]
    assert [r["loss"] for r in run.history] == [r["loss"] for r in sim.history]


@needs_dask
def test_two_workers_exchanging_every_few_batches(client, tmp_path):
    """Two asynchronous workers fetching every 2 and pushing every 3 batches: every
    update counts 3 batches, the checkpoint records both numbers, and a resumed run
    keeps them."""
    ckp = tmp_path / "k.npz"
    run = train_parallel(CONFIG, copy_task, 8, ARGS, workers=2, client=client, seed=1,
                         fetch_every=2, push_every=3, log_every=4, checkpoint=ckp,
                         **KW)
    assert sum(sum(r["staleness_counts"]) for r in run.history) == 8
    assert int(run.opt_state["step"]) == 8
    par = load_checkpoint(ckp).metadata["parallel"]
    assert (par["fetch_every"], par["push_every"]) == (2, 3)
    more = train_parallel(None, copy_task, 12, workers=2, client=client, resume=ckp,
                          log_every=4, **KW)
    assert (more.history[-1]["fetch_every"], more.history[-1]["push_every"]) == (2, 3)
    par = load_checkpoint(ckp).metadata["parallel"]
    assert (par["fetch_every"], par["push_every"]) == (2, 3)


class Alternate:
    """A curriculum object (start, sample, update, describe) that switches the longest
    length between 1 and 2 at every interval, and counts in its state the intervals and
    the batches it has been asked for (in the process that draws them)."""
    def start(self, task_args, seed): return {**task_args, "max_length": 1}, {"n": 0}
    def sample(self, sampler, rng, task_args, state): return sampler(rng, **task_args)
    def update(self, record, task_args, state, model, params, sampler):
        n = state["n"] + 1
        return {**task_args, "max_length": 1 + n % 2}, {"n": n}, {"lesson": n}
    def describe(self, state): return f"interval {state['n']}"
    def to_json(self): return {"type": "Alternate"}


@needs_dask
def test_sync_with_one_worker_is_train_with_a_curriculum_object(client):
    """The server owns the curriculum: it updates the lesson at the end of each interval
    and hands the new task arguments and state to the worker with θ. One synchronous
    worker then draws exactly `train`'s batches, lesson after lesson."""
    kw = dict(**KW, seed=4, log_every=3, curriculum=Alternate())
    one = train_parallel(CONFIG, copy_task, 12, ARGS, workers=1, sync=True,
                         client=client, **kw)
    ref = train(CONFIG, copy_task, 12, ARGS, **kw)
    assert same_params(one.params, ref.params)
    assert one.curriculum_state == ref.curriculum_state == {"n": 4}
    assert [r["task"]["max_length"] for r in one.history] == [1, 2, 1, 2]
    assert [r["loss"] for r in one.history] == [r["loss"] for r in ref.history]


@needs_dask
def test_a_graph_task_with_its_curriculum_resumes_bit_exact(client, tmp_path):
    """Traversal with its objective and the paper's curriculum (evaluated by the server
    every 4 updates), on 2 synchronous workers: stopped at step 7 and resumed, it ends
    where the uninterrupted run ends, curriculum state included."""
    from dnc_lit import graphs
    from dnc_lit.curriculum import Curriculum, CURRICULUM_TASKS
    cfg = DNCConfig(input_size=graphs.INPUT_SIZE, output_size=graphs.OUTPUT_SIZE,
                    hidden_size=16, memory_size=8, word_size=4, num_reads=1)
    spec = CURRICULUM_TASKS["traversal"]
    c = Curriculum("traversal", evaluate_every=4, eval_sequences=6)
    kw = dict(KW, lr=3e-3, seed=1, log_every=2, curriculum=c, objective=spec.objective,
              workers=2, sync=True, client=client)
    whole = train_parallel(cfg, spec.sampler, 12, {"batch_size": 3}, **kw)
    train_parallel(cfg, spec.sampler, 7, {"batch_size": 3},
                   checkpoint=tmp_path / "g.npz", **kw)
    rest = train_parallel(None, spec.sampler, 12, resume=tmp_path / "g.npz", **kw)
    assert same_params(rest.params, whole.params)
    assert rest.curriculum_state == whole.curriculum_state
    assert [e["step"] for e in whole.curriculum_state["evaluations"]] == [4, 8, 12]
    assert strip(rest.history) == strip(whole.history)
    assert all("errors" in r and "bit_errors" not in r for r in whole.history)


@needs_dask
def test_babi_objective_with_async_workers(client, tmp_path):
    "bAbI's objective and sampler on 2 asynchronous workers; one process resumes it."
    from dnc_lit.babi import parse_babi, build_lexicon, babi_sampler, BABI_OBJECTIVE
    story = ("1 Mary got the milk there.\n2 John moved to the kitchen.\n"
             "3 What is Mary carrying? \tmilk\t1\n1 John went to the garden.\n"
             "2 Where is John?\tgarden\t1\n")
    stories = {1: parse_babi(story, 1)}
    lex = build_lexicon(stories)
    cfg = DNCConfig(input_size=len(lex), output_size=len(lex), hidden_size=16,
                    memory_size=8, word_size=4, num_reads=1)
    sample, ckp = babi_sampler(stories, lex), tmp_path / "b.npz"
    run = train_parallel(cfg, sample, 8, {"batch_size": 2}, workers=2, client=client,
                         objective=BABI_OBJECTIVE, log_every=4, checkpoint=ckp, **KW)
    assert run.step == 8 and all("question_errors" in r for r in run.history)
    assert load_checkpoint(ckp).metadata["measure"] == "question_errors"
    more = train(None, sample, 10, resume=ckp, objective=BABI_OBJECTIVE, log_every=4,
                 progress=False)
    assert more.step == 10


def _interrupt_at(step, then):
    "The curriculum `then`, with Ctrl-C pressed at the end of the interval of `step`."
    def curriculum(record, task_args):
        if record["step"] == step: raise KeyboardInterrupt
        return then(record, task_args)
    return curriculum


@needs_dask
def test_sync_resume_is_bit_exact(client, tmp_path):
    """A synchronous run of 2 workers stopped by Ctrl-C (deterministically, at the end
    of the interval of step 9, so the checkpoint holds step 8) and resumed, against one
    that ran straight through: same parameters, optimiser state, history, streams."""
    kw = dict(**KW, seed=11, log_every=3)
    grow = LengthCurriculum(threshold=10.0, limit=3)
    both = dict(workers=2, sync=True, client=client)
    whole = train_parallel(CONFIG, copy_task, 15, ARGS, curriculum=grow, **both, **kw)
    with pytest.raises(KeyboardInterrupt):
        train_parallel(CONFIG, copy_task, 15, ARGS, checkpoint=tmp_path / "c.npz",
                       curriculum=_interrupt_at(9, grow), **both, **kw)
    ck = load_checkpoint(tmp_path / "c.npz")
    assert ck.metadata["step"] == 8 and ck.metadata["meter"]["count"] == 2
    rest = train_parallel(None, copy_task, 15, resume=ck, curriculum=grow, **both, **kw)
    assert same_params(rest.params, whole.params)
    for s in ("m", "v"): assert same_params(rest.opt_state[s], whole.opt_state[s])
    assert strip(rest.history) == strip(whole.history)
    assert rest.task_args == whole.task_args
    assert rng_state(rest.rng) == rng_state(whole.rng)


@needs_dask
@pytest.mark.parametrize("sync", [False, True])
def test_resume_with_k_batches_per_update_is_bit_exact(client, tmp_path, sync):
    """push_every = 2 (and fetch_every = 2): stopped by Ctrl-C at the end of the
    interval of step 9 (the checkpoint holds step 8) and resumed without naming the
    numbers, the run keeps them and ends where the uninterrupted one ends: one
    asynchronous worker (whose order is fixed), or two synchronous ones."""
    kw = dict(**KW, seed=12, log_every=3, client=client, sync=sync,
              workers=2 if sync else 1)
    every = dict(push_every=2, fetch_every=None if sync else 2)
    keep = lambda record, task_args: task_args
    whole = train_parallel(CONFIG, copy_task, 12, ARGS, **every, **kw)
    with pytest.raises(KeyboardInterrupt):
        train_parallel(CONFIG, copy_task, 12, ARGS, checkpoint=tmp_path / "c.npz",
                       curriculum=_interrupt_at(9, keep), **every, **kw)
    ck = load_checkpoint(tmp_path / "c.npz")
    assert ck.metadata["step"] == 8 and ck.metadata["parallel"]["push_every"] == 2
    rest = train_parallel(None, copy_task, 12, resume=ck, **kw)
    assert same_params(rest.params, whole.params)
    for s in ("m", "v"): assert same_params(rest.opt_state[s], whole.opt_state[s])
    assert strip(rest.history) == strip(whole.history)
    assert rng_state(rest.rng) == rng_state(whole.rng)


@needs_dask
def test_a_worker_error_reaches_the_caller(client):
    def broken(rng, **kw):
        raise ValueError("this sampler is broken")
    for sync in (False, True):
        with pytest.raises(ValueError, match="this sampler is broken"):
            train_parallel(CONFIG, broken, 5, ARGS, workers=2, sync=sync, client=client,
                           **KW)


@needs_dask
def test_more_workers_than_the_cluster_has(client):
    with pytest.raises(ValueError, match="workers=3, but the cluster has 2 worker"):
        train_parallel(CONFIG, copy_task, 2, ARGS, workers=3, client=client, **KW)


@needs_dask
def test_address_joins_a_running_cluster_and_leaves_it_running(client):
    address = client.scheduler.address
    run = train_parallel(CONFIG, copy_task, 6, ARGS, workers=2, address=address,
                         log_every=3, **KW)
    assert run.step == 6
    assert len(client.scheduler_info()["workers"]) == 2                  # still there


@needs_dask
def test_an_own_cluster_leaves_no_process_behind():
    before = _own_children()
    run = train_parallel(CONFIG, copy_task, 4, ARGS, workers=2, log_every=2, **KW)
    assert run.step == 4
    deadline = time.time() + 20
    while _own_children() - before and time.time() < deadline: time.sleep(0.2)
    assert not _own_children() - before


SCRIPT = """
import sys, time
from dnc_lit.model import DNCConfig
from dnc_lit.tasks import copy_task
from dnc_lit.parallel import train_parallel

def slow_copy(rng, **kw):
    time.sleep(0.05)              # slow enough that the run cannot end before Ctrl-C
    return copy_task(rng, **kw)

if __name__ == "__main__":
    config = DNCConfig.tiny(input_size=6, output_size=5, hidden_size=32)
    args = dict(batch_size=8, num_bits=4, min_length=1, max_length=2)
    try:
        train_parallel(config, slow_copy, 400, args, workers=2, sync=True,
                       optimiser="adam", lr=1e-2, seed=13, log_every=2, log=sys.argv[1],
                       checkpoint=sys.argv[2], progress=False)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(3)                   # finished: the interrupt did not arrive
"""


@needs_dask
def test_ctrl_c_to_the_process_group_saves_and_leaves_nothing(client, tmp_path):
    """SIGINT to the whole process group, as a terminal sends Ctrl-C: the run stops with
    exit 130, the checkpoint holds what the server held, no process of the group
    survives, and the resumed synchronous run is the uninterrupted one, bit for bit."""
    (tmp_path / "run.py").write_text(SCRIPT)
    log, ckp = tmp_path / "log.jsonl", tmp_path / "c.npz"
    p = subprocess.Popen([sys.executable, str(tmp_path / "run.py"), str(log), str(ckp)],
                         start_new_session=True, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (log.exists() and log.read_text().strip()) and time.time() < deadline:
            assert p.poll() is None, p.stderr.read()
            time.sleep(0.05)
        os.killpg(p.pid, signal.SIGINT)
        assert p.wait(60) == 130, p.stderr.read()
    finally:
        if p.poll() is None: os.killpg(p.pid, signal.SIGKILL)
    deadline = time.time() + 20
    group = lambda: [q.pid for q in psutil.process_iter() if _sid(q.pid) == p.pid]
    while group() and time.time() < deadline: time.sleep(0.2)
    assert not group(), "processes of the interrupted run are still alive"
    ck = load_checkpoint(ckp)
    step = ck.metadata["step"]
    assert 2 <= step < 400 and int(ck.opt_state["step"]) == step
    rest = train_parallel(None, copy_task, step + 4, workers=2, sync=True,
                          client=client, resume=ckp, log_every=2, **KW)
    whole = train_parallel(CONFIG, copy_task, step + 4, ARGS, workers=2, sync=True,
                           client=client, seed=13, log_every=2, **KW)
    assert same_params(rest.params, whole.params)
    assert strip(rest.history) == strip(whole.history)


def _sid(pid):
    try: return os.getsid(pid)
    except OSError: return None
