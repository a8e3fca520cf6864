"""Tests of dnc_lit.linkage: the precedence weighting, the temporal link matrix, the forward and backward
weightings and the read weighting (Methods, Temporal memory linkage and Read weighting).

Oracles are plain Python loops written from the paper's index notation; property tests run random sequences of
write weightings in Delta_N; gradients are checked against central differences."""
import numpy as onp
import autograd.numpy as np
from autograd import grad
from hypothesis import given, strategies as st

from dnc_lit.linkage import precedence, link_matrix, directional_weightings, read_weighting
from helpers import check_grad, random_projection

TOL = 1e-12


# ---------------------------------------------------------------- oracles, from the index notation

def precedence_oracle(p_prev, w):
    "p_t[i] = (1 - sum_k w[k]) p_{t-1}[i] + w[i]"
    B, N = w.shape
    p = onp.zeros((B, N))
    for b in range(B):
        s = 0.0
        for k in range(N): s += w[b, k]
        for i in range(N): p[b, i] = (1 - s) * p_prev[b, i] + w[b, i]
    return p


def link_oracle(L_prev, w, p_prev):
    "L_t[i,j] = (1 - w[i] - w[j]) L_{t-1}[i,j] + w[i] p_{t-1}[j] for i != j, L_t[i,i] = 0"
    B, N = w.shape
    L = onp.zeros((B, N, N))
    for b in range(B):
        for i in range(N):
            for j in range(N):
                if i != j:
                    L[b, i, j] = (1 - w[b, i] - w[b, j]) * L_prev[b, i, j] + w[b, i] * p_prev[b, j]
    return L


def directional_oracle(L, w_r):
    "f[i] = sum_j L[i,j] w[j] (L w); b[i] = sum_j L[j,i] w[j] (L^T w), per batch element and head"
    B, R, N = w_r.shape
    f, bk = onp.zeros((B, R, N)), onp.zeros((B, R, N))
    for b in range(B):
        for r in range(R):
            for i in range(N):
                for j in range(N):
                    f[b, r, i] += L[b, i, j] * w_r[b, r, j]
                    bk[b, r, i] += L[b, j, i] * w_r[b, r, j]
    return f, bk


def read_oracle(pi, bw, c, fw):
    "w[n] = pi[1] b[n] + pi[2] c[n] + pi[3] f[n] (paper's 1-based mode indices)"
    B, R, N = c.shape
    w = onp.zeros((B, R, N))
    for b in range(B):
        for r in range(R):
            for n in range(N):
                w[b, r, n] = pi[b, r, 0] * bw[b, r, n] + pi[b, r, 1] * c[b, r, n] + pi[b, r, 2] * fw[b, r, n]
    return w


# ---------------------------------------------------------------- random inputs

def delta(rng, shape, kind="dirichlet"):
    """Weightings in Delta_N (non-negative, sum <= 1) over the last axis. kinds: 'dirichlet' (a random gate times a
    point of the simplex), 'full' (sum exactly 1), 'onehot', 'zero', 'sub' (Dirichlet over N+1, last dropped)."""
    *lead, N = shape
    if kind == "zero": return onp.zeros(shape)
    if kind == "onehot": return onp.eye(N)[rng.integers(0, N, size=lead)]
    if kind == "sub": return rng.dirichlet(onp.full(N + 1, 0.5), size=lead)[..., :N]
    x = rng.dirichlet(onp.full(N, rng.choice([0.1, 0.5, 2.0])), size=lead)
    return x if kind == "full" else x * rng.uniform(size=(*lead, 1))


kinds = st.sampled_from(["dirichlet", "full", "onehot", "zero", "sub"])
seeds = st.integers(0, 2**32 - 1)


def run(write_weights):
    "The paper's order within a step: L_t from p_{t-1}, then p_t. write_weights (T, B, N) -> lists of L_t, p_t."
    T, B, N = write_weights.shape
    L, p = np.zeros((B, N, N)), np.zeros((B, N))
    Ls, ps = [], []
    for w_w in write_weights:
        L = link_matrix(L, w_w, p)
        p = precedence(p, w_w)
        Ls.append(L); ps.append(p)
    return Ls, ps


# ---------------------------------------------------------------- oracle comparisons (arbitrary real inputs: the formulas are exact)

