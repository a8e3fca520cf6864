"""Reading and writing to memory (Methods, Reading and writing to memory).

The oracles are plain loops over the indices of r^i[j] = sum_n M[n, j] w^{r,i}[n] and
M_t[n, j] = M_{t-1}[n, j] (1 - w^w[n] e[j]) + w^w[n] v[j]; they do not call the functions under test."""
import numpy as onp
import pytest
from hypothesis import given, strategies as st

from dnc_lit.memory import read_memory, write_memory
from helpers import check_grad, random_projection


def read_oracle(M, w_r):
    B, N, W = M.shape
    R = w_r.shape[1]
    r = onp.zeros((B, R, W))
    for b in range(B):
        for i in range(R):
            for j in range(W):
                for n in range(N):
                    r[b, i, j] += M[b, n, j] * w_r[b, i, n]
    return r


def write_oracle(M, w_w, e, v):
    B, N, W = M.shape
    out = onp.zeros_like(M)
    for b in range(B):
        for n in range(N):
            for j in range(W):
                out[b, n, j] = M[b, n, j] * (1 - w_w[b, n] * e[b, j]) + w_w[b, n] * v[b, j]
    return out


# ------------------------------------------------------------------------------- random inputs from a drawn seed
dims = st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 5), st.integers(1, 4))   # B, N, W, R


def in_Delta(rng, *shape):
    "Weightings in the corner of the cube Delta_N (last axis): non-negative, total at most 1."
    w = rng.dirichlet(onp.ones(shape[-1]), size=shape[:-1])
    return w * rng.uniform(0, 1, size=shape[:-1] + (1,))


@st.composite
def memories(draw):
    B, N, W, R = draw(dims)
    rng = onp.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return dict(B=B, N=N, W=W, R=R, rng=rng, M=rng.normal(size=(B, N, W)), w_r=in_Delta(rng, B, R, N),
                w_w=in_Delta(rng, B, N), e=rng.uniform(size=(B, W)), v=rng.normal(size=(B, W)))


# ------------------------------------------------------------------------------------------ oracles
@given(memories())
def test_read_matches_loop_oracle(c):
    got = read_memory(c["M"], c["w_r"])
    assert got.shape == (c["B"], c["R"], c["W"])
    onp.testing.assert_allclose(got, read_oracle(c["M"], c["w_r"]), rtol=1e-12, atol=1e-14)


@given(memories())
def test_write_matches_loop_oracle(c):
    got = write_memory(c["M"], c["w_w"], c["e"], c["v"])
    assert got.shape == c["M"].shape
    onp.testing.assert_allclose(got, write_oracle(c["M"], c["w_w"], c["e"], c["v"]), rtol=1e-12, atol=1e-14)


def test_worked_examples_by_hand():
    M = onp.array([[[1.0, 0, 0], [0, 2, 0], [0, 0, 3], [1, 1, 1]]])
    r = read_memory(M, onp.array([[[0, 0, 1.0, 0], [0.5, 0.5, 0, 0]]]))
    onp.testing.assert_allclose(r, [[[0, 0, 3], [0.5, 1, 0]]])
    v, ones = onp.array([[7.0, 8, 9]]), onp.ones((1, 3))
    onp.testing.assert_allclose(write_memory(M, onp.array([[0, 0, 1.0, 0]]), ones, v),
                                [[[1, 0, 0], [0, 2, 0], [7, 8, 9], [1, 1, 1]]])
    onp.testing.assert_allclose(write_memory(M, onp.array([[0, 0.5, 0, 0]]), ones, v)[0, 1], [3.5, 5, 4.5])
    onp.testing.assert_allclose(write_memory(M, onp.array([[0, 0, 1.0, 0]]), 0 * ones, v)[0, 2], [7, 8, 12])


# ------------------------------------------------------------------------------------------ the paper's properties
@given(memories(), st.data())
def test_full_erase_one_hot_write_replaces_the_row(c, data):
    n = data.draw(st.integers(0, c["N"] - 1))
    w_w = onp.zeros((c["B"], c["N"])); w_w[:, n] = 1
    out = write_memory(c["M"], w_w, onp.ones((c["B"], c["W"])), c["v"])
    onp.testing.assert_array_equal(out[:, n], c["v"])                      # exactly v, no rounding
    others = [k for k in range(c["N"]) if k != n]
    onp.testing.assert_array_equal(out[:, others], c["M"][:, others])


@given(memories())
def test_zero_write_weighting_leaves_memory_unchanged(c):
    out = write_memory(c["M"], onp.zeros((c["B"], c["N"])), c["e"], c["v"])
    onp.testing.assert_array_equal(out, c["M"])


