"""Tests of dnc_lit.allocation (Methods, Dynamic memory allocation and Write weighting): plain-loop oracles written
from the paper's index notation, hypothesis properties of the paper's invariants, finite-difference gradients,
NaN safety at the extremes, and batch independence."""
import numpy as onp
import autograd.numpy as np
import pytest
from autograd import grad
from hypothesis import given, assume, strategies as st
from hypothesis.extra.numpy import arrays

from dnc_lit.allocation import (retention, usage, free_list, exclusive_cumprod, allocation_weighting,
                                write_weighting)
from helpers import check_grad, random_projection


# ---------------------------------------------------------------- oracles: index notation, plain loops

def retention_oracle(f, w_r_prev):
    "psi[b, j] = prod_i (1 - f[b, i] w_r_prev[b, i, j])"
    B, R, N = w_r_prev.shape
    psi = onp.ones((B, N))
    for b in range(B):
        for j in range(N):
            for i in range(R):
                psi[b, j] *= 1 - f[b, i] * w_r_prev[b, i, j]
    return psi


def usage_oracle(u_prev, w_w_prev, f, w_r_prev):
    "u[b, j] = (u_prev[b, j] + w_w_prev[b, j] - u_prev[b, j] w_w_prev[b, j]) psi[b, j]"
    psi = retention_oracle(f, w_r_prev)
    B, N = u_prev.shape
    u = onp.zeros((B, N))
    for b in range(B):
        for j in range(N):
            u[b, j] = (u_prev[b, j] + w_w_prev[b, j] - u_prev[b, j] * w_w_prev[b, j]) * psi[b, j]
    return u


def allocation_oracle(u):
    "a[phi[j]] = (1 - u[phi[j]]) prod_{i<j} u[phi[i]], phi the slots by ascending usage (ties: lower index first)"
    B, N = u.shape
    a = onp.zeros((B, N))
    for b in range(B):
        phi = sorted(range(N), key=lambda j: (u[b, j], j))
        for j in range(N):
            prod = 1.0
            for i in range(j):
                prod *= u[b, phi[i]]
            a[b, phi[j]] = (1 - u[b, phi[j]]) * prod
    return a


def write_weighting_oracle(c_w, a, g_a, g_w):
    "w_w[b, j] = g_w[b] (g_a[b] a[b, j] + (1 - g_a[b]) c_w[b, j])"
    B, N = a.shape
    w = onp.zeros((B, N))
    for b in range(B):
        for j in range(N):
            w[b, j] = g_w[b] * (g_a[b] * a[b, j] + (1 - g_a[b]) * c_w[b, j])
    return w


def exclusive_cumprod_stack(x):
    "The obvious differentiable exclusive cumulative product: multiply and stack (autograd traces every step)."
    out = [np.ones(x.shape[:-1])]
    for k in range(1, x.shape[-1]):
        out.append(out[-1] * x[..., k - 1])
    return np.stack(out, axis=-1)


# ---------------------------------------------------------------- random inputs in the paper's ranges

def simplex_rows(rng, shape, mass=1.0):
    "Rows (last axis) that are non-negative and sum to `mass` times a uniform factor in [0, 1] (a point of Delta_N)."
    w = rng.dirichlet(onp.ones(shape[-1]), size=shape[:-1])
    return w * mass * rng.uniform(size=shape[:-1] + (1,))


def untied_usage(rng, B, N, gap=1e-3):
    "Usages in (0.02, 0.98) with all pairwise gaps > gap (finite differences must not cross a tie of the sort)."
    while True:
        u = rng.uniform(0.02, 0.98, size=(B, N))
        if (onp.diff(onp.sort(u, axis=-1), axis=-1) > gap).all():
            return u


def memory_inputs(rng, B=3, R=2, N=5):
    return dict(u_prev=rng.uniform(size=(B, N)), w_w_prev=simplex_rows(rng, (B, N)),
                f=rng.uniform(size=(B, R)), w_r_prev=simplex_rows(rng, (B, R, N)))


