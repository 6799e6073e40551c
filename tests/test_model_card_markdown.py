"""The model card as people read it: how the champion was chosen and each GBM's boosting rounds."""

from __future__ import annotations

from credit_lab.report.figures import model_card_markdown


def _card(**extra) -> dict:
    card = {"model": "segmented gbm", "intended_use": "PD of trade customers",
            "data": {"source": "ledger", "as_of_date": "2026-12-01", "snapshots": ["2025-12-01"], "fit_rows": 560,
                     "calibration_rows": 140, "validation_rows": 300, "label": "default in 12 months"},
            "segments": "new / existing", "features": ["dso"],
            "calibration": {"all": {"method": "platt", "shift": 0.0}},
            "performance": {"out-of-time": {"n": 300, "defaults": 90, "auc": 0.75, "gini": 0.5, "ks": 0.4,
                                            "brier": 0.18}},
            "challengers": [{"candidate": "scorecard", "rank_out_of_time": 2, "rank_calibration": 1, "auc": 0.74,
                             "brier": 0.19}],
            "limitations": [], "artifacts": {}}
    return card | extra


def test_card_says_how_the_champion_was_chosen_and_the_rounds_of_each_gbm():
    text = model_card_markdown(_card(champion_choice="model.champion = gbm: set in the params, not chosen",
                                     boosting_rounds={"all": {"rounds": 73, "basis": "5-fold cross-validation"}}))
    assert "**Champion:** model.champion = gbm: set in the params, not chosen" in text
    assert "**Boosting rounds:** all: 73 (5-fold cross-validation)" in text
    assert "| scorecard | 2 | 1 | 0.740 | 0.1900 |" in text  # both rankings of a challenger


def test_card_without_those_entries_still_renders_and_escapes():
    text = model_card_markdown(_card(model="<b>gbm</b>"))
    assert "**Champion:**" not in text and "**Boosting rounds:**" not in text
    assert "&lt;b&gt;gbm&lt;/b&gt;" in text


def test_card_says_whether_each_calibration_was_re_anchored():
    shifted = {"setting": "auto", "applied": True, "target": 0.0684, "mean_pd_before": 0.038,
               "long_run_rate": 0.0684, "band": [0.043, 0.095]}
    kept = {"setting": "auto", "applied": False, "target": None, "mean_pd_before": 0.0545,
            "long_run_rate": 0.057, "band": [0.0497, 0.0646]}
    text = model_card_markdown(_card(calibration={
        "new": {"method": "platt", "shift": 0.6956, "central_tendency": shifted},
        "existing": {"method": "platt", "shift": 0.0, "central_tendency": kept}}))
    assert "new: platt (shift +0.696; re-anchored to 6.84%)" in text
    assert "existing: platt (shift +0.000; not re-anchored, within the interval of its long-run rate 5.70%)" in text
