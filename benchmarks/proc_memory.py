"""Peak memory of one step of a benchmark, from Linux's /proc (shared by the bench_*.py scripts).

``reset_peak()`` sets the process's high-water mark (VmHWM) back to its current RSS, so the peak
read after a step is that step's; where /proc/self/clear_refs cannot be written it returns False and
the caller falls back to the process's lifetime peak.
"""

from __future__ import annotations


def rss_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) in MB; NaN where /proc is not readable."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def measure(fn, repeats: int, digits: int | None = None) -> tuple[dict, object]:
    """Run ``fn`` ``repeats`` times: median seconds, every time, peak and peak extra memory (MB), and the last result.

    Peak: VmHWM over the runs after :func:`reset_peak` (None where it cannot be reset); extra: over the RSS
    before. ``digits`` rounds the figures for the results file.
    """
    import statistics
    import time

    base = rss_mb("VmRSS")
    reset = reset_peak()
    times, result = [], None
    for _ in range(repeats):
        del result
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    peak = rss_mb("VmHWM")

    def r(x):
        return x if digits is None or x is None else round(x, digits)

    return {"seconds": r(statistics.median(times)), "times": [r(t) for t in times],
            "peak_mb": r(peak) if reset else None, "peak_extra_mb": r(peak - base) if reset else None}, result