# ---------------------------------------------------------------- oracle comparisons and worked examples

def test_retention_matches_oracle(rng):
    x = memory_inputs(rng, B=4, R=3, N=6)
    onp.testing.assert_allclose(retention(x["f"], x["w_r_prev"]), retention_oracle(x["f"], x["w_r_prev"]), atol=1e-14)


def test_usage_matches_oracle(rng):
    x = memory_inputs(rng, B=4, R=3, N=6)
    onp.testing.assert_allclose(usage(x["u_prev"], x["w_w_prev"], x["f"], x["w_r_prev"]),
                                usage_oracle(x["u_prev"], x["w_w_prev"], x["f"], x["w_r_prev"]), atol=1e-14)


@pytest.mark.parametrize("N", [1, 2, 5, 9])
def test_allocation_matches_oracle(rng, N):
    u = rng.uniform(size=(6, N))
    u[0] = 0.0                                   # all ties (the first step of every sequence)
    u[1, : N // 2] = 0.3                         # some ties
    u[2] = 1.0                                   # full memory
    onp.testing.assert_allclose(allocation_weighting(u), allocation_oracle(u), atol=1e-14)


def test_write_weighting_matches_oracle(rng):
    B, N = 5, 6
    c, a = simplex_rows(rng, (B, N), 1.0), allocation_oracle(rng.uniform(size=(B, N)))
    g_a, g_w = rng.uniform(size=B), rng.uniform(size=B)
    g_a[0], g_w[1], g_a[2] = 0.0, 0.0, 1.0
    onp.testing.assert_allclose(write_weighting(c, a, g_a, g_w), write_weighting_oracle(c, a, g_a, g_w), atol=1e-14)


def test_worked_examples():
    u = onp.array([[0.2, 0.9, 0.5, 0.7]])
    onp.testing.assert_array_equal(free_list(u), [[0, 2, 3, 1]])
    onp.testing.assert_allclose(allocation_weighting(u), [[0.8, 0.007, 0.1, 0.03]], atol=1e-15)
    onp.testing.assert_allclose(allocation_weighting(u).sum(), 0.937)
    onp.testing.assert_allclose(allocation_weighting(onp.array([[0.2, 0.1, 0.5]])), [[0.08, 0.9, 0.01]], atol=1e-15)
    psi = retention(onp.array([[0.5, 1.0]]), onp.array([[[1.0, 0, 0, 0], [0.5, 0.5, 0, 0]]]))
    onp.testing.assert_allclose(psi, [[0.25, 0.5, 1.0, 1.0]])
    u_t = usage(onp.array([[0.8, 1.0, 0.5, 0.0]]), onp.array([[0, 0, 0.5, 0.4]]), onp.array([[0.5, 1.0]]),
                onp.array([[[1.0, 0, 0, 0], [0.5, 0.5, 0, 0]]]))
    onp.testing.assert_allclose(u_t, [[0.2, 0.5, 0.75, 0.4]])
    onp.testing.assert_allclose(write_weighting(onp.array([[0.1, 0.6, 0.2, 0.1]]), onp.array([[0.8, 0.007, 0.1, 0.03]]),
                                                onp.array([0.75]), onp.array([0.8])), [[0.5, 0.1242, 0.1, 0.038]])


def test_full_write_and_full_free():
    "DM's usage checks: a full write makes usage 1; a full free (gate 1, one-hot read) makes it 0."
    N = 4
    u = usage(onp.zeros((1, N)), onp.eye(N)[2][None], onp.zeros((1, 1)), onp.zeros((1, 1, N)))
    onp.testing.assert_array_equal(u, [[0, 0, 1, 0]])
    u = usage(onp.ones((1, N)), onp.zeros((1, N)), onp.ones((1, 1)), onp.eye(N)[2][None, None])
    onp.testing.assert_array_equal(u, [[1, 1, 0, 1]])


# ---------------------------------------------------------------- hypothesis: the paper's invariants

unit = st.floats(0.0, 1.0, allow_nan=False)
dims = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 7))   # B, R, N