@given(B=st.integers(1, 3), N=st.integers(1, 6), R=st.integers(1, 3), seed=seeds)
def test_against_loop_oracles(B, N, R, seed):
    rng = onp.random.default_rng(seed)
    p_prev, w = rng.standard_normal((B, N)), rng.standard_normal((B, N))
    L_prev = rng.standard_normal((B, N, N))
    onp.testing.assert_allclose(precedence(p_prev, w), precedence_oracle(p_prev, w), rtol=1e-12, atol=1e-12)
    onp.testing.assert_allclose(link_matrix(L_prev, w, p_prev), link_oracle(L_prev, w, p_prev), rtol=1e-12, atol=1e-12)
    w_r = rng.standard_normal((B, R, N))
    for got, want in zip(directional_weightings(L_prev, w_r), directional_oracle(L_prev, w_r)):
        onp.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    pi, bw, c, fw = rng.standard_normal((B, R, 3)), *rng.standard_normal((3, B, R, N))
    onp.testing.assert_allclose(read_weighting(pi, bw, c, fw), read_oracle(pi, bw, c, fw), rtol=1e-12, atol=1e-12)


def test_shapes_and_dtype():
    B, N, R = 2, 5, 3
    L = link_matrix(np.zeros((B, N, N)), np.zeros((B, N)), np.zeros((B, N)))
    assert L.shape == (B, N, N) and L.dtype == np.float64
    assert precedence(np.zeros((B, N)), np.zeros((B, N))).shape == (B, N)
    f, b = directional_weightings(L, np.zeros((B, R, N)))
    assert f.shape == b.shape == (B, R, N)
    assert read_weighting(np.zeros((B, R, 3)), f, f, b).shape == (B, R, N)


# ---------------------------------------------------------------- directions and order

def test_directions_one_hot_writes():
    "Writes 0, 1, 2: L[1,0] = L[2,1] = 1; forward from 1 lands on 2 (written after), backward on 0 (written before)."
    N = 4
    Ls, ps = run(onp.eye(N)[[0, 1, 2]][:, None, :])
    L = Ls[-1]
    expected = onp.zeros((N, N)); expected[1, 0] = expected[2, 1] = 1
    onp.testing.assert_array_equal(L[0], expected)
    fwd, bwd = directional_weightings(L, onp.eye(N)[[1]][None])
    onp.testing.assert_array_equal(fwd[0, 0], onp.eye(N)[2])
    onp.testing.assert_array_equal(bwd[0, 0], onp.eye(N)[0])
    onp.testing.assert_array_equal(ps[-1][0], onp.eye(N)[2])


@given(N=st.integers(2, 8), seed=seeds)
def test_chain_of_one_hot_writes(N, seed):
    "One-hot writes in a random order of distinct slots build exactly the chain; forward/backward walk it."
    rng = onp.random.default_rng(seed)
    order = rng.permutation(N)[: rng.integers(1, N + 1)]
    L = run(onp.eye(N)[order][:, None, :])[0][-1]
    expected = onp.zeros((N, N))
    for before, after in zip(order, order[1:]): expected[after, before] = 1
    onp.testing.assert_array_equal(L[0], expected)
    fwd, bwd = directional_weightings(L, onp.eye(N)[order][None])      # R = len(order) heads, one per item
    for k in range(len(order)):
        onp.testing.assert_array_equal(fwd[0, k], onp.eye(N)[order[k + 1]] if k + 1 < len(order) else onp.zeros(N))
        onp.testing.assert_array_equal(bwd[0, k], onp.eye(N)[order[k - 1]] if k > 0 else onp.zeros(N))


def test_rewriting_a_slot_removes_its_old_links():
    "Writes 2, 0, 2: the third write erases the link 0 <- 2 and adds 2 <- 0."
    L = run(onp.eye(4)[[2, 0, 2]][:, None, :])[0][-1][0]
    expected = onp.zeros((4, 4)); expected[2, 0] = 1
    onp.testing.assert_array_equal(L, expected)


def test_read_mode_order(rng):
    "read_modes are ordered (backward, content, forward), as in the paper: a one-hot mode picks that weighting."
    bw, c, fw = rng.uniform(size=(3, 2, 2, 5))
    for k, want in enumerate([bw, c, fw]):
        onp.testing.assert_array_equal(read_weighting(onp.broadcast_to(onp.eye(3)[k], (2, 2, 3)), bw, c, fw), want)


