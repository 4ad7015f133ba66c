"""The histogram of a season's snow cover duration: the share of the observed pixels in each bin of
days, the bars coloured as the map (:data:`snowdays.colours.DAYS`), as a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from snowdays.colours import DAYS, rgba
from snowdays.duration import U16

BIN = 10
"""Days in a bin of the histogram."""


def counts(scd: U16, nobs: U16) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The first day of each bin, and the pixels with at least one clear observation in each."""
    edges = np.arange(0, int(scd.max(initial=0)) + BIN + 1, BIN)
    found, _ = np.histogram(scd[nobs > 0], bins=edges)
    return edges[:-1], found.astype(np.int64)


def write_histogram(scd: U16, nobs: U16, title: str, path: Path) -> Path:
    """Write the histogram of ``scd`` over the pixels observed (``nobs`` > 0) to ``path``."""
    from matplotlib.figure import Figure  # noqa: PLC0415 - only the plot needs it

    starts, found = counts(scd, nobs)
    share = 100 * found / max(int(found.sum()), 1)
    figure = Figure(figsize=(5, 3.2), dpi=100)
    axes = figure.subplots()
    colours = rgba(starts + BIN / 2, DAYS)[:, :3] / 255
    axes.bar(starts, share, width=BIN, align="edge", color=colours, edgecolor="#4d4d4d", linewidth=0.4)
    axes.set_xlabel("snow cover duration (days)")
    axes.set_ylabel("observed pixels (%)")
    axes.set_title(title)
    axes.set_xlim(0, max(float(starts[-1] + BIN), DAYS[-1][0]))
    axes.grid(True, axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    return path
