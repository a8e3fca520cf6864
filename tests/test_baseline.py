"""The LSTM baseline (nbs/67_lstm_baseline.ipynb): the hand-written backward pass
against autograd through the controller chapter's equations and against central
differences, float32 against float64, the parameter count, training through `train`
(resume, the network recorded in the checkpoint, evaluate) and through the command line
(`--model lstm`), and DNC checkpoints unchanged by the network registry."""
import dataclasses, json
import numpy as onp
import pytest
from autograd import grad
from hypothesis import given, settings, strategies as st

from dnc_lit.baseline import (LSTMConfig, LSTMBaseline, init_params, param_shapes,
                              parameter_count, unroll, matched_hidden_size)
from dnc_lit.checkpoint import load_checkpoint
from dnc_lit.controller import LSTMState
from dnc_lit.curriculum import (CURRICULUM_TASKS, GRAPH_OBJECTIVE,
                                SHORTEST_PATH_OBJECTIVE)
from dnc_lit.graphs import INPUT_SIZE, OUTPUT_SIZE
from dnc_lit.model import DNCConfig
from dnc_lit.tasks import copy_task
from dnc_lit.train import (train, evaluate, loss_grad_outputs, config_from_json,
                           config_to_json, network_name, build_model, NETWORKS)
from helpers import check_grad
from test_babi_cli import write_archive
from test_cli import dnc_lit, assert_one_line_error     # the command line's own helpers

COPY = dict(batch_size=4, num_bits=3, min_length=1, max_length=3)


def probe(params, x, config, P, Q, state=None):
    "A scalar of every output of the unroll: logits, final h and final s."
    import autograd.numpy as np
    y, s = unroll(params, x, config, state)
    return np.sum(y * P) + np.sum(s.h * Q) + np.sum(np.tanh(s.s) * Q)


def setup(B, T, X, Y, H, L, clip, seed=0):
    rng = onp.random.default_rng(seed)
    fast = LSTMConfig(X, Y, H, L, grad_clip=clip)
    params = init_params(fast, seed)
    # larger weights than the initialisation: saturated gates and clipped gradients
    params = {k: 2.0 * v for k, v in params.items()}
    x = rng.standard_normal((B, T, X))
    P, Q = rng.standard_normal((B, T, Y)), rng.standard_normal((B, L, H))
    state = LSTMState(rng.standard_normal((B, L, H)), rng.standard_normal((B, L, H)))
    return fast, params, x, P, Q, state


# -- the hand-written backward pass ---------------------------------------------------

@settings(max_examples=25)
@given(B=st.integers(1, 3), T=st.integers(1, 7), X=st.integers(1, 5),
       Y=st.integers(1, 4), H=st.integers(1, 6), L=st.integers(1, 3),
       clip=st.sampled_from([None, 10.0, 0.05]), with_state=st.booleans())
def test_fast_gradients_equal_autograd_through_the_controller(B, T, X, Y, H, L, clip,
                                                               with_state):
    fast, params, x, P, Q, state = setup(B, T, X, Y, H, L, clip)
    ref = dataclasses.replace(fast, impl="reference")
    h0, s0 = state if with_state else (None, None)
    def f(p, x, h, s, c):
        return probe(p, x, c, P, Q, None if h is None else LSTMState(h, s))
    args = (params, x, h0, s0)
    assert abs(f(*args, fast) - f(*args, ref)) < 1e-10
    for i in ((0, 1, 2, 3) if with_state else (0, 1)):
        g_fast, g_ref = grad(f, i)(*args, fast), grad(f, i)(*args, ref)
        if i == 0:
            assert set(g_fast) == set(param_shapes(fast))
            for k in g_ref: onp.testing.assert_allclose(g_fast[k], g_ref[k],
                                                        rtol=1e-9, atol=1e-12)
        else: onp.testing.assert_allclose(g_fast, g_ref, rtol=1e-9, atol=1e-12)


