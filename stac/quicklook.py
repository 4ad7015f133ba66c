"""A quicklook of the snow cover duration: a small PNG of the map on the scale every place draws it
with (:data:`snowdays.colours.DAYS`), its legend underneath: the colour bar, its ticks and its unit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from snowdays.colours import DAYS, rgba
from snowdays.duration import U16

LARGEST = 512
"""Longest side of the map part of the quicklook, in pixels."""
TICKS = (0, 90, 180, 270, 360)
"""Days labelled under the colour bar."""
MARGIN, BAR, TEXT = 6, 12, 11
"""Around the legend's parts; the colour bar's height; the labels' size (pixels)."""
_BACKGROUND = (255, 255, 255, 255)
_INK = (0, 0, 0, 255)


def bar_box(width: int, top: int) -> tuple[int, int, int, int]:
    """Where the colour bar lies (left, top, right, bottom; right and bottom excluded) in a quicklook
    ``width`` wide whose map is ``top`` rows high: from the scale's first day on the left to its last
    on the right."""
    return MARGIN, top + MARGIN, width - MARGIN, top + MARGIN + BAR


def write_quicklook(scd: U16, nobs: U16, path: Path) -> Path:
    """Write the quicklook of ``scd`` to ``path``; pixels never observed (``nobs`` 0) are transparent."""
    step = max(1, -(-max(scd.shape) // LARGEST))
    picture = rgba(scd[::step, ::step], DAYS)
    picture[nobs[::step, ::step] == 0, 3] = 0
    width = max(picture.shape[1], 160)
    canvas = Image.new("RGBA", (width, picture.shape[0] + 3 * MARGIN + BAR + 2 * (TEXT + 2)), _BACKGROUND)
    canvas.paste(Image.fromarray(picture, "RGBA"), (0, 0))
    left, top, right, bottom = bar_box(width, picture.shape[0])
    lo, hi = DAYS[0][0], DAYS[-1][0]
    ramp = rgba(np.tile(np.linspace(lo, hi, right - left), (BAR, 1)), DAYS)
    canvas.paste(Image.fromarray(ramp, "RGBA"), (left, top))
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default(size=TEXT)
    for day in TICKS:
        x = left + round((day - lo) / (hi - lo) * (right - left - 1))
        draw.line([(x, bottom), (x, bottom + 2)], fill=_INK)
        anchor = "la" if day == TICKS[0] else "ra" if day == TICKS[-1] else "ma"
        draw.text((x, bottom + 3), str(day), fill=_INK, font=font, anchor=anchor)
    draw.text((left, bottom + TEXT + 6), "snow cover duration (days)", fill=_INK, font=font)
    canvas.save(path, format="PNG", optimize=True)
    return path
