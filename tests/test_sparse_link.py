"""Tests of dnc_lit.sparse_link: the paper's sparse link matrix (Methods, Sparse link matrix).
Oracles are plain loops over the dense matrix written from the paper's recurrence, not the code under test."""
import numpy as onp
import autograd.numpy as np
import pytest
from hypothesis import given, strategies as st
from helpers import check_grad
from dnc_lit.linkage import link_matrix, precedence, directional_weightings
from dnc_lit.access import initial_memory_state, memory_step
from dnc_lit.interface import Interface
from dnc_lit.sparse_link import (sparsify, SparseLink, initial_sparse_link, to_dense, sparse_link_update, scatter_add,
                                 sparse_directional_weightings, initial_sparse_memory_state, sparse_memory_step)


def oracle_sparsify(w, K):
    "Loop: keep the K largest of each row (stable order on ties), divide by their sum (zeros stay zeros)."
    out = onp.zeros_like(w)
    for b in range(w.shape[0]):
        keep = sorted(range(w.shape[1]), key=lambda i: -w[b, i])[:K]
        s = sum(w[b, i] for i in keep)
        for i in keep: out[b, i] = w[b, i] / s if s > 0 else 0.0
    return out


def oracle_update(L, w, p, K):
    "Loop over i, j: L[i,j] = (1 - w^[i] - w^[j]) L[i,j] + w^[i] p^[j], L[i,i] = 0, entries below 1/K set to 0."
    w_h, p_h = oracle_sparsify(w, K), oracle_sparsify(p, K)
    B, N = w.shape
    out = onp.zeros_like(L)
    for b in range(B):
        for i in range(N):
            for j in range(N):
                if i == j: continue
                v = (1 - w_h[b, i] - w_h[b, j]) * L[b, i, j] + w_h[b, i] * p_h[b, j]
                out[b, i, j] = v if v >= 1.0 / K else 0.0
    return out


def soft_writes(rng, B, N, T, alpha=0.3):
    "T random write weightings in Delta_N with random gates, some exactly zero."
    return [(rng.uniform(size=(B, 1)) * (rng.uniform(size=(B, 1)) < 0.9)) * rng.dirichlet(onp.full(N, alpha), B)
            for _ in range(T)]


def check_invariants(link, K):
    "At most K non-zeros per row and column, entries in [0, 1], zero diagonal, row and column sums <= 1 (plain loops)."
    idx, val = onp.asarray(link.index), onp.asarray(link.value)
    B, N, _ = idx.shape
    for b in range(B):
        D = onp.zeros((N, N))
        for i in range(N):
            for k in range(idx.shape[2]):
                D[i, idx[b, i, k]] += val[b, i, k]
        assert (D >= 0).all() and (D <= 1 + 1e-12).all()
        assert onp.all(onp.diag(D) == 0)
        assert D.sum(0).max() <= 1 + 1e-12 and D.sum(1).max() <= 1 + 1e-12
        assert (D > 0).sum(0).max() <= K and (D > 0).sum(1).max() <= K


def test_sparsify_hand():
    w_hat, top = sparsify(onp.array([[.1, .4, .05, .3, .15]]), 2)
    onp.testing.assert_allclose(w_hat, [[0, 4 / 7, 0, 3 / 7, 0]])
    assert onp.array_equal(sparsify(onp.zeros((2, 5)), 3)[0], onp.zeros((2, 5)))


@pytest.mark.parametrize("N", [1, 2, 5, 9])
def test_one_hot_writes_equal_dense_for_every_K(N, rng):
    "With one-hot (or no) writes, sparse and dense give the same matrix and the same weightings, for K = 1..N."
    B, R, T = 3, 2, 3 * N + 2
    for K in range(1, N + 1):
        L, S, p = onp.zeros((B, N, N)), initial_sparse_link(B, N, K), onp.zeros((B, N))
        for t in range(T):
            w = onp.eye(N)[rng.integers(0, N, B)] * (rng.uniform(size=(B, 1)) < 0.8)
            L, S, p = link_matrix(L, w, p), sparse_link_update(S, w, p, K), precedence(p, w)
            w_r = rng.dirichlet(onp.ones(N), (B, R))
            f_d, b_d = directional_weightings(L, w_r)
            f_s, b_s = sparse_directional_weightings(S, w_r)
            onp.testing.assert_allclose(to_dense(S), L, atol=1e-15)
            onp.testing.assert_allclose(f_s, f_d, atol=1e-15)
            onp.testing.assert_allclose(b_s, b_d, atol=1e-15)


