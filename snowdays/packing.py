"""The cube's packing: a product's raw codes classed (no snow, snow, invalid) and packed four pixels to
a byte, two bits each, by compiled kernels of one pass each."""

from __future__ import annotations

import numpy as np
from numba import njit

from snowdays.codes import INVALID, NO_SNOW, VALID_MAX
from snowdays.grid import Codes

PER_BYTE = 4
"""Pixels packed in one byte of the cube (two bits each: 0 no snow, 1 snow, 2 invalid)."""
INVALID_CLASS = 2
"""The class of an invalid pixel in the cube."""
ALL_INVALID = 0b10101010
"""A byte of four invalid pixels: the cube's fill value."""


def pack(raw: Codes) -> Codes:
    """Raw codes (valid iff <= ``VALID_MAX``, snow iff not ``NO_SNOW``) to packed classes, four pixels a
    byte, in one pass."""
    rows, cols = raw.shape
    out = np.empty((rows, -(-cols // PER_BYTE)), np.uint8)
    _pack(raw, out)
    return out


def unpack(packed: Codes, cols: int) -> Codes:
    """Packed classes to codes the fold reads: 0 no snow, 1 snow, ``INVALID``."""
    out = np.empty((packed.shape[0], cols), np.uint8)
    _unpack(packed, out)
    return out


@njit(cache=True, nogil=True)
def _class(v):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    return 0 if v == NO_SNOW else (1 if v <= VALID_MAX else INVALID_CLASS)


@njit(cache=True, nogil=True)
def _pack(raw, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    rows, cols = raw.shape
    full = cols // PER_BYTE
    for i in range(rows):
        for b in range(full):
            j = b * PER_BYTE
            out[i, b] = (_class(raw[i, j]) | (_class(raw[i, j + 1]) << 2) | (_class(raw[i, j + 2]) << 4)
                         | (_class(raw[i, j + 3]) << 6))
        if full < out.shape[1]:  # the last byte: its missing pixels are invalid
            byte = 0
            for k in range(PER_BYTE):
                j = full * PER_BYTE + k
                byte |= (_class(raw[i, j]) if j < cols else INVALID_CLASS) << (2 * k)
            out[i, full] = byte


@njit(cache=True, nogil=True)
def _unpack(packed, out):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    rows, cols = out.shape
    full = cols // PER_BYTE
    for i in range(rows):
        for b in range(full):
            byte = packed[i, b]
            for k in range(PER_BYTE):
                c = (byte >> (2 * k)) & 3
                out[i, b * PER_BYTE + k] = INVALID if c == INVALID_CLASS else c
        for j in range(full * PER_BYTE, cols):
            c = (packed[i, full] >> (2 * (j - full * PER_BYTE))) & 3
            out[i, j] = INVALID if c == INVALID_CLASS else c


@njit(cache=True, nogil=True)
def day_byte(packed, at, first, last, i, b):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Byte ``b`` of row ``i`` on one day: each pixel's class from the day's first product where it is
    valid (its products are ``at[first:last]``, in merge order)."""
    out = np.int64(packed[at[first], i, b])
    for s in range(first + 1, last):
        other = np.int64(packed[at[s], i, b])
        for q in range(PER_BYTE):
            mask = 3 << (2 * q)
            if out & mask == INVALID_CLASS << (2 * q):
                out = (out & ~mask) | (other & mask)
    return out
