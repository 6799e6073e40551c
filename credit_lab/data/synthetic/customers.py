"""Customers (firms): latent credit quality, size, industry, region and onboarding; the customer master table."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from credit_lab.data.synthetic.days import _numbered_ids, _text, _to_datetime
from credit_lab.data.synthetic.params import SynthParams, _profile

_NAME_PREFIX = np.array(
    ["Al", "Bel", "Cor", "Dan", "El", "Fal", "Gor", "Hel", "Ir", "Jor", "Kal", "Lin", "Mar", "Nor", "Or", "Pol"]
    + ["Quin", "Ros", "Sal", "Tor", "Ul", "Val", "Wen", "Xan", "Yor", "Zel", "Ber", "Cam", "Dur", "Fen", "Gal", "Hal"]
)


_NAME_SUFFIX = np.array(
    ["tex", "ria", "mont", "vale", "dor", "ston", "mar", "gen", "tron", "lux", "berg", "field", "via", "ton"]
    + ["dex", "ora", "wick", "nova", "corp", "line"]
)


_NAME_WORD = np.array(
    [
        "Industries",
        "Logistics",
        "Trading",
        "Systems",
        "Group",
        "Holding",
        "Solutions",
        "Services",
        "Works",
        "Supply",
        "Technik",
        "Handel",
        "Foods",
        "Bau",
        "Components",
        "Distribution",
    ]
)


_NAME_SURNAME = np.array(
    [
        "O'Neil",
        "O'Brien",
        "D'Angelo",
        "O'Connor",
        "D'Souza",
        "Becker",
        "Smith",
        "Rossi",
        "Dubois",
        "Jansen",
        "Novak",
        "Schmidt",
        "Moreau",
        "Fischer",
    ]
)


_NAME_PARTNER = np.array(["Sons", "Partners", "Co.", "Daughters", "Brothers"])


_LEGAL_FORM = np.array(["GmbH", "Ltd", "S.A.", "Inc.", "AG", "B.V.", "S.r.l.", "plc", "LLC", "Oy", "A/S", "KG"])


def _draw_customers(
    rng: np.random.Generator,
    p: SynthParams,
    n: int,
    industries: list[str],
    regions: list[str],
    bounds: np.ndarray,
    n_months: int,
) -> pd.DataFrame:
    """Draw the latent attributes of every customer (internal columns)."""
    weights = np.array([_profile(name)[5] for name in industries])
    industry = rng.choice(len(industries), size=n, p=weights / weights.sum())
    region = rng.integers(0, len(regions), size=n)

    log_rev = np.log(p.median_revenue) + p.revenue_log_sd * rng.standard_normal(n)
    log_rev = np.clip(log_rev, *np.log(p.revenue_bounds))
    size_std = (log_rev - np.log(p.median_revenue)) / p.revenue_log_sd
    c = p.pd_size_z_corr
    z = c * size_std + np.sqrt(1.0 - c**2) * rng.standard_normal(n)

    # A dense block of recent onboardings so that some customers have little
    # or no history, the rest spread over a long past (customer base growth).
    start_day, end_day = int(bounds[0]), int(bounds[n_months])
    recent_from = int(bounds[max(n_months - 12, 0)])
    oldest = start_day - round(365.25 * p.onboarding_history_years)
    recent = rng.random(n) < p.recent_onboarding_share
    onb_day = np.where(
        recent,
        rng.integers(recent_from, end_day, size=n),
        rng.integers(oldest, max(recent_from, oldest + 1), size=n),
    )
    # Month index of onboarding relative to the window; before the window an
    # approximate (negative) index is enough, it only drives the seasoning.
    onb_month = np.searchsorted(bounds, onb_day, side="right") - 1
    before = onb_day < start_day
    onb_month = np.where(before, -((start_day - onb_day) // 31) - 1, onb_month)

    return pd.DataFrame(
        {
            "industry": industry,
            "region": region,
            "log_rev": log_rev,
            "z": z,
            "onb_day": onb_day,
            "onb_month": onb_month,
        }
    )


def _customer_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Plausible company names; some family-style names with ``'`` and ``&``."""
    stem = np.char.add(
        _NAME_PREFIX[rng.integers(0, len(_NAME_PREFIX), n)],
        _NAME_SUFFIX[rng.integers(0, len(_NAME_SUFFIX), n)],
    )
    word = np.where(
        rng.random(n) < 0.6,
        np.char.add(" ", _NAME_WORD[rng.integers(0, len(_NAME_WORD), n)]),
        "",
    )
    surname = _NAME_SURNAME[rng.integers(0, len(_NAME_SURNAME), n)]
    partner = np.where(
        rng.random(n) < 0.6,
        _NAME_PARTNER[rng.integers(0, len(_NAME_PARTNER), n)],
        _NAME_SURNAME[rng.integers(0, len(_NAME_SURNAME), n)],
    )
    family = np.char.add(np.char.add(surname, " & "), partner)
    core = np.where(rng.random(n) < 0.08, family, np.char.add(stem, word))
    legal = _LEGAL_FORM[rng.integers(0, len(_LEGAL_FORM), n)]
    return np.char.add(np.char.add(core, " "), legal).astype(object)


