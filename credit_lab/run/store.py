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


#: params that say where a run goes and how it is sealed, not what it computes (a rerun under another id, or
#: signed with another key, is the same computation)
PLACEMENT_KEYS = ("run_id", "output_dir", "audit")


def reproduction_key(params: dict, inputs: dict[str, str]) -> str:
    """SHA-256 of what a run computes from: its params (but the run id and output folder) and its input files'
    hashes. Two runs with the same key are reruns of each other and must write identical files."""
    what = {k: v for k, v in params.items() if k not in PLACEMENT_KEYS}
    data_inputs = {k: v for k, v in inputs.items() if not k.startswith("params:")}
    blob = json.dumps({"params": what, "inputs": data_inputs}, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def read_run_log(out_root: str | Path) -> list[dict]:
    """The entries of ``out_root/runs.jsonl`` in the order written (lines that are not JSON are skipped;
    ``verify`` reports them)."""
    log = Path(out_root) / RUNS_LOG
    if not log.is_file():
        return []
    entries = []
    for line in log.read_bytes().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def book_of_run(run_dir: str | Path) -> str | None:
    """The book a run folder is of (``manifest.json``'s ``book``, or its data-quality record's source)."""
    run_dir = Path(run_dir)
    for path, key in ((run_dir / MANIFEST, "book"), (run_dir / "data" / "data_quality.json", "source")):
        try:
            value = io.read_json(path).get(key)
        except (OSError, ValueError):
            continue
        if value:
            return value
    return None


def previous_run(out_root: str | Path, book: str, key: str | None = None,
                 exclude: str | Path | None = None) -> Path | None:
    """The latest published, succeeded run of ``book`` under ``out_root`` that is not a rerun of ``key``.

    A rerun of the same params on the same inputs (same :func:`reproduction_key`) has nothing to explain, so
    the comparison goes to the run before it; that keeps a rerun's files identical to its original's.
    """
    out_root = Path(out_root)
    skip = Path(exclude).resolve() if exclude else None
    seen: set[str] = set()
    for entry in reversed(read_run_log(out_root)):
        folder = entry.get("folder")
        if entry.get("status") != "succeeded" or not folder or folder in seen or folder.startswith(("_", ".")):
            continue
        seen.add(folder)
        run_dir = out_root / folder
        if not (run_dir / MANIFEST).is_file() or (skip is not None and run_dir.resolve() == skip):
            continue
        try:
            manifest = io.read_json(run_dir / MANIFEST)
        except (OSError, ValueError):
            continue
        if manifest.get("status") != "succeeded" or book_of_run(run_dir) != book:
            continue
        if key is not None and manifest.get("reproduction_key") == key:
            continue
        return run_dir
    return None


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
            if rel in (MANIFEST, SIGNATURE):  # the manifest holds the hashes; the signature signs the manifest
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


def verify_run(run_dir: str | Path, public_key=None) -> list[str]:
    """Check a run folder against its manifest and the run log; return the problems (empty = intact).

    Every file's SHA-256 is recomputed against the manifest (changed, added, missing), and the
    manifest's own SHA-256 against the last entry for this folder in ``runs.jsonl``, whose lines
    are chained by hash, so rewriting the manifest (or the log) is detected too. With ``public_key``
    (an Ed25519 public key), the manifest must also carry that key's valid signature
    (:mod:`credit_lab.run.signing`): that also holds against a forger who rewrote all of the above.
    """
    return verification(run_dir, public_key).problems


def _integrity_problems(run_dir: Path) -> tuple[list[str], bool]:
    """The problems hashes and the run log show, and whether the check got as far as the run log's entry
    (a folder without a readable manifest or a run log stops it early, before any signature is looked at)."""
    manifest_path = run_dir / MANIFEST
    if not manifest_path.is_file():
        return [f"missing: {MANIFEST} (not a run folder, or the manifest was deleted)"], False
    try:
        manifest = io.read_json(manifest_path)
    except ValueError as err:
        return [f"changed: {MANIFEST} is not valid JSON ({err})"], False
    recorded: dict[str, str] = manifest.get("outputs", {})
    actual = hash_tree(run_dir)
    problems = [f"changed: {name}" for name in sorted(recorded) if name in actual and actual[name] != recorded[name]]
    problems += [f"missing: {name}" for name in sorted(set(recorded) - set(actual))]
    problems += [f"added: {name}" for name in sorted(set(actual) - set(recorded))]
    problems += _links_out(run_dir)
    found = _find_run_log(run_dir)
    if found is None:
        problems.append(f"unverifiable: no {RUNS_LOG} next to the run folder to check the manifest against")
        return problems, False
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
    return problems, True


@dataclass(frozen=True)
class Verification:
    """The outcome of verifying a run folder: its problems and what its signature shows."""

    problems: list[str]
    signature: SignatureCheck

    @property
    def status(self) -> str:
        """``tampered``, ``verified and signed``, or ``hash-consistent, unsigned`` / ``..., signature not checked``."""
        if self.problems:
            return "tampered"
        if self.signature.status == "signed":
            return "verified and signed"
        return "hash-consistent, " + ("signature not checked" if self.signature.status == "not checked"
                                      else "unsigned")


def verification(run_dir: str | Path, public_key=None) -> Verification:
    """:func:`verify_run`'s problems with the signature's state (checked once), for ``credit-lab verify``."""
    run_dir = Path(run_dir)
    problems, complete = _integrity_problems(run_dir)
    signature = check_signature(run_dir, public_key)
    if complete and signature.problem:
        problems.append(signature.problem)
    return Verification(problems, signature)


#: manifest entries that record when a run ran and how long each stage took
_TIMES = ("started_at", "finished_at")
#: files that record how the run executed (the kernels' own output), not what it computed
EXECUTION_RECORDS = ("logs/",)


def compare_runs(run_dir: str | Path, other: str | Path) -> tuple[list[str], list[str], int]:
    """Compare a run folder with another run (a rerun with its original): ``(differences, expected, files)``.

    ``differences`` lists every file whose bytes differ, or that only one of the two has, and every
    manifest entry that differs beyond the run's times and placement; ``expected`` names the
    entries that differ as they must (times, stage seconds, run id). A rerun of the same params on the
    same inputs by the same code has no differences. ``files`` counts the files the two have in common.
    """
    run_dir, other = Path(run_dir), Path(other)
    manifests = []
    for folder in (run_dir, other):
        try:
            manifests.append(io.read_json(folder / MANIFEST))
        except (OSError, ValueError) as err:
            raise ArtifactIntegrityError(f"{folder} has no readable {MANIFEST} ({err}); not a run folder") from None
    a, b = manifests
    files_a, files_b = a.get("outputs", {}), b.get("outputs", {})
    differing = [n for n in sorted(set(files_a) & set(files_b)) if files_a[n] != files_b[n]]
    differences = [f"differs: {n}" for n in differing if not n.startswith(EXECUTION_RECORDS)]
    differences += [f"only in {run_dir.name}: {n}" for n in sorted(set(files_a) - set(files_b))
                    if not n.startswith(EXECUTION_RECORDS)]
    differences += [f"only in {other.name}: {n}" for n in sorted(set(files_b) - set(files_a))
                    if not n.startswith(EXECUTION_RECORDS)]
    if a.get("reproduction_key") != b.get("reproduction_key"):
        params_a, params_b = a.get("params", {}), b.get("params", {})
        changed = sorted(k for k in set(params_a) | set(params_b)
                         if k not in PLACEMENT_KEYS and params_a.get(k) != params_b.get(k))
        inputs_a = {k: v for k, v in a.get("inputs", {}).items() if not k.startswith("params:")}
        inputs_b = {k: v for k, v in b.get("inputs", {}).items() if not k.startswith("params:")}
        files = sorted(k.split(":", 1)[0] for k in set(inputs_a) | set(inputs_b) if inputs_a.get(k) != inputs_b.get(k))
        what = ([f"params: {', '.join(changed)}"] if changed else []) + ([f"input files: {', '.join(files)}"]
                                                                         if files else [])
        differences.insert(0, "not a rerun: the params or the input files differ "
                              f"({'; '.join(what) or 'see the manifests'})")
    for key in ("git", "versions", "book", "status"):
        if a.get(key) != b.get(key):
            differences.append(f"manifest: {key} differs ({a.get(key)!r} against {b.get(key)!r})")
    expected = [f"manifest: {k}" for k in _TIMES if a.get(k) != b.get(k)]
    expected += [f"{n} (a record of the execution, like the times)" for n in differing
                 if n.startswith(EXECUTION_RECORDS)]
    seconds = [s for s in set(a.get("stages", {})) | set(b.get("stages", {}))
               if a.get("stages", {}).get(s, {}).get("seconds") != b.get("stages", {}).get(s, {}).get("seconds")]
    if seconds:
        expected.append(f"manifest: seconds of {len(seconds)} stage(s)")
    placement = [k for k in PLACEMENT_KEYS if a.get("params", {}).get(k) != b.get("params", {}).get(k)]
    if a.get("run_id") != b.get("run_id") or placement:
        expected.append("manifest: run id / placement (" + ", ".join(sorted({"run_id", *placement})) + ")")
    return differences, expected, len(set(files_a) & set(files_b))


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
