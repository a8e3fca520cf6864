import os
import numpy as onp
import pytest
from hypothesis import settings, HealthCheck

# property tests: enough examples to find a broken invariant, no per-example deadline (autograd is slow to warm up)
settings.register_profile("default", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def rng():
    "A fresh, seeded generator for each test."
    return onp.random.default_rng(0)
