"""The artifact catalog: every stage reads only what an earlier stage declared it writes.

Checked twice: on the declarations alone, and on what each stage's context records it read and
wrote while the stages run in-process on the smoke ledger and on the customer-table template.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from credit_lab.run import stages
from credit_lab.run.params import run_params_from_dict
from credit_lab.run.stages.catalog import ARTIFACTS, CATALOG, producers
from credit_lab.run.stages.context import StageContext

ROOT = Path(__file__).resolve().parent.parent


def _declared_before(stage: str) -> set[str]:
    order = list(CATALOG)
    return {a for s in order[: order.index(stage)] for a in CATALOG[s].outputs}


def test_stage_order_and_titles_come_from_the_catalog():
    assert list(stages.STAGES) == list(CATALOG)
    assert [title for title, _, _ in stages.STAGES.values()] == [io.title for io in CATALOG.values()]


def test_every_declared_artifact_is_in_the_catalog_and_every_artifact_has_a_producer():
    for stage, io in CATALOG.items():
        unknown = set(io.inputs + io.outputs + io.marker) - set(ARTIFACTS)
        assert not unknown, f"{stage} declares artifacts missing from ARTIFACTS: {sorted(unknown)}"
        assert set(io.marker) <= set(io.outputs), stage
    orphans = [a for a in ARTIFACTS if not producers(a)]
    assert not orphans, f"artifacts no stage writes: {orphans}"


def test_every_declared_input_is_an_earlier_stage_output_or_the_stage_own():
    for stage, io in CATALOG.items():
        dangling = set(io.inputs) - _declared_before(stage) - set(io.outputs)
        assert not dangling, f"{stage} reads {sorted(dangling)}, which no earlier stage writes"


def _small(params_file: str, no_outcomes: bool = False):
    """The params file made quick: a smaller synthetic book, no stress scenarios (no file of their own).

    ``no_outcomes``: no invoice ever goes that far past due, so no default is derived and the run
    takes the expert scorecard's branch (most prudent PDs of a book without defaults).
    """
    raw = yaml.safe_load((ROOT / params_file).read_text())
    if no_outcomes:
        raw["data"].setdefault("rules", {})["derive_defaults_days_past_due"] = 720
    if raw["data"]["source"] == "synthetic":
        raw["data"]["synthetic"]["n_customers"] = 300
    raw.setdefault("reserve", {})["stress_scenarios"] = []
    return run_params_from_dict(raw, source=params_file)


def _run_recorded(run_dir: Path, params_file: str, no_outcomes: bool) -> dict[str, tuple[set[str], set[str]]]:
    """Run every stage in-process on one context; each stage's recorded (reads, writes)."""
    ctx = StageContext(run_dir, _small(params_file, no_outcomes))
    ctx.data_dir.mkdir(parents=True)
    seen = {}
    for stage, (_, func, _) in stages.STAGES.items():
        ctx.log.clear()
        try:
            func(ctx)
        except stages.StageSkipped:
            pass
        seen[stage] = (set(ctx.log.reads), set(ctx.log.writes))
    return seen


@pytest.mark.parametrize(("params_file", "no_outcomes"), [
    ("params/smoke.yaml", False), ("params/table_template.yaml", False), ("params/smoke.yaml", True)])
def test_recorded_reads_and_writes_keep_to_the_catalog(tmp_path, monkeypatch, params_file, no_outcomes):
    monkeypatch.chdir(ROOT)  # the table template names its table relative to the project
    seen = _run_recorded(tmp_path / "run", params_file, no_outcomes)
    if no_outcomes:  # outcomes are known but hold no default: the expert scorecard scores the book
        assert "data/expert_classes.parquet" in seen["03_model"][1], "the expert scorecard should have scored"
        assert "data/limits.parquet" in seen["05_limits"][1], "every customer should have got a limit"
    written: set[str] = set()
    for stage, (reads, writes) in seen.items():
        io = CATALOG[stage]
        assert reads <= set(io.inputs), f"{stage} read undeclared inputs: {sorted(reads - set(io.inputs))}"
        assert writes <= set(io.outputs), f"{stage} wrote undeclared outputs: {sorted(writes - set(io.outputs))}"
        early = reads - written - writes
        assert not early, f"{stage} read {sorted(early)} before any stage wrote it"
        written |= writes
    on_disk = {p.relative_to(tmp_path / "run").as_posix() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    on_disk = {"letters/" if p.startswith("letters/") else p for p in on_disk}
    assert on_disk == written, f"files not recorded: {sorted(on_disk - written)}"
    assert on_disk <= set(ARTIFACTS), f"files outside the catalog: {sorted(on_disk - set(ARTIFACTS))}"