@st.composite
def memory_case(draw):
    B, R, N = draw(dims)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = onp.random.default_rng(seed)
    x = memory_inputs(rng, B, R, N)
    # hit the edges of the ranges as well as the interior
    x["u_prev"] = draw(arrays(float, (B, N), elements=unit))
    x["f"] = draw(arrays(float, (B, R), elements=unit))
    return x


@given(memory_case())
def test_usage_stays_in_unit_interval(x):
    u = usage(x["u_prev"], x["w_w_prev"], x["f"], x["w_r_prev"])
    assert onp.isfinite(u).all() and (u >= 0).all() and (u <= 1).all()
    psi = retention(x["f"], x["w_r_prev"])
    assert (psi >= 0).all() and (psi <= 1).all()


@given(st.integers(1, 4).flatmap(lambda B: st.integers(1, 8).flatmap(
    lambda N: arrays(float, (B, N), elements=unit))))
def test_allocation_in_delta_with_telescoping_sum(u):
    a = allocation_weighting(u)
    assert onp.isfinite(a).all() and (a >= 0).all()
    assert (a.sum(-1) <= 1 + 1e-12).all()
    onp.testing.assert_allclose(a.sum(-1), 1 - onp.prod(u, axis=-1), atol=1e-12)   # sum_j a[j] = 1 - prod_j u[j]
    free = u.min(-1) == 0
    onp.testing.assert_allclose(a.sum(-1)[free], 1.0)                                # a free slot absorbs everything


@given(arrays(float, st.integers(2, 8), elements=st.floats(0.0, 0.99)))
def test_argmin_usage_is_argmax_allocation(u):
    s = onp.sort(u)
    assume(s[1] - s[0] > 1e-9)                   # a unique least used slot
    a = allocation_weighting(u[None])[0]
    assert onp.argmax(a) == onp.argmin(u)
    onp.testing.assert_allclose(a.max(), 1 - u.min())


@given(st.integers(1, 4).flatmap(lambda B: st.tuples(
    arrays(float, (B, 6), elements=unit), arrays(float, B, elements=unit), arrays(float, B, elements=unit),
    st.integers(0, 2**32 - 1))))
def test_write_weighting_in_delta_below_write_gate(args):
    u, g_a, g_w, seed = args
    c = simplex_rows(onp.random.default_rng(seed), u.shape, 1.0)
    c = c / c.sum(-1, keepdims=True)             # a softmax output: exactly in the simplex
    w = write_weighting(c, allocation_weighting(u), g_a, g_w)
    assert (w >= 0).all()
    assert (w.sum(-1) <= g_w + 1e-12).all()


# ---------------------------------------------------------------- gradients: autograd against central differences

def test_grad_retention(rng):
    x = memory_inputs(rng)
    G = random_projection(rng, x["u_prev"].shape)
    check_grad(lambda f, w: np.sum(G * retention(f, w)), (x["f"], x["w_r_prev"]), name="retention")


def test_grad_usage(rng):
    x = memory_inputs(rng)
    G = random_projection(rng, x["u_prev"].shape)
    check_grad(lambda u, ww, f, wr: np.sum(G * usage(u, ww, f, wr)),
               (x["u_prev"], x["w_w_prev"], x["f"], x["w_r_prev"]), name="usage")


def test_grad_usage_wrt_previous_write_is_kept(rng):
    "The paper keeps the gradient of usage w.r.t. w^w_{t-1} (DM and RC stop it): d u / d w_w_prev = (1 - u_prev) psi."
    x = memory_inputs(rng)
    g = grad(lambda ww: np.sum(usage(x["u_prev"], ww, x["f"], x["w_r_prev"])))(x["w_w_prev"])
    onp.testing.assert_allclose(g, (1 - x["u_prev"]) * retention_oracle(x["f"], x["w_r_prev"]))
    assert onp.abs(g).sum() > 0