def test_the_clip_changes_the_gradient_where_it_bites():
    fast, params, x, P, Q, _ = setup(2, 6, 3, 2, 4, 2, 0.05)
    free = dataclasses.replace(fast, grad_clip=None)
    g_clip = grad(probe)(params, x, fast, P, Q)
    g_free = grad(probe)(params, x, free, P, Q)
    assert max(float(onp.abs(g_clip[k] - g_free[k]).max()) for k in g_clip) > 1e-3


@pytest.mark.parametrize("L", [1, 2, 3])
def test_fast_gradients_equal_central_differences(L):
    fast, params, x, P, Q, state = setup(2, 4, 3, 2, 3, L, None, seed=L)
    for k in params:
        def f(w, k=k): return probe({**params, k: w}, x, fast, P, Q, state)
        check_grad(f, (params[k],), rtol=1e-5, atol=1e-7, name=k)
    check_grad(lambda x: probe(params, x, fast, P, Q, state), (x,), name="inputs")
    check_grad(lambda h: probe(params, x, fast, P, Q, LSTMState(h, state.s)),
               (state.h,), name="h0")
    check_grad(lambda s: probe(params, x, fast, P, Q, LSTMState(state.h, s)),
               (state.s,), name="s0")


@pytest.mark.parametrize("L", [1, 3])
def test_float32_agrees_with_float64(L):
    c64, params, x, P, Q, _ = setup(3, 8, 5, 4, 6, L, 10.0)
    c32 = dataclasses.replace(c64, dtype="float32")
    p32 = {k: v.astype(onp.float32) for k, v in params.items()}
    y64, s64 = unroll(params, x, c64)
    y32, s32 = unroll(p32, x, c32)
    assert y32.dtype == s32.h.dtype == onp.float32
    onp.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5)
    g64, g32 = grad(probe)(params, x, c64, P, Q), grad(probe)(p32, x, c32, P, Q)
    for k in g64:
        assert g32[k].dtype == onp.float32
        onp.testing.assert_allclose(g32[k], g64[k], rtol=1e-3, atol=1e-4)


def test_unrolling_in_two_pieces_is_unrolling_at_once():
    c, params, x, P, Q, _ = setup(2, 9, 3, 2, 4, 2, 10.0)
    y, s = unroll(params, x, c)
    y1, s1 = unroll(params, x[:, :4], c)
    y2, s2 = unroll(params, x[:, 4:], c, s1)
    onp.testing.assert_allclose(onp.concatenate([y1, y2], 1), y, rtol=1e-12)
    onp.testing.assert_allclose(s2.h, s.h, rtol=1e-12)


# -- configuration, parameters, sizes -------------------------------------------------

@given(X=st.integers(1, 200), Y=st.integers(1, 200), H=st.integers(1, 300),
       L=st.integers(1, 4))
def test_parameter_count_formula(X, Y, H, L):
    c = LSTMConfig(X, Y, H, L)
    want = 4 * H * (X + H + 1) + (L - 1) * 4 * H * (X + 2 * H + 1) + L * H * Y
    assert parameter_count(c) == want == LSTMBaseline.from_config(c).parameter_count
    shapes = {k: v.shape for k, v in init_params(c).items()}
    assert shapes == param_shapes(c)


@given(target=st.integers(1_000, 3_000_000), L=st.integers(1, 3))
def test_matched_hidden_size_is_the_nearest(target, L):
    H = matched_hidden_size(target, 92, 90, L)
    gap = lambda h: abs(parameter_count(LSTMConfig(92, 90, h, L)) - target)
    assert gap(H) <= gap(H + 1) and (H == 1 or gap(H) <= gap(H - 1))


