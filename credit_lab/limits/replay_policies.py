"""PD-based policies for the limit policy replay, and the replay run from the params' ``replay`` block.

A PD-based policy needs the PD of every customer at each review, from what was known then:

* :class:`ReviewPD` holds the PD model and scores each review's book. ``model="frozen"``: one model
  fitted on the ledger as known at the first review (training set
  :func:`~credit_lab.features.point_in_time.build_training_set` at ``as_of = first review``; the
  champion chosen and fitted the way stage 03 does, or the expert scorecard when
  :func:`~credit_lab.models.expert_development.choose_method` finds too few defaults); nothing dated
  after the first review ever reaches it. ``model="refit"``: the same fit at every review on what
  is known then (slower: one model per review). The PD at a review is the model applied to
  :func:`~credit_lab.features.point_in_time.build_features` of the known ledger at the review.
* :func:`pd_cutoff_policy`: limit 0 above a PD cut-off, otherwise another policy's limit.
* :func:`optimizer_policy`: the limit optimizer (:func:`credit_lab.limits.setting.optimize_book`) on
  the book known at the review, its inputs built as stage 05 builds them (purchase statistics from
  the known invoices, the shipped defaults that do not fit the book switched off), with
  ``limits.el_budget_vs_current`` set to a budget. "Current" is the limits as they were at the
  review: the EL budget and the change band are measured on them (the replay does not feed a
  policy's own previous limits back as today's).

:func:`replay_from_params` builds every policy of ``params.replay.policies`` and runs the replay: the
entry point of the report stage. The frontier and the calibration check are
:mod:`credit_lab.limits.replay_frontier`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

import pandas as pd

from credit_lab.core.config import RunParams
from credit_lab.core.replay_params import (
    AsTheyWereSpec,
    OptimizerSpec,
    PDCutoffSpec,
    PurchasesMultipleSpec,
    RuleSpec,
    optimizer_policy_name,
)
from credit_lab.features.point_in_time import build_features, build_training_set, data_cut_date
from credit_lab.limits.replay import (
    KnownAtReview,
    Policy,
    ReplayResult,
    known_at,
    limits_as_they_were,
    purchases_multiple_policy,
    replay,
    review_dates,
    user_rule,
)
from credit_lab.limits.replay_costs import average_capital, mitigants_from_customers
from credit_lab.limits.replay_walk import ReplayInputError
from credit_lab.limits.setting import defaults_that_fit, optimize_book, purchase_statistics
from credit_lab.models import development as dv
from credit_lab.models import expert_development as ex
from credit_lab.models.calibration import fit_calibrated
from credit_lab.models.expert import ExpertScorecard
from credit_lab.models.grading import assign_grades

__all__ = ["FittedPD", "ReviewPD", "fit_pd_model", "optimizer_policy", "pd_cutoff_policy", "policies_from_params",
           "replay_from_params"]

logger = logging.getLogger(__name__)

#: customers-table columns the optimizer reads beside the features (stage 05's scored book)
_BOOK_COLUMNS = ("customer_name", "payment_terms_days", "insurance_cover_pct", "insured_limit", "guarantee_amount",
                 "requested_limit", "expected_monthly_purchases")


@dataclass(frozen=True)
class FittedPD:
    """A PD model fitted on the ledger as known at ``as_of``, with how it was chosen."""

    model: object
    as_of: pd.Timestamp
    method: str
    champion: str
    reason: str
    training_rows: int
    training_defaults: int
    seconds: float


def fit_pd_model(tables: Mapping[str, pd.DataFrame], as_of, params: RunParams) -> FittedPD:
    """Fit the run's PD model on ``tables`` as of ``as_of``, the way stage 03 does (ledger mode).

    ``tables`` must hold only what was known at ``as_of`` (``known_at(...).tables()``): the training
    set's last label window ends at ``as_of``. The statistical champion (``model.champion``, or the
    better of GBM and scorecard on the calibration sample) when :func:`~credit_lab.models.
    expert_development.choose_method` finds enough defaults, otherwise the expert scorecard set up on
    the book at ``as_of`` and calibrated on the labelled cohorts. An external score column
    (``model.expert.external_score_column``) is not joined here.
    """
    started = time.perf_counter()
    as_of = pd.Timestamp(as_of)
    lag = params.data.financials_publication_lag_days
    tables = dict(tables)
    train = build_training_set(tables, as_of, params.features, lag)
    current = build_features(tables, as_of, params.features, lag)
    criteria = params.model.expert.criterion_columns()
    choice = ex.choose_method(params, train if len(train) else None, False,
                              expert_possible=bool(criteria & set(current.columns)))
    n_bad = int(train["default_in_horizon"].sum()) if len(train) else 0
    if choice.method == "expert":
        model = ex.fit_expert(params, current, train if len(train) else None, False).model
        champion = "expert"
    else:
        settings = dv.RunSettings(params, False)
        dev = dv.development_samples(train, params)
        candidates, _ = dv.fit_candidates(settings, dev.fit, dev.cal, dev.names, dev.kwargs, params.seed)
        if params.model.champion == "expert":
            candidates["expert"] = fit_calibrated(
                ExpertScorecard(params.model.expert), dev.fit, dev.fit["default_in_horizon"], dev.cal,
                dev.cal["default_in_horizon"], params=params.model,
                long_run=dv.development_long_run(pd.concat([dev.fit, dev.cal]), settings))
        champion = dv.champion_name(params, candidates, dev.cal)
        model = candidates[champion]
    seconds = time.perf_counter() - started
    logger.info("PD model as of %s: %s (%s), %.1f s", as_of.date(), choice.method, champion, seconds)
    return FittedPD(model, as_of, choice.method, champion, choice.reason, len(train), n_bad, seconds)


class ReviewPD:
    """The PD model of a replay and the scored book at each review, shared by its PD-based policies.

    Parameters
    ----------
    params : RunParams
        Features, model, limits (optimizer) and ``data.financials_publication_lag_days``.
    model : {"frozen", "refit"}
    first_review : date
        The replay's first review; the frozen model is fitted on the ledger known then.
    tables : mapping of DataFrame, optional
        The ledger; needed for ``frozen`` (only its records known at ``first_review`` are used).

    Attributes
    ----------
    fits_ : dict
        Review date (or the first review, frozen) -> :class:`FittedPD`.
    """

    def __init__(self, params: RunParams, model: str = "frozen", first_review=None,
                 tables: Mapping[str, pd.DataFrame] | None = None):
        if model not in ("frozen", "refit"):
            raise ReplayInputError(f"model = {model!r}; expected 'frozen' or 'refit' (replay.model)")
        self.params, self.model = params, model
        self.first_review = None if first_review is None else pd.Timestamp(first_review).normalize()
        self.fits_: dict[pd.Timestamp, FittedPD] = {}
        self._scored: dict[pd.Timestamp, tuple[KnownAtReview, pd.DataFrame]] = {}
        self._purchases: dict[pd.Timestamp, pd.DataFrame] = {}
        if model == "frozen":
            if tables is None or self.first_review is None:
                raise ReplayInputError("a frozen PD model needs the ledger (tables) and the first review")
            known = known_at(tables, self.first_review, params.data.financials_publication_lag_days)
            self.fits_[self.first_review] = fit_pd_model(known.tables(), self.first_review, params)

    def fitted_for(self, known: KnownAtReview) -> FittedPD:
        """The model that scores the review: the frozen one, or the one fitted on what is known at it."""
        if self.model == "frozen":
            if known.review_date < self.first_review:
                raise ReplayInputError(f"review {known.review_date.date()} comes before the frozen model's fit date "
                                       f"{self.first_review.date()}: the model would know the future")
            return self.fits_[self.first_review]
        if known.review_date not in self.fits_:
            self.fits_[known.review_date] = fit_pd_model(known.tables(), known.review_date, self.params)
        return self.fits_[known.review_date]

    def scored(self, known: KnownAtReview) -> pd.DataFrame:
        """The book at the review: features of the known ledger, ``pd``, ``grade``, the customers' terms and
        cover, and ``credit_limit`` = the limits as they were at the review."""
        cached = self._scored.get(known.review_date)
        if cached is not None and cached[0] is known:
            return cached[1]
        p = self.params
        features = build_features(known.tables(), known.review_date, p.features,
                                  p.data.financials_publication_lag_days)
        pd_ = self.fitted_for(known).model.predict_pd(features)
        customers = known.customers.set_index("customer_id")
        book = features.assign(pd=pd_, grade=assign_grades(pd_, p.master_scale))
        book = book.join(customers[[c for c in _BOOK_COLUMNS if c in customers]])
        book["credit_limit"] = limits_as_they_were(known).reindex(book.index).fillna(0.0)
        self._scored[known.review_date] = (known, book)
        return book

    def purchases(self, known: KnownAtReview) -> pd.DataFrame:
        """Monthly purchase statistics of the book from the known invoices (as stage 05 builds them)."""
        if known.review_date not in self._purchases or self._scored[known.review_date][0] is not known:
            book = self.scored(known)
            self._purchases[known.review_date] = purchase_statistics(
                known.invoices, known.review_date, self.params.features.lookback_months, book.index)
        return self._purchases[known.review_date]

    def pd_table(self) -> pd.DataFrame:
        """``review_date``, ``customer_id``, ``pd`` of every review scored so far."""
        frames = [book[["pd"]].assign(review_date=date) for date, (_, book) in sorted(self._scored.items())]
        if not frames:
            return pd.DataFrame(columns=["review_date", "customer_id", "pd"])
        return pd.concat(frames).rename_axis("customer_id").reset_index()[["review_date", "customer_id", "pd"]]

    def models_table(self) -> pd.DataFrame:
        """One row per fitted model: fit date, method, champion, training rows and defaults, seconds."""
        return pd.DataFrame([{"fitted_as_of": f.as_of, "method": f.method, "champion": f.champion,
                              "training_rows": f.training_rows, "training_defaults": f.training_defaults,
                              "seconds": f.seconds, "reason": f.reason} for f in self.fits_.values()])


def _all_known(known: KnownAtReview, limits: pd.Series) -> pd.Series:
    """Limits for every known customer; one the book leaves out (in default before the review) gets 0."""
    return limits.reindex(pd.Index(known.customers["customer_id"])).fillna(0.0).astype(float).rename("limit")


def pd_cutoff_policy(source: ReviewPD, cutoff: float, otherwise: Policy) -> Policy:
    """Limit 0 where the PD at the review is above ``cutoff`` (or the customer is in default), else ``otherwise``'s."""
    if not 0.0 < cutoff <= 1.0:
        raise ReplayInputError(f"cutoff = {cutoff!r}; expected a PD in (0, 1]")

    def policy(known: KnownAtReview) -> pd.Series:
        book = source.scored(known)
        base = otherwise(known).astype(float)
        pd_ = book["pd"].reindex(base.index)
        in_default = base.index.isin(known.defaults["customer_id"])
        return base.where(~((pd_ > cutoff).to_numpy() | in_default), 0.0).rename("limit")

    policy.__name__ = f"zero_above_pd_{cutoff:g}"
    return policy


