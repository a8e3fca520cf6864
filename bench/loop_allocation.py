"""The allocation weighting in the style of the original NumPy DNC project (bhpfelix/DNC-NumPy), written here from
the reference notes, not from its code: autograd has no VJP for np.cumprod, so the exclusive cumulative product of
the sorted usages is built in a Python loop of np.prod slices (O(N^2) work and N recorded products). For the benchmark
only; batched so it runs on both configurations."""
import autograd.numpy as np


def loop_allocation_weighting(usage):
    "a[phi[j]] = (1 - u[phi[j]]) prod_{i<j} u[phi[i]], the product taken slice by slice. usage (B, N) -> (B, N)."
    B, N = usage.shape
    phi = np.argsort(usage, axis=-1, kind="stable")
    rows = np.arange(B)[:, None]
    u_s = usage[rows, phi]
    prods = [np.ones(B)] + [np.prod(u_s[:, :j], axis=-1) for j in range(1, N)]   # one np.prod per slot
    a_s = (1 - u_s) * np.stack(prods, axis=-1)
    return a_s[rows, np.argsort(phi, axis=-1)]