def test_the_traversal_dnc_and_its_matched_baselines():
    dnc = DNCConfig(input_size=92, output_size=90, hidden_size=128, memory_size=64,
                    word_size=32, num_reads=2)
    from dnc_lit.model import parameter_count as dnc_count
    assert dnc_count(dnc) == 185_344
    assert [matched_hidden_size(185_344, 92, 90, L) for L in (1, 2, 3)] == [165, 92, 68]


@pytest.mark.parametrize("kw, words", [
    (dict(hidden_size=0), ["hidden_size", "positive integer"]),
    (dict(num_layers=1.5), ["num_layers"]),
    (dict(grad_clip=-1.0), ["grad_clip"]),
    (dict(forget_bias=float("nan")), ["forget_bias"]),
    (dict(dtype="float16"), ["dtype"]),
    (dict(impl="slow"), ["impl"]),
    (dict(dtype="float32", impl="reference"), ["float32", "reference"])])
def test_bad_configs_are_named(kw, words):
    with pytest.raises((TypeError, ValueError)) as e: LSTMConfig(4, 3, **kw)
    for w in words: assert w in str(e.value)


def test_bad_params_inputs_and_state_are_named():
    c = LSTMConfig(4, 3, 5, 2)
    p, x = init_params(c), onp.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="lstm2_W"):
        unroll({k: v for k, v in p.items() if k != "lstm2_W"}, x, c)
    with pytest.raises(ValueError, match="input_size=4"):
        unroll(p, onp.zeros((2, 3, 5)), c)
    with pytest.raises(ValueError, match="LSTMState"):
        unroll(p, x, c, LSTMState(onp.zeros((2, 1, 5)), onp.zeros((2, 1, 5))))


# -- the training loop ------------------------------------------------------------

def test_the_network_registry_round_trips_configs():
    c = LSTMConfig(6, 5, 8, 2, dtype="float32")
    assert network_name(c) == "lstm" and NETWORKS["lstm"].config_type is LSTMConfig
    assert config_to_json(c)["network"] == "lstm"
    assert config_from_json(json.loads(json.dumps(config_to_json(c)))) == c
    d = DNCConfig.tiny()
    assert "network" not in config_to_json(d)
    assert config_from_json(config_to_json(d)) == d
    assert isinstance(build_model(c), LSTMBaseline)
    with pytest.raises(ValueError, match="'gru'"):
        config_from_json({"network": "gru", "input_size": 2})
    with pytest.raises(TypeError, match="config must be a DNCConfig"):
        train(dict(input_size=2), copy_task, 1, COPY)
    with pytest.raises(TypeError):   # a baseline's saved config is never a DNC's
        DNCConfig(**config_to_json(c))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_train_resume_and_evaluate_the_baseline(tmp_path, dtype):
    c = LSTMConfig(5, 4, 8, 2, dtype=dtype)
    kw = dict(task_args=COPY, lr=1e-2, seed=3, log_every=2, progress=False)
    whole = train(c, copy_task, 6, checkpoint=tmp_path / "a.npz", **kw)
    train(c, copy_task, 3, checkpoint=tmp_path / "b.npz", **kw)
    resumed = train(None, copy_task, 6, resume=tmp_path / "b.npz", log_every=2,
                    checkpoint=tmp_path / "b.npz", progress=False)
    for k in whole.params:
        assert whole.params[k].dtype == onp.dtype(dtype)
        onp.testing.assert_array_equal(resumed.params[k], whole.params[k])
    untimed = lambda h: [{k: v for k, v in r.items() if "seconds" not in k} for r in h]
    assert untimed(resumed.history) == untimed(whole.history)
    assert len(whole.history) == 3
    ck = load_checkpoint(tmp_path / "b.npz")
    assert ck.metadata["network"] == "lstm" and ck.config["network"] == "lstm"
    assert config_from_json(ck.config) == c
    errs = evaluate(build_model(c), ck.params, copy_task, COPY, 10, seed=1)
    assert errs.shape == (10,) and (errs >= 0).all()
    assert not all(onp.array_equal(whole.params[k], init_params(c, 3)[k])
                   for k in whole.params)