def optimizer_policy(source: ReviewPD, el_budget_vs_current: float, lgd: float) -> Policy:
    """The optimizer's limits on the book known at the review, at an EL budget of ``el_budget_vs_current``
    x the EL of the limits as they were (``params.limits`` for everything else)."""
    if not el_budget_vs_current > 0:
        raise ReplayInputError(f"el_budget_vs_current = {el_budget_vs_current!r}; expected a multiple > 0")

    def policy(known: KnownAtReview) -> pd.Series:
        book = source.scored(known)
        limit_params, _ = defaults_that_fit(source.params.limits, book)
        limit_params = limit_params.model_copy(update={"el_budget": None,
                                                       "el_budget_vs_current": float(el_budget_vs_current)})
        table, _, _ = optimize_book(book, source.purchases(known), limit_params, lgd, seed=source.params.seed)
        return _all_known(known, table["proposed_limit"])

    policy.__name__ = f"optimizer_at_{el_budget_vs_current:g}x_el"
    return policy


def policies_from_params(tables: Mapping[str, pd.DataFrame], params: RunParams, first_review
                         ) -> tuple[dict[str, Policy], dict[str, float], ReviewPD | None]:
    """The policies of ``params.replay.policies`` (in order), the optimizer family's budgets by name, and
    the PD source (None when no policy needs a PD)."""
    settings = params.replay
    lgd = settings.lgd if settings.lgd is not None else params.reserve.lgd
    needs_pd = any(isinstance(s, PDCutoffSpec | OptimizerSpec) for s in settings.policies)
    source = ReviewPD(params, settings.model, first_review, tables) if needs_pd else None
    policies: dict[str, Policy] = {}
    budgets: dict[str, float] = {}
    for spec in settings.policies:
        if isinstance(spec, AsTheyWereSpec):
            policies[spec.name] = limits_as_they_were
        elif isinstance(spec, PurchasesMultipleSpec):
            policies[spec.name] = purchases_multiple_policy(spec.k, spec.trailing_months, settings.new_customer_limit)
        elif isinstance(spec, PDCutoffSpec):
            policies[spec.name] = pd_cutoff_policy(source, spec.cutoff, policies[spec.otherwise])
        elif isinstance(spec, RuleSpec):
            policies[spec.name] = user_rule(*(policies[n] for n in spec.of), combine=spec.combine, cap=spec.cap,
                                            floor=spec.floor)
        else:
            for budget in spec.budgets:
                name = optimizer_policy_name(spec, budget)
                policies[name], budgets[name] = optimizer_policy(source, budget, lgd), float(budget)
    return policies, budgets, source