@given(N=st.integers(2, 9), K=st.integers(1, 6), T=st.integers(1, 12), seed=st.integers(0, 2**31 - 1),
       paper_precedence=st.booleans())
def test_update_matches_loop_oracle(N, K, T, seed, paper_precedence):
    "Soft writes: the sparse update equals the loop oracle of the paper's recurrence plus threshold, with either precedence."
    rng = onp.random.default_rng(seed)
    B = 2
    L, S, p = onp.zeros((B, N, N)), initial_sparse_link(B, N, K), onp.zeros((B, N))
    for w in soft_writes(rng, B, N, T):
        L, S = oracle_update(L, w, p, K), sparse_link_update(S, w, p, K)
        p = precedence(p, w if paper_precedence else oracle_sparsify(w, K))
        onp.testing.assert_allclose(to_dense(S), L, atol=1e-12)


@given(N=st.integers(2, 12), K=st.integers(1, 8), T=st.integers(1, 20), seed=st.integers(0, 2**31 - 1),
       alpha=st.sampled_from([0.05, 0.3, 1.0, 5.0]))
def test_invariants(N, K, T, seed, alpha):
    "With the precedence of the sparsified writes, every invariant of the paper holds after every step."
    rng = onp.random.default_rng(seed)
    B = 2
    S, p = initial_sparse_link(B, N, K), onp.zeros((B, N))
    for w in soft_writes(rng, B, N, T, alpha):
        S = sparse_link_update(S, w, p, K)
        p = precedence(p, sparsify(w, K)[0])
        check_invariants(S, K)


def test_paper_precedence_breaks_column_bound():
    "Documented choice: with the precedence of the un-sparsified writes, faint writes push a column sum above 1."
    N, K = 6, 8
    S, p = initial_sparse_link(1, N, K), onp.zeros((1, N))
    for w in [onp.eye(N)[[0]]] + [0.1 * onp.eye(N)[[k]] for k in (1, 2, 3)]:
        S, p = sparse_link_update(S, w, p, K), precedence(p, w)
    assert to_dense(S)[0].sum(0)[0] > 2


def test_scatter_add_against_loop(rng):
    B, R, N, K = 2, 3, 5, 4
    c, index = rng.uniform(size=(B, R, N, K)), rng.integers(0, N, size=(B, N, K))
    out = onp.zeros((B, R, N))
    for b in range(B):
        for r in range(R):
            for i in range(N):
                for k in range(K): out[b, r, index[b, i, k]] += c[b, r, i, k]
    onp.testing.assert_allclose(scatter_add(c, index, N), out)
    proj = rng.standard_normal((B, R, N))
    check_grad(lambda c: np.sum(proj * scatter_add(c, index, N)), (c,), name="scatter_add")


def _state_after(rng, B, N, K, T):
    "A sparse link and sparse precedence after T soft writes, with entries away from the 1/K threshold."
    S, p = initial_sparse_link(B, N, K), onp.zeros((B, N))
    for w in soft_writes(rng, B, N, T, alpha=1.0):
        S, p = sparse_link_update(S, w, p, K), precedence(p, sparsify(w, K)[0])
    return S, p


@pytest.mark.parametrize("K", [2, 3, 4])  # K = 1: every kept value is exactly 1 = 1/K, on the threshold
def test_gradients_finite_differences(K, rng):
    "Through the kept values: d/d(previous link values, w^w, p, w^r) of update + both weightings."
    B, N, R = 2, 5, 2
    S, p = _state_after(rng, B, N, K, 4)
    w = 0.9 * rng.dirichlet(onp.ones(N), B)
    w_r = rng.dirichlet(onp.ones(N), (B, R))
    proj = rng.standard_normal((2, B, R, N))
    def loss(val, w, p, w_r):
        S2 = sparse_link_update(SparseLink(S.index, val), w, p, K)
        f, b = sparse_directional_weightings(S2, w_r)
        return np.sum(proj[0] * f) + np.sum(proj[1] * b)
    # stay away from the threshold and from ties, where the (ignored) discontinuities live
    S2 = sparse_link_update(S, w, p, K)
    assert onp.all(onp.abs(onp.asarray(S2.value) - 1.0 / K) > 1e-4)
    check_grad(loss, (S.value, w, p, w_r), name=f"sparse link K={K}")


