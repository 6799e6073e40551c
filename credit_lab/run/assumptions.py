"""The assumptions behind a run's decisions: the settings that shape them, and what the run decided.

Two parts, so a reader sees why limits moved before opening the limits report:

* :func:`decision_settings`: every setting that shapes a score, a limit or the reserve (the
  scoring-method rule, PD cut-off, budgets, change band, caps, LGD, CCF, reserve confidence,
  provisions: method, no-loss floor, write-off policy, reconciliation band), its value as a person
  writes it, whether it is the shipped default or set in the params file, and what it does in one
  phrase. Params only: stage 01 records it in
  ``data/data_quality.json`` (``decision_assumptions``) before any decision is taken.
* :func:`run_decisions`: what the run decided when it applied them (outcomes found, data rules,
  the scoring method and why, a share cap switched off, a change band lifted, a provision floor),
  read from the files the stages write. Only the index page, built after the last stage, shows it.

"Set in the params file" comes from pydantic's ``model_fields_set`` on each sub-model of
:class:`~credit_lab.core.config.RunParams`: a key counts as set when the file names it, even with
the default's value. A pipeline run hands the stage notebooks ``params_given.json`` (only the keys
the file set) so they can tell the two apart; ``params.json`` holds every value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from credit_lab.core.config import RunParams
from credit_lab.core.formatting import money
from credit_lab.data.io import read_json

__all__ = ["DEFAULT", "PARAMS_FILE", "DecisionSetting", "RunDecision", "decision_settings", "is_set",
           "run_decisions", "settings_frame"]

DEFAULT = "default"
PARAMS_FILE = "params file"


@dataclass(frozen=True)
class DecisionSetting:
    """One setting that shapes decisions.

    ``key`` is the dotted params key the row is about; ``keys_set`` the keys among those the row
    reads (``key`` and, e.g., ``limits.own_equity`` for the single-name cap) that the params file
    set; ``source`` is :data:`PARAMS_FILE` when there is any, else :data:`DEFAULT`.
    """

    key: str
    value: str
    source: str
    effect: str
    keys_set: tuple[str, ...] = ()

    def as_record(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "source": self.source, "effect": self.effect,
                "keys_set": list(self.keys_set)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "DecisionSetting":
        return cls(record["key"], record["value"], record["source"], record["effect"],
                   tuple(record.get("keys_set", ())))


@dataclass(frozen=True)
class RunDecision:
    """What one stage decided when it applied the settings (``key``: the setting, where one is meant)."""

    stage: str
    decision: str
    key: str = ""


def is_set(params: RunParams, key: str) -> bool:
    """Whether the params file named ``key`` (dotted, e.g. ``reserve.provisions.method``).

    Examples
    --------
    >>> from credit_lab.core.config import params_from_dict
    >>> p = params_from_dict({"limits": {"pd_cutoff": 0.1}})
    >>> is_set(p, "limits.pd_cutoff"), is_set(p, "limits.el_budget_vs_current")
    (True, False)
    """
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, BaseModel) or part not in node.model_fields_set:
            return False
        node = getattr(node, part)
    return True


def _pct(x: float) -> str:
    """A share as a percentage without float noise: 0.2 -> '20%', 0.999 -> '99.9%', 0.0025 -> '0.25%'."""
    return f"{x * 100:.4g}%"


def _setting(params: RunParams, key: str, value: str, effect: str, *also: str) -> DecisionSetting:
    keys_set = tuple(k for k in (key, *also) if is_set(params, k))
    return DecisionSetting(key, value, PARAMS_FILE if keys_set else DEFAULT, effect, keys_set)


def _central_tendency(rate: float | str | None) -> tuple[str, str]:
    """Value and effect of ``model.central_tendency``: a rate, ``auto`` or none."""
    if rate is None:
        return "none", "the calibrated PDs are not shifted to a long-run default rate"
    if isinstance(rate, str):  # auto: the stage decides from the data; the model card says what it did
        return rate, ("the calibrated PDs are shifted in log-odds to the long-run default rate of the development "
                      "snapshots when their mean lies outside that rate's 95% binomial interval")
    return _pct(rate), f"the calibrated PDs are shifted in log-odds so their mean is {_pct(rate)}"


def _scoring(params: RunParams) -> list[DecisionSetting]:
    m = params.model
    rule = (f"at least {m.min_fit_defaults:,} defaults in the fit sample and {m.min_calibration_defaults:,} in the "
            "calibration sample")
    method_effect = {
        "auto": f"the statistical models score the book when the data hold {rule}; the expert scorecard otherwise",
        "statistical": "the statistical models score the book, whatever the number of defaults",
        "expert": "the expert scorecard (the credit policy written down) scores every customer",
    }[m.method]
    thresholds_effect = ("fewer defaults than this and the expert scorecard scores the book" if m.method == "auto"
                         else f"not used: model.method is {m.method}")
    champion_effect = {
        "gbm": "the gradient-boosted model scores the book when the statistical models run",
        "scorecard": "the WoE scorecard scores the book when the statistical models run",
        "auto": "the family with the higher AUC on the calibration sample scores the book (never the out-of-time "
                "sample)",
    }[m.champion]
    calibration_effect = {
        "auto": "scores become PDs by Platt or isotonic calibration, whichever has the lower cross-validated Brier "
                "score on the calibration sample",
        "platt": "scores become PDs by Platt scaling on the calibration sample",
        "isotonic": "scores become PDs by isotonic regression on the calibration sample",
    }[m.calibration]
    tendency_value, tendency = _central_tendency(m.central_tendency)
    return [
        _setting(params, "model.method", m.method, method_effect),
        _setting(params, "model.min_fit_defaults", f"{m.min_fit_defaults:,} (calibration sample: "
                 f"{m.min_calibration_defaults:,})", thresholds_effect, "model.min_calibration_defaults"),
        _setting(params, "model.champion", m.champion, champion_effect),
        _setting(params, "model.calibration", m.calibration, calibration_effect),
        _setting(params, "model.central_tendency", tendency_value, tendency),
    ]


def _budget(params: RunParams, what: str, absolute: float | None, relative: float | None) -> DecisionSetting:
    """The EL or exposure budget in force: absolute when set, else relative to today's limits, else none."""
    keys = (f"limits.{what}", f"limits.{what}_vs_current")
    el = what == "el_budget"
    if absolute is not None:
        effect = (f"the new limits' expected loss stays within {money(absolute)}" if el else
                  f"the new limits add up to at most {money(absolute)}")
        return _setting(params, keys[0], money(absolute), effect, keys[1])
    if relative is not None:
        effect = (f"the new limits' expected loss stays within {_pct(relative)} of the expected loss on today's "
                  "limits" if el else f"the new limits add up to at most {_pct(relative)} of today's total")
        return _setting(params, keys[1], f"{relative:.4g} × today's {'EL' if el else 'total'}", effect, keys[0])
    effect = ("no EL budget: the limits' expected loss is not bounded" if el else
              "no exposure budget: the limits' total is not bounded, and no industry or region share cap applies")
    return _setting(params, keys[0], "none", effect, keys[1])