def _customer_table(
    rng: np.random.Generator,
    p: SynthParams,
    cust: pd.DataFrame,
    industries: list[str],
    regions: list[str],
) -> pd.DataFrame:
    """Public customer master data; also adds internal columns to ``cust``."""
    n = len(cust)
    z = cust["z"].to_numpy()
    revenue = np.exp(cust["log_rev"].to_numpy())

    terms = rng.choice(np.array([14, 30, 45, 60, 90]), size=n, p=[0.06, 0.36, 0.2, 0.24, 0.14])
    share = np.clip(p.purchase_share_median * np.exp(0.5 * rng.standard_normal(n)), 0.002, 0.1)
    yearly_purchases = revenue * share
    rate = p.invoice_rate_median * (revenue / p.median_revenue) ** p.invoice_rate_size_elasticity
    rate = np.clip(rate * np.exp(0.25 * rng.standard_normal(n)), 1.0, 10.0)

    # The seller's and the insurer's ratings are noisy views of z: limits carry
    # some information but must not reveal the latent quality.
    internal_view = z + 0.8 * rng.standard_normal(n)
    exposure = yearly_purchases / 12.0 * (terms + 30) / 30.0
    credit_limit = np.round(exposure * np.exp(0.25 * internal_view) / 1000.0) * 1000.0
    credit_limit = np.maximum(credit_limit, 1000.0)

    insured = rng.random(n) < p.insured_share
    cover = np.where(insured, rng.choice([0.7, 0.75, 0.8, 0.85, 0.9], size=n), 0.0)
    insurer_view = z + 0.7 * rng.standard_normal(n)
    insurer_share = special.ndtr(0.6 + 0.9 * insurer_view)
    insured_limit = np.where(insured, np.floor(credit_limit * insurer_share / 1000.0) * 1000.0, 0.0)
    # Guarantees are demanded more often from weaker buyers.
    g_prob = special.expit(special.logit(p.guarantee_share) - 0.6 * internal_view)
    g_prob *= p.guarantee_share / g_prob.mean()
    has_g = rng.random(n) < np.clip(g_prob, 0.0, 1.0)
    guarantee = np.where(
        has_g, np.maximum(np.round(credit_limit * rng.uniform(0.2, 0.6, n) / 1000.0), 1.0) * 1000.0, 0.0
    )

    names = _customer_names(rng, n)
    # Sequential ids in onboarding order, as a real ledger would number them.
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(cust["onb_day"].to_numpy(), kind="stable")] = np.arange(n)
    ids = _numbered_ids("C", rank + 1, max(6, len(str(n))))

    cust["terms"] = terms
    cust["rate"] = rate
    cust["yearly_purchases"] = yearly_purchases
    cust["habit"] = p.habit_mean_days - p.habit_z_days * z + p.habit_sd_days * rng.standard_normal(n)
    cust["on_time_prob"] = special.ndtr(p.on_time_intercept + p.on_time_z * z)
    cust["ramp_days"] = rng.integers(p.ramp_months[0], p.ramp_months[1] + 1, n) * 30.44
    cust["firm_effect"] = rng.standard_normal(n)
    cust["fye_month"] = rng.choice(np.array([12, 6, 3]), size=n, p=[0.8, 0.12, 0.08])

    return pd.DataFrame(
        {
            "customer_id": ids,
            "customer_name": _text(names),
            "industry": _text(np.array(industries, dtype=object)[cust["industry"]]),
            "region": _text(np.array(regions, dtype=object)[cust["region"]]),
            "onboarding_date": _to_datetime(cust["onb_day"].to_numpy()),
            "payment_terms_days": terms.astype(np.int64),
            "credit_limit": credit_limit.astype(np.float64),
            "insurance_cover_pct": cover.astype(np.float64),
            "insured_limit": insured_limit.astype(np.float64),
            "guarantee_amount": guarantee.astype(np.float64),
        }
    )
