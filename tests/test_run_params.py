"""Params a run refuses before any stage: the review's and stress test's own settings, named by key."""

from __future__ import annotations

import pytest
import yaml

from credit_lab.core.exceptions import ParamsError
from credit_lab.run.params import load_run_params
from tests.conftest import ROOT


@pytest.mark.parametrize("params_file", sorted((ROOT / "params").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_params_pass_the_run_checks(params_file):
    load_run_params(params_file)


@pytest.mark.parametrize(("section", "value", "key"), [
    ("review", {"signals": {"no_such_threshold": 1}}, "review.signals: unknown setting"),
    ("review", {"approval": {"no_such_route": 1}}, "review.approval: unknown setting"),
    ("review", {"rules": [{"trigger": "no_such_trigger", "action": "freeze_limit"}]}, "review.rules"),
    ("reserve", {"stress_scenarios": [{"name": "x", "pd_multiplier": -1}]}, r"reserve.stress_scenarios\[1\]"),
])
def test_bad_domain_settings_are_refused_with_their_key(tmp_path, section, value, key):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({section: value}))
    with pytest.raises(ParamsError, match=key):
        load_run_params(path)