def test_resume_refuses_the_other_network(tmp_path):
    c = LSTMConfig(5, 4, 8)
    train(c, copy_task, 2, COPY, checkpoint=tmp_path / "l.npz", progress=False)
    dnc = DNCConfig(input_size=5, output_size=4, hidden_size=8, memory_size=4,
                    word_size=3, num_reads=1)
    with pytest.raises(ValueError, match="lstm network"):
        train(dnc, copy_task, 4, COPY, resume=tmp_path / "l.npz", progress=False)
    with pytest.raises(ValueError, match="hidden_size"):
        train(dataclasses.replace(c, hidden_size=9), copy_task, 4, COPY,
              resume=tmp_path / "l.npz", progress=False)


def test_a_dnc_checkpoint_is_as_before_and_resumes_exactly(tmp_path):
    c = DNCConfig(input_size=5, output_size=4, hidden_size=8, memory_size=4,
                  word_size=3, num_reads=1)
    kw = dict(task_args=COPY, lr=1e-2, seed=1, log_every=2, progress=False)
    whole = train(c, copy_task, 4, **kw)
    train(c, copy_task, 2, checkpoint=tmp_path / "d.npz", **kw)
    ck = load_checkpoint(tmp_path / "d.npz")
    assert "network" not in ck.config and ck.config == dataclasses.asdict(c)
    assert DNCConfig(**ck.config) == c and ck.metadata["network"] == "dnc"
    resumed = train(c, copy_task, 4, resume=tmp_path / "d.npz", progress=False)
    for k in whole.params:
        onp.testing.assert_array_equal(resumed.params[k], whole.params[k])


def test_graph_objective_trains_the_baseline():
    spec = CURRICULUM_TASKS["traversal"]
    batch = spec.sampler(onp.random.default_rng(0), batch_size=2, **spec.lessons[0])
    model = LSTMBaseline(INPUT_SIZE, OUTPUT_SIZE, hidden_size=8, num_layers=2)
    loss, grads, (logits, _, _) = loss_grad_outputs(model, model.init(0), batch,
                                                    GRAPH_OBJECTIVE)
    assert onp.isfinite(loss) and logits.shape == (*batch.inputs.shape[:2], OUTPUT_SIZE)
    assert all(onp.isfinite(g).all() and onp.abs(g).sum() > 0 for g in grads.values())


def test_shortest_path_walks_with_the_baseline_state_by_state():
    "The structured-prediction forward runs the network in pieces, carrying its state."
    spec = CURRICULUM_TASKS["shortest_path"]
    batch = spec.sampler(onp.random.default_rng(1), batch_size=2, **spec.lessons[0])
    model = LSTMBaseline(INPUT_SIZE, OUTPUT_SIZE, hidden_size=8)
    loss, grads, (logits, targets, mask) = loss_grad_outputs(
        model, model.init(0), batch, SHORTEST_PATH_OBJECTIVE)
    assert onp.isfinite(loss) and mask.sum() > 0
    assert all(onp.isfinite(g).all() for g in grads.values())


# -- the command line ------------------------------------------------------------

SMALL = ["--hidden-size", "8", "--log-every", "2", "--progress", "none"]


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("lstm_cli")
    code, out, err = dnc_lit("train", "copy", "--model", "lstm", "--num-layers", "2",
                             "--steps", "4", "--max-length", "2", *SMALL,
                             "--out", d / "lstm.npz")
    assert code == 0, err
    return d


def test_cli_trains_resumes_and_evaluates_a_baseline(copy_run):
    d = copy_run
    ck = load_checkpoint(d / "lstm.npz")
    assert ck.metadata["network"] == "lstm"
    assert config_from_json(ck.config) == LSTMConfig(6, 5, 8, 2)
    code, out, err = dnc_lit("train", "copy", "--resume", d / "lstm.npz", "--steps",
                             "6", "--model", "lstm", "--out", d / "more.npz",
                             "--progress", "none")
    assert code == 0, err
    assert load_checkpoint(d / "more.npz").metadata["step"] == 6
    code, out, err = dnc_lit("evaluate", d / "more.npz", "--num-sequences", "10",
                             "--json")
    assert code == 0, err
    assert json.loads(out)["as trained"]["sequences"] == 10


