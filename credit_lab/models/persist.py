"""Model files that loading cannot turn into code execution, and that the same fit writes byte for byte.

A fitted model is saved as JSON: its object graph written out as plain values, numpy arrays as
``np.save`` bytes (``allow_pickle=False``, base64) and every object as ``{class name, attributes}``.
Loading rebuilds only classes named in :data:`TRUSTED_TYPES` (this package's estimators and the
scikit-learn internals they hold), without calling their constructors: an attribute becomes an
attribute, never a call. A file naming any other class is refused before anything is built, and
nothing is ever unpickled. Why not pickle: unpickling runs whatever the file says, so a forged run
folder could run code on the auditor's machine. Why not skops: it cannot save the pandas tables a
fitted model keeps (its calibration cohorts, a scorecard's information values), and its zip
archives carry the time they were written, so a rerun would never match its original.

Deterministic: the graph is written in attribute order with sorted JSON keys, so the same fit
writes the same bytes; ``load_model`` also checks the file's SHA-256 against the one the run
recorded before reading it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib
import io as _bytes_io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credit_lab.core.exceptions import ArtifactIntegrityError, ArtifactVersionError, InputFileError
from credit_lab.data.io import atomic_write_bytes, sha256_file

__all__ = ["FORMAT", "TRUSTED_TYPES", "UntrustedTypeError", "dumps", "load_model", "loads", "save_model"]

#: the format's name and version, first key of every file
FORMAT = "credit_lab.model/1"

#: the classes a model file may name: reviewed, and rebuilt from their attributes without running code
TRUSTED_TYPES = frozenset({
    "credit_lab.models.calibration.CalibratedPD",
    "credit_lab.models.calibration_map.CalibrationChoice",
    "credit_lab.models.calibration_map.CentralTendencyAdjustment",
    "credit_lab.models.central_tendency.CentralTendency",
    "credit_lab.models.central_tendency.LongRunRate",
    "credit_lab.models.gbm.PDModel",
    "credit_lab.models.scorecard.ScorecardModel",
    "credit_lab.models.scorecard.WoEScorecard",
    "credit_lab.models.binning.Binning",
    "credit_lab.models.champion.SegmentedModel",
    "credit_lab.models.expert.ExpertScorecard",
    "credit_lab.models.expert.ExpertCalibration",
    "credit_lab.core.expert_params.ExpertParams",  # pydantic: its state is its field values, set without validation
    "credit_lab.core.expert_params.ExpertCriterion",
    "credit_lab.core.expert_params.RiskClass",
    "credit_lab.data.table_mode.CategoryEncoder",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.linear_model._logistic.LogisticRegression",
})
#: compiled classes with no state of their own, rebuilt by calling them with no arguments
_STATELESS = frozenset({"sklearn._loss._loss.CyHalfBinomialLoss"})
#: numpy random generators (their state is plain integers)
_BIT_GENERATORS = ("PCG64", "MT19937", "Philox", "SFC64")


class UntrustedTypeError(ArtifactIntegrityError):
    """A model holds, or a model file names, a class outside :data:`TRUSTED_TYPES`."""


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _array(a: np.ndarray) -> dict:
    if a.dtype.hasobject:
        return {"__ndarray_object__": [_encode(x) for x in a.ravel().tolist()], "shape": list(a.shape)}
    buf = _bytes_io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return {"__ndarray__": base64.b64encode(buf.getvalue()).decode("ascii")}


def _column(values: pd.Series | pd.Index) -> dict:
    """One column (or index) of a pandas table, with its dtype."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = pd.Categorical(values)
        return {"categorical": _encode(cat.categories), "codes": _array(cat.codes), "ordered": bool(cat.ordered)}
    if values.dtype == object or isinstance(values.dtype, pd.api.extensions.ExtensionDtype):
        # text, and nullable Int64 / boolean / string: values one by one, missing as null
        return {"values": [_encode(None if pd.isna(x) else x) for x in values.tolist()], "dtype": str(values.dtype)}
    return {"array": _array(values.to_numpy())}


