"""The whole machine (nbs/31_dnc.ipynb): finite-difference gradients w.r.t. every parameter array, the two
read paths, batch independence, determinism, shapes, validation at the boundary, and numerical safety."""
import dataclasses
import warnings

import numpy as onp
import autograd.numpy as np
import pytest
from autograd import grad

from dnc_lit.model import (DNC, DNCConfig, DNCState, init_params, param_shapes, parameter_count, state_size,
                           summary, initial_state, unroll, dnc_step, STEP_IMPLS)

CONTROLLERS = [dict(controller="lstm"), dict(controller="lstm", num_layers=2),
               dict(controller="feedforward", activation="tanh"), dict(controller="feedforward", activation="relu", num_layers=2)]
IDS = ["lstm", "lstm-2-layers", "ff-tanh", "ff-relu-2-layers"]


def tiny(**kw):
    return DNCConfig.tiny(**{"hidden_size": 5, "memory_size": 4, "word_size": 3, **kw})


def inputs(B=2, T=4, X=4, seed=0):
    return onp.random.default_rng(seed).standard_normal((B, T, X))


# ---------------------------------------------------------------- gradients

@pytest.mark.parametrize("impl", ["fast", "reference"])
@pytest.mark.parametrize("kw", CONTROLLERS, ids=IDS)
def test_finite_difference_gradient_every_parameter(kw, impl):
    """autograd's gradient of a scalar loss of the logits against central differences, 4 steps, the paper's
    clipping off (it changes large gradients): every entry of W_xi (through it, every path into memory) and
    12 sampled entries of every other parameter array."""
    cfg = tiny(controller_grad_clip=None, impl=impl, **kw)
    params = init_params(cfg, seed=3)
    rng = onp.random.default_rng(1)
    params = {k: v + 0.05 * rng.standard_normal(v.shape) for k, v in params.items()}   # no exact zeros in biases
    x = inputs(B=2, T=4)
    proj = rng.standard_normal((2, 4, cfg.output_size))
    loss = lambda p: np.sum(proj * unroll(p, x, cfg)[0]) + 0.1 * np.sum(unroll(p, x, cfg)[0] ** 2)
    g = grad(loss)(params)
    assert set(g) == set(params)
    eps = 1e-6
    for key, value in params.items():
        flat = range(value.size) if key == "W_xi" else rng.choice(value.size, size=min(12, value.size), replace=False)
        for f in flat:
            idx = onp.unravel_index(f, value.shape)
            E = onp.zeros_like(value); E[idx] = eps
            fd = (loss({**params, key: value + E}) - loss({**params, key: value - E})) / (2 * eps)
            assert onp.isclose(g[key][idx], fd, rtol=1e-5, atol=1e-8), \
                f"{IDS[CONTROLLERS.index(kw)]}: d loss / d {key}{tuple(int(i) for i in idx)}: autograd {g[key][idx]!r}, finite differences {fd!r}"
        assert onp.abs(g[key]).max() > 0, f"gradient w.r.t. {key} is identically zero"


def test_paper_gradient_clipping_in_the_model():
    "Small losses: clipping changes nothing. Huge losses: the clipped gradient does not grow with the loss."
    cfg_clip, cfg_free = tiny(), tiny(controller_grad_clip=None)
    assert cfg_clip.controller_grad_clip == 10.0
    p, x = init_params(cfg_clip, 0), inputs()
    loss = lambda p, c, cfg: c * np.sum(unroll(p, x, cfg)[0])
    g_clip, g_free = grad(loss)(p, 1.0, cfg_clip), grad(loss)(p, 1.0, cfg_free)
    for k in p: onp.testing.assert_allclose(g_clip[k], g_free[k], rtol=1e-12, atol=1e-15)
    g4, g5 = grad(loss)(p, 1e4, cfg_clip), grad(loss)(p, 1e5, cfg_clip)
    onp.testing.assert_allclose(g4["lstm1_W"], g5["lstm1_W"], rtol=1e-10)    # saturated at the clip
    onp.testing.assert_allclose(g5["W_r"], 10 * g4["W_r"], rtol=1e-10)        # W_r is outside the controller
    assert onp.abs(grad(loss)(p, 1e4, cfg_free)["lstm1_W"]).max() > 10 * onp.abs(g4["lstm1_W"]).max()
    assert loss(p, 1e4, cfg_clip) == loss(p, 1e4, cfg_free)


