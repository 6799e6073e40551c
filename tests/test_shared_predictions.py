"""Stage 03's shared predictions: one computation per model and frame inside the block, none kept outside."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification

from credit_lab.models.shared_predictions import cached_prediction, shared_predictions


class _Counting:
    def __init__(self) -> None:
        self.calls = 0

    def compute(self, X: pd.DataFrame) -> np.ndarray:
        self.calls += 1
        return X.sum(axis=1).to_numpy(dtype=float)


def test_inside_the_block_a_model_scores_a_frame_once_and_callers_get_copies():
    model, X = _Counting(), pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    with shared_predictions():
        first = cached_prediction(model, X, "raw", lambda: model.compute(X))
        first[:] = -1.0  # a caller changing its array does not change what the next caller gets
        second = cached_prediction(model, X, "raw", lambda: model.compute(X))
        assert model.calls == 1
        np.testing.assert_array_equal(second, [4.0, 6.0])
        other = cached_prediction(model, X, "proba", lambda: model.compute(X))  # another kind: computed
        same_values = X.copy()  # another frame object, equal content: computed, never matched by id alone
        cached_prediction(model, same_values, "raw", lambda: model.compute(same_values))
        assert model.calls == 3
        np.testing.assert_array_equal(other, [4.0, 6.0])
    cached_prediction(model, X, "raw", lambda: model.compute(X))  # outside the block nothing is kept
    assert model.calls == 4


def test_a_fitted_gbm_gives_the_same_predictions_inside_and_outside_the_block():
    from credit_lab.models.gbm import PDModel

    Xa, y = make_classification(n_samples=600, n_features=5, random_state=0)
    X = pd.DataFrame(Xa, columns=[f"f{i}" for i in range(5)])
    gbm = PDModel(features=list(X.columns), max_iter=20).fit(X, y)
    plain_raw, plain_pd = gbm.raw_log_odds(X), gbm.predict_pd(X)
    with shared_predictions():
        for _ in range(2):
            np.testing.assert_array_equal(gbm.raw_log_odds(X), plain_raw)
            np.testing.assert_array_equal(gbm.predict_pd(X), plain_pd)
        head = X.iloc[:100]
        np.testing.assert_array_equal(gbm.predict_pd(head), plain_pd[:100])