def test_batch_independence(rng):
    "Each sequence of a batch evolves exactly as it would alone."
    B, N, K, R, T = 3, 7, 3, 2, 8
    writes = soft_writes(rng, B, N, T)
    w_rs = [rng.dirichlet(onp.ones(N), (B, R)) for _ in range(T)]
    def run(sel):
        S, p, outs = initial_sparse_link(len(sel), N, K), onp.zeros((len(sel), N)), []
        for w, w_r in zip(writes, w_rs):
            S = sparse_link_update(S, w[sel], p, K); p = precedence(p, sparsify(w[sel], K)[0])
            outs.append(onp.concatenate(sparse_directional_weightings(S, w_r[sel]), 1))
        return onp.stack(outs, 1), to_dense(S)
    together, L_together = run(onp.arange(B))
    for b in range(B):
        alone, L_alone = run(onp.array([b]))
        onp.testing.assert_allclose(together[b], alone[0], atol=1e-14)
        onp.testing.assert_allclose(L_together[b], L_alone[0], atol=1e-14)


def test_no_nan_from_zero_state():
    "All-zero state and no write: zeros out, finite gradients."
    B, N, K = 1, 4, 2
    S = initial_sparse_link(B, N, K)
    loss = lambda val, w: np.sum(sparse_directional_weightings(sparse_link_update(SparseLink(S.index, val), w, onp.zeros((B, N)), K),
                                                                onp.full((B, 1, N), .25))[1])
    from autograd import grad
    g = grad(loss, (0, 1))(S.value, onp.zeros((B, N)))
    assert all(onp.isfinite(x).all() for x in g)


def _hard_interface(rng, B, W, R, write):
    return Interface(read_keys=rng.standard_normal((B, R, W)), read_strengths=onp.full((B, R), 5.0),
                     write_key=rng.standard_normal((B, W)), write_strength=onp.ones(B), erase=onp.full((B, W), .5),
                     write_vector=rng.standard_normal((B, W)), free_gates=onp.zeros((B, R)),
                     allocation_gate=onp.ones(B), write_gate=onp.full(B, float(write)),
                     read_modes=rng.dirichlet(onp.ones(3), (B, R)))


@pytest.mark.parametrize("K", [1, 2, 8])
def test_sparse_memory_step_equals_dense_with_one_hot_writes(K, rng):
    B, N, W, R = 2, 8, 3, 2
    dense, sparse = initial_memory_state(B, N, W, R), initial_sparse_memory_state(B, N, W, R, K)
    for write in [1, 1, 0, 1, 1, 1, 0, 1]:
        xi = _hard_interface(rng, B, W, R, write)
        r_d, dense = memory_step(dense, xi)
        r_s, sparse = sparse_memory_step(sparse, xi, K)
        onp.testing.assert_allclose(r_s, r_d, atol=1e-12)
        onp.testing.assert_allclose(sparse.read_weights, dense.read_weights, atol=1e-12)
    onp.testing.assert_allclose(to_dense(sparse.link), dense.link, atol=1e-12)
    assert dense.link.sum() > 0


@given(N=st.integers(1, 9), T=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_k_zero_keeps_no_links(N, T, seed):
    "K = 0: the link stays empty whatever is written, and both directional weightings are float zeros."
    rng = onp.random.default_rng(seed)
    S = initial_sparse_link(2, N, 0)
    for w in soft_writes(rng, 2, N, T):
        S = sparse_link_update(S, w, rng.dirichlet(onp.ones(N), 2), 0)
        assert S.index.shape == (2, N, 0) and S.value.shape == (2, N, 0)
    w_r = rng.dirichlet(onp.ones(N), (2, 3))
    f, b = sparse_directional_weightings(S, w_r)
    for x in (f, b):
        assert x.shape == (2, 3, N) and x.dtype == onp.float64 and not x.any()
    assert not sparsify(rng.dirichlet(onp.ones(N), 2), 0)[0].any()     # no entry is kept


def test_scatter_add_keeps_the_dtype_of_its_values(rng):
    "bincount returns integers for empty weights; scatter_add must still return the values' dtype."
    for K in (0, 2):
        c = rng.uniform(size=(1, 2, 4, K)).astype(onp.float32)
        out = scatter_add(c, rng.integers(0, 4, size=(1, 4, K)), 4)
        assert out.dtype == onp.float32 and out.shape == (1, 2, 4)
