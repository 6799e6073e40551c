"""Tuning knobs of the generator (:class:`SynthParams`, :data:`DEFAULT_PARAMS`) and the industry / region economics."""

from __future__ import annotations

from dataclasses import dataclass

#: Industry names used in order; more industries than listed get generic names.
INDUSTRY_NAMES: tuple[str, ...] = (
    "Construction",
    "Retail",
    "Wholesale",
    "Manufacturing",
    "Transport",
    "Hospitality",
    "Healthcare",
    "IT Services",
    "Agriculture",
    "Energy",
    "Chemicals",
    "Media",
)


#: Region names used in order; more regions than listed get generic names.
REGION_NAMES: tuple[str, ...] = ("North", "South", "East", "West", "Central", "Islands")


# Per-industry structural parameters, keyed by name so that the economics of an
# industry do not depend on how many industries were requested.
# (probit PD offset, EBITDA margin, asset turnover, current-asset share,
#  inventory share of non-cash current assets, share of customers)
_INDUSTRY_PROFILE: dict[str, tuple[float, float, float, float, float, float]] = {
    "Construction": (0.30, 0.07, 1.1, 0.60, 0.35, 1.3),
    "Retail": (0.15, 0.06, 1.8, 0.55, 0.65, 1.2),
    "Wholesale": (0.05, 0.05, 2.2, 0.65, 0.60, 1.4),
    "Manufacturing": (0.00, 0.11, 0.9, 0.50, 0.45, 1.5),
    "Transport": (0.10, 0.09, 1.0, 0.35, 0.10, 1.0),
    "Hospitality": (0.25, 0.10, 0.8, 0.20, 0.15, 0.8),
    "Healthcare": (-0.20, 0.13, 0.9, 0.45, 0.20, 0.8),
    "IT Services": (-0.10, 0.15, 1.3, 0.60, 0.05, 0.9),
    "Agriculture": (0.05, 0.10, 0.6, 0.40, 0.50, 0.6),
    "Energy": (-0.15, 0.18, 0.5, 0.30, 0.20, 0.5),
    "Chemicals": (-0.05, 0.14, 0.8, 0.50, 0.40, 0.5),
    "Media": (0.10, 0.12, 1.0, 0.55, 0.05, 0.5),
}


_GENERIC_INDUSTRY_PROFILE = (0.0, 0.10, 1.0, 0.50, 0.30, 0.7)


_REGION_PD_OFFSET: dict[str, float] = {
    "North": -0.05,
    "South": 0.08,
    "East": 0.04,
    "West": -0.03,
    "Central": 0.0,
    "Islands": 0.06,
}


