"""Shared test helpers: central finite differences against autograd, and random DNC-shaped inputs."""
import numpy as onp
from autograd import grad


def numerical_grad(f, args, argnum, eps=1e-6):
    "Central-difference gradient of the scalar f(*args) with respect to args[argnum] (float64)."
    x = onp.array(args[argnum], dtype=float)
    g = onp.zeros_like(x)
    for idx in onp.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        ap, am = list(args), list(args)
        ap[argnum], am[argnum] = xp, xm
        g[idx] = (f(*ap) - f(*am)) / (2 * eps)
    return g


def check_grad(f, args, argnums=None, rtol=1e-5, atol=1e-7, eps=1e-6, name=None):
    """Assert that autograd's gradient of the scalar `f(*args)` matches central differences for each
    argument in `argnums` (default: all); the error names the function, the argument and the index."""
    name = name or getattr(f, "__name__", "f")
    argnums = range(len(args)) if argnums is None else argnums
    for i in argnums:
        g_auto = onp.asarray(grad(f, i)(*args), dtype=float)
        g_num = numerical_grad(f, args, i, eps)
        bad = ~onp.isclose(g_auto, g_num, rtol=rtol, atol=atol)
        if bad.any():
            idx = tuple(int(j) for j in onp.argwhere(bad)[0])
            raise AssertionError(f"{name}: gradient of argument {i} at index {idx}: autograd {g_auto[idx]!r}, "
                                 f"finite differences {g_num[idx]!r} ({bad.sum()} of {bad.size} entries differ)")


def random_projection(rng, shape):
    "Fixed random weights used to turn an array-valued function into a scalar loss for gradient checks."
    return rng.standard_normal(shape)