def _share_cap(params: RunParams, dim: str, share: float | None) -> DecisionSetting:
    plural = "industries" if dim == "industry" else "regions"
    if share is None:
        return _setting(params, f"limits.{dim}_cap_share", "none", f"no share cap on any {dim}")
    return _setting(params, f"limits.{dim}_cap_share", _pct(share),
                    f"no {dim} above {_pct(share)} of the exposure budget (not applied where the book has one "
                    f"{dim}; {plural} named in limits.{dim}_caps keep their own cap)")


def _limits(params: RunParams) -> list[DecisionSetting]:
    lim = params.limits
    rules = lim.method == "rules"

    def optimize_only(s: DecisionSetting) -> DecisionSetting:
        if not rules:
            return s
        return DecisionSetting(s.key, s.value, s.source, f"not used, as limits.method is rules; under optimize: "
                                                         f"{s.effect}", s.keys_set)

    method_effect = ("each limit is the tightest of the customer's capacity, its grade's risk cap and the single-name "
                     "cap" if rules else
                     "limits maximise the book's expected profit under the budgets and caps below")
    single_name = lim.own_equity * lim.single_name_cap_pct
    band = lim.max_change_per_review
    out = [
        _setting(params, "limits.method", lim.method, method_effect),
        _setting(params, "limits.pd_cutoff", _pct(lim.pd_cutoff),
                 f"a customer whose PD is above {_pct(lim.pd_cutoff)} gets limit 0"),
        optimize_only(_budget(params, "el_budget", lim.el_budget, lim.el_budget_vs_current)),
        optimize_only(_budget(params, "exposure_budget", lim.exposure_budget, lim.exposure_budget_vs_current)),
        optimize_only(_setting(
            params, "limits.max_change_per_review", "none" if band is None else f"±{_pct(band)}",
            "a limit may move any distance from today's" if band is None else
            f"each limit stays within ±{_pct(band)} of today's")),
        optimize_only(_setting(
            params, "limits.on_infeasible_budget", lim.on_infeasible_budget,
            "when the budgets need deeper cuts than the change band allows, its lower edge is lifted (the limits "
            "report says so)" if lim.on_infeasible_budget == "lift_reduction_band" else
            "when the budgets need deeper cuts than the change band allows, the run stops")),
        _setting(params, "limits.single_name_cap_pct",
                 f"{_pct(lim.single_name_cap_pct)} of own equity {money(lim.own_equity)} = {money(single_name)}",
                 f"no customer's limit above {money(single_name)}", "limits.own_equity"),
        optimize_only(_share_cap(params, "industry", lim.industry_cap_share)),
        optimize_only(_share_cap(params, "region", lim.region_cap_share)),
    ]
    for dim, named in (("industry", lim.industry_caps), ("region", lim.region_caps)):
        if named:
            out.append(optimize_only(_setting(
                params, f"limits.{dim}_caps", "; ".join(f"{k} {money(v)}" for k, v in named.items()),
                f"the exposure to each {dim} named stays within its cap")))
    out += [
        _setting(params, "limits.new_customer_cap", "none" if lim.new_customer_cap is None
                 else money(lim.new_customer_cap),
                 "no cap for customers without payment history" if lim.new_customer_cap is None else
                 f"a customer without payment history yet gets at most {money(lim.new_customer_cap)} (or today's "
                 "limit, if higher)"),
        _setting(params, "limits.new_customer_cap_share_of_request",
                 "none" if lim.new_customer_cap_share_of_request is None
                 else f"{_pct(lim.new_customer_cap_share_of_request)} of the requested limit",
                 "a new customer's limit is not tied to what it requested"
                 if lim.new_customer_cap_share_of_request is None else
                 f"a new customer gets at most {_pct(lim.new_customer_cap_share_of_request)} of the limit it "
                 "requested"),
        _setting(params, "limits.risk_cap_by_grade",
                 "; ".join(f"{g} {money(lim.risk_cap_by_grade[g])}" for g in params.grade_names),
                 "no customer's limit above its grade's cap"),
    ]
    if lim.min_limit_by_grade:
        out.append(optimize_only(_setting(
            params, "limits.min_limit_by_grade",
            "; ".join(f"{g} {money(v)}" for g, v in lim.min_limit_by_grade.items()),
            "a customer of a grade named gets at least this limit")))
    out += [optimize_only(_competition(params)), optimize_only(_strategic(params))]
    return out