@dataclass(frozen=True)
class SynthParams:
    """Tuning knobs of the ledger generator.

    The defaults are chosen so that a gradient-boosted model on twelve months
    of payment history plus the latest statement reaches an AUC of about
    0.78-0.88 (depending on the seed, i.e. on the simulated cycle) for
    twelve-month-ahead default, with payment features alone at about
    0.72-0.87 and financial ratios alone at about 0.64-0.71. To make the problem easier or harder,
    the most effective knobs are ``pd_z_slope`` (how much the latent quality
    drives default), ``habit_z_days`` / ``invoice_noise_days`` (how clearly
    payment behaviour reveals the quality), ``ramp_max_days`` (strength of
    the pre-default deterioration) and ``fin_noise_sd`` (noise in financials).

    Attributes
    ----------
    asset_correlation : float
        Vasicek asset correlation ``rho`` of the monthly default model.
    factor_persistence : float
        Monthly AR(1) coefficient of the macro and industry factors.
    macro_loading : float
        Loading of each industry factor on the common macro factor; the own
        component gets ``sqrt(1 - macro_loading**2)`` so the factor has unit
        variance before the downturn shock is added.
    downturn_depth : tuple of float
        Range of the peak depth (in factor standard deviations) of the
        industry downturn(s).
    downturn_months : tuple of int
        Range of the length of a downturn in months.
    pd_z_slope : float
        Probit slope of the customer's monthly PD on ``z``.
    pd_size_z_corr : float
        Correlation between standardised log revenue and ``z``.
    seasoning_months : int
        Months after onboarding during which no default can happen (a 90-days
        past due event needs time to build up).
    lookahead_months : int
        Defaults are simulated this far beyond ``end_date`` (and not
        recorded) so that customers about to default right after the window
        already show deteriorating behaviour inside it.
    calibration_block_months : int
        The baseline PD is calibrated to ``annual_default_rate`` separately
        for consecutive blocks of this many months (0 = one block for the
        whole window, letting the macro cycle move yearly rates).
    write_off_share : float
        Share of defaults recorded as ``"write_off"`` instead of ``"90dpd"``.
    median_revenue : float
        Median annual revenue of a customer.
    revenue_log_sd : float
        Standard deviation of log annual revenue.
    revenue_bounds : tuple of float
        Hard bounds of annual revenue.
    purchase_share_median : float
        Median share of a customer's revenue spent with the seller.
    invoice_rate_median : float
        Invoices per month for a customer with median revenue.
    invoice_rate_size_elasticity : float
        Elasticity of the invoice rate to revenue.
    amount_log_sd : float
        Log-standard deviation of invoice amounts around their mean.
    recent_onboarding_share : float
        Share of customers onboarded in the final 12 months of the window.
    onboarding_history_years : float
        How far before ``start_date`` the oldest customers were onboarded.
    on_time_intercept, on_time_z : float
        Probit model of the probability that an invoice is paid around the
        due date regardless of the customer's habit.
    habit_mean_days, habit_z_days, habit_sd_days : float
        Customer habit of days beyond terms: ``mean - habit_z_days * z +
        habit_sd_days * N(0, 1)``; the last term is payment style unrelated
        to credit quality.
    invoice_noise_days : float
        Standard deviation of the per-invoice lateness noise.
    late_shock_prob, late_shock_mean_days : float
        Probability and mean size of occasional exponential payment delays.
    cycle_late_days : float
        Additional days late per unit of negative industry factor.
    ramp_months : tuple of int
        Range of the length of the pre-default deterioration.
    ramp_max_days : float
        Additional days late right before a default.
    ramp_power : float
        Shape of the pre-default ramp (higher = more concentrated at the end).
    unpaid_prob : float
        Probability that an invoice due in the 90 days before a default (or
        later) is never paid in full.
    partial_recovery_prob : float
        Probability that such an unpaid invoice is partly paid later (without a ``recovery_rate``;
        with one, the recoveries below take its place).
    recovery_concentration : float
        With a ``recovery_rate`` (see :func:`generate_ledger`), the share of an invoice recovered
        is Beta-distributed with that mean and ``a + b`` equal to this (4: a standard deviation
        of about 0.22 around a mean of 0.55; lower spreads the recoveries towards 0 and 1).
    recovery_months : tuple of float
        Range (uniform) of the months after a default in which a recovery is paid; it is paid
        before the invoice's write-off day when the ledger has a write-off policy.
    dispute_base_prob, dispute_z, dispute_ramp : float
        Dispute probability ``sigmoid(logit(base) - dispute_z * z +
        dispute_ramp * ramp_fraction)``.
    fin_z_weight, fin_firm_sd, fin_noise_sd, fin_cycle_weight : float
        Financial health of a statement: ``fin_z_weight * z + fin_firm_sd *
        firm_effect + fin_noise_sd * N(0, 1) + fin_cycle_weight * Y``.
    fin_distress_drop : float
        Drop in financial health for a statement in the 18 months before a
        default (linear in the time left).
    statement_missing_prob : float
        Probability that a statement is not delivered.
    insured_share : float
        Share of customers with credit insurance.
    guarantee_share : float
        Share of customers with a guarantee.
    outlook_lead_months : int
        The outlook at month ``t`` reflects the industry factor over months
        ``t+1 .. t+outlook_lead_months``.
    outlook_scale, outlook_noise_sd : float
        Scale of the signal and standard deviation of the noise of the
        outlook score.
    limit_cut_share : float
        Opt-in churn response (:mod:`~credit_lab.data.synthetic.limit_cuts`): the share of the
        eligible customers whose limit is cut at each limit review. 0 (default): no cuts, no
        ``limit_history`` table, and every other table as without the setting.
    limit_first_review_month, limit_review_months : int
        Month (from ``start_date``) of the first limit review, and the months between reviews.
    limit_cut_min_tenure_months : int
        A customer is cut only once it has been onboarded this long (its need is on record).
    limit_cut_to_share_of_need : tuple of float
        Range (uniform) of the new limit as a share of the customer's true purchase need over its
        payment terms (yearly purchases / 12 x terms in months); the limit never rises by a cut.
    limit_cut_loss_lag_months : int
        A customer lost after a cut orders until this many months after the review's month start.
    true_competition_intensity_by_industry : tuple of (str, float)
        The generating competitive intensity ``c`` per industry: a cut customer is lost with
        probability ``c x s``, ``s = max(0, 1 - new limit / need)`` the share of its need the new limit
        leaves unmet (the formula of :mod:`credit_lab.limits.optimizer.competition`); lost = no
        invoice from the lag on. Industries not named take ``true_competition_default_intensity``.
    """

    asset_correlation: float = 0.12
    factor_persistence: float = 0.9
    macro_loading: float = 0.6
    downturn_depth: tuple[float, float] = (0.8, 1.5)
    downturn_months: tuple[int, int] = (9, 16)
    pd_z_slope: float = 0.55
    pd_size_z_corr: float = 0.25
    seasoning_months: int = 4
    lookahead_months: int = 12
    calibration_block_months: int = 12
    write_off_share: float = 0.25
    median_revenue: float = 10e6
    revenue_log_sd: float = 1.3
    revenue_bounds: tuple[float, float] = (0.5e6, 500e6)
    purchase_share_median: float = 0.015
    invoice_rate_median: float = 3.0
    invoice_rate_size_elasticity: float = 0.35
    amount_log_sd: float = 0.8
    recent_onboarding_share: float = 0.12
    onboarding_history_years: float = 10.0
    on_time_intercept: float = -0.1
    on_time_z: float = 0.5
    habit_mean_days: float = 6.0
    habit_z_days: float = 4.0
    habit_sd_days: float = 6.0
    invoice_noise_days: float = 7.0
    late_shock_prob: float = 0.06
    late_shock_mean_days: float = 20.0
    cycle_late_days: float = 3.0
    ramp_months: tuple[int, int] = (6, 9)
    ramp_max_days: float = 35.0
    ramp_power: float = 1.5
    unpaid_prob: float = 0.9
    partial_recovery_prob: float = 0.3
    recovery_concentration: float = 4.0
    recovery_months: tuple[float, float] = (2.0, 9.0)
    dispute_base_prob: float = 0.02
    dispute_z: float = 0.4
    dispute_ramp: float = 1.5
    fin_z_weight: float = 0.6
    fin_firm_sd: float = 0.5
    fin_noise_sd: float = 0.6
    fin_cycle_weight: float = 0.2
    fin_distress_drop: float = 1.0
    statement_missing_prob: float = 0.03
    insured_share: float = 0.5
    guarantee_share: float = 0.10
    outlook_lead_months: int = 6
    outlook_scale: float = 1.2
    outlook_noise_sd: float = 0.5
    limit_cut_share: float = 0.0
    limit_first_review_month: int = 12
    limit_review_months: int = 6
    limit_cut_min_tenure_months: int = 12
    limit_cut_to_share_of_need: tuple[float, float] = (0.2, 0.9)
    limit_cut_loss_lag_months: int = 1
    true_competition_intensity_by_industry: tuple[tuple[str, float], ...] = (
        ("Construction", 0.3), ("Retail", 0.7), ("Wholesale", 0.8), ("Manufacturing", 0.4), ("Transport", 0.5),
        ("Hospitality", 0.6), ("Healthcare", 0.1), ("IT Services", 0.5), ("Agriculture", 0.2), ("Energy", 0.1),
        ("Chemicals", 0.3), ("Media", 0.6),
    )
    true_competition_default_intensity: float = 0.3

    def true_competition_intensity(self, industry: str) -> float:
        """The generating competitive intensity of ``industry`` (see ``true_competition_intensity_by_industry``)."""
        return float(dict(self.true_competition_intensity_by_industry).get(industry,
                                                                           self.true_competition_default_intensity))


#: Parameters used by :func:`generate_ledger` when none are given.
DEFAULT_PARAMS = SynthParams()


def _names(base: tuple[str, ...], n: int, generic: str) -> list[str]:
    """Return ``n`` names, padding ``base`` with numbered generic ones."""
    out = list(base[:n])
    out += [f"{generic} {k + 1}" for k in range(len(out), n)]
    return out


def _profile(industry: str) -> tuple[float, float, float, float, float, float]:
    return _INDUSTRY_PROFILE.get(industry, _GENERIC_INDUSTRY_PROFILE)
