"""Content-based addressing (Methods, Content-based addressing): dnc_lit.addressing against a plain-loop oracle
written from the index notation, the paper's invariants as hypothesis properties, finite-difference gradients
(also at zero memory rows and zero keys), batch independence and dtype."""
import math
import numpy as onp
import pytest
from autograd import grad
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from dnc_lit.addressing import NORM_EPS, cosine_similarity, content_weighting
from helpers import check_grad, random_projection


# ---------------------------------------------------------------- the oracle: loops over b, h, i as the paper indexes
def oracle(memory, keys, strengths, eps=NORM_EPS):
    """D[b,h,i] = sum_w k[b,h,w] M[b,i,w] / (|k[b,h]| |M[b,i]|) with |x| = sqrt(sum_w x_w^2 + eps), and
    C[b,h,i] = exp(D[b,h,i] beta[b,h]) / sum_j exp(D[b,h,j] beta[b,h]), in plain Python floats."""
    B, N, W = memory.shape
    H = keys.shape[1]
    D, C = onp.zeros((B, H, N)), onp.zeros((B, H, N))
    for b in range(B):
        for h in range(H):
            nk = math.sqrt(sum(float(keys[b, h, w]) ** 2 for w in range(W)) + eps)
            for i in range(N):
                nm = math.sqrt(sum(float(memory[b, i, w]) ** 2 for w in range(W)) + eps)
                D[b, h, i] = sum(float(keys[b, h, w]) * float(memory[b, i, w]) for w in range(W)) / (nk * nm)
            z = sum(math.exp(D[b, h, j] * float(strengths[b, h])) for j in range(N))
            for i in range(N):
                C[b, h, i] = math.exp(D[b, h, i] * float(strengths[b, h])) / z
    return D, C


# ---------------------------------------------------------------- strategies
@st.composite
def lookups(draw, max_b=2, max_h=3, max_n=5, max_w=4, beta_max=50.0):
    "A batch (memory (B,N,W), keys (B,H,W), strengths (B,H)); values may be exactly zero (hypothesis likes zeros)."
    B, H = draw(st.integers(1, max_b)), draw(st.integers(1, max_h))
    N, W = draw(st.integers(1, max_n)), draw(st.integers(1, max_w))
    vals = st.floats(-10, 10, allow_nan=False, allow_infinity=False)
    memory = draw(arrays(onp.float64, (B, N, W), elements=vals))
    keys = draw(arrays(onp.float64, (B, H, W), elements=vals))
    strengths = draw(arrays(onp.float64, (B, H), elements=st.floats(0, beta_max)))
    return memory, keys, strengths


def lift(x):
    """Move every row of norm < 1 away from zero (adds 2 to each of its entries, so its norm becomes >= 1), for checks
    that need |x| >> sqrt(eps): there the epsilon changes a similarity by at most ~eps / |x|^2."""
    return x + 2.0 * (onp.linalg.norm(x, axis=-1, keepdims=True) < 1)


# ---------------------------------------------------------------- values
def test_worked_example_by_hand():
    "The chapter's example: a key equal to row 0; norms 3, 5, 1, 6; similarities 1, 14/15, 1/3, -1."
    M = onp.array([[[1., 2, 2], [0, 3, 4], [1, 0, 0], [-2, -4, -4]]])
    k = onp.array([[[1., 2, 2]]])
    onp.testing.assert_allclose(cosine_similarity(k, M)[0, 0], [1, 14 / 15, 1 / 3, -1], atol=1e-6)
    e = onp.exp([1, 14 / 15, 1 / 3, -1])
    onp.testing.assert_allclose(content_weighting(M, k, onp.array([[1.]]))[0, 0], e / e.sum(), atol=1e-6)


@given(lookups())
def test_key_equal_to_a_row_has_similarity_one(args):
    "D(M[i], M)[i] = 1 (and -1 for -M[i]). This is the value check that catches PyTorch DNC's old W-fold scaling."
    memory, _, _ = args
    memory = lift(memory)
    keys = onp.concatenate([memory, -memory], axis=1)            # H = 2N heads: every row and its negative
    D = cosine_similarity(keys, memory)
    N = memory.shape[1]
    idx = onp.arange(N)
    onp.testing.assert_allclose(D[:, idx, idx], 1.0, atol=1e-5)
    onp.testing.assert_allclose(D[:, N + idx, idx], -1.0, atol=1e-5)


