"""Checkpoints (dnc_lit.checkpoint): exact round trips with optimiser state, one-line CheckpointErrors for missing,
truncated, corrupt, foreign, pickled and future files, atomic saves that survive an interruption, no pickle."""
import dataclasses
import json
import zipfile
import numpy as onp
import pytest

import dnc_lit.checkpoint as ckpt
from dnc_lit.checkpoint import save_checkpoint, load_checkpoint, CheckpointError, Checkpoint, FORMAT, FORMAT_VERSION
from dnc_lit.optim import get_optimiser


def same(a, b):
    "Exactly equal trees: keys in the same order, same dtype, shape and bytes."
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.fixture
def trained():
    "Parameters with awkward names and dtypes, and an optimiser state after a few updates."
    r = onp.random.default_rng(0)
    params = {"lstm/0/W": r.standard_normal((5, 8)), "W_y": r.standard_normal((8, 3)), "b": onp.zeros(3),
              "scalar": onp.array(1.5), "ints": onp.arange(4, dtype=onp.int32)}
    opt = get_optimiser("rmsprop", lr=1e-3, momentum=0.9, centered=True)
    fp = {k: v for k, v in params.items() if v.dtype.kind == "f"}
    s = opt.init(fp)
    for _ in range(3):
        fp, s = opt.update(fp, {k: r.standard_normal(v.shape) for k, v in fp.items()}, s)
    return {**params, **fp}, s


def test_exact_round_trip_with_optimiser_state(tmp_path, trained):
    params, state = trained
    config = {"hidden_size": 64, "memory_size": 16, "controller": "lstm", "clip": None, "eps": 1e-6}
    meta = {"task": "repeat_copy", "seed": 3, "step": 3, "command": "dnc-lit train repeat_copy", "loss": float("nan")}
    out = save_checkpoint(tmp_path / "run.npz", params, state, config, meta)
    assert out == tmp_path / "run.npz"
    ck = load_checkpoint(str(out))
    assert isinstance(ck, Checkpoint)
    assert same(ck.params, params) and same(ck.opt_state, state)
    assert ck.config == config and ck.metadata["task"] == "repeat_copy" and onp.isnan(ck.metadata["loss"])
    assert ck.opt_state["step"].dtype == onp.int64 and ck.params["ints"].dtype == onp.int32
    assert "\n" not in repr(ck)


def test_adam_state_none_values_and_dataclass_config(tmp_path):
    @dataclasses.dataclass
    class Cfg:
        hidden_size: int = 8
        controller: str = "ff"
    p = {"W": onp.ones((2, 2))}
    opt = get_optimiser("adam")
    st = opt.init(p)
    save_checkpoint(tmp_path / "a.npz", p, st, Cfg(), {"seed": onp.int64(7), "step": onp.float64(2.5)})
    ck = load_checkpoint(tmp_path / "a.npz")
    assert same(ck.opt_state, st) and ck.config == {"hidden_size": 8, "controller": "ff"}
    assert ck.metadata == {"seed": 7, "step": 2.5} and type(ck.metadata["seed"]) is int
    save_checkpoint(tmp_path / "b.npz", p)
    ck = load_checkpoint(tmp_path / "b.npz")
    assert ck.opt_state is None and ck.config is None and ck.metadata is None and same(ck.params, p)
    save_checkpoint(tmp_path / "c.npz", p, {}, {}, {})
    ck = load_checkpoint(tmp_path / "c.npz")
    assert ck.opt_state == {} and ck.config == {} and ck.metadata == {}


def test_file_is_plain_npz_without_pickle(tmp_path, trained):
    params, state = trained
    save_checkpoint(tmp_path / "run.npz", params, state, {"a": 1}, {"b": 2})
    with onp.load(tmp_path / "run.npz", allow_pickle=False) as z:          # every member loads without pickle
        arrays = {k: z[k] for k in z.files}
    assert all(a.dtype.kind != "O" for a in arrays.values())
    header = json.loads(str(arrays["__format__"]))
    assert header["format"] == FORMAT and header["version"] == FORMAT_VERSION
    assert json.loads(str(arrays["__config__"])) == {"a": 1}


def test_load_uses_allow_pickle_false(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "run.npz", {"W": onp.ones(2)})
    seen = []
    real = onp.load
    monkeypatch.setattr(ckpt.np, "load", lambda *a, **k: seen.append(k.get("allow_pickle")) or real(*a, **k))
    load_checkpoint(tmp_path / "run.npz")
    assert seen == [False]


def message(path):
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_missing_file_and_directory(tmp_path):
    assert "no such checkpoint file" in message(tmp_path / "nope.npz")
    assert "is not a file" in message(tmp_path)
    assert issubclass(CheckpointError, ValueError)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file(tmp_path, trained, fraction):
    params, state = trained
    save_checkpoint(tmp_path / "run.npz", params, state)
    data = (tmp_path / "run.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: int(len(data) * fraction)])
    assert "truncated or corrupt" in message(tmp_path / "cut.npz")


def test_corrupted_byte_is_detected(tmp_path):
    save_checkpoint(tmp_path / "run.npz", {"W": onp.arange(1000.0)})
    data = bytearray((tmp_path / "run.npz").read_bytes())
    with zipfile.ZipFile(tmp_path / "run.npz") as z:
        info = z.getinfo("params/W.npy")
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + 400] ^= 0xFF     # inside W's data
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    assert "corrupt" in message(tmp_path / "bad.npz")


