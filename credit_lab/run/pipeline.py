"""Run the stage notebooks with papermill into a run folder, with a manifest.

A run is built in a staging folder ``<output_dir>/.staging/<run_id>`` and is
published as ``<output_dir>/<run_id>`` only when every stage succeeded, so a
failed run never replaces the last good one; the failed folder is kept under
``<output_dir>/_failed/`` with its manifest marked ``failed`` and the failing
notebook. Notebooks run on the Python that runs this code (a kernel spec is
written for it), never on whatever kernel the machine happens to have.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from credit_lab.core.config import RunParams
from credit_lab.core.exceptions import (
    CreditLabError,
    InputFileError,
    OutputFolderError,
    RunInProgressError,
    StageError,
)
from credit_lab.data import io
from credit_lab.run.compute import ENV_SCHEDULER, dask_client
from credit_lab.run.history import write_history, write_run_summary
from credit_lab.run.index_page import index_page
from credit_lab.run.params import book_label
from credit_lab.run.params import load_run_params as load_params
from credit_lab.run.runlog import RunLog
from credit_lab.run.signing import load_private_key, sign_manifest, signing_key_path
from credit_lab.run.stages import STAGES, StageContext, params_snapshot
from credit_lab.run.store import (
    MANIFEST,
    PLACEMENT_KEYS,
    RUNS_LOG,
    hash_tree,
    load_run_model,
    previous_run,
    reproduction_key,
    verify_run,
)

__all__ = ["RunResult", "run", "verify_run", "load_run_model", "notebooks_dir", "KERNEL_NAME"]

logger = logging.getLogger(__name__)

KERNEL_NAME = "credit-lab-run"
_PACKAGES = ("credit-lab", "pandas", "numpy", "scikit-learn", "shap", "scipy", "papermill", "nbconvert",
             "pyarrow", "pydantic", "matplotlib", "seaborn")


def notebooks_dir() -> Path:
    """The stage notebooks shipped with the project (``notebooks/`` beside the package)."""
    here = Path(__file__).resolve().parents[2] / "notebooks"
    if not here.is_dir():
        raise CreditLabError(f"stage notebooks not found at {here}; install the project with `pip install -e .`")
    return here


@dataclass
class RunResult:
    """Outcome of :func:`run`."""

    run_dir: Path
    status: str
    stage_seconds: dict[str, float] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)


@contextlib.contextmanager
def _own_kernel() -> Iterator[None]:
    """Make ``KERNEL_NAME`` resolve to this interpreter for the duration of the run.

    JUPYTER_PATH entries take precedence over user and system kernel folders,
    so a stale ``credit-lab-run`` or ``python3`` kernel elsewhere cannot win.
    """
    with tempfile.TemporaryDirectory(prefix="credit-lab-kernel-") as tmp:
        spec_dir = Path(tmp) / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True)
        spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "credit_lab (run)", "language": "python", "metadata": {"debugger": False}}
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        old = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = tmp + (os.pathsep + old if old else "")
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old


@contextlib.contextmanager
def _run_cluster(compute) -> Iterator[None]:
    """With ``compute.engine: dask`` and no scheduler named: a LocalCluster for the whole run, its address handed to
    the stage kernels through ``$CREDIT_LAB_DASK_SCHEDULER`` (one cluster, not one per stage)."""
    if compute.engine != "dask" or compute.scheduler_address or os.environ.get(ENV_SCHEDULER):
        yield
        return
    with dask_client(compute) as client:
        os.environ[ENV_SCHEDULER] = client.scheduler.address
        try:
            yield
        finally:
            os.environ.pop(ENV_SCHEDULER, None)


@contextlib.contextmanager
def _run_lock(output_dir: Path, run_id: str) -> Iterator[None]:
    """Hold the run id's lock; the kernel releases it when the process dies, even by kill -9."""
    lock_dir = output_dir / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{run_id}.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInProgressError(
                f"another run with run_id {run_id!r} is in progress in {output_dir}; wait for it to finish "
                "or choose another run_id (--run-id)"
            ) from None
        yield


