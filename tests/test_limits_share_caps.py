"""A customer table without industry and region columns: the default share caps are off, and the run says so.

Every customer sits in industry 'all' and region 'all'; a 25% (40%) share cap on that one segment
would cap the whole book at a quarter of the exposure budget and cut every limit. The stages run
in-process on the customer-table template with both columns unset and the share caps left at
their defaults.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from credit_lab.run import stages
from credit_lab.run.assumptions import run_decisions
from credit_lab.run.index_page import assumptions_section
from credit_lab.run.params import run_params_from_dict
from credit_lab.run.stages.context import StageContext

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent


def test_table_without_industry_or_region_gets_no_share_cap_on_the_whole_book(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the template names its table relative to the project
    raw = yaml.safe_load((ROOT / "params/table_template.yaml").read_text())
    raw["data"]["table"]["industry_column"] = None
    raw["data"]["table"]["region_column"] = None
    raw["limits"].pop("industry_cap_share")  # the defaults: 0.25 and 0.40
    raw["limits"].pop("region_cap_share", None)
    raw.setdefault("reserve", {})["stress_scenarios"] = []
    ctx = StageContext(tmp_path / "run", run_params_from_dict(raw, source="params/table_template.yaml"))
    ctx.data_dir.mkdir(parents=True)
    assert ctx.params.limits.industry_cap_share == 0.25 and ctx.params.limits.region_cap_share == 0.40
    for stage, (_, func, _) in stages.STAGES.items():
        func(ctx)
        if stage == "05_limits":
            break
    constraints = pd.read_parquet(ctx.data_dir / "limit_constraints.parquet")
    assert not constraints["constraint"].isin(["industry_cap[all]", "region_cap[all]"]).any()
    assert set(constraints["kind"]) <= {"el_budget", "exposure_budget"}
    limits = pd.read_parquet(ctx.data_dir / "limits.parquet")
    assert not limits["decided_by"].isin(["industry_cap", "region_cap"]).any()
    saved = json.loads((ctx.data_dir / "limits_notes.json").read_text())
    assert ("limits.industry_cap_share = 0.25 is not applied: the book has one industry ('all'), so a share cap "
            "would cap the whole book, not a concentration.") in saved["notes"]
    assert ("limits.region_cap_share = 0.4 is not applied: the book has one region ('all'), so a share cap "
            "would cap the whole book, not a concentration.") in saved["notes"]
    assert saved["share_caps"] == {"industry": {"share": 0.25, "segments": 1, "applied": False},
                                   "region": {"share": 0.4, "segments": 1, "applied": False}}
    # the list of assumptions names the default cap and, among the run's own decisions, that it was switched off
    dq = json.loads((ctx.data_dir / "data_quality.json").read_text())
    cap = next(r for r in dq["decision_assumptions"] if r["key"] == "limits.industry_cap_share")
    assert (cap["value"], cap["source"]) == ("25%", "default")
    decided = [(d.stage, d.decision) for d in run_decisions(ctx.run_dir)]
    assert ("05_limits", "limits.industry_cap_share = 0.25 is not applied: the book has one industry ('all'), so a "
                         "share cap would cap the whole book, not a concentration.") in decided
    section = assumptions_section(ctx.run_dir, dq)
    assert "limits.industry_cap_share = 0.25 is not applied: the book has one industry (&#x27;all&#x27;)" in section
