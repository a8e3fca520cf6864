"""The departures of public DNCs from the paper (appendix `nbs/91_implementations.ipynb`).

Each test re-creates one implementation's convention in a few lines (written from the description in the
reference notes, no code of theirs) and checks that it really differs from `dnc_lit`'s paper-faithful function,
and in exactly the stated way. The paper's side is always `dnc_lit`'s own code, so if `dnc_lit` drifted towards
one of these conventions (softplus strengths, (b, f, c) modes, swapped links, a cross-head softmax, ...)
a test here would fail.
"""
import math
import warnings

import numpy as onp
import autograd.numpy as np
import pytest
from autograd import grad
from autograd.extend import primitive, defvjp
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from dnc_lit.interface import oneplus, parse_interface, interface_size, softmax
from dnc_lit.addressing import cosine_similarity, content_weighting
from dnc_lit.allocation import usage
from dnc_lit.linkage import precedence, link_matrix, directional_weightings, read_weighting


# ---- the re-created conventions (the same few lines as on the appendix page) --------------------------------

def softplus(beta_hat):
    "DM / PT strength squash."
    return np.logaddexp(0.0, beta_hat)


def read_modes_bfc(pi_hat):
    "DM / PT: per-head softmax over (B, R, 3), slots read as (b, f, c); returned in (b, c, f) order."
    return softmax(pi_hat, axis=-1)[..., [0, 2, 1]]


@primitive
def stop_gradient(x):
    return x


defvjp(stop_gradient, lambda ans, x: lambda g: np.zeros_like(g))


def usage_dm(usage_prev, write_weights_prev, free_gates, read_weights_prev):
    "DM / RC: usage with the gradient to the previous write weights stopped."
    return usage(usage_prev, stop_gradient(write_weights_prev), free_gates, read_weights_prev)


def directional_weightings_np(link, read_weights_prev):
    "NP: 'forward' = w L, 'backward' = w L^T (row vector w)."
    return (np.einsum("brj,bji->bri", read_weights_prev, link),
            np.einsum("brj,bij->bri", read_weights_prev, link))


def read_modes_np(pi_hat_flat, num_reads):
    "NP: 3R raw values as (B, 3, R), softmax over the heads, transposed to (B, R, 3)."
    z = np.reshape(pi_hat_flat, (-1, 3, num_reads))
    return np.swapaxes(softmax(z, axis=-1), -1, -2)


finite = dict(allow_nan=False, allow_infinity=False)


# ---- 1. strengths ---------------------------------------------------------------------------------------------

@given(st.floats(-60, 60, **finite))
def test_oneplus_floor_and_softplus_below_one(x):
    x = np.array(x)
    assert oneplus(x) >= 1.0
    assert abs(oneplus(x) - softplus(x) - 1.0) < 1e-12
    # softplus < 1 exactly when x < log(e - 1): the strengths the paper's machine can never produce
    if x < math.log(math.e - 1) - 1e-9:
        assert softplus(x) < 1.0
    if x < 0:
        assert softplus(x) < math.log(2) + 1e-15


@given(arrays(np.float64, (3, 2 * 3 + 3 * 3 + 5 * 2 + 3), elements=st.floats(-40, 40, **finite)))
def test_parse_interface_strengths_never_below_one(xi):
    I = parse_interface(xi, 2, 3)
    assert np.all(I.read_strengths >= 1.0) and np.all(I.write_strength >= 1.0)


def test_softplus_lookup_is_flatter(rng):
    "The largest content weight grows with the strength, so softplus (one lower) always gives a flatter lookup."
    M, k = rng.normal(size=(4, 6, 3)), rng.normal(size=(4, 2, 3))
    beta_hat = rng.normal(-2, 2, size=(4, 2))
    c_paper = content_weighting(M, k, oneplus(beta_hat))
    c_dm = content_weighting(M, k, softplus(beta_hat))
    assert np.all(c_dm.max(-1) < c_paper.max(-1))
    # at very negative raw strength the DM lookup is uniform, the paper's is not
    very_low = np.full((4, 2), -30.0)
    onp.testing.assert_allclose(content_weighting(M, k, softplus(very_low)), 1 / 6, atol=1e-9)
    assert np.all(content_weighting(M, k, oneplus(very_low)).max(-1) > 1 / 6 + 1e-3)


