"""The memory API contract of DESIGN.md ("The memory API"), checked name by name.

Other code, the chapters and the users rely on these names and argument orders, so any drift
(a renamed argument, a swapped order, a missing function or NamedTuple field, a new required
argument) fails here; an extra trailing argument with a default does not break a contract call. The
contract is written out below by hand from DESIGN.md, not read from the library. A second test
asks that every public name (`__all__`) of every module has a docstring of its own."""
import importlib
import inspect
from pathlib import Path

import pytest

import dnc_lit

# module -> {function: argument names in order}, copied from DESIGN.md's table
CONTRACT = {
    "interface": {
        "interface_size": ["num_reads", "word_size"],
        "parse_interface": ["xi", "num_reads", "word_size"],
    },
    "memory": {
        "read_memory": ["memory", "read_weights"],
        "write_memory": ["memory", "write_weights", "erase", "write_vector"],
    },
    "addressing": {
        "cosine_similarity": ["keys", "memory"],
        "content_weighting": ["memory", "keys", "strengths"],
    },
    "allocation": {
        "retention": ["free_gates", "read_weights_prev"],
        "usage": ["usage_prev", "write_weights_prev", "free_gates", "read_weights_prev"],
        "allocation_weighting": ["usage"],
        "write_weighting": ["content_weights", "allocation_weights", "allocation_gate", "write_gate"],
    },
    "linkage": {
        "precedence": ["precedence_prev", "write_weights"],
        "link_matrix": ["link_prev", "write_weights", "precedence_prev"],
        "directional_weightings": ["link", "read_weights_prev"],
        "read_weighting": ["read_modes", "backward", "content", "forward"],
    },
    "access": {
        "initial_memory_state": ["batch_size", "memory_size", "word_size", "num_reads"],
        "memory_step": ["state", "interface"],
    },
}

# (module, NamedTuple) -> fields in order, from DESIGN.md
NAMEDTUPLES = {
    ("interface", "Interface"): ["read_keys", "read_strengths", "write_key", "write_strength", "erase",
                                 "write_vector", "free_gates", "allocation_gate", "write_gate", "read_modes"],
    ("access", "MemoryState"): ["memory", "usage", "write_weights", "precedence", "link", "read_weights"],
}

FUNCTIONS = [(m, f, args) for m, fs in CONTRACT.items() for f, args in fs.items()]
LIB = Path(dnc_lit.__file__).parent
MODULES = sorted(p.stem for p in LIB.glob("*.py") if not p.stem.startswith("_"))


def _signature_problem(fn, args):
    """What is wrong with `fn`'s signature against the contract's argument names `args`, or None.
    The contract's arguments must be its first parameters, in order, positional and required;
    anything after them must be optional, so that the contract's calls still work."""
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    got = [p.name for p in params[:len(args)]]
    if got != args: return f"{sig}: arguments {got}, the contract says {args}"
    for p in params[:len(args)]:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) or p.default is not p.empty:
            return f"{sig}: contract argument {p.name!r} must be positional and required"
    extra = [p.name for p in params[len(args):] if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if extra: return f"{sig}: required arguments {extra} are not in the contract {args}"
    return None


@pytest.mark.parametrize("module,name,args", FUNCTIONS, ids=[f"{m}.{f}" for m, f, _ in FUNCTIONS])
def test_contract_function(module, name, args):
    mod = importlib.import_module(f"dnc_lit.{module}")
    assert hasattr(mod, name), f"dnc_lit.{module} has no function {name!r} (DESIGN.md's memory API)"
    fn = getattr(mod, name)
    assert callable(fn), f"dnc_lit.{module}.{name} is not callable"
    assert name in getattr(mod, "__all__", []), f"dnc_lit.{module}.{name} is not exported in __all__"
    problem = _signature_problem(fn, args)
    assert problem is None, f"dnc_lit.{module}.{name}: {problem}"


@pytest.mark.parametrize("key", list(NAMEDTUPLES), ids=[f"{m}.{c}" for m, c in NAMEDTUPLES])
def test_contract_namedtuple(key):
    module, name = key
    mod = importlib.import_module(f"dnc_lit.{module}")
    assert hasattr(mod, name), f"dnc_lit.{module} has no {name!r} (DESIGN.md's memory API)"
    cls = getattr(mod, name)
    assert isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields"), f"{module}.{name} is not a NamedTuple"
    assert list(cls._fields) == NAMEDTUPLES[key], f"{module}.{name} fields {cls._fields}, the contract says {NAMEDTUPLES[key]}"
    assert name in getattr(mod, "__all__", []), f"dnc_lit.{module}.{name} is not exported in __all__"


def test_contract_modules_all_exist():
    "Every module of the contract is in the library (a missing one is also reported by the tests above)."
    missing = [m for m in CONTRACT if m not in MODULES]
    assert not missing, f"contract modules missing from dnc_lit/: {missing}"


def _auto_doc(obj):
    "The docstring Python writes by itself for a NamedTuple or a dataclass, which documents nothing."
    name = obj.__name__
    if hasattr(obj, "_fields"): return f"{name}({repr(tuple(obj._fields)).replace(chr(39), '')[1:-1]})"
    try: return name + str(inspect.signature(obj)).replace(" -> None", "")
    except (TypeError, ValueError): return None


def _undocumented(mod):
    "Public functions and classes of `mod` without a docstring of their own; constants cannot carry one."
    bad = []
    for name in getattr(mod, "__all__", []):
        assert hasattr(mod, name), f"{mod.__name__}.__all__ lists {name!r}, which the module does not define"
        obj = getattr(mod, name)
        if not (callable(obj) or inspect.isclass(obj)): continue       # a constant (number, dict, tuple)
        doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
        if not doc or not doc.strip() or (inspect.isclass(obj) and doc.strip() == _auto_doc(obj)): bad.append(name)
    return bad


@pytest.mark.parametrize("module", MODULES)
def test_public_names_have_docstrings(module):
    mod = importlib.import_module(f"dnc_lit.{module}")
    assert hasattr(mod, "__all__"), f"dnc_lit.{module} has no __all__"
    bad = _undocumented(mod)
    assert not bad, f"dnc_lit.{module}: these public names have no docstring: {bad}"


def test_the_docstring_check_can_fail():
    "The check above catches a function without a docstring and a NamedTuple with only Python's own docstring."
    import types
    from typing import NamedTuple
    def f(x): return x
    class P(NamedTuple):
        a: int
    class Q(NamedTuple):
        "A documented pair."
        a: int
    fake = types.ModuleType("fake")
    fake.__all__, fake.f, fake.P, fake.Q, fake.K = ["f", "P", "Q", "K"], f, P, Q, 3
    assert _undocumented(fake) == ["f", "P"]


def test_the_signature_check_can_fail():
    "Swapped, renamed, missing, defaulted or extra required arguments are all caught; an extra optional one is not."
    def ok(memory, keys, strengths, eps=1e-6): pass
    def swapped(keys, memory, strengths): pass
    def renamed(M, keys, strengths): pass
    def short(memory, keys): pass
    def defaulted(memory, keys, strengths=1.0): pass
    def extra(memory, keys, strengths, eps): pass
    args = ["memory", "keys", "strengths"]
    assert _signature_problem(ok, args) is None
    for bad in (swapped, renamed, short, defaulted, extra):
        assert _signature_problem(bad, args) is not None, bad.__name__
