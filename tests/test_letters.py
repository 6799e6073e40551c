import pandas as pd

from credit_lab.limits.letters import LetterSettings, letters_for

AS_OF = pd.Timestamp("2026-01-01")


def table():
    return pd.DataFrame({
        "customer_name": ['<script>alert("x")</script> & Co', "Steady Ltd", "Grower GmbH"],
        "current_limit": [100_000.0, 50_000.0, 0.0],
        "proposed_limit": [70_000.0, 50_500.0, 20_000.0],
        "decided_by": ["change_cap", "profit_optimum", "insurer_cap"],
        "reason_1": ["pays invoices late on average", "", "short relationship"],
        "reason_2": ["<b>bold</b>", "", ""], "reason_3": ["", "", ""],
        "hint": ["paying within terms", "", ""], "hint_limit": [90_000.0, float("nan"), float("nan")],
    }, index=pd.Index(['"><img src=x onerror=alert(1)>', "C2", "C3"], name="customer_id"))


def test_letters_only_for_material_changes_and_all_text_escaped():
    pages = letters_for(table(), AS_OF, LetterSettings(company_name="Acme <Trading>", min_change_pct=0.05))
    assert sorted(pages) == ["index.html", "letter_00001.html", "letter_00002.html", "letters_all.html"]
    everything = "".join(pages.values())
    assert "<script>" not in everything and "<img" not in everything and "<b>bold</b>" not in everything
    assert "&lt;script&gt;" in everything and "Acme &lt;Trading&gt;" in everything
    first = pages["letter_00001.html"]  # sorted by id: the hostile id sorts first
    assert "reduce your credit limit from <b>100,000</b> to <b>70,000</b>" in first
    assert "a limit changes by a limited share at each review" in first
    assert "paying within terms would improve your risk rating and could raise your limit to about 90,000" in first
    second = pages["letter_00002.html"]
    assert "increase your credit limit from <b>0</b> to <b>20,000</b>" in second
    assert "Steady Ltd" not in everything  # a 1% change gets no letter
    assert pages["letters_all.html"].count('<article class="letter">') == 2