# ---- 2. read-mode order ---------------------------------------------------------------------------------------

def test_parse_interface_read_modes_are_per_head_b_c_f(rng):
    "Oracle: the last 3R values, head-major, each head's three softmaxed on its own, in the order (b, c, f)."
    R, W, B = 3, 2, 2
    xi = rng.normal(size=(B, interface_size(R, W))) * 3
    pi = parse_interface(xi, R, W).read_modes
    n = interface_size(R, W)
    for b in range(B):
        for i in range(R):
            raw = [xi[b, n - 3 * R + 3 * i + m] for m in range(3)]
            z = sum(math.exp(v) for v in raw)
            for m in range(3):
                assert abs(pi[b, i, m] - math.exp(raw[m]) / z) < 1e-12


def test_same_interface_other_order_picks_other_mode():
    R, W = 1, 3
    xi = onp.zeros((1, interface_size(R, W)))
    xi[0, -3:] = [0.0, 4.0, 0.0]                       # the middle raw mode dominates
    b, c, f = (np.eye(5)[[j]][None] for j in (0, 3, 4))
    w_paper = read_weighting(parse_interface(xi, R, W).read_modes, b, c, f)
    w_dm = read_weighting(read_modes_bfc(xi[:, -3:].reshape(1, 1, 3)), b, c, f)
    assert int(w_paper.argmax()) == 3                   # the paper: a content read
    assert int(w_dm.argmax()) == 4                      # DM / PT: a forward read


def test_bfc_is_a_permutation_of_the_paper(rng):
    pi_hat = rng.normal(size=(3, 4, 3))
    onp.testing.assert_allclose(read_modes_bfc(pi_hat[..., [0, 2, 1]]), softmax(pi_hat))
    assert not onp.allclose(read_modes_bfc(pi_hat), softmax(pi_hat))


# ---- 3. the usage gradient ------------------------------------------------------------------------------------

def _usage_inputs(rng, B=3, R=2, N=5):
    return (rng.uniform(size=(B, N)), softmax(rng.normal(size=(B, N))) * 0.9, rng.uniform(size=(B, R)),
            softmax(rng.normal(size=(B, R, N))))


def test_usage_gradient_paper_vs_stopped(rng):
    u_prev, ww_prev, f, wr_prev = _usage_inputs(rng)
    g = rng.normal(size=u_prev.shape)                                     # a random upstream gradient
    loss = lambda fn, argnum: grad(lambda *a: np.sum(g * fn(*a)), argnum)(u_prev, ww_prev, f, wr_prev)
    # forward values are identical
    onp.testing.assert_allclose(usage_dm(u_prev, ww_prev, f, wr_prev), usage(u_prev, ww_prev, f, wr_prev))
    # the paper: d u_t[j] / d w^w_{t-1}[j] = (1 - u_{t-1}[j]) psi_t[j], psi from a plain loop over heads
    B, R, N = wr_prev.shape
    oracle = onp.zeros((B, N))
    for b in range(B):
        for j in range(N):
            psi = 1.0
            for i in range(R):
                psi *= 1 - f[b, i] * wr_prev[b, i, j]
            oracle[b, j] = g[b, j] * (1 - u_prev[b, j]) * psi
    onp.testing.assert_allclose(loss(usage, 1), oracle, rtol=1e-12)
    assert onp.abs(oracle).min() > 0
    # DM / RC: exactly that gradient is zero ...
    assert onp.all(loss(usage_dm, 1) == 0.0)
    # ... and no other: previous usage, free gates and previous read weights keep theirs
    for argnum in (0, 2, 3):
        onp.testing.assert_allclose(loss(usage_dm, argnum), loss(usage, argnum), rtol=1e-12)


# ---- 4. read feedback (PT) ------------------------------------------------------------------------------------