def _retire_all_interrupted(out_root: Path) -> None:
    """Mark every staging folder whose run is no longer alive (its lock is free) as interrupted."""
    staging_root = out_root / ".staging"
    if not staging_root.is_dir():
        return
    for folder in sorted(staging_root.iterdir()):
        try:
            with _run_lock(out_root, folder.name):
                _retire_interrupted(out_root, folder.name)
        except RunInProgressError:
            continue  # a live run owns it


def _git_state() -> dict:
    repo = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _input_hashes(params: RunParams, params_path: Path) -> dict[str, str]:
    out = {f"params:{params_path}": io.sha256_file(params_path)}
    for name, src in params.data.files.items():
        p = Path(src.path)
        if p.is_file():
            out[f"{name}:{src.path}"] = io.sha256_file(p)
    table = params.data.table
    if table is not None:
        for name, path in (("customer_table", table.path), ("feature_dictionary", table.feature_dictionary)):
            if path and Path(path).is_file():
                out[f"{name}:{path}"] = io.sha256_file(Path(path))
    return out


def _export_html(executed: Path, target: Path, title: str) -> None:
    from credit_lab.report.export import report_html  # deferred: nbconvert loads only when a report is written

    io.atomic_write_bytes(target, report_html(executed, title).encode("utf-8"))


def _execute(stage: str, src: Path, dest: Path, run_dir: Path, params_json: Path, timeout: int) -> None:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from credit_lab.run.kernel import kernel_manager_logging_to  # deferred: jupyter_client loads only when needed

    try:
        pm.execute_notebook(
            str(src), str(dest),
            # paths relative to the run folder (the kernel's working directory): the executed notebook
            # names no staging path, still runs when the folder is moved, and a rerun writes the same one
            parameters={"run_dir": ".", "params_file": params_json.relative_to(run_dir).as_posix(),
                        "build_missing_upstream": False},
            kernel_name=KERNEL_NAME, cwd=str(run_dir), progress_bar=False, execution_timeout=timeout,
            kernel_manager_class=kernel_manager_logging_to(run_dir / "logs" / "kernels.log"),
        )
    except PapermillExecutionError as err:
        raise StageError(
            f"stage {stage} failed in cell {err.cell_index} (execution count {err.exec_count}): "
            f"{err.ename}: {err.evalue}", cause=err.ename,
        ) from None
    _without_times(dest)


#: papermill's and Jupyter's per-notebook and per-cell records of when and where a notebook ran
_RUN_RECORDS = ("start_time", "end_time", "duration", "output_path")


def _without_times(executed: Path) -> None:
    """Drop the execution times and the random id papermill gives its parameters cell from an executed notebook.

    The run's times are in ``manifest.json`` (with each stage's seconds); every other file of a run
    depends only on its params and inputs, so a rerun can be checked byte for byte (``verify --against``).
    """
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    for key in _RUN_RECORDS:
        nb.metadata.get("papermill", {}).pop(key, None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for key in _RUN_RECORDS:
            cell.metadata.get("papermill", {}).pop(key, None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"
    io.atomic_write_bytes(executed, (nbformat.writes(nb) + "\n").encode("utf-8"))


def _skipped_page(target: Path, title: str, reason: str) -> None:
    import html

    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"</head><body><h1>{html.escape(title)}: skipped</h1><p>This stage did not run: {html.escape(reason)}."
            f"</p></body></html>\n")
    io.atomic_write_bytes(target, page.encode("utf-8"))


def _publish(staging: Path, final: Path) -> None:
    """Swap the finished staging folder into place; the old run goes only after the new one is there."""
    trash = None
    if final.exists():
        trash = final.with_name(f".{final.name}.replaced-{os.getpid()}")
        os.replace(final, trash)
    os.replace(staging, final)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def _point_latest(output_dir: Path, run_id: str) -> None:
    link = output_dir / "latest"
    tmp = output_dir / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_id)
    os.replace(tmp, link)