# ---------------------------------------------------------------- the two read paths

def _read_rows(cfg):
    "Rows of the first controller layer's weights that multiply r_{t-1} inside chi_t."
    key = "lstm1_W" if cfg.controller == "lstm" else "ff1_W"
    return key, slice(cfg.input_size, cfg.input_size + cfg.num_reads * cfg.word_size)


@pytest.mark.parametrize("kw", CONTROLLERS, ids=IDS)
def test_controller_receives_previous_reads(kw):
    "Changing the read rows of the controller's input weights leaves y_1 alone (r_0 = 0) and moves every later y_t."
    cfg = tiny(**kw)
    p, x = init_params(cfg, 0), inputs(T=5)
    base, _, tr = unroll(p, x, cfg, trace=True)
    key, rows = _read_rows(cfg)
    W = p[key].copy(); W[rows] += 0.5
    moved, _ = unroll({**p, key: W}, x, cfg)
    change = onp.abs(moved - base).max(axis=(0, 2))          # per step
    assert change[0] < 1e-15                     # y_1 cannot depend on r_0 = 0 (to rounding)
    assert (change[1:] > 1e-7).all(), change
    # and chi_t holds exactly [x_t; r_{t-1}]
    T, B = 5, 2
    onp.testing.assert_array_equal(tr["controller_input"][:, :, :cfg.input_size], x.transpose(1, 0, 2))
    onp.testing.assert_array_equal(tr["controller_input"][0, :, rows], 0.0)
    onp.testing.assert_array_equal(tr["controller_input"][1:, :, rows], tr["read_vectors"][:-1].reshape(T - 1, B, -1))


@pytest.mark.parametrize("kw", CONTROLLERS[:1] + CONTROLLERS[2:3], ids=["lstm", "ff-tanh"])
def test_output_uses_current_reads(kw):
    "W_r does not touch the state, so changing it by D moves y_t by exactly r_t . D, with the reads of the same step."
    cfg = tiny(**kw)
    p, x = init_params(cfg, 0), inputs(T=5)
    base, _, tr = unroll(p, x, cfg, trace=True)
    D = onp.random.default_rng(2).standard_normal(p["W_r"].shape)
    moved, _ = unroll({**p, "W_r": p["W_r"] + D}, x, cfg)
    r = tr["read_vectors"]                                     # (T, B, R, W)
    T, B, R, W = r.shape
    expected = onp.zeros((B, T, cfg.output_size))
    for t in range(T):
        for b in range(B):
            for i in range(R):
                for w in range(W):
                    expected[b, t] += r[t, b, i, w] * D[i * W + w]
    onp.testing.assert_allclose(moved - base, expected, rtol=1e-9, atol=1e-12)
    assert onp.abs(expected[:, 0]).max() > 1e-6               # r_1 is not zero: step 1 is really tested


def test_output_equation_from_the_trace():
    "y_t = W_y [h^1..h^L] + W_r [r^1_t..r^R_t] and xi_t = W_xi [h^1..h^L], as loops over indices."
    cfg = tiny(num_layers=2)
    p, x = init_params(cfg, 0), inputs(T=3)
    y, _, tr = unroll(p, x, cfg, trace=True)
    T, B, R, W = tr["read_vectors"].shape
    LH = cfg.num_layers * cfg.hidden_size
    for t in range(T):
        for b in range(B):
            h, r = tr["hidden"][t, b], tr["read_vectors"][t, b].ravel()
            for j in range(cfg.output_size):
                ref = sum(h[k] * p["W_y"][k, j] for k in range(LH)) + sum(r[k] * p["W_r"][k, j] for k in range(R * W))
                assert abs(y[b, t, j] - ref) < 1e-12
            onp.testing.assert_allclose(tr["interface_vector"][t, b], [sum(h[k] * p["W_xi"][k, j] for k in range(LH))
                                                                     for j in range(cfg.interface_size)], atol=1e-12)


# ---------------------------------------------------------------- batches, determinism, shapes