def _pt_setup(rng, T=4):
    "dnc_lit's DNC, its step, PT's step (the controller always gets r_0 = 0), inputs and a non-empty start memory."
    model_mod = pytest.importorskip("dnc_lit.model")
    cfg = model_mod.DNCConfig.tiny()
    params = model_mod.init_params(cfg, seed=1)
    step = model_mod.dnc_step

    def step_pt(params, state, x, config, record=False):
        return step(params, state._replace(read_vectors=np.zeros_like(state.read_vectors)), x, config, record)

    def run(stp, inputs, M0):
        s = model_mod.initial_state(cfg, inputs.shape[0])
        s = s._replace(memory=s.memory._replace(memory=M0))
        ys, xis = [], []
        for t in range(inputs.shape[1]):
            y, s, rec = stp(params, s, inputs[:, t], cfg, record=True)
            ys.append(y); xis.append(rec["interface_vector"])
        return np.stack(ys, 1), np.stack(xis, 1)

    xs = rng.normal(size=(2, T, cfg.input_size))
    M0 = rng.normal(size=(2, cfg.memory_size, cfg.word_size))
    return model_mod, cfg, params, step, step_pt, run, xs, M0


def test_pt_controller_never_depends_on_memory(rng):
    model_mod, cfg, params, step, step_pt, run, xs, M0 = _pt_setup(rng)
    T = xs.shape[1]
    proj = rng.normal(size=(2, T, cfg.interface_size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                     # autograd warns when an output ignores M0 (PT's case)
        g_pt = grad(lambda M: np.sum(run(step_pt, xs, M)[1] * proj))(M0)
        g_paper = [grad(lambda M: np.sum(run(step, xs[:, :t + 1], M)[1][:, t] * proj[:, t]))(M0) for t in range(T)]
    assert onp.all(g_pt == 0.0)                              # PT: the interface is a function of the inputs alone
    assert onp.all(g_paper[0] == 0.0)                        # the paper, step 1: nothing read yet
    assert all(onp.linalg.norm(g) > 1e-8 for g in g_paper[1:])
    g_y = grad(lambda M: np.sum(run(step_pt, xs, M)[0][:, -1]))(M0)
    assert onp.linalg.norm(g_y) > 1e-8                       # PT's output still sees memory, via r_t


def test_pt_outputs_differ_from_step_two(rng):
    model_mod, cfg, params, step, step_pt, run, xs, M0 = _pt_setup(rng)
    y_paper, _ = run(step, xs, M0)
    y_pt, _ = run(step_pt, xs, M0)
    s0 = model_mod.initial_state(cfg, 2)
    s0 = s0._replace(memory=s0.memory._replace(memory=M0))
    onp.testing.assert_allclose(y_paper, model_mod.unroll(params, xs, cfg, state=s0)[0])   # the paper's loop is dnc_lit's
    onp.testing.assert_allclose(y_paper[:, 0], y_pt[:, 0])
    assert onp.abs(y_paper[:, 1:] - y_pt[:, 1:]).max(-1).min() > 1e-8


# ---- 5. link directions (NP) ----------------------------------------------------------------------------------

def _random_link(rng, B=3, N=6, T=5):
    L, p = np.zeros((B, N, N)), np.zeros((B, N))
    for _ in range(T):
        ww = softmax(rng.normal(size=(B, N)) * 2) * rng.uniform(0.5, 1, size=(B, 1))
        L, p = link_matrix(L, ww, p), precedence(p, ww)
    return L


def test_np_forward_is_paper_backward(rng):
    for L in (_random_link(rng), rng.uniform(size=(2, 5, 5)) * (1 - onp.eye(5))):
        wr = softmax(rng.normal(size=(L.shape[0], 3, L.shape[-1])))
        fwd, bwd = directional_weightings(L, wr)
        fwd_np, bwd_np = directional_weightings_np(L, wr)
        onp.testing.assert_allclose(fwd_np, bwd)
        onp.testing.assert_allclose(bwd_np, fwd)
        assert not onp.allclose(fwd_np, fwd)


def test_one_hot_chain_directions():
    "Write slots 0, 1, ..., N-1 in order: the paper's forward moves +1, NP's 'forward' moves -1."
    N = 5
    L, p = np.zeros((1, N, N)), np.zeros((1, N))
    for s in range(N):
        ww = np.eye(N)[[s]]
        L, p = link_matrix(L, ww, p), precedence(p, ww)
    for s in range(1, N - 1):
        wr = np.eye(N)[[s]][None]
        fwd, bwd = directional_weightings(L, wr)
        fwd_np, _ = directional_weightings_np(L, wr)
        onp.testing.assert_array_equal(fwd[0, 0], onp.eye(N)[s + 1])
        onp.testing.assert_array_equal(bwd[0, 0], onp.eye(N)[s - 1])
        onp.testing.assert_array_equal(fwd_np[0, 0], onp.eye(N)[s - 1])


# ---- 6. read-mode softmax axis (NP) ---------------------------------------------------------------------------

@given(st.integers(2, 5), st.integers(0, 2**31 - 1))
def test_np_modes_rows_do_not_sum_to_one(R, seed):
    r = onp.random.default_rng(seed)
    raw = r.normal(size=(2, 3 * R)) * 2
    pi_np = read_modes_np(raw, R)
    rows = pi_np.sum(-1)
    assert onp.abs(rows - 1).max() > 1e-6                     # a head's modes: not a distribution
    onp.testing.assert_allclose(pi_np.sum(-2), 1.0)            # each mode sums to one over the heads
    onp.testing.assert_allclose(rows.sum(-1), 3.0)             # so the row sums always add up to 3
    xi = onp.zeros((2, interface_size(R, 2)))
    xi[:, -3 * R:] = raw
    onp.testing.assert_allclose(parse_interface(xi, R, 2).read_modes.sum(-1), 1.0)   # dnc_lit: on the simplex


def test_np_modes_single_head_are_all_ones(rng):
    onp.testing.assert_array_equal(read_modes_np(rng.normal(size=(4, 3)), 1), onp.ones((4, 1, 3)))


def test_np_modes_worked_example():
    raw = np.array([[0.0, np.log(3), 0.0, 0.0, 0.0, np.log(7)]])
    pi = read_modes_np(raw, 2)
    onp.testing.assert_allclose(pi[0], [[1 / 4, 1 / 2, 1 / 8], [3 / 4, 1 / 2, 7 / 8]])
    w_r = read_weighting(pi, np.eye(4)[[[0, 0]]], np.eye(4)[[[3, 3]]], np.eye(4)[[[2, 2]]])
    onp.testing.assert_allclose(w_r.sum(-1), [[0.875, 2.125]])


# ---- smaller departures ---------------------------------------------------------------------------------------

def test_pt_cosine_bug_flattens(rng):
    "Before PT PR #57 similarities were divided by W: the lookup is flatter than dnc_lit's for W > 1."
    M, k = rng.normal(size=(2, 6, 16)), rng.normal(size=(2, 3, 16))
    beta = oneplus(rng.normal(2, 1, size=(2, 3)))
    ok = content_weighting(M, k, beta)
    bug = softmax(beta[..., None] * cosine_similarity(k, M) / 16)
    assert onp.all(bug.max(-1) < ok.max(-1))
    # dnc_lit's cosine similarity is a true cosine: 1 for a key equal to a row, whatever W
    onp.testing.assert_allclose(cosine_similarity(M[:, :1], M)[:, 0, 0], 1.0, atol=1e-6)


def test_float32_offsets_exact_only_below_2_24():
    below = onp.arange(2**24 - 100, 2**24)
    onp.testing.assert_array_equal(below.astype(onp.float32).astype(onp.int64), below)
    above = onp.arange(2**24, 2**24 + 100)
    assert len(set(above.astype(onp.float32).astype(onp.int64))) < len(above)


def test_naive_oneplus_overflows_dnc_lit_does_not():
    with onp.errstate(over="ignore"):
        assert onp.isinf(1 + onp.log(1 + onp.exp(800.0)))
    assert abs(oneplus(np.array(800.0)) - 801.0) < 1e-9
    assert onp.isfinite(grad(oneplus)(800.0))
