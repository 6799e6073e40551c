"""Letters to customers whose limit changes in a way they would be told about: what kind of change,
the new limit, when it applies, why, and what would raise it.

Which changes get a letter (:func:`letter_kinds`): an increase or a reduction that reaches both its
share-of-today's-limit and its amount threshold, and always a limit withdrawn (to zero), a first limit
(from none) and a reduction that takes the limit below what the customer owes today. Each letter
states its kind and its effective date (the scoring date plus that kind's notice days).

Every piece of text that comes from data (names, ids, reasons) is HTML-escaped, so a
customer called ``<script>...`` gets a letter that shows its name, not one that runs it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from credit_lab.core.frames import records

__all__ = ["CUSTOMER_WORDING", "KINDS", "LETTERS_PER_FILE", "SUMMARY_FILE", "LetterSet", "LetterSettings",
           "compose_letters", "letter_counts", "letter_html", "letter_kinds", "letters_for", "letters_summary"]

#: The kinds of letter, in the order they are counted and shown.
KINDS = ("increase", "reduction", "withdrawn", "first_limit")
_KIND_TITLE = {"increase": "increase", "reduction": "reduction", "withdrawn": "limit withdrawn",
               "first_limit": "first limit"}
#: Where stage 05 writes the letter counts, relative to the run folder (:func:`letters_summary` reads it).
SUMMARY_FILE = "data/letters_summary.json"

#: What decided a limit, in words for the customer (the internal wording is for analysts).
CUSTOMER_WORDING = {
    "profit_optimum": "the limit matches the purchases we expect from you over your payment terms",
    "capacity": "the limit matches the purchases we expect from you over your payment terms",
    "el_budget": "our overall credit capacity for customers with your risk rating is fully used",
    "exposure_budget": "our total credit capacity is fully used",
    "industry_cap": "our credit capacity for your industry is fully used",
    "region_cap": "our credit capacity for your region is fully used",
    "single_name_cap": "it is the most we extend to any single customer",
    "single_name": "it is the most we extend to any single customer",
    "change_cap": "a limit changes by a limited share at each review",
    "insurer_cap": "it is the amount our credit insurer covers for your account",
    "grade_bound": "it is the most we extend at your current risk rating",
    "risk_grade": "it is the most we extend at your current risk rating",
    "pd_cutoff": "your current risk rating is below our threshold for open-account terms",
    "new_customer_cap": "we start new customers at a limited amount until we have a payment history with you",
    "requested_limit": "it is the limit you applied for",
    "relationship_value": "we value our relationship with you: the limit covers more of your expected purchases",
    "strategic_floor": "we keep your limit at a level that covers most of the purchases we expect from you",
    "no_demand_data": "we have no recent purchases, declared needs or financial statements to size a limit on",
}


@dataclass(frozen=True)
class LetterSettings:
    """Sender details, which changes get a letter and when each kind of change applies.

    An increase needs both ``min_increase_pct`` of today's limit and ``min_increase_amount``
    (and ``increases`` on); a reduction both ``min_reduction_pct`` and ``min_reduction_amount``.
    A withdrawal, a first limit and a reduction below the customer's open balance always get one.
    ``effective_after_days`` maps each kind to the days after the scoring date the new limit applies.
    Up to ``max_files`` letters each gets a file of its own; beyond, they are in their printable parts
    and in ``data/letters.parquet`` only (a million files are no use to anyone, and a run's manifest hashes each).
    """

    company_name: str = "Your supplier"
    contact: str = "the credit department"
    currency: str = ""
    increases: bool = True
    min_increase_pct: float = 0.10
    min_increase_amount: float = 5_000.0
    min_reduction_pct: float = 0.10
    min_reduction_amount: float = 0.0
    max_files: int = 20_000
    effective_after_days: Mapping[str, int] = field(
        default_factory=lambda: {"increase": 0, "reduction": 14, "withdrawn": 14, "first_limit": 0})

    def __post_init__(self) -> None:
        unknown = sorted(set(self.effective_after_days) - set(KINDS))
        if unknown:
            raise ValueError(f"effective_after_days has unknown kinds {unknown}; expected some of {list(KINDS)}")
        bad = {k: d for k, d in self.effective_after_days.items() if not 0 <= int(d) <= 365}
        if bad:
            raise ValueError(f"effective_after_days must be 0..365 days; got {bad}")

    def effective_date(self, kind: str, as_of: pd.Timestamp) -> pd.Timestamp:
        """The day a change of ``kind`` applies: ``as_of`` plus that kind's notice days (0 if not set)."""
        return pd.Timestamp(as_of).normalize() + pd.Timedelta(days=int(self.effective_after_days.get(kind, 0)))


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _text(value: object) -> str:
    """A data value as text; missing (None, NaN, pd.NA) is empty."""
    return value if isinstance(value, str) else ""


def _number(value: object) -> float:
    """A data value as a float; missing or not a number is NaN."""
    # Numbers (what a limits table holds) directly: a one-element Series per value cost ~0.1 ms, four
    # values a letter, 14 s of stage 05 for a 50,000-customer book. Anything else (text, flags,
    # missing markers) goes through pandas' parser, whose result the fast path equals for numbers.
    if isinstance(value, (float, np.floating)) or (isinstance(value, (int, np.integer))
                                                    and not isinstance(value, (bool, np.bool_))):
        return float(value)
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return float(number) if pd.notna(number) else float("nan")


def _amounts(limits: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Today's limit (missing = none = 0), the new limit and the open balance (NaN where unknown)."""
    current = pd.to_numeric(limits["current_limit"], errors="coerce").astype(float).fillna(0.0)
    new = pd.to_numeric(limits["proposed_limit"], errors="coerce").astype(float)
    balance = (pd.to_numeric(limits["receivables_open"], errors="coerce").astype(float)
               if "receivables_open" in limits else pd.Series(np.nan, index=limits.index))
    return current, new, balance


def letter_kinds(limits: pd.DataFrame, settings: LetterSettings) -> pd.Series:
    """The kind of letter each customer gets (one of :data:`KINDS`), or ``""`` for none.

    ``limits`` needs ``current_limit`` and ``proposed_limit`` (the new limit); with
    ``receivables_open`` (the open balance today) a reduction that leaves the limit below the
    balance, where today's limit still covered it, is always told: the customer's next orders
    are held. A missing new limit gets no letter.
    """
    current, new, balance = _amounts(limits)
    change = new - current
    first = (current <= 0) & (new > 0)
    withdrawn = (current > 0) & (new <= 0)
    increase = (change > 0) & ~first
    reduction = (change < 0) & ~withdrawn
    # NaN balance compares False: without a balance only the thresholds decide a reduction.
    below_balance = reduction & (new < balance) & (balance <= current)
    told_increase = (increase & settings.increases & (change >= settings.min_increase_pct * current)
                     & (change >= settings.min_increase_amount))
    told_reduction = reduction & (((-change >= settings.min_reduction_pct * current)
                                   & (-change >= settings.min_reduction_amount)) | below_balance)
    kinds = np.select([first, withdrawn, told_increase, told_reduction], ["first_limit", "withdrawn", "increase",
                                                                          "reduction"], default="")
    return pd.Series(kinds, index=limits.index, name="letter_kind")


def letter_counts(limits: pd.DataFrame, as_of: pd.Timestamp, settings: LetterSettings) -> dict:
    """How many letters of each kind, for the run's ``letters_summary.json`` and the report.

    Keys: ``letters`` (total), ``by_kind`` (every kind of :data:`KINDS`, 0 included),
    ``below_balance`` (reductions to below the open balance), ``limit_changes`` (customers whose
    limit changes at all), ``changes_without_letter`` and ``effective_date`` per kind (ISO dates).
    """
    kinds = letter_kinds(limits, settings)
    current, new, balance = _amounts(limits)
    counts = kinds[kinds != ""].value_counts()
    changed = int(((new - current).abs() > 0).sum())
    return {
        "letters": int(counts.sum()),
        "by_kind": {kind: int(counts.get(kind, 0)) for kind in KINDS},
        "below_balance": int(((kinds == "reduction") & (new < balance)).sum()),
        "limit_changes": changed,
        "changes_without_letter": changed - int(counts.sum()),
        "effective_date": {kind: settings.effective_date(kind, as_of).date().isoformat() for kind in KINDS},
    }


def letters_summary(run_dir: str | Path) -> dict:
    """The letter counts a run wrote (:func:`letter_counts`), or ``{}`` where it wrote none
    (monitoring only, or a run from before the counts were kept). For the run's index page."""
    path = Path(run_dir) / SUMMARY_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _kind_of(old: float, new: float) -> str:
    if old <= 0 < new:
        return "first_limit"
    if new <= 0 < old:
        return "withdrawn"
    return "increase" if new > old else "reduction"


@dataclass(frozen=True)
class _Fixed:
    """What every letter of a run shares, escaped once: the dates, the currency, the sender.

    A formatted amount has no character to escape, so ``cur + f"{x:,.0f}"`` is the escaped amount.
    """

    cur: str
    today: str
    effective: dict[str, str]
    company: str
    contact: str

    @classmethod
    def of(cls, as_of: pd.Timestamp, settings: LetterSettings) -> _Fixed:
        return cls(cur=_e(settings.currency) + " " if settings.currency else "", today=as_of.date().isoformat(),
                   effective={k: settings.effective_date(k, as_of).date().isoformat() for k in KINDS},
                   company=_e(settings.company_name), contact=_e(settings.contact))


@lru_cache(maxsize=4096)
def _e_repeated(value: str) -> str:
    """:func:`_e` for the texts a book repeats (reasons, hints, wordings, dates): escaped once each."""
    return _e(value)


def letter_html(row: pd.Series | dict, customer_id: str, as_of: pd.Timestamp, settings: LetterSettings,
                kind: str | None = None) -> str:
    """One letter as an HTML fragment (an ``<article>`` with ``data-kind``), all data escaped.

    ``kind`` is one of :data:`KINDS` (:func:`letter_kinds`); None derives it from the two limits.
    """
    return _letter(row, customer_id, _Fixed.of(as_of, settings), kind)


def _letter(row: pd.Series | dict, customer_id: str, fixed: _Fixed, kind: str | None) -> str:
    cur = fixed.cur
    old = _number(row["current_limit"])
    old = 0.0 if np.isnan(old) else old
    new = _number(row["proposed_limit"])
    kind = kind or _kind_of(old, new)
    if kind not in KINDS:
        raise ValueError(f"letter kind {kind!r} for customer {customer_id!r}; expected one of {list(KINDS)}")
    today, effective = fixed.today, fixed.effective[kind]
    amount_old, amount_new = f"{cur}{old:,.0f}", f"{cur}{new:,.0f}"
    why = _e_repeated(CUSTOMER_WORDING.get(str(row["decided_by"]), "of our regular credit review"))
    if kind == "first_limit":
        change = (f"<p>We have set your first credit limit with us at <b>{amount_new}</b>, effective "
                  f"<b>{_e_repeated(effective)}</b>.</p>\n<p>The limit is what it is because {why}.</p>\n")
    elif kind == "withdrawn":
        change = (f"<p>After our regular review we withdraw your credit limit of <b>{amount_old}</b>, effective "
                  f"<b>{_e_repeated(effective)}</b>. From that date we can no longer deliver on open-account terms; "
                  f"invoices already issued stay due on their terms.</p>\n<p>We withdraw the limit because {why}."
                  f"</p>\n")
    else:
        verb = "increase" if kind == "increase" else "reduce"
        change = (f"<p>After our regular review we {verb} your credit limit from <b>{amount_old}</b> to "
                  f"<b>{amount_new}</b>, effective <b>{_e_repeated(effective)}</b>.</p>\n")
        if kind == "reduction" and effective != today:
            change += f"<p>Until then your limit stays at {amount_old}, so you can arrange your orders.</p>\n"
        balance = _number(row.get("receivables_open"))
        if kind == "reduction" and balance > new:
            change += (f"<p>Your open balance today, <b>{cur}{balance:,.0f}</b>, is above the new limit: "
                       f"from {_e_repeated(effective)} we release new orders on credit once payments bring it "
                       f"below {amount_new}.</p>\n")
        change += f"<p>The limit is what it is because {why}.</p>\n"
    factors = [f for f in (_text(row.get(c)) for c in ("reason_1", "reason_2", "reason_3")) if f]
    # the factors are written about the customer ("went over its credit limit"); the letter speaks to it
    items = "".join(f"<li>{_e_repeated(f.replace(' its ', ' your '))}</li>" for f in factors)
    hint, hint_limit = _text(row.get("hint")), _number(row.get("hint_limit"))
    if hint and hint_limit > max(new, 0.0):
        improve = (f"<p>What would raise your limit: {_e_repeated(hint)} would improve your risk rating and could "
                   f"raise your limit to about {cur}{hint_limit:,.0f}.</p>")
    elif hint:
        improve = f"<p>What would help: {_e_repeated(hint)} would improve your risk rating.</p>"
    else:
        improve = ("<p>What would help: paying invoices within terms and sharing your latest financial statements "
                   "help us review your limit favourably.</p>")
    name = _text(row.get("customer_name")) or customer_id
    return (
        f'<article class="letter" data-kind="{kind}">\n<p>{_e_repeated(today)}</p>\n'
        f"<p>To: {_e(name)} (customer {_e(customer_id)})</p>\n"
        f"<h2>Your credit limit with {fixed.company}: {_e_repeated(_KIND_TITLE[kind])}</h2>\n"
        + change
        + (f"<p>The main factors in your risk rating:</p>\n<ul>{items}</ul>\n" if items else "")
        + f"{improve}\n<p>Questions: please contact {fixed.contact}.</p>\n</article>\n"
    )


#: The columns a letter reads (:func:`_letter`); :func:`letters_for` hands it only these.
_LETTER_COLUMNS = ("current_limit", "proposed_limit", "decided_by", "receivables_open", "reason_1", "reason_2",
                   "reason_3", "hint", "hint_limit", "customer_name", "letter_kind")


#: letters per printable file and per list page: a book with more letters gets them in parts
LETTERS_PER_FILE = 1000

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:780px;margin:2em auto}}
article.letter{{border-bottom:1px solid #aaa;padding-bottom:1em;margin-bottom:2em;page-break-after:always}}</style>
</head><body>
{body}</body></html>
"""


@dataclass(frozen=True)
class LetterSet:
    """A run's letters: the pages under ``letters/`` and a row per letter for ``data/letters.parquet``.

    ``table`` holds ``customer_id``, ``customer_name``, ``letter_kind``, ``effective_date`` (ISO),
    ``file`` (the page under ``letters/`` that holds the letter: its own, or its printable part) and
    ``letter_html`` (the letter as an HTML fragment: what a mail merge sends).
    """

    pages: dict[str, str]
    table: pd.DataFrame
    own_files: bool


def letters_for(limits: pd.DataFrame, as_of: pd.Timestamp, settings: LetterSettings) -> dict[str, str]:
    """The pages of :func:`compose_letters`: ``{file name: HTML page}``."""
    return compose_letters(limits, as_of, settings).pages


def compose_letters(limits: pd.DataFrame, as_of: pd.Timestamp, settings: LetterSettings) -> LetterSet:
    """Letters for every limit change a customer is told about (:func:`letter_kinds`).

    The pages: one per customer (``letter_00001.html`` ..., numbered, since ids may hold any
    characters), ``letters_all.html`` with every letter, and ``index.html`` listing them with their
    kind. Beyond :data:`LETTERS_PER_FILE` letters the printable file and the list come in parts
    (``letters_all_0001.html``, ``index_0001.html`` ...) and ``index.html`` lists the parts. Beyond
    ``settings.max_files`` letters there is no page per customer: each letter is in its printable
    part and in the table, and the list names the part.
    """
    kinds = letter_kinds(limits, settings)
    chosen = limits.assign(letter_kind=kinds).loc[kinds != ""].sort_index()
    own_files = len(chosen) <= settings.max_files
    pages: dict[str, str] = {}
    bodies, links, names, files = [], [], [], []
    width = max(5, len(str(len(chosen))))  # file names sort in letter order however many there are
    fixed = _Fixed.of(as_of, settings)
    for n, (customer_id, row) in enumerate(zip(chosen.index, records(chosen, _LETTER_COLUMNS), strict=True), start=1):
        body = _letter(row, str(customer_id), fixed, kind=row["letter_kind"])
        name = _text(row.get("customer_name")) or customer_id
        bodies.append(body)
        names.append(str(name))
        told = f"({_e(customer_id)}): {_e_repeated(_KIND_TITLE[row['letter_kind']])}"
        if own_files:
            fname = f"letter_{n:0{width}d}.html"
            pages[fname] = _PAGE.format(title=_e(f"Credit limit: {name}"), body=body)
            links.append(f'<li><a href="{fname}">{_e(name)}</a> {told}</li>')
            files.append(fname)
        else:
            links.append(f"<li>{_e(name)} {told}</li>")
    counts = kinds[kinds != ""].value_counts()
    by_kind = ", ".join(f"{int(counts.get(k, 0)):,} {_KIND_TITLE[k]}" for k in KINDS)
    head = f"<h1>{len(links):,} limit letters</h1><p>{_e(by_kind)}</p>"
    if not own_files:
        head += (f"<p>{len(links):,} letters are more than letters.max_files ({settings.max_files:,}): no file per "
                 f"letter; each is in its printable part below and a row of data/letters.parquet.</p>")
    if len(bodies) <= LETTERS_PER_FILE:
        pages["letters_all.html"] = _PAGE.format(title="All limit letters", body="".join(bodies))
        pages["index.html"] = _PAGE.format(title="Limit letters", body=f"{head}<ol>{''.join(links)}</ol>")
        files = files if own_files else ["letters_all.html"] * len(bodies)
        return LetterSet(pages, _table(chosen, bodies, files, fixed), own_files)
    # A large book: the printable file and the list come in parts of LETTERS_PER_FILE letters, so that
    # no page holds a whole book's letters (a browser would not open it)
    batches = []
    for k, start in enumerate(range(0, len(bodies), LETTERS_PER_FILE), start=1):
        end = min(start + LETTERS_PER_FILE, len(bodies))
        printable, listing = f"letters_all_{k:04d}.html", f"index_{k:04d}.html"
        span = f"{start + 1:,} to {end:,}"
        pages[printable] = _PAGE.format(title=f"Limit letters {span}", body="".join(bodies[start:end]))
        pages[listing] = _PAGE.format(
            title=f"Limit letters {span}",
            body=f'<h1>Limit letters {span}</h1><p><a href="index.html">all parts</a> · all of these in one file '
                 f'for printing: <a href="{printable}">{printable}</a></p><ol start="{start + 1}">'
                 f"{''.join(links[start:end])}</ol>")
        batches.append(f'<li><a href="{listing}">letters {span}</a> ({_e(names[start])} to {_e(names[end - 1])}); '
                       f'printable: <a href="{printable}">{printable}</a></li>')
        if not own_files:
            files.extend([printable] * (end - start))
    pages["index.html"] = _PAGE.format(
        title="Limit letters", body=f"{head}<p>In parts of {LETTERS_PER_FILE:,} letters, by customer id:</p>"
                                    f"<ol>{''.join(batches)}</ol>")
    return LetterSet(pages, _table(chosen, bodies, files, fixed), own_files)


def _table(chosen: pd.DataFrame, bodies: list[str], files: list[str], fixed: _Fixed) -> pd.DataFrame:
    """A row per letter, in letter order (:class:`LetterSet`)."""
    kind = chosen["letter_kind"].to_numpy()
    names = (chosen["customer_name"] if "customer_name" in chosen.columns
             else pd.Series(pd.NA, index=chosen.index, dtype="string"))
    return pd.DataFrame({
        "customer_id": pd.array(chosen.index.astype(str), dtype="string"),
        "customer_name": pd.array(names, dtype="string"),
        "letter_kind": pd.array(kind, dtype="string"),
        "effective_date": pd.array(pd.Series(kind).map(fixed.effective).to_numpy(), dtype="string"),
        "file": pd.array(files, dtype="string"),
        "letter_html": pd.array(bodies, dtype="string")})
