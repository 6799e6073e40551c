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
                           description="Validate PARAMS, execute the stage notebooks with papermill into "
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

    p_ver = sub.add_parser("verify", help="check a run folder against its manifest, signature and run log",
                           description="Recompute the SHA-256 of every file in RUN_DIR and report files changed, "
                                       "added or missing since the run wrote its manifest, and check the manifest "
                                       "against runs.jsonl and, with --public-key, its signature. Prints one of: "
                                       "verified and signed; hash-consistent, unsigned (or signature not checked); "
                                       "tampered (exit 1).")
    p_ver.add_argument("run_dir", type=Path, help="a run folder, e.g. outputs/default")
    p_ver.add_argument("--public-key", type=Path,
                       help="the signing key's public half (credit-lab-signing.pub); the run must carry its valid "
                            "signature. Default: $CREDIT_LAB_PUBLIC_KEY if set")
    p_ver.add_argument("--against", type=Path, metavar="RUN",
                       help="also compare with another run folder (a rerun with its original): every file must be "
                            "byte-identical; only the manifest's times and run id may differ (exit 1 otherwise)")

    p_key = sub.add_parser("keygen", help="create an Ed25519 key pair for signing run manifests",
                           description="Write credit-lab-signing.key (private, mode 0600) and credit-lab-signing.pub "
                                       "into FOLDER. Keep the folder outside the output folder; set "
                                       "audit.signing_key (or $CREDIT_LAB_SIGNING_KEY) to the .key file, and give "
                                       "auditors the .pub file.")
    p_key.add_argument("folder", type=Path, help="where the key pair goes, e.g. ~/.credit-lab")

    p_runs = sub.add_parser("runs", help="list the runs of an output folder with their headline figures",
                            description="List every run logged in OUTPUT_DIR/runs.jsonl, newest first: id, start, "
                                        "book, status, duration and headline figures (n/a: the run has none).")
    p_runs.add_argument("output_dir", type=Path, nargs="?", default=Path("outputs"),
                        help="the output folder (default: outputs)")
    p_runs.add_argument("--json", action="store_true", help="print a JSON list, one object per run")

    p_diff = sub.add_parser("diff", help="what changed between two runs of the same book",
                            description="Compare RUN_B with RUN_A (two run folders of the same book): grade "
                                        "migration, customers added and gone, limits raised, cut and zeroed, "
                                        "watchlist in and out, PD model, reserve. Writes diff.html and CSVs.")
    p_diff.add_argument("run_a", type=Path, help="the earlier run folder, e.g. outputs/2026-10")
    p_diff.add_argument("run_b", type=Path, help="the later run folder, e.g. outputs/2026-11")
    p_diff.add_argument("--out", type=Path, help="where diff.html and the CSVs go (default: ./diff-A-vs-B/)")
    return parser