@pytest.mark.parametrize("args, words", [
    (["--memory-size", "8"], ["--memory-size", "lstm"]),
    (["--controller", "feedforward"], ["--controller"]),
    (["--model", "gru"], ["--model"])])
def test_cli_refuses_memory_options_for_the_baseline(tmp_path, args, words):
    model = [] if "--model" in args else ["--model", "lstm"]
    code, out, err = dnc_lit("train", "copy", *model, *args, "--steps", "1", *SMALL,
                             "--out", tmp_path / "x.npz")
    if "gru" in args:      # argparse's own error: usage line, then the message
        assert code == 2 and "--model" in err
    else: assert_one_line_error(code, out, err, *words)


def test_cli_resume_keeps_the_network_and_show_refuses(copy_run, tmp_path):
    code, out, err = dnc_lit("train", "copy", "--steps", "2", "--max-length", "2",
                             "--memory-size", "4", "--word-size", "3", "--num-reads",
                             "1", *SMALL, "--out", tmp_path / "dnc.npz")
    assert code == 0, err
    assert load_checkpoint(tmp_path / "dnc.npz").metadata["network"] == "dnc"
    code, out, err = dnc_lit("train", "copy", "--resume", tmp_path / "dnc.npz",
                             "--model", "lstm", "--steps", "4")
    assert_one_line_error(code, out, err, "--model lstm", "dnc")
    code, out, err = dnc_lit("train", "copy", "--resume", copy_run / "lstm.npz",
                             "--model", "dnc", "--steps", "8")
    assert_one_line_error(code, out, err, "--model dnc", "lstm")
    code, out, err = dnc_lit("show", copy_run / "lstm.npz", "--out",
                             tmp_path / "x.png")
    assert_one_line_error(code, out, err, "LSTM baseline")


def test_cli_traversal_with_the_baseline(tmp_path):
    code, out, err = dnc_lit("train", "traversal", "--model", "lstm", "--num-layers",
                             "2", "--dtype", "float32", "--steps", "3", "--batch-size",
                             "2", "--evaluate-every", "2", "--eval-sequences", "4",
                             *SMALL, "--out", tmp_path / "t.npz")
    assert code == 0, err
    ck = load_checkpoint(tmp_path / "t.npz")
    assert ck.metadata["network"] == "lstm" and ck.config["dtype"] == "float32"
    code, out, err = dnc_lit("train", "traversal", "--resume", tmp_path / "t.npz",
                             "--steps", "5", "--progress", "none")
    assert code == 0, err
    code, out, err = dnc_lit("evaluate", tmp_path / "t.npz", "--num-sequences", "4",
                             "--json")
    assert code == 0, err
    assert json.loads(out)["1"]["sequences"] == 4


def test_cli_babi_baseline_defaults_to_the_papers_512_units(tmp_path):
    data = write_archive(tmp_path / "data" / "tasks_1-20_v1-2.tar.gz")
    code, out, err = dnc_lit("train", "babi", "--model", "lstm", "--data", data,
                             "--steps", "2", "--optimiser", "adam", "--progress",
                             "none", "--out", tmp_path / "b.npz", "--log-every", "1")
    assert code == 0, err
    ck = load_checkpoint(tmp_path / "b.npz")
    assert ck.config["network"] == "lstm" and ck.config["hidden_size"] == 512
    code, out, err = dnc_lit("evaluate", tmp_path / "b.npz", "--json")
    assert code == 0, err
    assert len(json.loads(out)["tasks"]) == 20