def test_grad_allocation_away_from_ties(rng):
    u = untied_usage(rng, 3, 6)
    G = random_projection(rng, u.shape)
    check_grad(lambda u: np.sum(G * allocation_weighting(u)), (u,), name="allocation_weighting")


def test_grad_write_weighting(rng):
    B, N = 3, 5
    c, a = simplex_rows(rng, (B, N), 1.0), allocation_oracle(rng.uniform(size=(B, N)))
    g_a, g_w = rng.uniform(size=B), rng.uniform(size=B)
    G = random_projection(rng, (B, N))
    check_grad(lambda c, a, ga, gw: np.sum(G * write_weighting(c, a, ga, gw)), (c, a, g_a, g_w), name="write_weighting")


def test_grad_chain_usage_allocation_write(rng):
    "The three steps composed, as the memory step uses them, differentiated end to end."
    x = memory_inputs(rng, B=2, R=2, N=5)
    x["u_prev"] = untied_usage(rng, 2, 5, gap=0.05)
    x["f"] = onp.full((2, 2), 0.01)              # small frees, keeping the usages apart
    c = simplex_rows(rng, (2, 5), 1.0)
    G = random_projection(rng, (2, 5))

    def loss(u_prev, f, c):
        a = allocation_weighting(usage(u_prev, x["w_w_prev"], f, x["w_r_prev"]))
        return np.sum(G * write_weighting(c, a, np.array([0.6, 0.3]), np.array([0.9, 0.5])))
    u_next = usage(x["u_prev"], x["w_w_prev"], x["f"], x["w_r_prev"])
    assert (onp.diff(onp.sort(u_next, -1), axis=-1) > 1e-4).all()   # finite differences stay off ties
    check_grad(loss, (x["u_prev"], x["f"], c), name="usage->allocation->write")


@pytest.mark.parametrize("shape", [(7,), (3, 6), (2, 3, 5)])
def test_exclusive_cumprod_values_and_grad(rng, shape):
    x = rng.uniform(size=shape)
    onp.testing.assert_allclose(exclusive_cumprod(x), exclusive_cumprod_stack(x), atol=1e-15)
    G = random_projection(rng, shape)
    check_grad(lambda x: np.sum(G * exclusive_cumprod(x)), (x,), name="exclusive_cumprod")


def test_exclusive_cumprod_grad_at_exact_zeros(rng):
    "Exact zeros (one, two in a row, all): the primitive's gradient equals the stack version's and finite differences."
    x = rng.uniform(size=(5, 6))
    x[0, 0] = 0.0
    x[1, 3] = 0.0
    x[2, 1:3] = 0.0
    x[3, [0, 4]] = 0.0
    x[4] = 0.0
    G = random_projection(rng, x.shape)
    g_prim = grad(lambda x: np.sum(G * exclusive_cumprod(x)))(x)
    g_stack = grad(lambda x: np.sum(G * exclusive_cumprod_stack(x)))(x)
    assert onp.isfinite(g_prim).all()
    onp.testing.assert_allclose(g_prim, g_stack, atol=1e-14)
    check_grad(lambda x: np.sum(G * exclusive_cumprod(x)), (x,), name="exclusive_cumprod at zeros")


def test_exclusive_cumprod_single_slot():
    x = onp.array([[0.3]])
    onp.testing.assert_array_equal(exclusive_cumprod(x), [[1.0]])
    onp.testing.assert_array_equal(grad(lambda x: np.sum(exclusive_cumprod(x)))(x), [[0.0]])


# ---------------------------------------------------------------- NaN safety at the extremes