def _competition(params: RunParams) -> DecisionSetting:
    comp = params.limits.competition
    also = tuple(f"limits.competition.{k}" for k in ("intensity_by_industry", "supplier_hhi_by_industry",
                                                     "relationship_years", "discount_rate", "full_value_tenure_months"))
    intensities = comp.intensities()
    named = "; ".join(f"{k} {v:.4g}" for k, v in intensities.items())
    value = f"{named}; other industries {comp.default_intensity:.4g}" if named else f"{comp.default_intensity:.4g}"
    if not intensities and comp.default_intensity == 0:
        effect = ("no competition term: a limit below a customer's need costs this period's blocked orders only "
                  "(every customer counts as captive)")
    else:
        effect = (f"a shortfall against a customer's need risks its relationship (valued at "
                  f"{comp.relationship_years:.4g} years of its margin discounted at {_pct(comp.discount_rate)}), in "
                  "proportion to the share of need unmet times its industry's intensity; limits weigh that value "
                  "against the risk")
    return _setting(params, "limits.competition.default_intensity", value, effect, *also)


def _strategic(params: RunParams) -> DecisionSetting:
    strat = params.limits.strategic
    also = tuple(f"limits.strategic.{k}" for k in ("customers", "flag_column", "top_by_margin"))
    rules = [f"{len(strat.customers):,} named"] if strat.customers else []
    rules += [f"flagged in {strat.flag_column}"] if strat.flag_column else []
    rules += [f"top {strat.top_by_margin:,} by margin"] if strat.top_by_margin else []
    share = _pct(strat.protected_share_of_need)
    if not rules:
        return _setting(params, "limits.strategic.protected_share_of_need", "no strategic customers",
                        "no customer's limit is protected by a floor on its need", *also)
    return _setting(params, "limits.strategic.protected_share_of_need", f"{share} of need; " + ", ".join(rules),
                    f"a strategic customer's limit is at least {share} of its expected purchase need over the terms, "
                    "unless a hard cap (PD cut-off, single-name, grade, insurer, change band) is lower", *also)


