"""The raw codes of a snow product's raster, as every family writes them (docs/SEMANTICS.md).

LIS 1.11 (``s2snow/snow_synthesis.py``, ``convert_snow_masks_into_binary_*``) counts a pixel as snow
iff 0 < v <= 100 and as cloud (no observation) iff v is 205, 254 or 255; Copernicus HR-WSI adds 210,
water, which LIS therefore counts as a clear observation of no snow. snowdays reads water as
:data:`NO_SNOW` at the edge (:meth:`snowdays.products.Product.read`), so that every kernel sees only
valid (<= :data:`VALID_MAX`) and invalid codes.

The compiled kernels (``duration``, ``grid``, ``state``, ``detection``) read these names: numba takes a
module's integers as compile-time constants, so a rule written with them costs nothing at run time.
"""

from __future__ import annotations

NO_SNOW = 0
"""Clear, no snow."""
VALID_MAX = 100
"""Codes up to this are clear observations: 1 .. 100 snow (a fraction, or 100 for a binary snow mask)."""
SNOW = 100
"""Snow in a binary snow mask (MUSCATE L2B-SNOW, the snow rasters snowdays derives from L2A)."""
CLOUD = 205
WATER = 210
"""Copernicus FSC (HR-S&I, HR-WSI): water, never snow; a clear observation of no snow."""
NO_DATA_OLD = 254
"""No data in MUSCATE L2B-SNOW before LIS 1.6 and in ``LIS_SEB.TIF``."""
NO_DATA = 255
"""No data in every family since LIS 1.6."""
INVALID = NO_DATA
"""The code snowdays writes where no product covers a pixel or a packed class is invalid."""
