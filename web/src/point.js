// The values at a clicked point: SCD, SOD and SMOD (as dates) of the season shown, in the difference
// view the earlier season's SCD and the difference, in the anomaly view the anomaly (anomaly.js).
import { containsCoordinate } from 'ol/extent.js';
import { toLonLat } from 'ol/proj.js';
import { anomalyRows, anomalyShown } from './anomaly.js';
import { assetUrl } from './config.js';
import { VIEW } from './projections.js';
import { dayToDate, place, seasonStart, shown } from './season.js';
import { asset } from './stac.js';
import { valueAt } from './values.js';
import { chartLegend, seasonChart } from './chart.js';

/** Longest-run dates are defined only when the season has more than this many snow days. */
const DATED_ABOVE = 10;
let clicks = 0;

async function read(item, kind, coordinate, config) {
  const found = asset(item, kind);
  const url = found && assetUrl(found.href, config);
  return url ? valueAt(url, coordinate, VIEW) : null;
}

/** The SCD, SOD and SMOD of the first item that has data at the point, or null. */
async function valuesAt(items, coordinate, config) {
  const [lon, lat] = toLonLat(coordinate, VIEW);
  for (const item of items) {
    if (item.bbox && !containsCoordinate(item.bbox, [lon, lat])) continue;
    const scd = await read(item, 'scd', coordinate, config);
    if (scd === null) continue;
    const [sod, smod] = await Promise.all(['sod', 'smod'].map((k) => read(item, k, coordinate, config)));
    return { item, scd, sod, smod };
  }
  return null;
}

function date(found, day, config) {
  if (day === null) return 'no data';
  if (found.scd <= DATED_ABOVE) return `none (${DATED_ABOVE} snow days or fewer)`;
  return dayToDate(seasonStart(found.item, config.season_start), day);
}

function list(rows) {
  const dl = document.createElement('dl');
  for (const [term, value, key] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    if (key) dd.dataset.key = key;
    dl.append(dt, dd);
  }
  return dl;
}

function where(coordinate) {
  const [lon, lat] = toLonLat(coordinate, VIEW);
  return `${Math.abs(lat).toFixed(5)}° ${lat < 0 ? 'S' : 'N'}, ${Math.abs(lon).toFixed(5)}° ${lon < 0 ? 'W' : 'E'}`;
}

async function rowsAt(state, coordinate) {
  const { config } = state;
  if (state.mode === 'anomaly') {
    const items = anomalyShown(state.anomalies, state.season.season);
    return [['Point', where(coordinate)], ...await anomalyRows(items, coordinate, config, state.season.season)];
  }
  const found = await valuesAt(shown(state.season), coordinate, config);
  if (!found) return [['Point', where(coordinate)], ['', `no map of ${state.season.season} here`]];
  const rows = [
    ['Point', where(coordinate)], ['Map', `${place(found.item)} ${state.season.season}`],
    ['SCD', `${found.scd} days`, 'scd'],
    ['SOD', date(found, found.sod, config), 'sod'],
    ['SMOD', date(found, found.smod, config), 'smod'],
  ];
  if (state.mode === 'difference') {
    const earlier = shown(state.compare).filter((item) => place(item) === place(found.item));
    const before = await valuesAt(earlier, coordinate, config);
    rows.push([`SCD ${state.compare.season}`, before ? `${before.scd} days` : 'no data', 'scd-compare']);
    if (before) {
      const change = found.scd - before.scd;
      rows.push(['Difference', `${change > 0 ? '+' : ''}${change} days`, 'difference']);
    }
  }
  return rows;
}

/** The point's season from the file server's /point (the tile stores), or a line saying why not. */
async function seasonAt(state, coordinate) {
  const { config } = state;
  if (!config.point_url) return null;
  const [lon, lat] = toLonLat(coordinate, VIEW);
  const query = new URLSearchParams({ lon: String(lon), lat: String(lat), season: state.season.season });
  const section = document.createElement('div');
  section.id = 'season-at-point';
  try {
    const answer = await fetch(`${config.point_url}?${query}`);
    const body = await answer.json();
    if (!answer.ok) {
      section.textContent = `No daily series here: ${body.error ?? answer.status}`;
      return section;
    }
    section.append(seasonChart(body), chartLegend());
  } catch (e) {
    section.textContent = `No daily series here: ${e.message}`;
  }
  return section;
}

/** Show in ``element`` the values at ``coordinate`` and the point's season beside them (a later click
 * supersedes an earlier one). */
export async function showValues(state, coordinate, element) {
  const click = ++clicks;
  element.textContent = 'reading…';
  try {
    const [rows, season] = await Promise.all([rowsAt(state, coordinate), seasonAt(state, coordinate)]);
    if (click === clicks) element.replaceChildren(...[list(rows), season].filter(Boolean));
  } catch (e) {
    if (click === clicks) element.textContent = `cannot read the maps here: ${e.message}`;
  }
}
