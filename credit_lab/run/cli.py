"""The ``credit-lab`` command: a thin layer over :mod:`credit_lab.run.pipeline`.

Exit codes tell a scheduler what failed (:data:`EXIT_CODES`): 0 done, 1 ``verify`` found problems,
2 the params, 3 the input data (missing file, data contract), 4 a stage, 5 the output folder (not
writable, or a run of the same id in progress). ``run --json`` prints one JSON summary line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from credit_lab import __version__
from credit_lab.core.exceptions import (
    CreditLabError,
    InputFileError,
    InputTooLargeError,
    OutputFolderError,
    ParamsError,
    RunInProgressError,
    SchemaError,
    StageError,
)

__all__ = ["EXIT_CODES", "exit_code", "main"]

#: exit code -> what failed, as the README documents it
EXIT_CODES = {0: "succeeded", 1: "verify found problems", 2: "params", 3: "input data", 4: "stage",
              5: "output folder"}
_DATA_ERRORS = ("SchemaError", "InputFileError", "InputTooLargeError")


def exit_code(err: CreditLabError) -> int:
    """The exit code of an error: params 2, input data 3, a stage 4, the output folder 5."""
    if isinstance(err, ParamsError):
        return 2
    if isinstance(err, (SchemaError, InputFileError, InputTooLargeError)):
        return 3
    if isinstance(err, (OutputFolderError, RunInProgressError)):
        return 5
    if isinstance(err, StageError):
        return 3 if getattr(err, "cause", None) in _DATA_ERRORS else 4
    return 4


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="credit-lab",
        description="credit_lab: trade-credit evaluation, limits and expected loss as reproducible report runs.",
    )
    parser.add_argument("--version", action="version", version=f"credit-lab {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p_run = sub.add_parser("run", help="validate params, run every stage notebook, write reports and a manifest",
                           description="Validate PARAMS, execute the six stage notebooks with papermill into "
                                       "OUTPUT_DIR/RUN_ID (published only when every stage succeeded), export "
                                       "code-free HTML reports, index.html and manifest.json.")
    p_run.add_argument("params", type=Path, help="YAML params file, e.g. params/default.yaml")
    p_run.add_argument("--run-id", help="run folder name (overrides run_id in the params)")
    p_run.add_argument("--output-dir", help="where run folders go (overrides output_dir in the params)")
    p_run.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors (for schedulers)")
    p_run.add_argument("--json", action="store_true", help="print one JSON line: status, exit code, run folder, "
                                                           "seconds per stage, scoring method, error")

    p_val = sub.add_parser("validate", help="check a params file without running anything",
                           description="Validate PARAMS: unknown keys, wrong types and out-of-range values are "
                                       "reported with their dotted key.")
    p_val.add_argument("params", type=Path, help="YAML params file")

    p_ver = sub.add_parser("verify", help="recompute the hashes of a run folder against its manifest",
                           description="Recompute the SHA-256 of every file in RUN_DIR and report files changed, "
                                       "added or missing since the run wrote its manifest (exit 1 if any).")
    p_ver.add_argument("run_dir", type=Path, help="a run folder, e.g. outputs/default")
    return parser


def _print_stage(stage: str, event: str, seconds: float | None) -> None:
    if event == "start":
        print(f"  {stage:<22} running ...", flush=True)
    elif event == "skipped":
        print(f"  {stage:<22} skipped: the data does not allow it (reason in its report)", flush=True)
    else:
        print(f"  {stage:<22} {event} in {seconds:6.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``credit-lab`` console script; returns the exit code."""
    args = _build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "validate":
            from credit_lab.run.params import load_run_params as load_params  # deferred: keeps --help fast

            params = load_params(args.params)
            print(f"{args.params}: valid (run_id {params.run_id!r}, data source {params.data.source!r})")
            return 0
        if args.command == "verify":
            from credit_lab.run.store import verify_run  # deferred: keeps --help fast

            problems = verify_run(args.run_dir)
            if problems:
                print(f"{args.run_dir}: {len(problems)} problem(s)")
                for p in problems:
                    print(f"  {p}")
                return 1
            print(f"{args.run_dir}: every file matches the manifest")
            return 0
        return _run(args)
    except CreditLabError as err:
        print(f"error: {err}", file=sys.stderr)
        return exit_code(err)


def _run(args: argparse.Namespace) -> int:
    from credit_lab.run.pipeline import run  # deferred: papermill, sklearn, shap load in seconds

    talk = not (args.quiet or args.json)
    if talk:
        print(f"credit-lab run {args.params}", flush=True)
    try:
        result = run(args.params, run_id=args.run_id, output_dir=args.output_dir,
                     on_stage=_print_stage if talk else None)
    except CreditLabError as err:
        if args.json:
            print(json.dumps({"status": "failed", "exit_code": exit_code(err), "failed": EXIT_CODES[exit_code(err)],
                              "error": str(err)}), flush=True)
        raise
    total = sum(result.stage_seconds.values())
    if args.json:
        print(json.dumps({"status": "succeeded", "exit_code": 0, "run_dir": str(result.run_dir),
                          "index": str(result.run_dir / "index.html"), "seconds": round(total, 1),
                          "stages": {k: round(v, 1) for k, v in result.stage_seconds.items()},
                          "scoring_method": result.manifest.get("scoring_method")}), flush=True)
    elif talk:
        print(f"succeeded in {total:.1f} s: open {result.run_dir / 'index.html'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