def _reserve(params: RunParams) -> list[DecisionSetting]:
    r, prov = params.reserve, params.reserve.provisions
    provisions_effect = {
        "roll_rate": "the IFRS 9 provision matrix estimates each ageing bucket's loss rate from how balances roll "
                     "from bucket to bucket",
        "cohort": "the IFRS 9 provision matrix estimates each ageing bucket's loss rate from the share of its "
                  f"month-end balances lost within {prov.outcome_months} months",
    }[prov.method]
    floor_effect = ("a bucket whose history shows no loss is floored at its customers' balance-weighted PD × LGD "
                    "(without PDs: reserve.provisions.no_loss_floor_rates)" if prov.no_loss_floor == "pd_lgd" else
                    "a bucket whose history shows no loss keeps a zero rate (the provision may be understated)")
    write_off = prov.write_off_days_past_due
    if write_off is None:
        write_off_value, write_off_effect = "none", (
            "receivables are never written off: the oldest debts stay in the last ageing bucket and are provided for "
            "at its loss rate (near 100% on a ledger that never writes off)")
    else:
        write_off_value, write_off_effect = f"{write_off:,} days past due", (
            f"receivables not settled {write_off:,} days after their due date are written off on that day (IFRS 9 "
            "5.4.4): they leave today's ageing and, in the history the loss rates come from, every month-end after "
            "it, and count as lost")
    band = prov.reconciliation_band
    band_effect = (f"the PD-based lifetime ECL and the 12-month EL of today's receivables are said to agree with the "
                   f"provision matrix when within ±{_pct(band)} of it; outside, the reserve notes name the segments "
                   "that carry the gap (the provision reported is the matrix's either way)")
    return [
        _setting(params, "reserve.lgd", _pct(r.lgd),
                 f"a default loses {_pct(r.lgd)} of the exposure not covered by collateral, insurance or guarantees "
                 "(the limits' expected loss and the reserve)"),
        _setting(params, "reserve.ccf", _pct(r.ccf),
                 f"{_pct(r.ccf)} of the undrawn limit counts as drawn by the time of a default"),
        _setting(params, "reserve.confidence", _pct(r.confidence),
                 f"the recommended risk reserve is the loss at {_pct(r.confidence)} confidence (EL + UL)"),
        _setting(params, "reserve.provisions.method", prov.method, provisions_effect),
        _setting(params, "reserve.provisions.no_loss_floor", prov.no_loss_floor, floor_effect),
        _setting(params, "reserve.provisions.write_off_days_past_due", write_off_value, write_off_effect),
        _setting(params, "reserve.provisions.reconciliation_band", f"±{_pct(band)}", band_effect),
    ]


def decision_settings(params: RunParams) -> list[DecisionSetting]:
    """Every setting that shapes the run's scores, limits and reserve, with its value, source and effect.

    Parameters
    ----------
    params : the run's params, as validated from the params file (so ``model_fields_set`` says
        which keys the file named).

    Returns
    -------
    list of DecisionSetting
        Scoring first (method rule, champion, calibration, central tendency), then limits (method,
        PD cut-off, EL and exposure budgets, change band, single-name, industry and region caps,
        new-customer caps, risk cap by grade, competition, strategic customers), then the reserve (LGD,
        CCF, confidence, provisions: method, no-loss floor, write-off policy, reconciliation band).

    Examples
    --------
    >>> from credit_lab.core.config import params_from_dict
    >>> rows = {s.key: s for s in decision_settings(params_from_dict({"limits": {"pd_cutoff": 0.1}}))}
    >>> rows["limits.pd_cutoff"].value, rows["limits.pd_cutoff"].source, rows["reserve.lgd"].source
    ('10%', 'params file', 'default')
    """
    return [*_scoring(params), *_limits(params), *_reserve(params)]