@given(memories())
def test_full_erase_blends_each_row(c):
    "With e = 1: M_t[n] = (1 - w[n]) M_{t-1}[n] + w[n] v, a convex combination for w in Delta_N."
    w = c["w_w"][:, :, None]
    out = write_memory(c["M"], c["w_w"], onp.ones((c["B"], c["W"])), c["v"])
    onp.testing.assert_allclose(out, (1 - w) * c["M"] + w * c["v"][:, None, :], rtol=1e-12, atol=1e-14)
    lo = onp.minimum(c["M"], c["v"][:, None, :]); hi = onp.maximum(c["M"], c["v"][:, None, :])
    assert ((out >= lo - 1e-12) & (out <= hi + 1e-12)).all()


@given(memories())
def test_erase_only_shrinks(c):
    "With v = 0, w in Delta_N and e in [0, 1], no entry grows in magnitude or changes sign."
    out = write_memory(c["M"], c["w_w"], c["e"], onp.zeros((c["B"], c["W"])))
    assert (onp.abs(out) <= onp.abs(c["M"]) + 1e-15).all()
    assert (out * c["M"] >= 0).all()


@given(memories(), st.data())
def test_one_hot_read_returns_the_row(c, data):
    idx = [data.draw(st.integers(0, c["N"] - 1)) for _ in range(c["R"])]
    w_r = onp.zeros((c["B"], c["R"], c["N"]))
    for i, n in enumerate(idx): w_r[:, i, n] = 1
    out = read_memory(c["M"], w_r)
    for i, n in enumerate(idx):
        onp.testing.assert_array_equal(out[:, i], c["M"][:, n])


@given(memories())
def test_read_is_linear_in_the_weighting(c):
    w2 = in_Delta(c["rng"], c["B"], c["R"], c["N"])
    onp.testing.assert_allclose(read_memory(c["M"], 0.3 * c["w_r"] + 0.5 * w2),
                                0.3 * read_memory(c["M"], c["w_r"]) + 0.5 * read_memory(c["M"], w2),
                                rtol=1e-12, atol=1e-13)
    onp.testing.assert_array_equal(read_memory(c["M"], 0 * c["w_r"]), 0)


@given(memories())
def test_read_of_Delta_weighting_is_bounded_by_the_rows(c):
    "r = sum_n w[n] M[n] with sum w <= 1: each entry lies between min(0, min_n M) and max(0, max_n M)."
    r = read_memory(c["M"], c["w_r"])
    lo = onp.minimum(c["M"].min(axis=1), 0)[:, None, :]; hi = onp.maximum(c["M"].max(axis=1), 0)[:, None, :]
    assert ((r >= lo - 1e-12) & (r <= hi + 1e-12)).all()


# ------------------------------------------------------------------------------------------ batch independence
@given(memories())
def test_batch_independence(c):
    r = read_memory(c["M"], c["w_r"])
    m = write_memory(c["M"], c["w_w"], c["e"], c["v"])
    for b in range(c["B"]):
        s = slice(b, b + 1)
        onp.testing.assert_allclose(r[s], read_memory(c["M"][s], c["w_r"][s]), rtol=1e-13, atol=1e-15)
        onp.testing.assert_array_equal(m[s], write_memory(c["M"][s], c["w_w"][s], c["e"][s], c["v"][s]))


# ------------------------------------------------------------------------------------------ gradients
@pytest.mark.parametrize("B,N,W,R", [(1, 4, 3, 1), (2, 5, 3, 2)])
def test_read_gradients(rng, B, N, W, R):
    P = random_projection(rng, (B, R, W))
    def loss(M, w_r): return (read_memory(M, w_r) * P).sum()
    check_grad(loss, (rng.normal(size=(B, N, W)), in_Delta(rng, B, R, N)), name="read_memory")


@pytest.mark.parametrize("B,N,W", [(1, 4, 3), (2, 5, 3)])
def test_write_gradients(rng, B, N, W):
    P = random_projection(rng, (B, N, W))
    def loss(M, w_w, e, v): return (write_memory(M, w_w, e, v) ** 2 * P).sum()   # squared: a nonlinear loss
    args = (rng.normal(size=(B, N, W)), in_Delta(rng, B, N), rng.uniform(size=(B, W)), rng.normal(size=(B, W)))
    check_grad(loss, args, name="write_memory")


def test_gradient_of_read_with_respect_to_weighting_is_the_memory(rng):
    from autograd import jacobian
    M, w_r = rng.normal(size=(1, 4, 3)), in_Delta(rng, 1, 2, 4)
    J = jacobian(lambda w: read_memory(M, w))(w_r)          # (1, R, W, 1, R, N)
    for i in range(2):
        onp.testing.assert_allclose(J[0, i, :, 0, i, :], M[0].T)
        onp.testing.assert_array_equal(J[0, i, :, 0, 1 - i, :], 0)


def test_float64_preserved():
    M = onp.zeros((1, 2, 2))
    assert read_memory(M, onp.zeros((1, 1, 2))).dtype == onp.float64
    assert write_memory(M, onp.zeros((1, 2)), onp.zeros((1, 2)), onp.zeros((1, 2))).dtype == onp.float64