@pytest.mark.parametrize("kw", CONTROLLERS[:1] + CONTROLLERS[3:], ids=["lstm", "ff-relu"])
def test_batch_independence(kw):
    cfg = tiny(**kw)
    p, x = init_params(cfg, 0), inputs(B=3, T=4)
    together, _ = unroll(p, x, cfg)
    for b in range(3):
        alone, _ = unroll(p, x[b:b + 1], cfg)
        onp.testing.assert_allclose(together[b:b + 1], alone, rtol=1e-12, atol=1e-14)
    x2 = x.copy(); x2[0] += 10.0
    other, _ = unroll(p, x2, cfg)
    onp.testing.assert_array_equal(other[1:], together[1:])
    assert onp.abs(other[0] - together[0]).max() > 1e-6


def test_determinism():
    m = DNC(4, 3, hidden_size=5, memory_size=4, word_size=3, num_reads=2)
    p1, p2, p3 = m.init(seed=7), m.init(seed=7), m.init(seed=8)
    assert list(p1) == list(p2)
    for k in p1:
        onp.testing.assert_array_equal(p1[k], p2[k])
        assert p1[k].dtype == onp.float64
    assert any(not onp.array_equal(p1[k], p3[k]) for k in p1)
    x = inputs()
    onp.testing.assert_array_equal(m.apply(p1, x), m.apply(p2, x))
    onp.testing.assert_array_equal(m.apply(p1, x), m.apply(p1, x))
    g = m.init(seed=onp.random.default_rng(7))                       # a Generator works too
    onp.testing.assert_array_equal(g["W_r"], p1["W_r"])


@pytest.mark.parametrize("B,T", [(1, 1), (1, 3), (3, 1)])
@pytest.mark.parametrize("controller", ["lstm", "feedforward"])
def test_shapes(B, T, controller):
    cfg = tiny(controller=controller, num_layers=2)
    m = DNC.from_config(cfg)
    p = m.init()
    assert {k: v.shape for k, v in p.items()} == param_shapes(cfg)
    logits, trace = m.apply(p, inputs(B, T), trace=True)
    assert logits.shape == (B, T, 3) and logits.dtype == onp.float64
    N, W, R, L, H = cfg.memory_size, cfg.word_size, cfg.num_reads, cfg.num_layers, cfg.hidden_size
    want = {"memory": (N, W), "usage": (N,), "write_weights": (N,), "precedence": (N,), "link": (N, N),
            "read_weights": (R, N), "read_vectors": (R, W), "allocation": (N,), "retention": (N,),
            "write_content": (N,), "read_content": (R, N), "forward": (R, N), "backward": (R, N),
            "read_keys": (R, W), "read_strengths": (R,), "write_key": (W,), "write_strength": (),
            "erase": (W,), "write_vector": (W,), "free_gates": (R,), "allocation_gate": (), "write_gate": (),
            "read_modes": (R, 3), "controller_input": (4 + R * W,), "hidden": (L * H,),
            "controller_output": (3,), "interface_vector": (cfg.interface_size,), "output": (3,)}
    if controller == "lstm":
        want.update({g: (L, H) for g in ("input_gate", "forget_gate", "output_gate", "cell")})
    assert {k: v.shape for k, v in trace.items()} == {k: (T, B) + s for k, s in want.items()}
    onp.testing.assert_array_equal(trace["output"].transpose(1, 0, 2), logits)
    logits2, state = m.unroll(p, inputs(B, T))
    assert isinstance(state, DNCState) and state.memory.memory.shape == (B, N, W)


def test_continuing_from_a_state():
    m = DNC.from_config(tiny())
    p, x = m.init(), inputs(T=6)
    whole = m.apply(p, x)
    a, s = m.unroll(p, x[:, :4])
    b = m.apply(p, x[:, 4:], state=s)
    onp.testing.assert_allclose(onp.concatenate([a, b], axis=1), whole, rtol=1e-12, atol=1e-14)
    s0 = m.initial_state(2)
    assert all(not onp.any(a) for a in s0.memory) and not s0.read_vectors.any() and not s0.controller.h.any()
    onp.testing.assert_array_equal(m.apply(p, x, state=s0), whole)


def test_forward_clip_value_option():
    cfg = tiny(clip_value=0.01)
    p = init_params(cfg, 0)
    y, _ = unroll({**p, "W_r": 100 * p["W_r"]}, inputs(), cfg)
    assert onp.abs(y).max() <= 0.01 and onp.isclose(onp.abs(y).max(), 0.01)


# ---------------------------------------------------------------- configuration, counting, repr