def _encode(obj: Any) -> Any:
    """The JSON form of ``obj`` (raises :class:`UntrustedTypeError` for a class that is not trusted)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int) and type(obj) is int:
        return obj
    if type(obj) is float:
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if isinstance(obj, np.generic):
        return {"__npscalar__": _array(np.asarray(obj))}
    if isinstance(obj, np.ndarray):
        return _array(obj)
    if type(obj) is list:
        return [_encode(x) for x in obj]
    if type(obj) is tuple:
        return {"__tuple__": [_encode(x) for x in obj]}
    if type(obj) in (set, frozenset):
        return {"__set__": sorted((_encode(x) for x in obj), key=lambda x: json.dumps(x, sort_keys=True)),
                "frozen": type(obj) is frozenset}
    if type(obj) is dict:
        return {"__map__": [[_encode(k), _encode(v)] for k, v in obj.items()]}
    if isinstance(obj, pd.DataFrame):
        return {"__dataframe__": [[_encode(c), _column(obj[c])] for c in obj.columns],
                "index": _column(obj.index), "index_name": _encode(obj.index.name)}
    if isinstance(obj, pd.Series):
        return {"__series__": _column(obj), "index": _column(obj.index), "name": _encode(obj.name),
                "index_name": _encode(obj.index.name)}
    if isinstance(obj, pd.Index):
        return {"__index__": _column(obj), "name": _encode(obj.name)}
    if isinstance(obj, np.random.Generator):
        state = obj.bit_generator.state
        if state["bit_generator"] not in _BIT_GENERATORS:
            raise UntrustedTypeError(f"random generator {state['bit_generator']!r} cannot be saved")
        return {"__rng__": _encode(state)}
    cls = type(obj)
    name = _name(cls)
    if name in _STATELESS:
        return {"__object__": name, "stateless": True}
    if name not in TRUSTED_TYPES:
        raise UntrustedTypeError(
            f"a model holds an object of class {name!r}, which the model file format does not know; add it to "
            "credit_lab.models.persist.TRUSTED_TYPES after checking that setting its attributes runs no code")
    if isinstance(obj, tuple):  # a NamedTuple
        return {"__object__": name, "tuple": [_encode(x) for x in obj]}
    state = obj.__getstate__() if hasattr(obj, "__getstate__") else vars(obj)
    if state is None:
        state = {}
    if not isinstance(state, dict):
        raise UntrustedTypeError(f"an object of class {name!r} keeps a state of type {type(state).__name__}, "
                                 "which the model file format cannot write")
    return {"__object__": name, "state": _encode(state)}


def dumps(model: Any) -> bytes:
    """The model file's bytes: the same model gives the same bytes."""
    doc = {"format": FORMAT, "model": _encode(model)}
    return (json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


def _trusted_class(name: str) -> type:
    if name not in TRUSTED_TYPES and name not in _STATELESS:
        raise UntrustedTypeError(f"the model file names class {name!r}, which is not a trusted model type; "
                                 "it was not written by credit_lab and will not be loaded")
    module, _, qualname = name.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError) as err:
        raise ArtifactVersionError(
            f"the model file names class {name!r}, which this installation lacks ({err}): it was saved by another "
            "version of credit_lab or scikit-learn. Re-run the model stage (03_model) to refit and save it.") from None
    return cls