@given(lookups())
def test_matches_plain_loop_oracle(args):
    memory, keys, strengths = args
    D_ref, C_ref = oracle(memory, keys, strengths)
    onp.testing.assert_allclose(cosine_similarity(keys, memory), D_ref, rtol=1e-10, atol=1e-12)
    onp.testing.assert_allclose(content_weighting(memory, keys, strengths), C_ref, rtol=1e-9, atol=1e-12)


@given(lookups())
def test_epsilon_is_invisible_away_from_zero(args):
    "With rows and keys of norm >= 1, the paper's epsilon-free formula and ours agree to ~eps/|x|^2."
    memory, keys, strengths = lift(args[0]), lift(args[1]), args[2]
    D_paper, C_paper = oracle(memory, keys, strengths, eps=0.0)
    onp.testing.assert_allclose(cosine_similarity(keys, memory), D_paper, atol=1e-5)
    onp.testing.assert_allclose(content_weighting(memory, keys, strengths), C_paper, atol=1e-4)


def test_oracle_catches_the_expanded_norm_bug(rng):
    "A mutant (norm product summed over W, as in PyTorch DNC before PR #57) has the right shape but fails the oracle."
    memory, keys = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 3, 4))
    nk = onp.broadcast_to(onp.linalg.norm(keys, axis=-1)[..., None], keys.shape)
    nm = onp.broadcast_to(onp.linalg.norm(memory, axis=-1)[..., None], memory.shape)
    mutant = onp.einsum("bhw,bnw->bhn", keys, memory) / onp.einsum("bhw,bnw->bhn", nk, nm)
    D_ref, _ = oracle(memory, keys, onp.ones((2, 3)))
    assert mutant.shape == D_ref.shape and (onp.abs(mutant) <= 1).all()       # shape and range checks pass
    assert not onp.allclose(mutant, D_ref, atol=1e-3)                          # the oracle does not
    onp.testing.assert_allclose(mutant * 4, D_ref, atol=1e-5)                  # it is D / W


# ---------------------------------------------------------------- the paper's invariants
@given(lookups(beta_max=1e3))
def test_weightings_are_in_the_simplex(args):
    C = content_weighting(*args)
    assert onp.isfinite(C).all()
    assert (C >= 0).all()
    onp.testing.assert_allclose(C.sum(-1), 1.0, rtol=0, atol=1e-12)


@given(lookups())
def test_similarity_in_minus_one_one(args):
    memory, keys, _ = args
    D = cosine_similarity(keys, memory)
    assert onp.isfinite(D).all() and (onp.abs(D) <= 1).all()


@given(lookups(), st.floats(0.1, 10), st.data())
def test_similarity_invariant_to_positive_scaling(args, c, data):
    """Cosine similarity sees directions only: scaling a key or a memory row by c > 0 changes nothing, up to the
    epsilon's ~eps / (c |x|)^2 <= 1e-4 for norms >= 1 and c >= 0.1."""
    memory, keys = lift(args[0]), lift(args[1])
    D = cosine_similarity(keys, memory)
    onp.testing.assert_allclose(cosine_similarity(c * keys, memory), D, atol=1e-4)
    i = data.draw(st.integers(0, memory.shape[1] - 1))
    scale = onp.ones(memory.shape[1]); scale[i] = c
    onp.testing.assert_allclose(cosine_similarity(keys, memory * scale[None, :, None]), D, atol=1e-4)


@given(lookups(), st.floats(0, 50), st.floats(0, 50))
def test_larger_strength_never_lowers_the_best_slot(args, beta1, beta2):
    "C[argmax D] = 1 / sum_j exp(beta (D_j - D_max)) and every exponent is <= 0, so it cannot fall as beta grows."
    memory, keys, _ = args
    lo, hi = min(beta1, beta2), max(beta1, beta2)
    B, H = keys.shape[:2]
    best = onp.argmax(cosine_similarity(keys, memory), axis=-1)[..., None]                 # (B, H, 1)
    w_lo = onp.take_along_axis(content_weighting(memory, keys, onp.full((B, H), lo)), best, -1)
    w_hi = onp.take_along_axis(content_weighting(memory, keys, onp.full((B, H), hi)), best, -1)
    assert (w_hi >= w_lo - 1e-12).all()


def test_zero_memory_zero_key_and_zero_strength_give_the_uniform_weighting(rng):
    memory, keys, strengths = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 3, 3)), rng.uniform(1, 5, (2, 3))
    uniform = onp.full((2, 3, 5), 0.2)
    onp.testing.assert_allclose(content_weighting(onp.zeros_like(memory), keys, strengths), uniform, atol=1e-15)
    onp.testing.assert_allclose(content_weighting(memory, onp.zeros_like(keys), strengths), uniform, atol=1e-15)
    onp.testing.assert_allclose(content_weighting(memory, keys, onp.zeros_like(strengths)), uniform, atol=1e-15)


