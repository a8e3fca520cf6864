"""dnc_lit: the Differentiable Neural Computer (Graves et al., Nature 2016) as a
literate NumPy library.

This file is the only module not generated from a notebook: it holds the version and the
names that `from dnc_lit import ...` offers. Everything else is exported from nbs/ by
nbdev."""
__version__ = "0.0.1"

# the user-facing entry points (see the chapter "The whole machine")
from .model import DNC, DNCConfig  # noqa: E402,F401