def _absolute_input_paths(params: RunParams) -> RunParams:
    """Resolve input paths against the working directory of the command, not the kernels' folder; a
    file that is not there stops the run here, before any stage, naming its params key."""
    named = {f"data.files.{name}.path": src.path for name, src in params.data.files.items()}
    if params.data.table is not None:
        named["data.table.path"] = params.data.table.path
        if params.data.table.feature_dictionary:
            named["data.table.feature_dictionary"] = params.data.table.feature_dictionary
    missing = [f"{key}: {path!r} (looked for {Path(path).resolve()})" for key, path in named.items()
               if not Path(path).is_file()]
    if missing:
        raise InputFileError(f"{len(missing)} input file(s) not found from the working directory {Path.cwd()}: "
                             + "; ".join(missing) + ". Fix the path in the params (relative paths start from "
                             "where you run credit-lab) or run from the folder they are relative to")
    files = {name: src.model_copy(update={"path": str(Path(src.path).resolve())})
             for name, src in params.data.files.items()}
    update: dict = {"files": files}
    table = params.data.table
    if table is not None:
        update["table"] = table.model_copy(update={
            "path": str(Path(table.path).resolve()),
            "feature_dictionary": str(Path(table.feature_dictionary).resolve()) if table.feature_dictionary else None})
    return params.model_copy(update={"data": params.data.model_copy(update=update)})


def _check_writable(out_root: Path) -> None:
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        # A real write, not os.access: root passes access checks on read-only mounts.
        with tempfile.TemporaryFile(dir=out_root):
            pass
    except OSError as err:
        raise OutputFolderError(
            f"output folder {out_root} cannot be written ({err.strerror or err}); "
            "choose another with --output-dir or output_dir in the params"
        ) from None