def replay_from_params(tables: Mapping[str, pd.DataFrame], params: RunParams, *, end_date=None) -> ReplayResult:
    """Replay every policy of ``params.replay`` on the ledger ``tables`` (ledger mode).

    Returns the :class:`~credit_lab.limits.replay.ReplayResult` with the PD of every review
    (``pd_by_review``; every review is scored, so the model's EL can be set against the walked loss
    for any policy), the fitted models, the optimizer family's budgets and the policy marked as
    today's (the first ``as_they_were``). ``replay.enabled`` is the report stage's switch; this
    function runs whatever it says.
    """
    settings = params.replay
    end = pd.Timestamp(end_date).normalize() if end_date is not None else data_cut_date(dict(tables))
    reviews = review_dates(end, settings)
    policies, budgets, source = policies_from_params(tables, params, reviews[0])
    lag = params.data.financials_publication_lag_days
    r = params.reserve
    mitigants = mitigants_from_customers(tables["customers"], r.collateral_haircut, r.insurance_deductible)
    result = replay(tables, policies, settings, end_date=end, financials_publication_lag_days=lag,
                    mitigants=mitigants, insurer_max_liability=r.insurer_max_liability)
    if source is None:
        source = ReviewPD(params, settings.model, reviews[0], tables)
    missing = [r for r in reviews if r not in source._scored]
    for review in missing:
        source.scored(known_at(tables, review, lag))
    pd_table = source.pd_table()
    current = next((s.name for s in settings.policies if isinstance(s, AsTheyWereSpec)), None)
    return _with_capital(replace(result, pd_by_review=pd_table, models=source.models_table(), budgets=budgets,
                                 current_policy=current), settings.lgd if settings.lgd is not None else r.lgd)


def _with_capital(result: ReplayResult, lgd: float) -> ReplayResult:
    """``average_capital`` per policy and customer (IRB capital on the walked exposure at the reviews' PDs)."""
    window_days = float((result.end_date - result.reviews[0]).days)
    by_customer = result.by_customer.copy()
    summary = result.summary.copy()
    for name, walk in result.walks.items():
        capital = average_capital(walk, result.pd_by_review, lgd, window_days)
        rows = by_customer["policy"] == name
        by_customer.loc[rows, "average_capital"] = by_customer.loc[rows, "customer_id"].map(capital).fillna(0.0)
        summary.loc[name, "average_capital"] = float(capital.sum())
    return replace(result, summary=summary, by_customer=by_customer)