def test_foreign_files(tmp_path):
    onp.savez(tmp_path / "foreign.npz", W=onp.ones(3))
    assert "not a dnc_lit checkpoint" in message(tmp_path / "foreign.npz")
    onp.savez(tmp_path / "marker.npz", __format__=onp.array(json.dumps({"format": "someone.else", "version": 1})))
    assert "not a dnc_lit checkpoint" in message(tmp_path / "marker.npz")
    onp.savez(tmp_path / "garbled.npz", __format__=onp.array("{not json"))
    assert "corrupt checkpoint header" in message(tmp_path / "garbled.npz")
    onp.save(tmp_path / "single.npy", onp.ones(3))
    assert "single .npy array" in message(tmp_path / "single.npy")
    (tmp_path / "text.npz").write_text("hello")
    assert "not a readable .npz archive" in message(tmp_path / "text.npz")
    onp.savez(tmp_path / "pickled.npz", W=onp.array([{"x": 1}], dtype=object))
    assert "pickled Python objects" in message(tmp_path / "pickled.npz")


def rewrite(path, out, change):
    with onp.load(path) as z:
        arrays = dict(z)
    change(arrays)
    onp.savez(out, **arrays)


def test_future_version_and_missing_entries(tmp_path):
    save_checkpoint(tmp_path / "run.npz", {"W": onp.ones(2)}, {"step": onp.array(1)})
    def bump(a):
        h = json.loads(str(a["__format__"])); h["version"] = FORMAT_VERSION + 1
        a["__format__"] = onp.array(json.dumps(h))
    rewrite(tmp_path / "run.npz", tmp_path / "future.npz", bump)
    assert f"format version {FORMAT_VERSION + 1}" in message(tmp_path / "future.npz")
    rewrite(tmp_path / "run.npz", tmp_path / "holed.npz", lambda a: a.pop("opt_state/step"))
    assert "'opt_state/step' listed in its header is missing" in message(tmp_path / "holed.npz")


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch, trained):
    params, state = trained
    target = tmp_path / "run.npz"
    save_checkpoint(target, params, state, metadata={"step": 1})
    before = target.read_bytes()

    for exc in (KeyboardInterrupt("ctrl-c"), OSError(28, "No space left on device")):
        def broken(f, arrays):
            f.write(b"PK\x03\x04 partial archive")
            raise exc
        monkeypatch.setattr(ckpt, "_write_arrays", broken)
        with pytest.raises(type(exc)):
            save_checkpoint(target, {k: v * 0 for k, v in params.items()}, metadata={"step": 2})
        assert target.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]          # no temporary file left behind
    monkeypatch.undo()
    assert load_checkpoint(target).metadata == {"step": 1}
    save_checkpoint(target, params, state, metadata={"step": 2})
    assert load_checkpoint(target).metadata == {"step": 2}


def test_interrupted_first_save_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt, "_write_arrays", lambda f, a: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        save_checkpoint(tmp_path / "sub" / "new.npz", {"W": onp.ones(2)})
    assert list((tmp_path / "sub").iterdir()) == []


def test_save_validation(tmp_path):
    p = {"W": onp.ones(2)}
    cases = [
        (dict(params=[onp.ones(2)]), "params must be a dict"),
        (dict(params={"W": onp.array(["a"])}), r"params\[W\] must be a numeric array"),
        (dict(params={1: onp.ones(2)}), "keys must be strings"),
        (dict(params=p, opt_state=[1]), "opt_state must be a dict"),
        (dict(params=p, opt_state={"m": {"W": onp.array([None])}}), r"opt_state\[m/W\] must be a numeric array"),
        (dict(params={"a/b": onp.ones(1), "a": {"b": onp.ones(1)}}), "same archive key"),
        (dict(params=p, config="lstm"), "config must be a dict"),
        (dict(params=p, metadata={"x": object()}), "metadata must be JSON-serialisable"),
        (dict(params=p, metadata={"x": onp.ones(2)}), "metadata must be JSON-serialisable"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            save_checkpoint(tmp_path / "x.npz", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_parameter_names_with_slashes_round_trip(tmp_path):
    p = {"a/b": onp.ones(1), "a/c/d": onp.zeros(2), "/lead": onp.full(1, 2.0), "lstm": {"W": onp.eye(2)}}
    save_checkpoint(tmp_path / "s.npz", p, {"m": {"a/b": onp.ones(1)}, "step": onp.array(0)})
    ck = load_checkpoint(tmp_path / "s.npz")
    assert same(ck.params, p) and same(ck.opt_state, {"m": {"a/b": onp.ones(1)}, "step": onp.array(0)})