def test_no_write_leaves_state_unchanged(rng):
    L_prev, p_prev = rng.uniform(size=(2, 5, 5)) * (1 - onp.eye(5)) / 5, rng.dirichlet(onp.ones(5), size=2) * 0.7
    onp.testing.assert_array_equal(link_matrix(L_prev, onp.zeros((2, 5)), p_prev), L_prev)
    onp.testing.assert_array_equal(precedence(p_prev, onp.zeros((2, 5))), p_prev)


# ---------------------------------------------------------------- the paper's invariants over random runs in Delta_N

@given(B=st.integers(1, 3), N=st.integers(1, 7), T=st.integers(1, 12), R=st.integers(1, 3), seed=seeds, kind=kinds)
def test_invariants_over_random_runs(B, N, T, R, seed, kind):
    rng = onp.random.default_rng(seed)
    writes = onp.stack([delta(rng, (B, N), kind if rng.uniform() < 0.7 else "dirichlet") for _ in range(T)])
    Ls, ps = run(writes)
    off_diag = 1 - onp.eye(N)
    for L, p in zip(Ls, ps):
        assert (L >= -TOL).all() and (L <= 1 + TOL).all(), "L outside [0, 1]"
        assert (L * onp.eye(N) == 0).all(), "non-zero diagonal"
        assert (L.sum(-1) <= 1 + TOL).all(), "a row of L sums to more than 1"
        assert (L.sum(-2) <= 1 + TOL).all(), "a column of L sums to more than 1"
        assert (p >= -TOL).all() and (p <= 1 + TOL).all() and (p.sum(-1) <= 1 + TOL).all(), "p outside Delta_N"
        assert ((L * off_diag) == L).all()
        w_r_prev = delta(rng, (B, R, N), "sub")
        for d in directional_weightings(L, w_r_prev):
            assert (d >= -TOL).all() and (d.sum(-1) <= 1 + TOL).all(), "forward/backward outside Delta_N"


@given(B=st.integers(1, 3), N=st.integers(1, 7), T=st.integers(1, 8), R=st.integers(1, 3), seed=seeds, kind=kinds)
def test_read_weighting_in_delta(B, N, T, R, seed, kind):
    "b, f from a real run, c in S_N, modes in S_3: the read weighting is non-negative and sums to at most 1."
    rng = onp.random.default_rng(seed)
    L = run(onp.stack([delta(rng, (B, N), kind) for _ in range(T)]))[0][-1]
    fwd, bwd = directional_weightings(L, delta(rng, (B, R, N), kind))
    c = rng.dirichlet(onp.ones(N), size=(B, R))
    pi = rng.dirichlet(onp.full(3, rng.choice([0.1, 1.0])), size=(B, R))
    w_r = read_weighting(pi, bwd, c, fwd)
    assert (w_r >= 0).all() and (w_r.sum(-1) <= 1 + TOL).all()
    # and exactly 1 when all three inputs sum to 1 (here: every mode on the content weighting, which is in S_N)
    onp.testing.assert_allclose(read_weighting(onp.eye(3)[[1]][None].repeat(B, 0).repeat(R, 1), bwd, c, fwd).sum(-1), 1.0)


# ---------------------------------------------------------------- gradients (autograd against central differences)

def _args(rng, B=2, N=4, R=2):
    return dict(p_prev=delta(rng, (B, N)), w=delta(rng, (B, N)), L_prev=rng.uniform(size=(B, N, N)) / N,
                w_r=delta(rng, (B, R, N)), pi=rng.dirichlet(onp.ones(3), size=(B, R)),
                c=rng.dirichlet(onp.ones(N), size=(B, R)))


def test_grad_precedence(rng):
    a = _args(rng); P = random_projection(rng, (2, 4))
    check_grad(lambda p_prev, w: np.sum(P * precedence(p_prev, w)), (a["p_prev"], a["w"]), name="precedence")


def test_grad_link_matrix(rng):
    a = _args(rng); P = random_projection(rng, (2, 4, 4))
    check_grad(lambda L_prev, w, p_prev: np.sum(P * link_matrix(L_prev, w, p_prev)),
               (a["L_prev"], a["w"], a["p_prev"]), name="link_matrix")


def test_grad_directional_weightings(rng):
    a = _args(rng); P, Q = random_projection(rng, (2, 2, 4)), random_projection(rng, (2, 2, 4))
    def f(L, w_r):
        fwd, bwd = directional_weightings(L, w_r)
        return np.sum(P * fwd) + np.sum(Q * bwd)
    check_grad(f, (a["L_prev"], a["w_r"]), name="directional_weightings")


