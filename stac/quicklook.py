"""A quicklook of the snow cover duration: a small PNG with its colour scale underneath."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from snowdays.duration import U16

BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c",
         "#08306b")
"""ColorBrewer's Blues, from no snow to snow all season."""
LARGEST = 512
"""Longest side of the map part of the quicklook, in pixels."""
_BAR, _MARGIN = 12, 6
_BACKGROUND = (255, 255, 255, 255)
_INK = (0, 0, 0, 255)

RGBA = npt.NDArray[np.uint8]


def colour(values: npt.NDArray[np.floating], top: float) -> RGBA:
    """Values from 0 to ``top`` through the Blues ramp, as opaque RGBA."""
    anchors = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in BLUES], np.float64)
    where = np.clip(values / max(top, 1.0), 0, 1) * (len(BLUES) - 1)
    steps = np.arange(len(BLUES))
    rgb = np.stack([np.interp(where, steps, anchors[:, c]) for c in range(3)], axis=-1)
    alpha = np.full((*values.shape, 1), 255.0)
    out: RGBA = np.rint(np.concatenate([rgb, alpha], axis=-1)).astype(np.uint8)
    return out


def write_quicklook(scd: U16, nobs: U16, n_days: int, path: Path) -> Path:
    """Write the quicklook of ``scd`` (days out of ``n_days``) to ``path``."""
    step = max(1, -(-max(scd.shape) // LARGEST))
    values = np.asarray(scd[::step, ::step], np.float64)
    rgba = colour(values, n_days)
    rgba[nobs[::step, ::step] == 0, 3] = 0
    font = ImageFont.load_default(size=11)
    width = max(rgba.shape[1], 160)
    legend = _BAR + 3 * _MARGIN + 11
    canvas = Image.new("RGBA", (width, rgba.shape[0] + legend), _BACKGROUND)
    canvas.paste(Image.fromarray(rgba, "RGBA"), (0, 0))
    ramp = colour(np.tile(np.linspace(0, n_days, width - 2 * _MARGIN), (_BAR, 1)), n_days)
    top = rgba.shape[0] + _MARGIN
    canvas.paste(Image.fromarray(ramp, "RGBA"), (_MARGIN, top))
    draw = ImageDraw.Draw(canvas)
    text_top = top + _BAR + _MARGIN // 2
    draw.text((_MARGIN, text_top), "0", fill=_INK, font=font)
    draw.text((width - _MARGIN, text_top), f"{n_days} snow days", fill=_INK, font=font, anchor="ra")
    canvas.save(path, format="PNG", optimize=True)
    return path
