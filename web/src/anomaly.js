// The anomaly mode: a season's SCD anomaly (days against the mean of the past seasons as of the same
// day of theirs) on a diverging scale, blue more snow, red less, white 0, symmetric about it; its
// legend; its value at a clicked point. Items come from the STAC API's anomaly collections: a season
// shows its regional anomalies, else its tiles'.
import { containsCoordinate } from 'ol/extent.js';
import { toLonLat } from 'ol/proj.js';
import { ramp, rgb } from './colours.js';
import { assetUrl } from './config.js';
import { VIEW } from './projections.js';
import { place } from './season.js';
import { valueAt } from './values.js';

export const ANOMALIES = 'snow-cover-duration-anomalies';
export const ANOMALY_MOSAICS = 'snow-cover-duration-anomaly-mosaics';

/** ColorBrewer RdBu with a white middle, at fractions of the half range: red where the season had
 * fewer snow days than the past seasons' mean, blue more. */
export const ANOMALY_COLOURS = [
  [-1, '#b2182b'], [-2 / 3, '#ef8a62'], [-1 / 3, '#fddbc7'], [0, '#ffffff'], [1 / 3, '#d1e5f0'],
  [2 / 3, '#67a9cf'], [1, '#2166ac'],
];
/** The half range is the largest |SCD anomaly| rounded up to a multiple of this (as the items' render
 * hints give it: stac/anomaly_items.py). */
export const STEP = 10;
const FALLBACK = 60;

/** The scale's stops over [-half, +half] days. */
export function anomalyStops(half) {
  return ANOMALY_COLOURS.map(([f, c]) => [f * half, c]);
}

/** The half range of the items' scale: the widest of their render hints (a multiple of STEP). */
export function anomalyRange(items) {
  const halves = items.map((item) => item.properties.renders?.scd_anomaly?.rescale?.[0]?.[1])
    .filter((h) => Number.isFinite(h) && h > 0);
  return halves.length ? Math.ceil(Math.max(...halves) / STEP) * STEP : FALLBACK;
}

/** The colour of ``value`` days on the scale of half range ``half`` ([r, g, b]): linear between
 * stops, clamped at the ends, as the map draws it. */
export function anomalyColour(value, half) {
  const stops = anomalyStops(half);
  const v = Math.min(Math.max(value, stops[0][0]), stops[stops.length - 1][0]);
  const k = Math.max(1, stops.findIndex(([at]) => at >= v));
  const [[a, ca], [b, cb]] = [stops[k - 1], stops[k]];
  const t = b === a ? 0 : (v - a) / (b - a);
  return rgb(ca).map((x, i) => Math.round(x + t * (rgb(cb)[i] - x)));
}

/** The style of an SCD anomaly band (its NaN no data is left out by the layer). */
export function anomalyStyle(half) {
  return { color: ramp(anomalyStops(half), ['band', 1]) };
}

/** What the anomaly mode shows of a season: its regional anomalies, else its tiles'. */
export function anomalyShown(anomalies, season) {
  const of = (items) => items.filter((item) => item.properties['snowdays:season'] === season);
  const regions = of(anomalies.mosaics);
  return regions.length ? regions : of(anomalies.tiles);
}

/** An item's SCD anomaly asset key (regional: ``scd_anomaly``, tiles: ``SCD-ANOMALY``). */
export function anomalyKey(item) {
  return item.assets.scd_anomaly ? 'scd_anomaly' : 'SCD-ANOMALY';
}

function span(values) {
  const sorted = [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted.length === 1 ? String(sorted[0]) : `${sorted[0]} to ${sorted[sorted.length - 1]}`;
}

/** How many past seasons each item (each tile of a regional one) is compared with, and as of when. */
function compared(items) {
  const counts = [];
  const days = [];
  for (const item of items) {
    const byTile = item.properties['snowdays:tiles_past_seasons'];
    const past = byTile ? Object.values(byTile) : [item.properties['snowdays:past_seasons'] ?? []];
    counts.push(...past.map((seasons) => seasons.length));
    const asOf = item.properties['snowdays:tiles_as_of'];
    days.push(...(asOf ? Object.values(asOf) : [item.properties['snowdays:as_of']]));
  }
  return { counts, days: days.filter((d) => typeof d === 'string') };
}

/** The legend of the anomaly of ``items``: title, stops, ticks and what it compares. */
export function anomalyLegend(items, season) {
  const half = anomalyRange(items);
  const { counts, days } = compared(items);
  const seasons = counts.length ? `${span(counts)} season${Math.max(...counts) === 1 ? '' : 's'}` : 'the past seasons';
  return {
    title: `Snow cover duration anomaly ${season}`,
    stops: anomalyStops(half),
    ticks: [-half, -half / 2, 0, half / 2, half],
    note: `days vs mean of ${seasons}${days.length ? `, as of ${span(days)}` : ''}. `
      + 'Blue: more snow days than usual; red: fewer.',
  };
}

/** ``+12.5 days``. */
export function signedDays(value) {
  const rounded = Math.round(value * 10) / 10;
  return `${rounded > 0 ? '+' : ''}${rounded.toFixed(1)} days`;
}

async function read(item, key, coordinate, config) {
  const found = item.assets[key];
  const url = found && assetUrl(found.href, config);
  const value = url ? await valueAt(url, coordinate, VIEW) : null;
  return Number.isFinite(value) ? value : null;
}

/** The rows of the values at a point in the anomaly mode: the anomaly of the first item with data
 * there, the past seasons' mean, and what it compares. */
export async function anomalyRows(items, coordinate, config, season) {
  const lonLat = toLonLat(coordinate, VIEW);
  for (const item of items) {
    if (item.bbox && !containsCoordinate(item.bbox, lonLat)) continue;
    const anomaly = await read(item, anomalyKey(item), coordinate, config);
    if (anomaly === null) continue;
    const regional = Boolean(item.assets.scd_mean);
    const mean = await read(item, regional ? 'scd_mean' : 'SCD-MEAN', coordinate, config);
    const { counts, days } = compared([item]);
    const n = regional ? await read(item, 'seasons', coordinate, config) : counts[0];
    return [
      ['Map', `${place(item)} ${season}`],
      ['SCD anomaly', signedDays(anomaly), 'anomaly'],
      [`Mean of ${n} season${n === 1 ? '' : 's'}`,
        mean === null ? 'no data' : `${(Math.round(mean * 10) / 10).toFixed(1)} days`, 'anomaly-mean'],
      ['As of', span(days), 'anomaly-as-of'],
    ];
  }
  return [['', `no anomaly of ${season} here`]];
}
