// Colour scales: snow cover duration (days, sequential) and the difference of two seasons (diverging),
// as style expressions of the WebGL tile layer and as legends.

/** ColorBrewer Blues over 0..360 days (as the STAC render hints and the quicklook). */
export const SCD_STOPS = [
  [0, '#f7fbff'], [45, '#deebf7'], [90, '#c6dbef'], [135, '#9ecae1'], [180, '#6baed6'],
  [225, '#4292c6'], [270, '#2171b5'], [315, '#08519c'], [360, '#08306b'],
];

/** ColorBrewer RdBu over -120..+120 days: red where the later season had less snow, blue more. */
export const DIFF_STOPS = [
  [-120, '#b2182b'], [-60, '#ef8a62'], [-20, '#fddbc7'], [0, '#f7f7f7'], [20, '#d1e5f0'],
  [60, '#67a9cf'], [120, '#2166ac'],
];

export function rgb(hex) {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** A style expression colouring ``value`` (an expression) along ``stops``. */
export function ramp(stops, value) {
  return ['interpolate', ['linear'], value, ...stops.flatMap(([v, c]) => [v, [...rgb(c), 1]])];
}

/** The style of a season's SCD (band 1; nodata is left out by the layer). */
export function scdStyle() {
  return { color: ramp(SCD_STOPS, ['band', 1]) };
}

/** The style of the difference band 2 - band 1; a pixel that is nodata in either is left out. */
export function differenceStyle(nodataA, nodataB) {
  const missing = [[1, nodataA], [2, nodataB]]
    .filter(([, nodata]) => nodata !== null && nodata !== undefined)
    .map(([band, nodata]) => ['==', ['band', band], nodata]);
  const colour = ramp(DIFF_STOPS, ['-', ['band', 2], ['band', 1]]);
  if (!missing.length) return { color: colour };
  const either = missing.length > 1 ? ['any', ...missing] : missing[0];
  return { color: ['case', either, [0, 0, 0, 0], colour] };
}

/** A CSS linear gradient of a scale. */
export function gradient(stops) {
  const [lo, hi] = [stops[0][0], stops[stops.length - 1][0]];
  const parts = stops.map(([v, c]) => `${c} ${((100 * (v - lo)) / (hi - lo)).toFixed(1)}%`);
  return `linear-gradient(to right, ${parts.join(', ')})`;
}