def settings_frame(settings: list[DecisionSetting]) -> pd.DataFrame:
    """The settings as a table for a report: setting, value, set by, what it does."""
    return pd.DataFrame({
        "setting": [s.key for s in settings],
        "value": [s.value for s in settings],
        "set by": [_set_by(s) for s in settings],
        "what it does": [s.effect for s in settings],
    })


def _set_by(s: DecisionSetting) -> str:
    if s.source == DEFAULT:
        return "default"
    if s.keys_set == (s.key,):
        return "your params file"
    return "your params file (" + ", ".join(s.keys_set) + ")"


def _json(path: Path) -> Any:
    return read_json(path) if path.is_file() else None


def _model_decisions(models: Path) -> list[RunDecision]:
    meta = _json(models / "pd_model.json") or {}
    if not meta.get("method"):
        return []
    out = [RunDecision("03_model", meta["method_reason"], "model.method")]
    card = _json(models / "model_card.json") or {}
    choice = card.get("champion_choice")
    if choice and choice != meta["method_reason"]:
        out.append(RunDecision("03_model", choice))  # it names model.champion itself
    calibration = card.get("calibration") or {}
    if calibration:
        parts = [f"{v['method']}" + (f" shifted by {v['shift']:+.3f} in log-odds" if v.get("shift") else "")
                 + ("" if segment == "all" else f" ({segment})") for segment, v in calibration.items()]
        out.append(RunDecision("03_model", "chosen: " + "; ".join(parts), "model.calibration"))
    return out


_NOT_SUPPLIED = re.compile(r"^(\w+)\.(\w+) not supplied: every row takes (.*?) \(")


def _grouped(assumptions: list[str]) -> list[str]:
    """The data assumptions, with one line per table for the optional columns the data did not supply."""
    missing: dict[str, list[str]] = {}
    out: list[str] = []
    for a in assumptions:
        m = _NOT_SUPPLIED.match(a)
        if m:
            missing.setdefault(m.group(1), []).append(f"{m.group(2)} ({m.group(3)})")
        else:
            out.append(a)
    return out + [f"optional {table} columns not supplied, each row takes: {', '.join(cols)}"
                  for table, cols in missing.items()]


def run_decisions(run_dir: str | Path) -> list[RunDecision]:
    """What the run decided when it applied the settings, read from the files its stages wrote.

    From ``data/data_quality.json`` the outcomes found, the declared data assumptions and rules;
    from ``models/pd_model.json`` and ``models/model_card.json`` the scoring method and why, the
    champion and the calibration; from ``data/limits_notes.json`` (or ``data/monitoring.json``) the
    limit stage's notes (a share cap switched off, the change band lifted); from
    ``data/reserve_notes.json`` the reserve stage's (a provision floor, a waterfall not computed).
    A stage that did not run adds nothing.
    """
    run_dir = Path(run_dir)
    data = run_dir / "data"
    out: list[RunDecision] = []
    dq = _json(data / "data_quality.json") or {}
    if dq.get("outcomes"):
        o = dq["outcomes"]
        found = f"{o['defaults']:,} default(s) known" if o.get("available") else "no outcomes"
        out.append(RunDecision("01_data_quality", f"outcomes: {found}; source: {o['source']}"))
    out += [RunDecision("01_data_quality", a) for a in _grouped(dq.get("assumptions", []))]
    for rule in dq.get("rules", []):
        if not rule.get("rows"):
            continue  # a declared rule that met no row decided nothing
        removed = ", removed from the data" if rule.get("removed") else ""
        detail = f"; {rule['detail']}" if rule.get("detail") else ""
        out.append(RunDecision("01_data_quality", f"rule {rule.get('rule', '')} on {rule.get('table', '')}: "
                                                  f"{int(rule.get('rows') or 0):,} row(s){removed}{detail}"))
    out += _model_decisions(run_dir / "models")
    for name in ("limits_notes.json", "monitoring.json"):
        out += [RunDecision("05_limits", n) for n in (_json(data / name) or {}).get("notes", [])]
    out += [RunDecision("06_risk_reserve", n) for n in (_json(data / "reserve_notes.json") or {}).get("notes", [])]
    out += [RunDecision("07_replay", n) for n in (_json(data / "replay.json") or {}).get("notes", [])]
    return out
