"""Tests of the WoE scorecard: hand-worked WoE/IV, exactness of the optimal binning against brute force,
missing / special / unseen values, points and explanations adding up, selection, persistence and a
realistic synthetic portfolio."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from credit_lab.core.exceptions import ArtifactIntegrityError
from credit_lab.models.binning import optimal_binning
from credit_lab.models.scorecard import WoEScorecard

LN2 = math.log(2.0)


# ---------------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------------

SECTOR_EFFECT = {"retail": 0.4, "construction": 0.8, "services": 0.0, "manufacturing": -0.2, "public": -0.9,
                 "mining": 0.3}
SPECIALS = {"utilisation": [-999], "payment_score": [99]}


def make_portfolio(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """8 features with a known direction (one categorical, with missing and special codes) + 2 noise."""
    rng = np.random.default_rng(seed)
    days_late = rng.gamma(2.0, 6.0, n)
    util = rng.uniform(0, 1.2, n)
    tenure = rng.uniform(0, 240, n)
    equity = rng.normal(0.3, 0.2, n)
    inquiries = rng.poisson(1.5, n).astype(float)
    revenue = rng.lognormal(14, 1.0, n)
    sector = rng.choice(list(SECTOR_EFFECT), n, p=[.3, .2, .25, .2, .04, .01])
    pay = rng.integers(1, 11, n).astype(float)
    logit = (-3.2 + 0.05 * days_late + 1.2 * util - 0.006 * tenure - 2.0 * equity + 0.25 * inquiries
             - 0.3 * (np.log(revenue) - 14) + np.array([SECTOR_EFFECT[s] for s in sector]) - 0.12 * (pay - 5.5))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    days_late[rng.random(n) < 0.05] = np.nan
    util[rng.random(n) < 0.03] = -999.0
    pay[rng.random(n) < 0.04] = 99.0
    X = pd.DataFrame({"days_late": days_late, "utilisation": util, "tenure": tenure, "equity_ratio": equity,
                      "inquiries": inquiries, "revenue": revenue, "sector": pd.array(sector, dtype="str"),
                      "payment_score": pay, "noise_a": rng.normal(size=n), "noise_b": rng.uniform(size=n)})
    return X, pd.Series(y, name="default")


@pytest.fixture(scope="module")
def portfolio():
    return make_portfolio(20_000, 1), make_portfolio(10_000, 2)


@pytest.fixture(scope="module")
def card(portfolio):
    (X, y), _ = portfolio
    return WoEScorecard(list(X.columns), categorical=["sector"], special_codes=SPECIALS).fit(X, y)


def hand_woe_iv(g, b, G, B, s):
    """WoE = ln(%good / %bad) with %good = (g + s) / G, %bad = (b + s) / B; IV term = (%good - %bad) * WoE."""
    pg, pb = (g + s) / G, (b + s) / B
    woe = math.log(pg / pb)
    return woe, (pg - pb) * woe


# ---------------------------------------------------------------------------------------------------------
# WoE / IV and the binning
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("categorical", [True, False])
def test_woe_iv_of_hand_worked_two_bin_example(categorical):
    # bin A: 60 goods, 10 bads; bin B: 30 goods, 20 bads -> G = 90, B = 30
    x = ["A"] * 70 + ["B"] * 50 if categorical else [0.0] * 70 + [1.0] * 50
    y = [0] * 60 + [1] * 10 + [0] * 30 + [1] * 20
    b = optimal_binning(pd.Series(x, name="f"), y, categorical=categorical, min_bin_share=0.0)
    assert b.labels == (["A", "B"] if categorical else ["(-inf, 1)", "[1, inf)"])
    assert b.goods.tolist() == [60, 30] and b.bads.tolist() == [10, 20]
    wa, ia = hand_woe_iv(60, 10, 90, 30, 0.5)  # ln((60.5/90) / (10.5/30))
    wb, ib = hand_woe_iv(30, 20, 90, 30, 0.5)
    assert b.woe.tolist() == pytest.approx([wa, wb], abs=1e-14)
    assert b.iv == pytest.approx(ia + ib, abs=1e-14)
    assert wa == pytest.approx(math.log((60.5 / 90) / (10.5 / 30)), abs=1e-15)
    # without smoothing the textbook values: WoE = +-ln 2, IV = (2/3 - 1/3) ln 2 + (1/3 - 2/3)(-ln 2) = 2/3 ln 2
    b0 = optimal_binning(pd.Series(x), y, categorical=categorical, min_bin_share=0.0, smoothing=1e-12)
    assert b0.woe.tolist() == pytest.approx([LN2, -LN2], abs=1e-9)
    assert b0.iv == pytest.approx(2 / 3 * LN2, abs=1e-9)
    assert b.table()["bad_rate"].tolist() == pytest.approx([10 / 70, 20 / 50])


def test_prebins_are_quantile_cuts():
    x = pd.Series(np.arange(100, dtype=float))
    y = np.r_[np.zeros(50, int), np.ones(50, int)]
    b = optimal_binning(x, y, max_prebins=4, min_bin_share=0.0)
    assert b.prebin_edges.tolist() == [25.0, 50.0, 75.0]  # 25 values per pre-bin
    assert b.edges.tolist() == [50.0] and b.labels == ["(-inf, 50)", "[50, inf)"]  # merged at the only jump
    # a value equal to a cut point belongs to the bin above it
    idx, _ = b.assign(pd.Series([49.999, 50.0, -1e9, 1e9]))
    assert idx.tolist() == [0, 1, 0, 1]


def test_value_bins_have_monotone_bad_rate(portfolio):
    (X, y), _ = portfolio
    for feature, expected in [("days_late", "ascending"), ("tenure", "descending"), ("equity_ratio", "descending"),
                              ("inquiries", "ascending")]:
        b = optimal_binning(X[feature], y, min_bin_share=0.05, max_bins=8)
        t = b.table()
        rates = t.loc[t["kind"] == "range", "bad_rate"].to_numpy()
        assert b.direction == expected, feature
        steps = np.diff(rates)
        assert (steps > 0).all() if expected == "ascending" else (steps < 0).all(), (feature, rates)
        assert (t.loc[t["kind"] == "range", "share"] >= 0.05).all() and len(rates) <= 8
    # forcing the wrong direction on a clearly ascending feature leaves no room to split it
    forced = optimal_binning(X["days_late"], y, monotonic="descending")
    assert (forced.table()["kind"] == "range").sum() == 1 and forced.direction == "none"


def _feasible(groups, g, b, G, B, s, n_total, min_share, max_bins, direction):
    """The constraints, spelled out independently of the module: contiguous groups of the distinct values."""
    if len(groups) > max_bins:
        return False
    n = [g[i:j].sum() + b[i:j].sum() for i, j in groups]
    if len(groups) > 1 and min(n) < min_share * n_total:
        return False
    rate = [b[i:j].sum() / m for (i, j), m in zip(groups, n)]
    woe = [hand_woe_iv(g[i:j].sum(), b[i:j].sum(), G, B, s)[0] for i, j in groups]
    for k in range(1, len(groups)):
        if direction == "ascending" and not (rate[k] > rate[k - 1] and woe[k] <= woe[k - 1]):
            return False
        if direction == "descending" and not (rate[k] < rate[k - 1] and woe[k] >= woe[k - 1]):
            return False
    return True


def _brute_force_iv(g, b, G, B, s, n_total, min_share, max_bins, directions):
    m = len(g)
    best = -math.inf
    for cuts in itertools.product([False, True], repeat=m - 1):
        starts = [0] + [k + 1 for k, c in enumerate(cuts) if c]
        groups = list(zip(starts, starts[1:] + [m]))
        if any(_feasible(groups, g, b, G, B, s, n_total, min_share, max_bins, d) for d in directions):
            best = max(best, sum(hand_woe_iv(g[i:j].sum(), b[i:j].sum(), G, B, s)[1] for i, j in groups))
    return best


def test_dynamic_programme_equals_brute_force_on_30_random_cases():
    rng = np.random.default_rng(2024)
    for case in range(30):
        n = int(rng.integers(40, 250))
        m = int(rng.integers(2, 9))  # distinct values -> up to 2^7 partitions
        x = rng.integers(0, m, n).astype(float)
        rate_of = rng.uniform(0.02, 0.6, m)
        y = (rng.random(n) < rate_of[x.astype(int)]).astype(int)
        y[:2] = [0, 1]
        x[rng.random(n) < 0.1] = np.nan
        min_share = float(rng.choice([0.0, 0.05, 0.1, 0.2]))
        max_bins = int(rng.integers(1, 6))
        monotonic = str(rng.choice(["auto", "ascending", "descending"]))
        s = float(rng.choice([0.5, 0.1]))
        # max_prebins above n: every distinct value is its own pre-bin, so all partitions are reachable
        b = optimal_binning(pd.Series(x), y, max_prebins=1000, max_bins=max_bins, min_bin_share=min_share,
                            monotonic=monotonic, smoothing=s)
        obs = ~np.isnan(x)
        values = np.unique(x[obs])
        assert len(b.prebin_edges) == len(values) - 1
        G, B = int((y == 0).sum()), int((y == 1).sum())
        g = np.array([((x == v) & (y == 0)).sum() for v in values])
        bb = np.array([((x == v) & (y == 1)).sum() for v in values])
        miss_iv = hand_woe_iv((~obs & (y == 0)).sum(), (~obs & (y == 1)).sum(), G, B, s)[1] if (~obs).any() else 0.0
        directions = ("ascending", "descending") if monotonic == "auto" else (monotonic,)
        expected = _brute_force_iv(g, bb, G, B, s, n, min_share, max_bins, directions) + miss_iv
        assert b.iv == pytest.approx(expected, abs=1e-10), (case, b.labels)
        # the returned bins are themselves feasible
        cut_at = np.searchsorted(values, b.edges)
        starts = [0, *cut_at.tolist()]
        groups = list(zip(starts, starts[1:] + [len(values)]))
        assert any(_feasible(groups, g, bb, G, B, s, n, min_share, max_bins, d) for d in directions)


def test_missing_and_special_values_get_their_own_bins():
    rng = np.random.default_rng(5)
    n = 4000
    x = rng.uniform(0, 10, n)
    y = (rng.random(n) < 0.05 + 0.03 * x).astype(int)
    x[:300] = np.nan
    y[:300] = (rng.random(300) < 0.5).astype(int)  # missing: very risky
    x[300:600] = -999.0  # the lowest number, but a code: very safe, must not join the lowest range bin
    y[300:600] = 0
    b = optimal_binning(pd.Series(x, name="x"), y, special_codes=[-999, 9999])
    t = b.table().set_index("bin")
    assert "missing" in t.index and "special -999" in t.index and "special 9999" not in t.index
    assert t.loc["special -999", "count"] == 300 and t.loc["missing", "count"] == 300
    assert t.loc[t["kind"] == "range", "count"].sum() == n - 600
    assert b.direction == "ascending" and np.all(np.diff(t.loc[t["kind"] == "range", "bad_rate"]) > 0)
    G, B = int((y == 0).sum()), int((y == 1).sum())
    assert t.loc["missing", "woe"] == pytest.approx(hand_woe_iv((y[:300] == 0).sum(), y[:300].sum(), G, B, 0.5)[0])
    assert t.loc["special -999", "woe"] == pytest.approx(hand_woe_iv(300, 0, G, B, 0.5)[0])
    # scoring: 9999 had no fit rows -> neutral WoE 0, counted
    woe, unseen = b.transform(pd.Series([np.nan, -999.0, 9999.0, 5.0]))
    assert woe[0] == t.loc["missing", "woe"] and woe[1] == t.loc["special -999", "woe"] and woe[2] == 0.0
    assert unseen == {"count": 1, "to_other": 0, "to_neutral": 1, "examples": ["special 9999"]}
    # a feature without missing values at fit time: a missing value at scoring is neutral and counted
    b2 = optimal_binning(pd.Series(rng.uniform(size=n)), y)
    woe2, unseen2 = b2.transform(pd.Series([np.nan, np.nan, 0.5]))
    assert woe2[:2].tolist() == [0.0, 0.0] and unseen2["to_neutral"] == 2 and unseen2["examples"] == ["missing"]


def test_rare_categories_pooled_and_unseen_categories_handled_and_counted():
    rng = np.random.default_rng(7)
    n = 3000
    cats = rng.choice(["A", "B", "C", "rare1", "rare2"], n, p=[0.4, 0.3, 0.26, 0.02, 0.02])
    rate = {"A": 0.05, "B": 0.15, "C": 0.3, "rare1": 0.5, "rare2": 0.5}
    y = (rng.random(n) < np.array([rate[c] for c in cats])).astype(int)
    X = pd.DataFrame({"cat": pd.array(cats, dtype="str"),
                      "plain": pd.array(np.where(cats == "A", "a", "b"), dtype="str"),
                      "num": rng.normal(size=n) + y})
    b = optimal_binning(X["cat"], y, categorical=True, min_bin_share=0.03)  # rare1, rare2 < 3% <= OTHER
    assert b.labels[b.other_bin] == "OTHER" and b.category_bins["rare1"] == b.other_bin
    assert b.table()["bad_rate"].is_monotonic_increasing  # categories ordered by bad rate
    merged = optimal_binning(X["cat"], y, categorical=True)  # OTHER (4%) < 5%: merged with its neighbour
    assert "OTHER" in merged.labels[merged.other_bin].split(", ")
    sc = WoEScorecard(["cat", "plain", "num"], categorical=["cat", "plain"], min_iv=0.0, max_corr=1.0).fit(X, y)
    new = pd.DataFrame({"cat": pd.array(["A", "NEW", "NEW", "OTHER?", None], dtype="str"),
                        "plain": pd.array(["a", "zzz", "b", "b", "a"], dtype="str"), "num": [0.0] * 5})
    woe = sc.transform(new)
    cat_bin, plain_bin = sc.binnings_["cat"], sc.binnings_["plain"]
    assert woe["cat"].tolist()[:4] == [cat_bin.woe[cat_bin.category_bins["A"]]] + [cat_bin.woe[cat_bin.other_bin]] * 3
    assert woe["cat"].iloc[4] == 0.0  # missing, never seen missing at fit time -> neutral
    assert plain_bin.other_bin is None and woe["plain"].iloc[1] == 0.0  # no OTHER bin -> neutral
    assert sc.last_unseen_["cat"] == {"count": 4, "to_other": 3, "to_neutral": 1,
                                      "examples": ["NEW", "OTHER?", "missing"]}
    assert sc.last_unseen_["plain"] == {"count": 1, "to_other": 0, "to_neutral": 1, "examples": ["zzz"]}
    assert "num" not in sc.last_unseen_
    assert np.isfinite(sc.predict_pd(new)).all()
    sc.predict_pd(X.head(10))
    assert sc.last_unseen_ == {}  # reset by the next prediction
    table = sc.points_table()
    assert "unseen category" in table.loc[table["feature"] == "plain", "bin"].tolist()


# ---------------------------------------------------------------------------------------------------------
# the scorecard
# ---------------------------------------------------------------------------------------------------------

def test_points_sum_to_score_and_score_is_the_pdo_score_of_the_pd(card, portfolio):
    _, (Xt, _) = portfolio
    X = Xt.head(2000)
    pd_ = card.predict_pd(X)
    score = card.score(X)
    # the PDO formula of the PD, by hand: 600 + 20/ln2 * (ln((1-p)/p) - ln 50)
    hand = 600 + 20 / LN2 * (np.log((1 - pd_) / pd_) - np.log(50))
    np.testing.assert_allclose(score, hand, rtol=0, atol=1e-7)
    # 50:1 odds earn 600, doubling the odds adds 20
    assert 600 + 20 / LN2 * (math.log(100) - math.log(50)) == pytest.approx(620)
    # per-row points from the exported table (bin labels looked up by name) add up to the score
    table = card.points_table()
    lookup = table.set_index(["feature", "bin"])["points"]
    total = np.zeros(len(X))
    for f in card.features_:
        labels = card.binnings_[f].bin_labels(X[f])
        total += lookup.loc[[(f, lab) for lab in labels]].to_numpy()
    np.testing.assert_allclose(total, score, rtol=0, atol=1e-9)
    pts = card.explain_points(X)
    assert list(pts.columns) == card.features_
    np.testing.assert_allclose(pts.sum(axis=1).to_numpy(), score, rtol=0, atol=1e-9)
    # intercept spread evenly: a feature's points at WoE 0 (neutral rows) = (offset - factor * intercept) / m
    factor = 20 / LN2
    even = (600 - factor * math.log(50) - factor * card.intercept_) / len(card.features_)
    assert table.loc[table["kind"] == "neutral", "points"].to_numpy() == pytest.approx(even, abs=1e-12)
    assert list(table.columns) == ["feature", "bin", "kind", "count", "share", "bad_rate", "woe", "iv",
                                   "coefficient", "points"]
    csv = table.to_csv(index=False)
    assert csv.splitlines()[0].startswith("feature,bin,kind,count")
    assert table.groupby("feature")["share"].sum().to_numpy() == pytest.approx(1.0)


def test_explain_is_additive_and_matches_the_regression(card, portfolio):
    _, (Xt, _) = portfolio
    X = Xt.head(3000)
    contrib, base = card.explain(X)
    raw = card.raw_log_odds(X)
    assert base == card.intercept_
    assert np.max(np.abs(base + contrib.sum(axis=1).to_numpy() - raw)) <= 1e-12
    # independent: sklearn's decision function on the WoE matrix, and coef * woe by hand
    woe = card.transform(X)
    np.testing.assert_allclose(raw, card.lr_.decision_function(woe.to_numpy()), rtol=0, atol=1e-10)
    f = card.features_[0]
    np.testing.assert_allclose(contrib[f].to_numpy(), card.lr_.coef_[0, 0] * woe[f].to_numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(card.predict_pd(X), 1 / (1 + np.exp(-raw)), rtol=1e-12)
    # positive = raises the PD: the worst days_late bin adds to the log-odds
    worst = X["days_late"] > 40
    assert (contrib.loc[worst, "days_late"] > 0).all()
    expl = card.explanation(X)
    assert expl.values.shape == contrib.shape and expl.base_value == base
    np.testing.assert_array_equal(expl.output, raw)
    assert expl.data["utilisation"].isna().sum() == (X["utilisation"] == -999).sum()  # special = no information
    from credit_lab.models.explain import reason_codes

    first = reason_codes(expl, top=2)["reason_1_feature"].to_numpy()
    top = np.array(card.features_)[contrib.to_numpy().argmax(axis=1)]
    adverse = contrib.to_numpy().max(axis=1) > 0
    np.testing.assert_array_equal(first[adverse], top[adverse])
    assert (first[~adverse] == "").all()


def test_selection_on_realistic_portfolio(card, portfolio):
    (X, y), (Xt, yt) = portfolio
    sel = card.selection_.set_index("feature")
    assert set(card.features_) == set(X.columns) - {"noise_a", "noise_b"}
    for noise in ("noise_a", "noise_b"):
        assert not sel.loc[noise, "selected"] and sel.loc[noise, "reason"].startswith("IV ")
        assert sel.loc[noise, "iv"] < 0.02
    assert (card.coef_ < 0).all()
    assert sel.loc["sector", "n_bins"] >= 3 and card.binnings_["sector"].other_bin is not None
    # a plain logistic regression on the raw features (missing/special flagged, log revenue, sector dummies)
    def design(D):
        Z = D.drop(columns=["sector"]).astype(float)
        for c, codes in SPECIALS.items():
            hit = Z[c].isin(codes)
            Z[c + "_special"] = hit.astype(float)
            Z[c] = Z[c].mask(hit)
        Z["days_late_missing"] = Z["days_late"].isna().astype(float)
        Z["revenue"] = np.log(Z["revenue"])
        return pd.concat([Z, pd.get_dummies(D["sector"], dtype=float)], axis=1)
    Z, Zt = design(X), design(Xt)
    med, mu, sd = Z.median(), None, None
    Z, Zt = Z.fillna(med), Zt.fillna(med)
    mu, sd = Z.mean(), Z.std()
    plain = LogisticRegression(max_iter=5000).fit((Z - mu) / sd, y)
    auc_plain = roc_auc_score(yt, plain.predict_proba((Zt - mu) / sd)[:, 1])
    auc_card = roc_auc_score(yt, card.predict_pd(Xt))
    assert auc_card > 0.70
    assert abs(auc_card - auc_plain) < 0.03, (auc_card, auc_plain)
    # calibration in the large on the hold-out
    assert card.predict_pd(Xt).mean() == pytest.approx(yt.mean(), abs=0.01)


def test_wrong_sign_feature_is_dropped():
    rng = np.random.default_rng(3)
    n = 8000
    z1, z2, z3 = rng.normal(size=(3, n))
    # x2 is riskier when high on its own (through z1) but safer given x1: its WoE coefficient turns positive
    X = pd.DataFrame({"x1": z1, "x2": 0.6 * z1 + 0.8 * z2, "x3": z3})
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2.2 + 1.5 * z1 - 0.6 * z2 + 0.7 * z3)))).astype(int)
    sc = WoEScorecard(["x1", "x2", "x3"]).fit(X, y)
    sel = sc.selection_.set_index("feature")
    assert sel.loc["x2", "iv"] >= 0.02 and not sel.loc["x2", "selected"]
    assert sel.loc["x2", "reason"].startswith("wrong sign")
    assert sc.features_ == ["x1", "x3"] and (sc.coef_ < 0).all()
    # the first fit really had the wrong sign
    w = np.column_stack([sc.binnings_[f].transform(X[f])[0] for f in ["x1", "x2", "x3"]])
    assert LogisticRegression(C=1.0, max_iter=2000).fit(w, y).coef_[0, 1] > 0


def test_near_duplicate_woe_dropped_and_max_features():
    rng = np.random.default_rng(4)
    n = 5000
    z = rng.normal(size=n)
    X = pd.DataFrame({"a": z, "a_copy": z + rng.normal(scale=0.01, size=n), "b": rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-(-2 + z + 0.5 * X["b"])))).astype(int)
    sc = WoEScorecard(["a", "a_copy", "b"]).fit(X, y)
    sel = sc.selection_.set_index("feature")
    lower, higher = sorted(["a", "a_copy"], key=lambda f: sel.loc[f, "iv"])
    assert sel.loc[lower, "reason"].startswith("WoE |corr|") and f"'{higher}'" in sel.loc[lower, "reason"]
    assert sorted(sc.features_) == sorted([higher, "b"])
    one = WoEScorecard(["a", "b"], max_features=1).fit(X, y)
    assert one.features_ == ["a"] and one.selection_.set_index("feature").loc["b", "reason"].startswith("beyond")


def test_save_load_roundtrip_with_hash(card, portfolio, tmp_path):
    _, (Xt, _) = portfolio
    path = tmp_path / "card.json"
    digest = card.save(path)
    assert len(digest) == 64
    back = WoEScorecard.load(path, digest)
    np.testing.assert_array_equal(back.score(Xt.head(500)), card.score(Xt.head(500)))
    pd.testing.assert_frame_equal(back.points_table(), card.points_table())
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ArtifactIntegrityError):
        WoEScorecard.load(path, digest)


# ---------------------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------------------

def test_bad_input_raises_value_errors_that_name_the_problem():
    X = pd.DataFrame({"income": [1.0, 2.0, 3.0, 4.0], "empty": [np.nan] * 4,
                      "sector": pd.array(["a", "b", "a", "b"], dtype="str")})
    y = [0, 1, 0, 1]
    with pytest.raises(ValueError, match=r"found value\(s\) \[2\].*1 = default"):
        WoEScorecard(["income"]).fit(X, [0, 1, 2, 1])
    with pytest.raises(ValueError, match="only one outcome"):
        WoEScorecard(["income"]).fit(X, [0, 0, 0, 0])
    with pytest.raises(ValueError, match="missing outcome"):
        WoEScorecard(["income"]).fit(X, [0, 1, None, 1])
    with pytest.raises(ValueError, match="'empty' has no observed value"):
        WoEScorecard(["income", "empty"]).fit(X, y)
    with pytest.raises(ValueError, match="lacks feature column 'incom'.*closest: 'income'"):
        WoEScorecard(["incom"]).fit(X, y)
    with pytest.raises(ValueError, match="'sector' is not numeric.*categorical"):
        WoEScorecard(["sector"]).fit(X, y)
    with pytest.raises(ValueError, match="categorical names feature 'sectr'"):
        WoEScorecard(["sector"], categorical=["sectr"]).fit(X, y)
    with pytest.raises(ValueError, match="y has 3 values but X has 4 rows"):
        WoEScorecard(["income"]).fit(X, [0, 1, 0])
    with pytest.raises(ValueError, match="no feature survives"):
        WoEScorecard(["income"], min_iv=50.0).fit(X, y)
    sc = WoEScorecard(["income"], min_iv=0.0, min_bin_share=0.0).fit(X, y)
    with pytest.raises(ValueError, match="lacks feature column 'income'"):
        sc.predict_pd(X.drop(columns=["income"]))