@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_allocation_nan_safe_at_extremes(rng, fill):
    u = onp.full((2, 5), fill)
    a = allocation_weighting(u)
    G = random_projection(rng, u.shape)
    g = grad(lambda u: np.sum(G * allocation_weighting(u)))(u)
    assert onp.isfinite(a).all() and onp.isfinite(g).all()
    if fill == 0.0:
        onp.testing.assert_array_equal(a, onp.eye(5)[[0, 0]])      # all free: the first slot takes everything
        onp.testing.assert_allclose(g[:, 0], G[:, 1] - G[:, 0])   # d/du0 of G0 (1 - u0) + G1 (1 - u1) u0
        onp.testing.assert_array_equal(g[:, 1:], 0.0)
    else:
        onp.testing.assert_array_equal(a, 0.0)                     # all full: nothing to allocate
        onp.testing.assert_allclose(g, -G)


@pytest.mark.parametrize("gate", [0.0, 1.0])
def test_usage_nan_safe_with_saturated_gates(rng, gate):
    "Free gates 0 and 1 on one-hot reads (retention factors exactly 0 or 1) and usages 0 and 1."
    B, R, N = 2, 2, 4
    u_prev = onp.array([[0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    w_w_prev = onp.array([[1.0, 0, 0, 0], [0, 0, 0, 0]])
    f = onp.full((B, R), gate)
    w_r_prev = onp.stack([onp.eye(N)[[0, 1]], onp.eye(N)[[1, 1]]])   # (B, R, N), head reads overlap in row 1
    G = random_projection(rng, (B, N))
    for i in range(4):
        g = grad(lambda *a: np.sum(G * allocation_weighting(usage(*a))), i)(u_prev, w_w_prev, f, w_r_prev)
        assert onp.isfinite(g).all(), f"argument {i}"
    u = usage(u_prev, w_w_prev, f, w_r_prev)
    onp.testing.assert_allclose(u, usage_oracle(u_prev, w_w_prev, f, w_r_prev))
    if gate == 1.0:
        onp.testing.assert_array_equal(u[:, 1], 0.0)               # slot 1 read and freed in both rows


@pytest.mark.parametrize("g_a,g_w", [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)])
def test_write_weighting_gate_corners(rng, g_a, g_w):
    B, N = 2, 5
    c, a = simplex_rows(rng, (B, N), 1.0), allocation_oracle(rng.uniform(size=(B, N)))
    ga, gw = onp.full(B, g_a), onp.full(B, g_w)
    w = write_weighting(c, a, ga, gw)
    expected = onp.zeros((B, N)) if g_w == 0 else (a if g_a == 1 else c)
    onp.testing.assert_array_equal(w, expected)
    G = random_projection(rng, (B, N))
    for i in range(4):
        g = grad(lambda *x: np.sum(G * write_weighting(*x)), i)(c, a, ga, gw)
        assert onp.isfinite(g).all()


# ---------------------------------------------------------------- batch independence

def test_batch_independence(rng):
    B, R, N = 4, 2, 6
    x = memory_inputs(rng, B, R, N)
    c = simplex_rows(rng, (B, N), 1.0)
    g_a, g_w = rng.uniform(size=B), rng.uniform(size=B)

    def step(u_prev, w_w_prev, f, w_r_prev, c, g_a, g_w):
        u = usage(u_prev, w_w_prev, f, w_r_prev)
        a = allocation_weighting(u)
        return retention(f, w_r_prev), u, a, write_weighting(c, a, g_a, g_w)

    batched = step(x["u_prev"], x["w_w_prev"], x["f"], x["w_r_prev"], c, g_a, g_w)
    for b in range(B):
        sl = slice(b, b + 1)
        single = step(x["u_prev"][sl], x["w_w_prev"][sl], x["f"][sl], x["w_r_prev"][sl], c[sl], g_a[sl], g_w[sl])
        for got, want in zip(batched, single):
            onp.testing.assert_allclose(got[sl], want, atol=1e-15)
    # and the gradient of one row's loss does not reach the other rows
    g = grad(lambda u: np.sum(allocation_weighting(u)[0]))(untied_usage(rng, B, N))
    assert onp.abs(g[0]).sum() > 0 and (g[1:] == 0).all()
