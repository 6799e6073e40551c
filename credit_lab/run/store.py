"""The run store: a run folder's manifest and the hash-chained run log, checked before anything is trusted.

``verify_run`` recomputes every file's SHA-256 against the manifest and the manifest's against
``runs.jsonl``; ``load_run_model`` loads a run's model only once its folder verifies.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from credit_lab.core.exceptions import ArtifactIntegrityError, ArtifactVersionError
from credit_lab.data import io
from credit_lab.models import persist
from credit_lab.run.signing import SIGNATURE, SignatureCheck, check_signature

__all__ = ["MANIFEST", "PLACEMENT_KEYS", "RUNS_LOG", "Verification", "book_of_run", "compare_runs", "hash_tree",
           "load_run_model", "previous_run", "read_run_log", "reproduction_key", "verification", "verify_run"]

MANIFEST = "manifest.json"
RUNS_LOG = "runs.jsonl"


def hash_tree(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` but the manifest, hidden ones included (a symlink is hashed
    by its target path, never followed, so it cannot pull a file from outside the folder into the record)."""
    hashes = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        entries = filenames + [d for d in dirnames if (base / d).is_symlink()]
        for name in sorted(entries):
            p = base / name
            rel = p.relative_to(root).as_posix()
            if rel == MANIFEST:
                continue
            if p.is_symlink():
                hashes[rel] = "symlink:" + hashlib.sha256(os.readlink(p).encode("utf-8")).hexdigest()
            elif p.is_file():
                hashes[rel] = io.sha256_file(p)
    return dict(sorted(hashes.items()))


def _links_out(root: Path) -> list[str]:
    """Symlinks under ``root`` that point outside it (a file a reader opens may not be the run's)."""
    out = []
    resolved = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in filenames + dirnames:
            p = Path(dirpath) / name
            if p.is_symlink():
                target = p.resolve()
                if target != resolved and resolved not in target.parents:
                    out.append(f"symlink out of the run folder: {p.relative_to(root).as_posix()} -> {os.readlink(p)}")
    return sorted(out)


def _find_run_log(run_dir: Path) -> tuple[Path, str] | None:
    """The runs.jsonl above a run folder, and the folder's path relative to it."""
    for root in (run_dir.parent, run_dir.parent.parent):
        if (root / RUNS_LOG).is_file():
            return root / RUNS_LOG, run_dir.resolve().relative_to(root.resolve()).as_posix()
    return None


def verify_run(run_dir: str | Path) -> list[str]:
    """Check a run folder against its manifest and the run log; return the problems (empty = intact).

    Every file's SHA-256 is recomputed against the manifest (changed, added, missing), and the
    manifest's own SHA-256 against the last entry for this folder in ``runs.jsonl``, whose lines
    are chained by hash, so rewriting the manifest (or the log) is detected too.
    """
    run_dir = Path(run_dir)
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        return [f"missing: {MANIFEST} (not a run folder, or the manifest was deleted)"]
    try:
        manifest = io.read_json(manifest_path)
    except ValueError as err:
        return [f"changed: {MANIFEST} is not valid JSON ({err})"]
    recorded: dict[str, str] = manifest.get("outputs", {})
    actual = hash_tree(run_dir)
    problems = [f"changed: {name}" for name in sorted(recorded) if name in actual and actual[name] != recorded[name]]
    problems += [f"missing: {name}" for name in sorted(set(recorded) - set(actual))]
    problems += [f"added: {name}" for name in sorted(set(actual) - set(recorded))]
    problems += _links_out(run_dir)
    found = _find_run_log(run_dir)
    if found is None:
        problems.append(f"unverifiable: no {RUNS_LOG} next to the run folder to check the manifest against")
        return problems
    log_path, folder = found
    lines = log_path.read_bytes().splitlines()
    entries = []
    for n, line in enumerate(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            problems.append(f"changed: {RUNS_LOG} line {n + 1} is not valid JSON")
            continue
        expected_prev = hashlib.sha256(lines[n - 1]).hexdigest() if n else None
        if entry.get("prev_entry_sha256") != expected_prev:
            problems.append(f"changed: {RUNS_LOG} line {n + 1} does not chain to the line before it")
        entries.append(entry)
    mine = [e for e in entries if e.get("folder") == folder]
    if not mine:
        problems.append(f"unverifiable: {RUNS_LOG} has no entry for {folder}")
    elif mine[-1].get("manifest_sha256") != io.sha256_file(manifest_path):
        problems.append(f"changed: {MANIFEST} (its SHA-256 differs from the one logged in {RUNS_LOG})")
    if manifest.get("status") != "succeeded":
        problems.append(f"status: the run {manifest.get('status', 'has no status')}")
    return problems


def load_run_model(run_dir: str | Path):
    """Load the PD model of a finished run, only after the whole run folder verifies.

    The model file's hash is checked against the manifest, the manifest's hash against the
    hash-chained ``runs.jsonl`` (and its signature, when the run was signed); any problem refuses the
    load. The file format itself runs no code when read (:mod:`credit_lab.models.persist`).
    """
    run_dir = Path(run_dir)
    problems = verify_run(run_dir)
    if problems:
        raise ArtifactIntegrityError(
            f"{run_dir} does not verify ({'; '.join(problems[:5])}); its model will not be loaded"
        )
    manifest = io.read_json(run_dir / MANIFEST)
    file = "models/pd_model.fitted.json"
    if file not in manifest.get("outputs", {}):
        raise ArtifactVersionError(
            f"{run_dir} was written by an earlier version of credit_lab, whose model file was a pickle; this version "
            "never unpickles a model (loading a pickle can run code). Re-run that run's params to refit it.")
    return persist.load_model(run_dir / file, manifest["outputs"][file])
