"""Reason stability of a large book: computed on a seeded sample, the same as on that sample alone."""

from pathlib import Path

import numpy as np
import pytest

from credit_lab.core.config import load_params
from credit_lab.models.development import RunSettings
from credit_lab.models.explain import explain
from credit_lab.models.explanation import Explanation
from credit_lab.models.reasons import reason_stability, reason_wording
from credit_lab.run.stages.context import StageContext, load_pd_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scored(smoke_run):
    run_dir, _ = smoke_run
    params = load_params(ROOT / "params" / "smoke.yaml")
    ctx = StageContext(run_dir, params)
    current = ctx.read("features_current.parquet").set_index("customer_id")
    expl, _ = explain(load_pd_model(ctx), current, params.explain.additivity_tolerance)
    train = ctx.read("features_train.parquet").set_index("customer_id")
    return params, ctx.model_meta(), train, current, expl


def _stability(params, meta, train, current, expl, cap):
    p = params.model_copy(update={"explain": params.explain.model_copy(update={"stability_customers": cap})})
    phrases, groups = reason_wording(None)
    return reason_stability(RunSettings(p, False), meta, train, current, expl, phrases, groups)


def test_a_book_above_the_cap_is_compared_on_its_seeded_sample(scored):
    params, meta, train, current, expl = scored
    n, cap = len(current), 150
    assert n > cap
    sampled = _stability(params, meta, train, current, expl, cap)
    assert sampled["computed"] and sampled["customers"] == cap and sampled["of_customers"] == n
    # the same numbers as the whole comparison run on those customers alone
    rows = np.sort(np.random.default_rng(params.seed).choice(n, cap, replace=False))
    sub = Explanation(expl.values[rows], expl.base_value if np.ndim(expl.base_value) == 0
                      else np.asarray(expl.base_value)[rows], expl.data.iloc[rows], expl.output[rows])
    alone = _stability(params, meta, train, current.iloc[rows], sub, n)
    assert {k: v for k, v in alone.items() if k != "of_customers"} == {
        k: v for k, v in sampled.items() if k != "of_customers"}
    whole = _stability(params, meta, train, current, expl, n)
    assert whole["customers"] == whole["of_customers"] == n
    for key, value in whole.items():
        if isinstance(value, dict):
            assert all(0.0 <= v <= 1.0 for v in value.values()) and 0.0 <= sampled[key]["mean_top3_overlap"] <= 1.0