def test_huge_strength_does_not_overflow():
    "beta = 1e4 would make exp overflow without the max subtraction; here it gives a one-hot on the exact match."
    M = onp.array([[[1., 2, 2], [0, 3, 4], [1, 0, 0], [-2, -4, -4]]])
    C = content_weighting(M, onp.array([[[1., 2, 2]]]), onp.array([[1e4]]))
    onp.testing.assert_allclose(C, [[[1, 0, 0, 0]]], atol=1e-12)


# ---------------------------------------------------------------- gradients (finite differences)
def _loss(P):
    "A scalar loss sum(P * C) with fixed random weights P, so that every entry of C contributes to the gradient."
    def f(memory, keys, strengths):
        return (P * content_weighting(memory, keys, strengths)).sum()
    return f


def test_gradients_match_finite_differences(rng):
    memory, keys, strengths = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 2, 3)), rng.uniform(1, 5, (2, 2))
    P = random_projection(rng, (2, 2, 4))
    check_grad(_loss(P), (memory, keys, strengths), name="content_weighting")
    Q = random_projection(rng, (2, 2, 4))
    check_grad(lambda k, m: (Q * cosine_similarity(k, m)).sum(), (keys, memory), name="cosine_similarity")


def test_gradients_at_zero_rows_and_zero_keys_are_finite_and_correct(rng):
    "Never-written slots and zero keys: the epsilon inside the square root keeps every gradient finite (and right)."
    memory = rng.standard_normal((2, 4, 3))
    memory[0, 1] = memory[0, 3] = memory[1, 0] = 0.0                # some empty slots
    keys = rng.standard_normal((2, 2, 3))
    keys[0, 1] = 0.0                                                  # one zero key
    strengths = rng.uniform(1, 5, (2, 2))
    P = random_projection(rng, (2, 2, 4))
    f = _loss(P)
    for i in range(3):
        assert onp.isfinite(grad(f, i)(memory, keys, strengths)).all()
    # all-zero memory and keys: the state at t = 0
    zeros_m, zeros_k = onp.zeros_like(memory), onp.zeros_like(keys)
    for args in [(zeros_m, keys, strengths), (memory, zeros_k, strengths), (zeros_m, zeros_k, strengths)]:
        for i in range(3):
            assert onp.isfinite(grad(f, i)(*args)).all()
    # near zero the slope is ~1/sqrt(eps) = 1e3, so compare relative to it
    check_grad(f, (memory, keys, strengths), rtol=1e-4, atol=1e-5, name="content_weighting at zero rows")
    check_grad(f, (zeros_m, keys, strengths), rtol=1e-4, atol=1e-5, name="content_weighting at zero memory")


# ---------------------------------------------------------------- batch, shapes, dtype
def test_batch_elements_are_independent(rng):
    memory, keys, strengths = rng.standard_normal((3, 5, 4)), rng.standard_normal((3, 2, 4)), rng.uniform(1, 9, (3, 2))
    C = content_weighting(memory, keys, strengths)
    for b in range(3):
        onp.testing.assert_allclose(C[b:b + 1], content_weighting(memory[b:b + 1], keys[b:b + 1], strengths[b:b + 1]),
                                    rtol=1e-14, atol=0)
    memory2, keys2, strengths2 = memory.copy(), keys.copy(), strengths.copy()
    memory2[1:] += 1.0; keys2[1:] *= -2.0; strengths2[1:] = 100.0     # change every other batch element
    onp.testing.assert_array_equal(content_weighting(memory2, keys2, strengths2)[0], C[0])


def test_shapes_with_distinct_sizes(rng):
    B, H, N, W = 2, 3, 5, 7
    memory, keys = rng.standard_normal((B, N, W)), rng.standard_normal((B, H, W))
    assert cosine_similarity(keys, memory).shape == (B, H, N)
    assert content_weighting(memory, keys, rng.uniform(1, 2, (B, H))).shape == (B, H, N)


@pytest.mark.parametrize("dtype", [onp.float64, onp.int64])
def test_output_is_float64(rng, dtype):
    memory = rng.integers(-3, 4, (2, 4, 3)).astype(dtype)
    keys = rng.integers(-3, 4, (2, 2, 3)).astype(dtype)
    strengths = onp.ones((2, 2), dtype=dtype)
    assert cosine_similarity(keys, memory).dtype == onp.float64
    assert content_weighting(memory, keys, strengths).dtype == onp.float64
