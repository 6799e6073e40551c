"""Letters to customers whose limit changes: the new limit, why, and what would improve it.

Every piece of text that comes from data (names, ids, reasons) is HTML-escaped, so a
customer called ``<script>...`` gets a letter that shows its name, not one that runs it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd

__all__ = ["CUSTOMER_WORDING", "LetterSettings", "letter_html", "letters_for"]

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
    "no_demand_data": "we have no recent purchases, declared needs or financial statements to size a limit on",
}


@dataclass(frozen=True)
class LetterSettings:
    """Sender details and which changes get a letter."""

    company_name: str = "Your supplier"
    contact: str = "the credit department"
    min_change_pct: float = 0.05  # smaller changes are not worth a letter
    currency: str = ""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def letter_html(row: pd.Series | dict, customer_id: str, as_of: pd.Timestamp, settings: LetterSettings) -> str:
    """One letter as an HTML fragment (an ``<article>``), all data escaped."""
    cur = settings.currency + " " if settings.currency else ""
    old, new = float(row["current_limit"]), float(row["proposed_limit"])
    direction = "increase" if new > old else "reduce"
    why = CUSTOMER_WORDING.get(str(row["decided_by"]), "of our regular credit review")
    factors = [r for r in (row.get("reason_1"), row.get("reason_2"), row.get("reason_3"))
               if isinstance(r, str) and r]
    # the factors are written about the customer ("went over its credit limit"); the letter speaks to it
    items = "".join(f"<li>{_e(f.replace(' its ', ' your '))}</li>" for f in factors)
    hint = row.get("hint")
    hint_limit = f"{cur}{float(row.get('hint_limit', float('nan'))):,.0f}"
    improve = (f"<p>What would help: {_e(hint)} would improve your risk rating and could raise your limit "
               f"to about {_e(hint_limit)}.</p>"
               if isinstance(hint, str) and hint else
               "<p>Paying invoices within terms and sharing your latest financial statements help us "
               "review your limit favourably.</p>")
    name = row.get("customer_name") or customer_id
    return (
        f'<article class="letter">\n<p>{_e(as_of.date().isoformat())}</p>\n'
        f"<p>To: {_e(name)} (customer {_e(customer_id)})</p>\n"
        f"<h2>Your credit limit with {_e(settings.company_name)}</h2>\n"
        f"<p>After our regular review we {direction} your credit limit from <b>{_e(f'{cur}{old:,.0f}')}</b> "
        f"to <b>{_e(f'{cur}{new:,.0f}')}</b>, effective {_e(as_of.date().isoformat())}.</p>\n"
        f"<p>The limit is what it is because {_e(why)}.</p>\n"
        + (f"<p>The main factors in your risk rating:</p>\n<ul>{items}</ul>\n" if items else "")
        + f"{improve}\n<p>Questions: please contact {_e(settings.contact)}.</p>\n</article>\n"
    )


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:780px;margin:2em auto}}
article.letter{{border-bottom:1px solid #aaa;padding-bottom:1em;margin-bottom:2em;page-break-after:always}}</style>
</head><body>
{body}</body></html>
"""


def letters_for(limits: pd.DataFrame, as_of: pd.Timestamp, settings: LetterSettings) -> dict[str, str]:
    """Letters for every limit that changes by at least ``min_change_pct`` of today's (or from 0).

    Returns ``{file name: HTML page}``: one page per customer (``letter_00001.html`` ...,
    numbered, since ids may hold any characters), ``letters_all.html`` with every letter,
    and ``index.html`` listing them.
    """
    current = limits["current_limit"].astype(float)
    change = (limits["proposed_limit"].astype(float) - current).abs()
    relevant = change >= settings.min_change_pct * current.where(current > 0, 0.0)
    relevant &= change > 0
    chosen = limits.loc[relevant].sort_index()
    pages: dict[str, str] = {}
    bodies, links = [], []
    for n, (customer_id, row) in enumerate(zip(chosen.index, chosen.to_dict(orient="records"), strict=True),
                                            start=1):
        body = letter_html(row, str(customer_id), as_of, settings)
        fname = f"letter_{n:05d}.html"
        pages[fname] = _PAGE.format(title=_e(f"Credit limit: {row.get('customer_name') or customer_id}"), body=body)
        bodies.append(body)
        links.append(f'<li><a href="{fname}">{_e(row.get("customer_name") or customer_id)}</a> '
                     f"({_e(customer_id)})</li>")
    pages["letters_all.html"] = _PAGE.format(title="All limit letters", body="".join(bodies))
    pages["index.html"] = _PAGE.format(title="Limit letters",
                                      body=f"<h1>{len(links)} limit letters</h1><ol>{''.join(links)}</ol>")
    return pages
