"""sections.show renders a notebook section's part, or nothing when the stage skipped that part."""

from types import SimpleNamespace

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from IPython.display import Markdown

from credit_lab.report import sections


@pytest.fixture
def shown(monkeypatch):
    items = []
    monkeypatch.setattr(sections, "display", items.append)
    return items


def test_show_skipped_part_shows_nothing_and_does_not_render(shown):
    def render(part):
        raise AssertionError("a skipped part must not be rendered")

    assert sections.show(None, render) is None
    assert shown == []


def test_show_renders_part_with_arguments_and_each_item_of_a_list(shown):
    frame = pd.DataFrame({"x": [1.23456]})
    sections.show(frame, pd.DataFrame.round, 2)
    sections.show(frame, lambda t: [Markdown("a"), None, t])
    assert shown[0].iloc[0, 0] == 1.23 and isinstance(shown[1], Markdown) and shown[2] is frame
    assert len(shown) == 3


def test_show_displays_a_figure_once_then_closes_it(shown):
    fig = plt.figure()
    sections.show(fig)
    assert shown == [fig] and not plt.fignum_exists(fig.number)


def test_limits_headline_says_once_that_limits_were_skipped():
    skipped = SimpleNamespace(limits=None, method="monitoring only (no PD model)")
    assert "No limits are proposed" in sections.limits_headline(skipped).data
    limits = pd.DataFrame({"current_limit": [100.0, 50.0], "proposed_limit": [120.0, 40.0]})
    done = SimpleNamespace(limits=limits, method="optimize", solve_seconds=0.5)
    text = sections.limits_headline(done).data
    assert "150 today → 160 proposed" in text
    assert "0.5" not in text and " s" not in text.split("proposed")[-1]  # no timing: reruns write the same report


def test_reserve_headline_only_when_the_pd_part_was_skipped():
    assert sections.reserve_headline(SimpleNamespace(loss=object())) is None
    assert "Provisions only" in sections.reserve_headline(SimpleNamespace(loss=None)).data


def test_improvement_hints_use_the_hint_columns():
    limits = pd.DataFrame({"customer_name": ["a", "b", "c"], "pd": [0.05, 0.02, 0.01],
                           "hint": ["paying within terms", "", "paying within terms"],
                           "hint_pd": [0.03, float("nan"), 0.008], "proposed_limit": [100.0, 200.0, 300.0],
                           "hint_limit": [150.0, float("nan"), 310.0]})
    summary, top = sections.improvement_hints(limits)
    assert summary.loc["paying within terms", "customers"] == 2
    assert summary.loc["paying within terms", "total_gain"] == 60
    assert list(top["customer_name"]) == ["a", "c"]
    assert isinstance(sections.improvement_hints(limits.drop(columns="hint")), Markdown)
    assert isinstance(sections.improvement_hints(limits.assign(hint="")), Markdown)


def test_constraints_table_shows_amounts_for_reading_not_scientific_notation():
    constraints = pd.DataFrame({"kind": ["el_budget", "exposure_budget"], "budget": [15_804_565.74, float("inf")],
                                "used": [15_804_565.74, 252_464_942.0], "slack": [0.0, float("inf")],
                                "binding": [True, False], "shadow_price": [1.470012345, 0.0]},
                               index=["el_budget", "exposure_budget"])
    table = sections.constraints_table(SimpleNamespace(constraints=constraints))
    assert table.loc["el_budget", "budget"] == "15,804,566" and table.loc["exposure_budget", "used"] == "252,464,942"
    assert table.loc["exposure_budget", "budget"] == "none"  # no budget, not 'inf'
    assert table.loc["el_budget", "shadow_price"] == 1.47
    assert "e+" not in table.to_string()