def _print_stage(stage: str, event: str, seconds: float | None) -> None:
    if event == "start":
        print(f"  {stage:<22} running ...", flush=True)
    elif event == "skipped":
        print(f"  {stage:<22} skipped (the reason is in its report)", flush=True)
    else:
        print(f"  {stage:<22} {event} in {seconds:6.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``credit-lab`` console script; returns the exit code."""
    args = _build_parser().parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # the run's own log (logs/run.log) takes INFO from everyone
        handler.setLevel(level)
        if not args.verbose:  # third-party messages and Python warnings: in the run's log, on the terminal with -v
            handler.addFilter(lambda record: record.name.startswith("credit_lab"))
    try:
        if args.command == "validate":
            from credit_lab.run.params import load_run_params as load_params  # deferred: keeps --help fast

            params = load_params(args.params)
            print(f"{args.params}: valid (run_id {params.run_id!r}, data source {params.data.source!r})")
            return 0
        if args.command == "verify":
            return _verify(args)
        if args.command == "keygen":
            from credit_lab.run.signing import keygen  # deferred: keeps --help fast

            private, public, fingerprint = keygen(args.folder.expanduser())
            print(f"key {fingerprint}\n  private: {private} (mode 0600: keep it outside the output folder; set "
                  f"audit.signing_key or $CREDIT_LAB_SIGNING_KEY to it)\n  public:  {public} (give it to auditors: "
                  "credit-lab verify RUN --public-key FILE)")
            return 0
        if args.command == "runs":
            return _runs(args)
        if args.command == "diff":
            return _diff(args)
        return _run(args)
    except CreditLabError as err:
        print(f"error: {err}", file=sys.stderr)
        return exit_code(err)


def _verify(args: argparse.Namespace) -> int:
    import os

    from credit_lab.run.signing import ENV_PUBLIC_KEY, load_public_key  # deferred: keeps --help fast
    from credit_lab.run.store import compare_runs, verification  # deferred: keeps --help fast

    key_file = args.public_key or (Path(os.environ[ENV_PUBLIC_KEY]) if os.environ.get(ENV_PUBLIC_KEY) else None)
    public_key = load_public_key(key_file) if key_file else None
    result = verification(args.run_dir, public_key)
    if result.problems:
        print(f"{args.run_dir}: tampered: {len(result.problems)} problem(s)")
        for p in result.problems:
            print(f"  {p}")
    elif result.status == "verified and signed":
        print(f"{args.run_dir}: verified and signed: every file matches the manifest, the manifest matches the run "
              f"log, and it carries a valid signature of {result.signature.key} ({key_file})")
    else:
        why = (f"signed by {result.signature.key}, but no public key was given to check it (--public-key)"
               if result.status.endswith("not checked") else "the run is not signed")
        print(f"{args.run_dir}: {result.status}: every file matches the manifest and the manifest matches the run "
              f"log; {why}. This catches accidental change, not a forger who can write the output folder.")
    failed = bool(result.problems)
    if args.against is not None:
        differences, expected, n = compare_runs(args.run_dir, args.against)
        if differences:
            print(f"against {args.against}: {len(differences)} difference(s)")
            for d in differences:
                print(f"  {d}")
            failed = True
        else:
            print(f"against {args.against}: all {n} files byte-identical; the manifests differ only as a rerun's "
                  f"must ({'; '.join(expected) or 'nothing'})")
    return 1 if failed else 0


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
                          "skipped": {k: v["reason"] for k, v in result.manifest["stages"].items()
                                      if v.get("status") == "skipped"},
                          "scoring_method": result.manifest.get("scoring_method")}), flush=True)
    elif talk:
        print(f"succeeded in {total:.1f} s: open {result.run_dir / 'index.html'}")
    return 0


def _runs(args: argparse.Namespace) -> int:
    from credit_lab.run import history  # deferred: matplotlib and pandas load in seconds

    out_root = args.output_dir
    if not out_root.is_dir():
        what = "is not a folder" if out_root.exists() else "does not exist"
        raise OutputFolderError(f"output folder {out_root} {what}; name the folder runs are written to "
                                "(output_dir in the params, default outputs)")
    rows = history.run_rows(out_root)
    if not rows:  # on stderr with --json, so stdout stays the (empty) list a script parses
        print(f"{out_root}: no runs logged (no {out_root / 'runs.jsonl'} yet, or it is empty)",
              file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        return 0
    if not rows:
        return 0
    heads = ("run", "started", "book", "status", "duration", "AUC", "mean PD", "total limits", "EL", "reserve",
             "watchlist")
    table = [heads] + [history.text_row(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(heads))]
    left = 4  # run, started, book and status read left-aligned; durations and figures right-aligned
    for line in table:
        print("  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))).rstrip())
    return 0


def _diff(args: argparse.Namespace) -> int:
    from credit_lab.run.diff import diff_runs, summary_lines, write_diff  # deferred: pandas loads in seconds

    diff = diff_runs(args.run_a, args.run_b)
    page = write_diff(diff, args.out or Path(f"diff-{args.run_a.resolve().name}-vs-{args.run_b.resolve().name}"))
    print(f"{diff.run_b} against {diff.run_a} ({diff.book}):")
    for line in summary_lines(diff):
        print(f"  {line}")
    print(f"open {page}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
