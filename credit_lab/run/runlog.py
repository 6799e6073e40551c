"""The full log of a run, written into its folder (``logs/run.log``).

The terminal of a default run shows only the stage lines and the result (third-party messages
only with ``-v``); everything logged at INFO and above during the run, by credit_lab, papermill
and the libraries it drives, and every Python warning, goes to the run's own log, so an operator
reading a failed scheduled run finds the whole story in its folder. The kernels' own output is
in ``logs/kernels.log`` beside it (:mod:`credit_lab.run.kernel`).
"""

from __future__ import annotations

import logging
from pathlib import Path

__all__ = ["RunLog"]

logger = logging.getLogger(__name__)


class RunLog:
    """Attach a file handler for the run's log to the root logger; :meth:`stop` before the folder is hashed."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._handler: logging.Handler | None = None
        self._root_level = logging.NOTSET

    def start(self) -> RunLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.path, encoding="utf-8")
        handler.setLevel(logging.INFO)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        self._root_level = root.level
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)  # console handlers keep their own level (the CLI sets it)
        root.addHandler(handler)
        logging.captureWarnings(True)
        self._handler = handler
        return self

    def stage(self, stage: str, event: str, seconds: float | None) -> None:
        """One line per stage event, as the terminal shows it."""
        logger.info("stage %s %s%s", stage, event, f" in {seconds:.1f} s" if seconds is not None else "")

    def failed(self, message: str) -> None:
        """Record why the run failed in the log file only: the terminal gets the error once, from the CLI."""
        if self._handler is not None:
            self._handler.handle(logger.makeRecord(logger.name, logging.ERROR, __file__, 0, message, None, None))

    def stop(self) -> None:
        if self._handler is None:
            return
        root = logging.getLogger()
        root.removeHandler(self._handler)
        root.setLevel(self._root_level)
        logging.captureWarnings(False)
        self._handler.close()
        self._handler = None
