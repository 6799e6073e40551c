"""Model files: every family round-trips exactly, the same fit writes the same bytes, and a forged file
cannot run code when loaded (it names a class that is not trusted, or is not the format at all)."""

import base64
import json
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from credit_lab.core.exceptions import ArtifactIntegrityError, ArtifactVersionError, InputFileError
from credit_lab.data import io
from credit_lab.models import persist
from credit_lab.models.calibration import fit_calibrated
from credit_lab.models.expert import ExpertScorecard
from credit_lab.models.gbm import PDModel
from tests.test_estimators import PARAMS, _data, _families, _fit
from tests.test_expert import POLICY, _book


@pytest.fixture(scope="module")
def samples():
    X, y = _data(2000, 5)
    return X.iloc[:1500], y[:1500], X.iloc[1500:], y[1500:]


def _fitted_models(samples) -> dict[str, object]:
    X, y, Xc, yc = samples
    models = {name: _fit(name, model, samples) for name, model in _families().items()}
    text = X.assign(sector=np.where(X["a"] > 0, "retail", "trade"))
    text_c = Xc.assign(sector=np.where(Xc["a"] > 0, "retail", "trade"))
    coded = PDModel.from_params(["a", "b", "sector"], PARAMS, monotone={"a": 1, "b": -1}, categorical=["sector"])
    models["categorical"] = fit_calibrated(coded, text, y, text_c, yc, params=PARAMS)
    models["expert"] = ExpertScorecard(POLICY).fit(_book())
    return models


def _predict(name, model, X):
    if name == "expert":
        return model.predict_pd(_book())
    if name == "categorical":
        X = X.assign(sector=np.where(X["a"] > 0, "retail", "trade"))
    return model.predict_proba(X)[:, 1]


def test_every_model_family_round_trips_to_identical_predictions_and_bytes(samples):
    X = samples[2]
    for name, model in _fitted_models(samples).items():
        data = persist.dumps(model)
        back = persist.loads(data)
        assert type(back) is type(model), name
        np.testing.assert_array_equal(_predict(name, back, X), _predict(name, model, X), err_msg=name)
        assert persist.dumps(back) == data, name  # nothing lost or changed on the way


def test_the_same_fit_writes_the_same_bytes(samples, tmp_path):
    X, y, Xc, yc = samples
    files = []
    for k in range(2):
        model = _fit("calibrated", clone(_families()["calibrated"]), samples)
        files.append(persist.save_model(model, tmp_path / f"m{k}.json"))
    assert files[0] == files[1]
    assert (tmp_path / "m0.json").read_bytes() == (tmp_path / "m1.json").read_bytes()


def test_the_file_is_json_a_reader_can_inspect(samples, tmp_path):
    model = _fit("gbm", _families()["gbm"], samples)
    doc = json.loads(persist.dumps(model))
    assert doc["format"] == persist.FORMAT
    assert doc["model"]["__object__"] == "credit_lab.models.gbm.PDModel"


def test_a_model_loads_only_with_the_hash_the_run_recorded(tmp_path):
    path = tmp_path / "m.json"
    sha = persist.save_model({"coef": [1, 2.5, float("nan")]}, path)
    assert sha == io.sha256_file(path)
    back = persist.load_model(path, sha)
    assert back["coef"][:2] == [1, 2.5] and np.isnan(back["coef"][2])
    path.write_bytes(persist.dumps({"coef": [9]}))  # changed after the run recorded its hash
    with pytest.raises(ArtifactIntegrityError, match="will not be loaded"):
        persist.load_model(path, sha)
    with pytest.raises(ArtifactIntegrityError):
        persist.load_model(path, "")
    with pytest.raises(InputFileError, match="not found"):
        persist.load_model(tmp_path / "none.json", sha)


class _Boom:
    def __reduce__(self):
        import os

        return os.system, ("touch pwned",)


def test_a_forged_file_cannot_run_code_when_loaded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # a pickle with a payload, hashed as the forger would: refused as not the format, nothing executed
    payload = pickle.dumps(_Boom())
    path = tmp_path / "pd_model.fitted.json"
    path.write_bytes(payload)
    with pytest.raises(ArtifactIntegrityError, match="not valid JSON"):
        persist.load_model(path, io.sha256_file(path))
    # a JSON file naming a callable as a class: refused before anything is imported or built
    for name in ("os.system", "builtins.eval", "subprocess.Popen", "credit_lab.run.cli.main"):
        forged = {"format": persist.FORMAT, "model": {"__map__": [["m", {"__object__": name, "state": {
            "__map__": [["args", "touch pwned"]]}}]]}}
        path.write_bytes(json.dumps(forged).encode())
        with pytest.raises(persist.UntrustedTypeError, match="not a trusted model type"):
            persist.load_model(path, io.sha256_file(path))
    # numpy arrays are read without pickle: an object array smuggled in as .npy bytes is refused
    smuggled = io_bytes = __import__("io").BytesIO()
    np.save(io_bytes, np.array([_Boom()], dtype=object), allow_pickle=True)
    forged = {"format": persist.FORMAT, "model": {"__ndarray__": base64.b64encode(smuggled.getvalue()).decode()}}
    path.write_bytes(json.dumps(forged).encode())
    with pytest.raises(ValueError, match="allow_pickle"):
        persist.load_model(path, io.sha256_file(path))
    assert not (tmp_path / "pwned").exists()


def test_saving_a_model_that_holds_an_unknown_class_is_a_clear_error():
    class Mystery:
        pass

    with pytest.raises(persist.UntrustedTypeError, match="TRUSTED_TYPES"):
        persist.dumps({"estimator": Mystery()})


def test_a_file_of_another_format_version_is_a_clear_error(tmp_path):
    path = tmp_path / "old.json"
    path.write_bytes(json.dumps({"format": "credit_lab.model/0", "model": None}).encode())
    with pytest.raises(ArtifactVersionError, match="re-run the model stage"):
        persist.load_model(path, io.sha256_file(path))


def test_pandas_tables_keep_their_types():
    frame = pd.DataFrame({"n": [1, 2], "x": [0.5, np.nan], "s": ["a", None], "flag": [True, False],
                          "cat": pd.Categorical(["u", "v"]), "when": pd.to_datetime(["2024-01-31", "2024-02-29"]),
                          "k": pd.array([1, None], dtype="Int64")}, index=pd.Index([2021, 2022], name="year"))
    back = persist.loads(persist.dumps({"t": frame, "s": frame["x"], "i": frame.index}))
    pd.testing.assert_frame_equal(back["t"], frame)
    pd.testing.assert_series_equal(back["s"], frame["x"])
    pd.testing.assert_index_equal(back["i"], frame.index)