def _append_run_log(out_root: Path, entry: dict) -> None:
    """Append one line to the run log; each line carries the SHA-256 of the line before it."""
    log = out_root / RUNS_LOG
    with open(log, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        lines = fh.read().splitlines()
        entry = {**entry, "prev_entry_sha256": hashlib.sha256(lines[-1]).hexdigest() if lines else None}
        fh.seek(0, os.SEEK_END)
        fh.write((json.dumps(entry, sort_keys=True) + "\n").encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


def _close_run(out_root: Path, folder: Path, manifest: dict, signer=None) -> None:
    """Seal a finished (or failed) run: hash its files into the manifest, sign it when a key is set, log its hash."""
    manifest["outputs"] = hash_tree(folder)
    io.write_json(folder / MANIFEST, manifest)
    _append_run_log(out_root, {
        "run_id": manifest["run_id"], "status": manifest["status"], "folder": folder.relative_to(out_root).as_posix(),
        "started_at": manifest["started_at"], "finished_at": manifest.get("finished_at"),
        "manifest_sha256": io.sha256_file(folder / MANIFEST),
        "signed_by": sign_manifest(folder, signer) if signer is not None else None,
    })


def _retire_interrupted(out_root: Path, run_id: str) -> None:
    """A staging folder we find while holding its lock belongs to a run that died (kill -9, power loss)."""
    staging = out_root / ".staging" / run_id
    if not staging.exists():
        return
    manifest_path = staging / MANIFEST
    try:
        manifest = io.read_json(manifest_path)
    except (OSError, ValueError):
        manifest = {"run_id": run_id, "started_at": None, "stages": {}}
    stamp = (manifest.get("started_at") or dt.datetime.now(dt.timezone.utc).isoformat())
    stamp = re.sub(r"[^0-9T]", "", stamp)[:15]
    manifest.update(status="interrupted", finished_at=None,
                    error="the run stopped without finishing (killed or crashed); found by a later run")
    target = out_root / "_failed" / f"{run_id}-{stamp}-interrupted"
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    _close_run(out_root, target, manifest)
    write_history(out_root)
    logger.warning("run %s had been interrupted; its partial folder is kept in %s", run_id, target)


def run(params_path: str | Path, run_id: str | None = None, output_dir: str | Path | None = None,
        on_stage: Callable[[str, str, float | None], None] | None = None) -> RunResult:
    """Validate params, execute every stage notebook, export HTML, write the manifest, publish.

    Parameters
    ----------
    params_path : YAML params file.
    run_id, output_dir : override the params' values.
    on_stage : callback ``(stage, event, seconds)`` with event ``"start"``, ``"done"`` or ``"failed"``.

    Raises
    ------
    ParamsError : the params are invalid (before any stage starts).
    StageError : a stage failed (the failed run folder is kept under ``_failed/``).
    OutputFolderError : the output folder cannot be written, or the disk is full.
    RunInProgressError : another run with the same run id holds its lock.
    """
    params_path = Path(params_path)
    overrides = {k: v for k, v in {"run_id": run_id, "output_dir": str(output_dir) if output_dir else None}.items()
                 if v is not None}
    params = _absolute_input_paths(load_params(params_path, overrides))
    out_root = Path(params.output_dir).resolve()
    key_path = signing_key_path(params.audit.signing_key)
    signer = load_private_key(key_path, out_root) if key_path else None  # a bad key stops the run before it starts
    _check_writable(out_root)
    try:
        _retire_all_interrupted(out_root)
        with _run_lock(out_root, params.run_id):
            _retire_interrupted(out_root, params.run_id)
            return _run_locked(params, params_path, out_root, on_stage, signer)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
            raise OutputFolderError(
                f"cannot write the run to {out_root}: {err.strerror} ({err.filename or 'output'}). Free space "
                "or choose another output folder; earlier runs were not changed."
            ) from None
        raise


def _run_locked(params: RunParams, params_path: Path, out_root: Path,
                on_stage: Callable[[str, str, float | None], None] | None, signer=None) -> RunResult:
    final = out_root / params.run_id
    started = dt.datetime.now(dt.timezone.utc)
    book, inputs = book_label(params), _input_hashes(params, params_path)
    key = reproduction_key(params.model_dump(mode="json"), inputs)
    previous = previous_run(out_root, book, key, exclude=final)
    if params.reserve.previous_run is None and previous is not None:
        # the reserve waterfall explains the change since the last run of this book (a rerun of the same
        # params on the same inputs is skipped: it explains nothing, and the rerun must match its original)
        params = params.model_copy(update={"reserve": params.reserve.model_copy(
            update={"previous_run": str(previous.resolve())})})
    staging = out_root / ".staging" / params.run_id
    for sub in ("notebooks", "reports", "data", "models"):
        (staging / sub).mkdir(parents=True, exist_ok=True)
    # the run id and output folder say where the run went, not what it computed: they are in the manifest,
    # and the folder's files are the same for a rerun under another id (verify --against)
    io.write_json(staging / "params.json", params.model_dump(mode="json", exclude=set(PLACEMENT_KEYS)))
    io.atomic_write_bytes(staging / "params.yaml", params_snapshot(params, exclude=PLACEMENT_KEYS).encode("utf-8"))
    # The notebooks load only the keys the params file set (and the paths the run resolved), so the
    # params they validate know which keys were defaults (model_fields_set): the reports' list of
    # assumptions says which settings the user chose. The values are the same as params.json's.
    params_json = staging / "params_given.json"
    io.write_json(params_json, params.model_dump(mode="json", exclude_unset=True, exclude=set(PLACEMENT_KEYS)))
    manifest = {
        "run_id": params.run_id, "status": "running", "started_at": started.isoformat(),
        "params_file": str(params_path), "params": params.model_dump(mode="json"),
        "book": book, "reproduction_key": key, "inputs": inputs, "versions": _versions(), "git": _git_state(),
        "stages": {},
    }
    io.write_json(staging / MANIFEST, manifest)
    src_dir = notebooks_dir()
    timings: dict[str, float] = {}
    run_log = RunLog(staging / "logs" / "run.log").start()

    def notify(stage: str, event: str, seconds: float | None) -> None:
        run_log.stage(stage, event, seconds)
        if on_stage:
            on_stage(stage, event, seconds)

    try:
        with _own_kernel(), _run_cluster(params.compute):
            for stage, (title, _, _) in STAGES.items():
                t0 = time.perf_counter()
                executed = staging / "notebooks" / f"{stage}.ipynb"
                skipped = StageContext(staging, params).skipped().get(stage)
                if skipped:
                    # The data does not allow this stage, or the params did not ask for it (decided by
                    # stages 01-02): say so, don't fail.
                    _skipped_page(staging / "reports" / f"{stage}.html", title, skipped)
                    manifest["stages"][stage] = {"status": "skipped", "reason": skipped}
                    notify(stage, "skipped", None)
                    continue
                notify(stage, "start", None)
                try:
                    _execute(stage, src_dir / f"{stage}.ipynb", executed, staging, params_json,
                             params.report.cell_timeout_seconds)
                    _export_html(executed, staging / "reports" / f"{stage}.html", title)
                except BaseException as err:
                    seconds = time.perf_counter() - t0
                    manifest["stages"][stage] = {"status": "failed", "seconds": round(seconds, 3),
                                                 "error": str(err) or type(err).__name__}
                    notify(stage, "failed", seconds)
                    raise
                seconds = time.perf_counter() - t0
                timings[stage] = seconds
                manifest["stages"][stage] = {"status": "succeeded", "seconds": round(seconds, 3)}
                if stage == "03_model":  # which method scored the book, and why, where an auditor looks first
                    meta = io.read_json(staging / "models" / "pd_model.json")
                    manifest["scoring_method"] = {"method": meta["method"], "champion": meta["champion"],
                                                  "reason": meta["method_reason"]}
                notify(stage, "done", seconds)
        write_run_summary(staging)  # headline figures for the run history, hashed in the manifest
        io.atomic_write_bytes(staging / "index.html", index_page(staging, params).encode("utf-8"))
    except BaseException as err:
        run_log.failed(f"run {params.run_id} failed: {err}")
        run_log.stop()
        manifest.update(status="failed", finished_at=dt.datetime.now(dt.timezone.utc).isoformat(),
                        error=str(err) or type(err).__name__)
        failed = out_root / "_failed" / f"{params.run_id}-{started.strftime('%Y%m%dT%H%M%SZ')}"
        failed.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, failed)
        _close_run(out_root, failed, manifest, signer)
        write_history(out_root)
        if isinstance(err, CreditLabError):
            again = type(err)(f"{err}\nThe failed run, with its executed notebooks, is kept in {failed}; "
                              f"{final} was not changed.")
            again.__dict__.update(err.__dict__)  # e.g. a StageError's cause
            raise again from None
        raise
    run_log.stop()
    manifest.update(status="succeeded", finished_at=dt.datetime.now(dt.timezone.utc).isoformat())
    manifest["outputs"] = hash_tree(staging)
    io.write_json(staging / MANIFEST, manifest)
    signed_by = sign_manifest(staging, signer) if signer is not None else None
    _publish(staging, final)
    _append_run_log(out_root, {
        "run_id": params.run_id, "status": "succeeded", "folder": params.run_id,
        "started_at": manifest["started_at"], "finished_at": manifest["finished_at"],
        "manifest_sha256": io.sha256_file(final / MANIFEST), "signed_by": signed_by,
    })
    _point_latest(out_root, params.run_id)
    write_history(out_root)
    return RunResult(final, "succeeded", timings, manifest)