def _check_names(doc: Any) -> None:
    """Refuse a file naming any untrusted class before anything is built (no import, no object)."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            name = node.get("__object__")
            if isinstance(name, str) and name not in TRUSTED_TYPES and name not in _STATELESS:
                raise UntrustedTypeError(f"the model file names class {name!r}, which is not a trusted model "
                                         "type; it was not written by credit_lab and will not be loaded")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _load_array(blob: str) -> np.ndarray:
    return np.load(_bytes_io.BytesIO(base64.b64decode(blob)), allow_pickle=False)


def _decode_column(c: dict) -> Any:
    if "categorical" in c:
        return pd.Categorical.from_codes(_decode(c["codes"]), _decode(c["categorical"]), ordered=c["ordered"])
    if "values" in c:
        items = [_decode(v) for v in c["values"]]
        if c["dtype"] != "object":
            return pd.array(items, dtype=c["dtype"])
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out
    return _decode(c["array"])


def _decode(node: Any) -> Any:
    if isinstance(node, list):
        return [_decode(x) for x in node]
    if not isinstance(node, dict):
        return node
    if "__ndarray__" in node:
        return _load_array(node["__ndarray__"])
    if "__ndarray_object__" in node:
        items = [_decode(x) for x in node["__ndarray_object__"]]
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out.reshape(node["shape"])
    if "__npscalar__" in node:
        return _decode(node["__npscalar__"])[()]
    if "__float__" in node:
        return float(node["__float__"])
    if "__tuple__" in node:
        return tuple(_decode(x) for x in node["__tuple__"])
    if "__set__" in node:
        items = (_decode(x) for x in node["__set__"])
        return frozenset(items) if node["frozen"] else set(items)
    if "__map__" in node:
        return {_decode(k): _decode(v) for k, v in node["__map__"]}
    if "__dataframe__" in node:
        frame = pd.DataFrame({_decode(k): _decode_column(c) for k, c in node["__dataframe__"]},
                             index=pd.Index(_decode_column(node["index"]), name=_decode(node["index_name"])))
        return frame
    if "__series__" in node:
        return pd.Series(_decode_column(node["__series__"]), name=_decode(node["name"]),
                         index=pd.Index(_decode_column(node["index"]), name=_decode(node["index_name"])))
    if "__index__" in node:
        return pd.Index(_decode_column(node["__index__"]), name=_decode(node["name"]))
    if "__rng__" in node:
        state = _decode(node["__rng__"])
        if state.get("bit_generator") not in _BIT_GENERATORS:
            raise UntrustedTypeError(f"random generator {state.get('bit_generator')!r} is not trusted")
        bit_generator = getattr(np.random, state["bit_generator"])()
        bit_generator.state = state
        return np.random.Generator(bit_generator)
    if "__object__" in node:
        cls = _trusted_class(node["__object__"])
        if node.get("stateless"):
            return cls()
        if "tuple" in node:
            return cls(*(_decode(x) for x in node["tuple"]))
        obj = cls.__new__(cls)
        state = _decode(node["state"])
        if hasattr(cls, "__setstate__"):
            obj.__setstate__(state)
        elif dataclasses.is_dataclass(cls) or hasattr(obj, "__dict__"):
            obj.__dict__.update(state)  # also for frozen dataclasses: attributes, not __init__
        return obj
    raise ArtifactIntegrityError(f"the model file holds an entry this format does not know: {sorted(node)[:3]}")


def loads(data: bytes) -> Any:
    """Rebuild a model from :func:`dumps`'s bytes; only :data:`TRUSTED_TYPES` are built, nothing is unpickled."""
    try:
        doc = json.loads(data)
    except ValueError as err:
        raise ArtifactIntegrityError(f"the model file is not valid JSON ({err})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ArtifactVersionError(f"the model file's format is {found!r}, this version reads {FORMAT!r}; re-run "
                                   "the model stage (03_model) to refit and save it")
    _check_names(doc["model"])
    return _decode(doc["model"])


def save_model(model: Any, path: str | Path) -> str:
    """Write ``model`` to ``path`` atomically and return the file's SHA-256 (record it: loading requires it)."""
    atomic_write_bytes(path, dumps(model))
    return sha256_file(path)


def load_model(path: str | Path, expected_sha256: str) -> Any:
    """Load a model file only if its bytes match ``expected_sha256``, the hash the run recorded.

    The format cannot run code when read; the hash makes sure the model is the one the run fitted.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"model artifact {str(path)!r} not found")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if not expected_sha256 or actual != expected_sha256:
        raise ArtifactIntegrityError(
            f"model artifact {str(path)!r} has SHA-256 {actual}, expected {expected_sha256!r}; "
            "it was changed after it was written and will not be loaded. Re-run the model stage."
        )
    try:
        return loads(data)
    except ArtifactIntegrityError as err:
        raise type(err)(f"model artifact {str(path)!r}: {err}") from None