def test_config_defaults_and_roundtrip():
    c = DNCConfig(input_size=8, output_size=7)
    assert (c.hidden_size, c.memory_size, c.word_size, c.num_reads, c.num_layers) == (64, 16, 16, 4, 1)
    assert (c.controller, c.controller_grad_clip, c.clip_value, c.impl) == ("lstm", 10.0, None, "fast")
    assert c.interface_size == 16 * 4 + 3 * 16 + 5 * 4 + 3
    assert DNCConfig(**dataclasses.asdict(c)) == c
    as_numpy = {k: (onp.array(v)[()] if v is not None else None) for k, v in dataclasses.asdict(c).items()}
    assert DNCConfig(**as_numpy) == c                              # as read back from an .npz
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.memory_size = 3
    m = DNC(8, 7)
    assert m.config == c and "44,608 parameters" in repr(m)


def test_parameter_count_and_summary():
    for kw in CONTROLLERS:
        cfg = tiny(**kw)
        assert parameter_count(cfg) == sum(v.size for v in init_params(cfg).values())
        assert parameter_count(dataclasses.replace(cfg, memory_size=50)) == parameter_count(cfg)
        text = summary(cfg)
        assert all(k in text for k in param_shapes(cfg)) and f"{parameter_count(cfg):,}" in text
    cfg = tiny()
    N, W, R, H = 4, 3, 2, 5
    assert state_size(cfg) == N * W + 3 * N + N * N + R * N + R * W + 2 * H
    assert sum(a.size for a in initial_state(cfg, 1).memory) + R * W + 2 * H == state_size(cfg)
    assert DNC.from_config(cfg).parameter_count == parameter_count(cfg)
    K = 1                                                    # the sparse link: index and value arrays (N, K), not (N, N)
    sparse = tiny(link_sparsity=K)
    assert state_size(sparse) == N * W + 3 * N + 2 * N * K + R * N + R * W + 2 * H
    mem = initial_state(sparse, 1).memory
    assert sum(a.size for f in mem for a in (f if isinstance(f, tuple) else (f,))) + R * W + 2 * H == state_size(sparse)


# ---------------------------------------------------------------- bad input at the boundary

