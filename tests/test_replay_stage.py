"""Stage 07, the policy replay report: its tables recomputed independently from the run folder, mitigation
and capital against closed forms, the window fitted to the ledger, and the stage skipped unless asked for."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import norm

from credit_lab.core.config import load_params, params_from_dict
from credit_lab.core.exceptions import StageError
from credit_lab.limits.replay_costs import average_capital, mitigants_from_customers, net_of_mitigation
from credit_lab.risk.mitigation import MitigationSettings, mitigate
from credit_lab.run import stages
from credit_lab.run.stages.registry import upstream_stages
from credit_lab.run.stages.s07_replay import _fit_window, replay_skip_reason

ROOT = Path(__file__).resolve().parent.parent
REPLAY_SMOKE = ROOT / "params" / "replay_smoke.yaml"
TEMPLATE = ROOT / "params" / "ledger_export_template.yaml"
DAYS_PER_YEAR = 365.25


@pytest.fixture(scope="module")
def replay_run(tmp_path_factory):
    """Stage 07 on the replay smoke params (stages 01-02 built in-process), and its run folder."""
    run = tmp_path_factory.mktemp("replay") / "run"
    ctx = stages.open_stage("07_replay", run, REPLAY_SMOKE)
    result = stages.stage_replay(ctx)
    _recorded[run] = (set(ctx.log.reads), set(ctx.log.writes))
    return result, run


_recorded: dict = {}  # run folder -> what stage 07 read and wrote (its StageContext's log)


@pytest.mark.e2e
def test_the_stage_reads_and_writes_only_what_the_catalog_declares(replay_run):
    from credit_lab.run.stages.catalog import CATALOG

    _, run = replay_run
    reads, writes = _recorded[run]
    assert reads <= set(CATALOG["07_replay"].inputs), sorted(reads - set(CATALOG["07_replay"].inputs))
    assert writes == set(CATALOG["07_replay"].outputs)  # the frontier too: the params hold an optimizer family
    on_disk = {f"data/{p.name}" for p in (run / "data").glob("replay*")}
    assert on_disk == writes


def _data(run: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(run / "data" / name)


def _irb_k(pd_: np.ndarray, lgd: float) -> np.ndarray:
    """Basel corporate capital per unit of EAD at a one-year maturity, written out from the Basel text."""
    p = np.clip(pd_, 0.0003, 1 - 1e-12)
    w = (1 - np.exp(-50 * p)) / (1 - np.exp(-50))
    r = 0.12 * w + 0.24 * (1 - w)
    b = (0.11852 - 0.05478 * np.log(p)) ** 2
    ma = (1 + (1.0 - 2.5) * b) / (1 - 1.5 * b)
    k = (lgd * norm.cdf((norm.ppf(p) + np.sqrt(r) * norm.ppf(0.999)) / np.sqrt(1 - r)) - p * lgd) * ma
    return np.maximum(k, 0.0)


@pytest.mark.e2e
def test_every_summary_number_is_recomputed_from_the_run_folder(replay_run):
    result, run = replay_run
    settings = result.result.settings
    walk = _data(run, "replay_walk.parquet")
    limits = _data(run, "replay_limits.parquet")
    pds = _data(run, "replay_pd.parquet")
    summary = _data(run, "replay_summary.parquet").set_index("policy")
    customers = _data(run, "customers.parquet")
    meta = json.loads((run / "data" / "replay.json").read_text())
    reviews = pd.DatetimeIndex(meta["reviews"])
    window = (pd.Timestamp(meta["end_date"]) - reviews[0]).days
    assert list(summary.index) == list(walk["policy"].unique())
    mitigants = mitigants_from_customers(customers, 0.3, 0.0)  # reserve defaults of the smoke params
    for policy, rows in walk.groupby("policy", sort=False):
        row = summary.loc[policy]
        assert row["served_sales"] == pytest.approx(rows["served_amount"].sum(), rel=1e-12)
        assert row["blocked_sales"] == pytest.approx(rows["blocked_amount"].sum(), rel=1e-12)
        assert row["orders_blocked"] == rows["orders_blocked"].sum()
        assert row["lost_margin"] == pytest.approx(settings.gross_margin * rows["blocked_amount"].sum(), rel=1e-12)
        assert row["bad_debt"] == pytest.approx(rows["loss"].sum(), rel=1e-12, abs=1e-6)
        net = rows["loss"].sum() - net_of_mitigation(rows, mitigants)[1].sum()
        assert row["net_bad_debt"] == pytest.approx(net, rel=1e-9, abs=1e-6)
        exposure_days = (rows["average_exposure"] * rows["period_days"]).sum()
        assert row["average_exposure"] == pytest.approx(exposure_days / window, rel=1e-12)
        profit = (settings.gross_margin * rows["served_amount"].sum() - row["net_bad_debt"]
                  - settings.cost_of_funds_rate * exposure_days / DAYS_PER_YEAR)
        assert row["profit"] == pytest.approx(profit, rel=1e-9)
        # capital: Basel's formula written out, at each review's PD (the review's mean where it scored no one)
        merged = rows.merge(pds, on=["review_date", "customer_id"], how="left")
        mean_pd = pds.groupby("review_date")["pd"].mean()
        p = merged["pd"].fillna(merged["review_date"].map(mean_pd)).to_numpy()
        k = _irb_k(p, meta["lgd"])
        capital = (k * merged["average_exposure"] * merged["period_days"]).sum() / window
        assert row["average_capital"] == pytest.approx(capital, rel=1e-9)
        # limit changes: reviews at which a customer's limit differs from the previous review's
        wide = limits[limits["policy"] == policy].pivot(index="customer_id", columns="review_date", values="limit")
        changes = (wide.diff(axis=1).iloc[:, 1:].abs() > 1e-9).to_numpy().sum()
        assert row["limit_changes"] == changes
        assert row["net_bad_debt_low"] <= row["net_bad_debt"] <= row["net_bad_debt_high"]


@pytest.mark.e2e
def test_frontier_and_calibration_tables_follow_from_the_summary_and_the_pds(replay_run):
    result, run = replay_run
    summary = _data(run, "replay_summary.parquet").set_index("policy")
    frontier = _data(run, "replay_frontier.parquet").set_index("policy")
    current = frontier.index[frontier["is_current"]][0]
    assert current == "as they were"
    for policy, row in frontier.iterrows():
        assert row["bad_debt_avoided"] == pytest.approx(summary.loc[current, "bad_debt"] - summary.loc[policy,
                                                                                                       "bad_debt"])
    calibration = _data(run, "replay_calibration.parquet")
    walk = _data(run, "replay_walk.parquet")
    pds = _data(run, "replay_pd.parquet")
    one = walk[walk["policy"] == current].merge(pds, on=["review_date", "customer_id"], how="left")
    one["pd"] = one["pd"].fillna(one["review_date"].map(pds.groupby("review_date")["pd"].mean()))
    horizon_days = load_params(REPLAY_SMOKE).features.label_horizon_months * DAYS_PER_YEAR / 12
    one["el"] = (1 - (1 - one["pd"]) ** (one["period_days"] / horizon_days)) * result.lgd * one["average_exposure"]
    expected = one.groupby("review_date")["el"].sum()
    mine = calibration[calibration["policy"] == current].set_index("review_date")["expected_loss"]
    np.testing.assert_allclose(mine.to_numpy(), expected.reindex(mine.index).to_numpy(), rtol=1e-9)
    assert result.calibration_totals.loc[current, "walked_loss"] == pytest.approx(summary.loc[current, "bad_debt"])


@pytest.mark.e2e
def test_policies_the_params_name_are_all_replayed_and_the_models_see_only_the_past(replay_run):
    result, run = replay_run
    names = list(_data(run, "replay_summary.parquet")["policy"])
    assert names == ["as they were", "2 x purchases", "as they were, 0 above PD 20%", "optimizer 0.75x EL",
                     "optimizer 1x EL"]
    models = _data(run, "replay_models.parquet")
    reviews = pd.DatetimeIndex(json.loads((run / "data" / "replay.json").read_text())["reviews"])
    assert (pd.to_datetime(models["fitted_as_of"]) <= reviews[0]).all()  # frozen: fitted at the first review


def test_mitigation_matches_the_reserve_formula_when_providers_pay():
    rng = np.random.default_rng(4)
    n = 200
    ead = rng.uniform(0, 1e5, n)
    ead[:20] = 0.0
    walk = pd.DataFrame({"customer_id": [f"C{i}" for i in range(n)], "review_date": pd.Timestamp("2024-01-01"),
                         "exposure_at_default": ead, "loss": ead * rng.uniform(0.2, 1.0, n)})
    m = pd.DataFrame({"collateral_value": rng.uniform(0, 5e4, n) * (rng.random(n) < 0.3),
                      "collateral_haircut": rng.uniform(0, 0.5, n),
                      "insurance_cover_pct": rng.choice([0.0, 0.8, 0.9], n), "insured_limit": rng.uniform(0, 6e4, n),
                      "deductible": 500.0, "guarantee_amount": rng.uniform(0, 2e4, n) * (rng.random(n) < 0.2)},
                     index=pd.Index(walk["customer_id"], name="customer_id"))
    net, recovered = net_of_mitigation(walk, m)
    frame = m.reset_index(drop=True).assign(ead=ead, pd=0.5, lgd=1.0, guarantor_pd=0.0)
    reference = mitigate(frame, MitigationSettings(insurer_pd=0.0)).table
    share = np.divide(reference["net_ead"].to_numpy(), ead, out=np.ones(n), where=ead > 0)
    np.testing.assert_allclose(net, walk["loss"].to_numpy() * share, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(net + recovered, walk["loss"].to_numpy(), rtol=1e-12)


def test_the_insurers_yearly_cap_scales_that_years_claims_pro_rata():
    walk = pd.DataFrame({"customer_id": ["A", "B", "C"],
                         "review_date": pd.to_datetime(["2023-03-01", "2023-09-01", "2024-02-01"]),
                         "exposure_at_default": [1000.0, 3000.0, 1000.0], "loss": [1000.0, 3000.0, 1000.0]})
    m = pd.DataFrame({"collateral_value": 0.0, "collateral_haircut": 0.0, "insurance_cover_pct": 1.0,
                      "insured_limit": 1e9, "deductible": 0.0, "guarantee_amount": 0.0},
                     index=pd.Index(["A", "B", "C"], name="customer_id"))
    net, recovered = net_of_mitigation(walk, m, insurer_max_liability=2000.0)
    # 2023: claims 1,000 + 3,000 capped at 2,000 -> half paid; 2024: 1,000 within the cap
    np.testing.assert_allclose(recovered, [500.0, 1500.0, 1000.0])
    np.testing.assert_allclose(net, [500.0, 1500.0, 0.0])


def test_average_capital_is_time_weighted_and_uses_the_reviews_mean_pd_for_unscored_customers():
    walk = pd.DataFrame({"customer_id": ["A", "A", "B"],
                         "review_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-02-01"]),
                         "period_days": [31.0, 29.0, 29.0], "average_exposure": [100.0, 200.0, 50.0]})
    pds = pd.DataFrame({"review_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-02-01"]),
                        "customer_id": ["A", "A", "X"], "pd": [0.01, 0.02, 0.04]})
    capital = average_capital(walk, pds, 0.45, 60.0)
    k = _irb_k(np.array([0.01, 0.02, 0.03]), 0.45)  # B unscored in February: that review's mean PD 0.03
    assert capital["A"] == pytest.approx((k[0] * 100 * 31 + k[1] * 200 * 29) / 60, rel=1e-12)
    assert capital["B"] == pytest.approx(k[2] * 50 * 29 / 60, rel=1e-12)


def _invoices(first: str, last: str) -> pd.DataFrame:
    return pd.DataFrame({"invoice_date": pd.to_datetime([first, last])})


def _ctx(**replay):
    params = params_from_dict({"replay": {"enabled": True, **replay}})
    return type("Ctx", (), {"params": params})()


def test_window_shortens_a_default_n_reviews_to_the_ledger_and_says_so():
    notes: list[str] = []
    settings = _fit_window(_ctx(), _invoices("2023-01-05", "2024-11-20"), pd.Timestamp("2024-12-01"), notes)
    assert settings.n_reviews == 10  # first review 2024-02-01 keeps 12 months of history; last 2024-11-01
    assert "shortened from its default 24 to 10" in notes[0]
    # a scoring date inside a month: the engine's last review is still 2024-11-01, so the first stays 2024-02-01
    mid = _fit_window(_ctx(), _invoices("2023-01-05", "2024-11-20"), pd.Timestamp("2024-12-15"), [])
    assert mid.n_reviews == 10
    notes = []
    kept = _fit_window(_ctx(n_reviews=20), _invoices("2023-01-05", "2024-11-20"), pd.Timestamp("2024-12-01"), notes)
    assert kept.n_reviews == 20 and "kept as set" in notes[0]
    with pytest.raises(StageError, match="Replay needs a longer ledger"):
        _fit_window(_ctx(), _invoices("2024-01-05", "2024-12-20"), pd.Timestamp("2025-01-01"), [])


def test_the_stage_runs_only_when_asked_and_never_in_table_mode():
    assert "replay.enabled is false" in replay_skip_reason(params_from_dict({}))
    assert replay_skip_reason(params_from_dict({"replay": {"enabled": True}})) is None
    table = load_params(ROOT / "params" / "table_template.yaml").model_dump(mode="json")
    table["replay"] = {"enabled": True}
    assert "table mode" in replay_skip_reason(params_from_dict(table))
    assert upstream_stages("07_replay") == {"01_data_quality", "02_features"}  # on its own: no model stages built


@pytest.mark.e2e
def test_smoke_run_skips_the_replay_and_its_page_says_how_to_turn_it_on(smoke_run):
    run, _ = smoke_run
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["07_replay"]["status"] == "skipped"
    page = (run / "reports" / "07_replay.html").read_text()
    assert "replay.enabled" in page and "replay_example.yaml" in page


@pytest.mark.e2e
def test_two_policies_replay_on_the_public_export_with_params_only(tmp_path):
    raw = yaml.safe_load(TEMPLATE.read_text())
    raw["data"]["files"]["invoices"]["path"] = str(ROOT / "tests" / "data" / "erp_invoices.csv")
    raw["data"]["rules"]["derive_defaults_days_past_due"] = 90
    raw["replay"] = {"enabled": True, "bootstrap_samples": 100, "policies": [
        {"kind": "as_they_were", "name": "as they were"},
        {"kind": "purchases_multiple", "name": "3 x purchases", "k": 3.0, "trailing_months": 6}]}
    params = tmp_path / "export_replay.yaml"
    params.write_text(yaml.safe_dump(raw))
    ctx = stages.open_stage("07_replay", tmp_path / "run", params)
    result = stages.stage_replay(ctx)
    assert list(result.result.summary.index) == ["as they were", "3 x purchases"]
    assert any("shortened from its default 24" in n for n in result.notes)  # a 23-month export
    assert (result.result.summary["served_sales"] > 0).all()
    walk = pd.read_parquet(tmp_path / "run" / "data" / "replay_walk.parquet")
    assert walk["customer_id"].nunique() == len(pd.read_parquet(tmp_path / "run" / "data" / "customers.parquet"))


@pytest.mark.e2e
def test_the_index_page_heads_with_today_s_policy_and_the_most_profitable_one(replay_run):
    from credit_lab.run.index_page import _replay_headline

    _, run = replay_run
    summary = _data(run, "replay_summary.parquet").set_index("policy")
    lines = dict(_replay_headline(run / "data"))
    today = lines["Policy replay (6 monthly reviews from 2024-07-01): as they were"]
    assert f"bad debt {summary.loc['as they were', 'bad_debt']:,.0f}" in today
    assert lines["Policy replay: highest profit"].startswith(f"{summary['profit'].idxmax()}: ")
    assert _replay_headline(run / "nothing") == []


@pytest.mark.e2e
def test_a_second_replay_of_the_same_params_writes_the_same_bytes(replay_run, tmp_path):
    """Reruns must match file for file (credit-lab verify --against): no fit times or other clocks in the files."""
    import hashlib
    import shutil

    _, run = replay_run
    again = tmp_path / "again"
    shutil.copytree(run, again)
    for f in (again / "data").glob("replay*"):
        f.unlink()
    stages.stage_replay(stages.open_stage("07_replay", again, REPLAY_SMOKE, build_missing_upstream=False))

    def digests(folder):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "data").glob("replay*"))}

    assert len(digests(run)) == 10 and digests(again) == digests(run)