def test_grad_read_weighting(rng):
    a = _args(rng); P = random_projection(rng, (2, 2, 4))
    bw, fw = rng.uniform(size=(2, 2, 2, 4)) / 4
    check_grad(lambda pi, b, c, f: np.sum(P * read_weighting(pi, b, c, f)), (a["pi"], bw, a["c"], fw),
               name="read_weighting")


def test_grad_through_a_run(rng):
    "A loss on the forward weighting after three steps, differentiated w.r.t. all three write weightings."
    writes = onp.stack([delta(rng, (1, 4)) for _ in range(3)])
    w_r, P = delta(rng, (1, 1, 4)), random_projection(rng, (1, 1, 4))
    def loss(writes):
        L = run(writes)[0][-1]
        fwd, bwd = directional_weightings(L, w_r)
        return np.sum(P * fwd) + np.sum(bwd ** 2)
    check_grad(loss, (writes,), name="three-step run")


def test_zero_state_is_nan_safe():
    "The all-zero initial state: zero outputs and finite gradients with respect to every argument."
    B, N, R = 2, 4, 2
    z1, z2, z3 = onp.zeros((B, N)), onp.zeros((B, N, N)), onp.zeros((B, R, N))
    assert (link_matrix(z2, z1, z1) == 0).all() and (precedence(z1, z1) == 0).all()
    loss_L = lambda L, w, p: np.sum(link_matrix(L, w, p) ** 2 + link_matrix(L, w, p))
    loss_d = lambda L, w_r: np.sum(directional_weightings(L, w_r)[0] + 2 * directional_weightings(L, w_r)[1])
    loss_r = lambda pi, b, c, f: np.sum(read_weighting(pi, b, c, f))
    grads = [grad(loss_L, k)(z2, z1, z1) for k in range(3)] + [grad(loss_d, k)(z2, z3) for k in range(2)]
    grads += [grad(loss_r, k)(onp.zeros((B, R, 3)), z3, z3, z3) for k in range(4)]
    grads += [grad(lambda p, w: np.sum(precedence(p, w)), k)(z1, z1) for k in range(2)]
    assert all(onp.isfinite(g).all() for g in grads)


def test_mask_blocks_gradient_to_the_old_diagonal(rng):
    "The diagonal of L_{t-1} does not influence L_t, so its gradient is exactly zero."
    a = _args(rng); P = random_projection(rng, (2, 4, 4))
    g = grad(lambda L_prev: np.sum(P * link_matrix(L_prev, a["w"], a["p_prev"])))(a["L_prev"])
    assert (g * onp.eye(4) == 0).all()


# ---------------------------------------------------------------- batch independence

def test_batch_independence(rng):
    "Each batch element's result equals the function applied to that element alone; changing one leaves the others."
    B, N, R = 3, 5, 2
    a = dict(p_prev=delta(rng, (B, N)), w=delta(rng, (B, N)), L_prev=rng.uniform(size=(B, N, N)) / N,
             w_r=delta(rng, (B, R, N)), pi=rng.dirichlet(onp.ones(3), size=(B, R)),
             c=rng.dirichlet(onp.ones(N), size=(B, R)), bw=delta(rng, (B, R, N)), fw=delta(rng, (B, R, N)))
    calls = [
        (lambda a: precedence(a["p_prev"], a["w"]), ["p_prev", "w"]),
        (lambda a: link_matrix(a["L_prev"], a["w"], a["p_prev"]), ["L_prev", "w", "p_prev"]),
        (lambda a: onp.stack(directional_weightings(a["L_prev"], a["w_r"]), 1), ["L_prev", "w_r"]),
        (lambda a: read_weighting(a["pi"], a["bw"], a["c"], a["fw"]), ["pi", "bw", "c", "fw"]),
    ]
    for fn, names in calls:
        full = fn(a)
        for b in range(B):
            alone = fn({k: v[b:b + 1] for k, v in a.items()})
            onp.testing.assert_allclose(full[b:b + 1], alone, rtol=1e-14, atol=1e-15)
        changed = {k: v.copy() for k, v in a.items()}
        for k in names: changed[k][0] = rng.uniform(size=changed[k][0].shape)
        onp.testing.assert_array_equal(fn(changed)[1:], full[1:])