@pytest.mark.parametrize("kw,exc,msg", [
    (dict(memory_size=0), ValueError, "memory_size"), (dict(hidden_size=-3), ValueError, "hidden_size"),
    (dict(word_size=2.5), TypeError, "word_size"), (dict(num_reads=True), TypeError, "num_reads"),
    (dict(num_layers="2"), TypeError, "num_layers"), (dict(input_size=None), TypeError, "input_size"),
    (dict(controller="gru"), ValueError, "controller must be one of"),
    (dict(activation="sigmoid"), ValueError, "activation must be one of"),
    (dict(controller_grad_clip=0.0), ValueError, "controller_grad_clip"),
    (dict(clip_value=float("nan")), ValueError, "clip_value"), (dict(forget_bias="1"), ValueError, "forget_bias"),
    (dict(impl="turbo"), ValueError, "impl must be one of"),
])
def test_bad_config(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        DNCConfig.tiny(**kw)
    with pytest.raises(exc, match=msg):
        DNC(**{**dict(input_size=4, output_size=3), **kw})


@pytest.mark.parametrize("bad,exc,msg", [
    (onp.zeros((2, 3, 5)), ValueError, r"input_size=4\); got width 5"),
    (onp.zeros((3, 4)), ValueError, r"got shape \(3, 4\) \(for a single sequence use inputs\[None\]\)"),
    (onp.zeros((1, 2, 3, 4)), ValueError, r"must have shape \(batch, time, input_size=4\), got shape \(1, 2, 3, 4\)"),
    (onp.zeros(4), ValueError, "must have shape"),
    (onp.zeros((2, 0, 4)), ValueError, "at least one sequence and one time step"),
    (onp.zeros((0, 3, 4)), ValueError, "at least one sequence and one time step"),
    (onp.full((1, 2, 4), onp.nan), ValueError, "NaN or infinite"),
    (onp.full((1, 2, 4), onp.inf), ValueError, "NaN or infinite"),
    (onp.zeros((1, 2, 4), complex), TypeError, "complex"),
    (onp.full((1, 2, 4), "a"), TypeError, "numeric array"),
    ("abc", TypeError, "numeric array"),
    (None, ValueError, "must have shape"),
])
def test_bad_inputs(bad, exc, msg):
    m = DNC.from_config(DNCConfig.tiny())
    p = m.init()
    with pytest.raises(exc, match=msg):
        m.apply(p, bad)


def test_inputs_that_are_accepted():
    m = DNC.from_config(DNCConfig.tiny())
    p = m.init()
    ref = m.apply(p, onp.ones((1, 2, 4)))
    onp.testing.assert_array_equal(m.apply(p, [[[1, 1, 1, 1], [1, 1, 1, 1]]]), ref)     # nested lists
    onp.testing.assert_array_equal(m.apply(p, onp.ones((1, 2, 4), dtype=int)), ref)      # integers
    onp.testing.assert_array_equal(m.apply(p, onp.ones((1, 2, 4), dtype=bool)), ref)     # bits


def test_bad_params():
    m = DNC.from_config(DNCConfig.tiny())
    p, x = m.init(), inputs()
    with pytest.raises(TypeError, match="params must be a dict"):
        m.apply(list(p.values()), x)
    with pytest.raises(ValueError, match=r"missing \['W_xi'\]"):
        m.apply({k: v for k, v in p.items() if k != "W_xi"}, x)
    with pytest.raises(ValueError, match=r"unexpected keys \['ff1_W'\]"):
        m.apply({**p, "ff1_W": onp.zeros((2, 2))}, x)
    with pytest.raises(ValueError, match=r"params\['lstm1_b'\] must have shape \(32,\) for this config, got \(31,\)"):
        m.apply({**p, "lstm1_b": p["lstm1_b"][:-1]}, x)
    with pytest.raises(ValueError, match="missing"):                 # params of another controller
        m.apply(DNC.from_config(DNCConfig.tiny(controller="feedforward")).init(), x)
    with pytest.raises(TypeError, match="seed"):
        m.init(seed=1.5)
    with pytest.raises(TypeError, match="seed"):
        m.init(seed=-1)


def test_bad_state():
    m = DNC.from_config(DNCConfig.tiny())
    p, x = m.init(), inputs(B=2)
    with pytest.raises(TypeError, match="state must be a DNCState"):
        m.apply(p, x, state=(1, 2, 3))
    with pytest.raises(ValueError, match=r"state.read_vectors must have shape \(2, 2, 4\) for this config and batch of 2, got \(3, 2, 4\)"):
        m.apply(p, x, state=m.initial_state(3))
    with pytest.raises(ValueError, match="state.controller must be None"):
        DNC.from_config(DNCConfig.tiny(controller="feedforward")).apply(
            DNC.from_config(DNCConfig.tiny(controller="feedforward")).init(), x, state=m.initial_state(2))


# ---------------------------------------------------------------- numerical safety

@pytest.mark.parametrize("kw", [dict(controller="lstm"), dict(controller="feedforward", activation="relu")],
                         ids=["lstm", "ff-relu"])
def test_long_sequences_and_large_inputs_are_finite(kw):
    "T = 500 steps of inputs +-1e3: finite outputs and finite gradients w.r.t. every parameter, and no warnings."
    m = DNC.from_config(tiny(**kw))
    p = m.init(seed=0)
    x = 1e3 * onp.sign(onp.random.default_rng(0).standard_normal((1, 500, 4)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = m.apply(p, x)
        g = grad(lambda p: np.mean(m.apply(p, x) ** 2))(p)
    assert onp.isfinite(y).all()
    for k, v in g.items():
        assert onp.isfinite(v).all(), k


def test_zero_and_extreme_parameters_are_safe():
    "All-zero parameters (zero keys, empty memory) and huge parameters give finite values and gradients."
    cfg = tiny(controller_grad_clip=None)
    p = init_params(cfg, 0)
    x = inputs()
    for q in ({k: onp.zeros_like(v) for k, v in p.items()}, {k: 1e3 * v for k, v in p.items()}):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = unroll(q, x, cfg)[0]
            g = grad(lambda q: np.sum(unroll(q, x, cfg)[0] ** 2))(q)
        assert onp.isfinite(y).all() and all(onp.isfinite(v).all() for v in g.values())


def test_step_registry_seam():
    assert STEP_IMPLS["reference"] is dnc_step
    cfg = tiny()
    p, x = init_params(cfg), inputs(B=1, T=1)
    y, s = dnc_step(p, initial_state(cfg, 1), x[:, 0], cfg)
    onp.testing.assert_array_equal(y, unroll(p, x, cfg)[0][:, 0])
