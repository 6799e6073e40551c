"""Synthetic B2B trade-credit ledger.

This module generates a seeded, fully deterministic ledger of a company that
sells to business customers on invoice payment terms: the customer master
data, yearly financial statements, invoices with their payments, first
defaults and a monthly industry-outlook indicator.

The generator is driven by a small structural model so that the data carry a
learnable (but not trivial) credit signal:

* every customer has a latent credit quality ``z ~ N(0, 1)`` (higher is
  better), mildly correlated with firm size;
* every industry follows a monthly AR(1) cycle ``Y_ind(t)`` that loads on a
  common macro factor, and one or two industries go through a visible
  downturn inside the window;
* the monthly default probability follows the one-factor (Vasicek) model
  ``Phi((Phi^-1(p_i) - sqrt(rho) * Y_ind(t)) / sqrt(1 - rho))`` so that
  defaults cluster by industry and time;
* payment behaviour (days paid beyond terms) depends on ``z``, the cycle and
  deteriorates during the months before a default; financial ratios depend on
  ``z`` with more noise and only arrive once a year.

All tuning knobs live in :class:`SynthParams`; :data:`DEFAULT_PARAMS` holds
the values used by :func:`generate_ledger` unless a custom instance is passed.

The generator is a package by concern: ``params`` (knobs and industry economics),
``customers``, ``cycle`` (industry factors and outlook), ``defaults``, ``invoices``
(payment behaviour), ``financials``, ``limit_cuts`` (the opt-in limit history and the customers a
cut loses to competitors), ``days`` (day arithmetic) and ``ledger``
(:func:`generate_ledger`, which fixes the order of the random draws). Every public name is
re-exported here, so ``from credit_lab.data.synthetic import generate_ledger`` works as
before the split.
"""

from __future__ import annotations

from credit_lab.data.synthetic.ledger import Ledger, generate_ledger
from credit_lab.data.synthetic.params import DEFAULT_PARAMS, INDUSTRY_NAMES, REGION_NAMES, SynthParams

__all__ = [
    "DEFAULT_PARAMS",
    "INDUSTRY_NAMES",
    "REGION_NAMES",
    "Ledger",
    "SynthParams",
    "generate_ledger",
]
