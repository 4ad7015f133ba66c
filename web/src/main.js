// The snowdays viewer: a season's snow cover duration (or the difference of two seasons, or its anomaly)
// read from the COGs with range requests, the ski runs on top, the values at a clicked point, the resort
// ranking.
import 'ol/ol.css';
import './style.css';
import OlMap from 'ol/Map.js';
import View from 'ol/View.js';
import { defaults as defaultControls } from 'ol/control/defaults.js';
import ScaleLine from 'ol/control/ScaleLine.js';
import LayerGroup from 'ol/layer/Group.js';
import WebGLTileLayer from 'ol/layer/WebGLTile.js';
import GeoTIFF from 'ol/source/GeoTIFF.js';
import { createEmpty, extend } from 'ol/extent.js';
import { fromLonLat, transformExtent } from 'ol/proj.js';
import { createForProjection } from 'ol/tilegrid.js';
import { ANOMALIES, ANOMALY_MOSAICS, anomalyKey, anomalyLegend, anomalyRange, anomalyShown, anomalyStyle }
  from './anomaly.js';
import { assetUrl, readConfig } from './config.js';
import { BORDERS, bordersLayer, reliefGroup, showRelief } from './basemap.js';
import { DIFF_STOPS, SCD_STOPS, differenceStyle, gradient, scdStyle } from './colours.js';
import { pistesLayer, skiAreaExtent } from './pistes.js';
import { rankingTable } from './ranking.js';
import { VIEW, registerProjections } from './projections.js';
import { asOfNote, bySeason, place, shown, thresholdNote } from './season.js';
import { MOSAICS, TILES, asset, collectionItems } from './stac.js';
import { showValues } from './point.js';
import { openImage } from './values.js';

const $ = (id) => document.getElementById(id);
const MAX_ZOOM = 20;

function status(message) {
  $('status').textContent = message;
}

async function loadConfig() {
  let file = null;
  try {
    const answer = await fetch('config.json');
    if (answer.ok) file = await answer.json();
  } catch {
    file = null; // a page served without config.json: defaults and query parameters
  }
  return readConfig(file, new URLSearchParams(window.location.search), window.location.href);
}

function makeMap() {
  return new OlMap({
    target: 'map',
    view: new View({ projection: VIEW, center: fromLonLat([10, 46], VIEW), zoom: 5, maxZoom: MAX_ZOOM }),
    controls: defaultControls().extend([new ScaleLine()]),
  });
}

function options(select, seasons, chosen) {
  select.replaceChildren(...seasons.map((s) => new Option(s.season, s.season)));
  if (chosen && seasons.some((s) => s.season === chosen)) select.value = chosen;
}

/** The URL of an item's asset of a kind, or null (with the reason in the status line). */
function urlOf(item, kind, config) {
  const found = asset(item, kind);
  const url = found && assetUrl(found.href, config);
  if (!url) status(`${item.id}: its ${kind} map is not reachable over HTTP (${found?.href ?? 'no asset'})`);
  return url;
}

/** A GeoTIFF source of the maps at ``urls``; one in another projection than the view's is reprojected
 * on a grid as deep as the view's zooms (OpenLayers' own stops near the source's resolution and then
 * draws nothing when zoomed in further). */
function cogSource(sources) {
  const source = new GeoTIFF({ sources, normalize: false, interpolate: false });
  source.setTileGridForProjection(VIEW, createForProjection(VIEW, MAX_ZOOM));
  return watch(source, sources.map((s) => s.url).join(' and '));
}

function watch(source, what) {
  source.on('change', () => {
    if (source.getState() === 'error') status(`cannot read ${what}: ${source.getError()?.message ?? 'error'}`);
  });
  return source;
}

function seasonLayer(item, config) {
  const url = urlOf(item, asset(item, 'scd_display') ? 'scd_display' : 'scd', config);
  if (!url) return null;
  return new WebGLTileLayer({ source: cogSource([{ url }]), style: scdStyle() });
}

function anomalyLayer(item, half, config) {
  const url = urlOf(item, anomalyKey(item), config);
  return url && new WebGLTileLayer({ source: cogSource([{ url }]), style: anomalyStyle(half) });
}

async function differenceLayer(before, after, config) {
  const urls = [urlOf(before, 'scd', config), urlOf(after, 'scd', config)];
  if (urls.includes(null)) return null;
  const nodata = await Promise.all(urls.map(async (url) => (await openImage(url)).getGDALNoData()));
  // nodata NaN: every value comes through, the style leaves out each map's own nodata
  const source = cogSource(urls.map((url) => ({ url, nodata: NaN })));
  return new WebGLTileLayer({ source, style: differenceStyle(...nodata) });
}

function drawLegend({ title, stops, ticks, note }) {
  $('legend-title').textContent = title;
  $('legend-bar').style.background = gradient(stops);
  const [lo, hi] = [stops[0][0], stops[stops.length - 1][0]];
  $('legend-ticks').replaceChildren(...ticks.map((v) => {
    const tick = document.createElement('span');
    tick.style.left = `${(100 * (v - lo)) / (hi - lo)}%`;
    tick.textContent = v > 0 && lo < 0 ? `+${v}` : String(v);
    return tick;
  }));
  $('legend-note').textContent = note;
}

function legend(state, displayed) {
  if (state.mode === 'anomaly') {
    drawLegend(anomalyLegend(anomalyShown(state.anomalies, state.season.season), state.season.season));
    return;
  }
  const difference = state.mode === 'difference';
  const masked = difference ? [] : displayed.filter((item) => asset(item, 'scd_display'));
  const source = state.season.mosaics.length ? 'regional mosaic' : 'Sentinel-2 tile';
  const asOf = asOfNote(displayed);
  drawLegend({
    title: difference ? `SCD ${state.season.season} minus ${state.compare.season} (days)`
      : `Snow cover duration ${state.season.season} (days)`,
    stops: difference ? DIFF_STOPS : SCD_STOPS,
    ticks: difference ? [-120, -60, 0, 60, 120] : [0, 60, 120, 180, 240, 300, 360],
    note: `From ${displayed.length} ${source}${displayed.length === 1 ? '' : 's'}.`
      + (asOf ? ` ${asOf}` : '')
      + (masked.length ? ` ${thresholdNote(masked)}` : '')
      + (difference ? ' Red: less snow than the earlier season; blue: more.' : ''),
  });
}

async function rankings(state, displayed) {
  const tables = [];
  for (const item of displayed) {
    const region = item.properties['snowdays:region'];
    if (!region) continue;
    const url = `${state.config.catalog_url}/resorts/${region}-${state.season.season}.json`;
    const table = await rankingTable(url, (name) => zoomTo(state, name))
      .catch((e) => `cannot read the resort ranking ${url}: ${e.message}`);
    const missing = `No resort ranking of ${region} for ${state.season.season}.`;
    tables.push(table instanceof HTMLElement ? table
      : Object.assign(document.createElement('p'), { textContent: table ?? missing }));
  }
  $('ranking').replaceChildren(...tables);
}

function zoomTo(state, name) {
  const extent = skiAreaExtent(state.pistes, name);
  if (extent) state.map.getView().fit(extent, { padding: [40, 40, 40, 40], maxZoom: 15 });
}

/** Once a layer's source has read its COGs' headers (or failed to). */
function ready(layer) {
  const source = layer.getSource();
  return new Promise((resolve) => {
    const settled = () => source.getState() !== 'loading';
    if (settled()) resolve();
    else source.on('change', () => settled() && resolve());
  });
}

/** Mark the map element ``data-drawn="mode:season[:compare]"`` once the map has drawn what is chosen
 * (a source still reading its headers has no tiles to wait for yet: wait for the sources first). */
async function markDrawn(state) {
  const key = [state.mode, state.season.season, ...(state.mode === 'difference' ? [state.compare.season] : [])];
  delete $('map').dataset.drawn;
  await Promise.all([...state.rasters.getLayers().getArray(), ...state.relief.getLayers().getArray()].map(ready));
  await state.borders.get('loaded');
  state.map.once('rendercomplete', () => { $('map').dataset.drawn = key.join(':'); });
  state.map.render();
}

/** Show the chosen season (or difference): its layers, legend and ranking. */
async function show(state, fit) {
  status('');
  const displayed = shown(state.season);
  let layers;
  if (state.mode === 'difference') {
    const earlier = new Map(shown(state.compare).map((item) => [place(item), item]));
    layers = await Promise.all(displayed.filter((item) => earlier.has(place(item)))
      .map((item) => differenceLayer(earlier.get(place(item)), item, state.config)));
    if (!layers.length) status(`${state.compare.season} has no map of the places of ${state.season.season}`);
  } else if (state.mode === 'anomaly') {
    const items = anomalyShown(state.anomalies, state.season.season);
    layers = items.map((item) => anomalyLayer(item, anomalyRange(items), state.config));
    if (!layers.length) status(`no anomaly of ${state.season.season} is published (it needs a past season)`);
  } else {
    layers = displayed.map((item) => seasonLayer(item, state.config));
  }
  state.rasters.getLayers().clear();
  state.rasters.getLayers().extend(layers.filter(Boolean));
  showRelief(state.relief, state.season.tiles, state.config);
  legend(state, displayed);
  if (fit) {
    const extent = createEmpty();
    for (const item of displayed) extend(extent, transformExtent(item.bbox, 'EPSG:4326', VIEW));
    state.map.getView().fit(extent, { padding: [30, 30, 30, 30] });
  }
  await rankings(state, displayed);
}

async function main() {
  registerProjections();
  const config = await loadConfig();
  const map = makeMap();
  const rasters = new LayerGroup();
  map.addLayer(rasters);
  const relief = reliefGroup();
  const borders = bordersLayer(BORDERS, status);
  map.getLayers().extend([relief, borders]);
  const pistes = pistesLayer(`${config.catalog_url}/pistes/pistes.geojson`,
    (message) => { $('pistes-status').textContent = `(${message})`; });
  map.addLayer(pistes);
  $('show-pistes').addEventListener('change', (e) => pistes.setVisible(e.target.checked));

  const [mosaics, tiles, anomalyMosaics, anomalyTiles] = await Promise.all(
    [MOSAICS, TILES, ANOMALY_MOSAICS, ANOMALIES].map((c) => collectionItems(config.stac_api, c)));
  const seasons = bySeason(mosaics, tiles);
  if (!seasons.length) {
    status(`no season is published in the STAC API at ${config.stac_api} yet`);
    return;
  }
  const find = (label) => seasons.find((s) => s.season === label);
  options($('season'), seasons, config.season);
  const older = seasons[seasons.findIndex((s) => s.season === $('season').value) + 1] ?? seasons[0];
  options($('compare'), seasons, config.compare ?? older.season);
  const anomalies = { mosaics: anomalyMosaics, tiles: anomalyTiles };
  const state = { config, map, rasters, relief, borders, pistes, anomalies, mode: config.mode };
  const update = (fit) => {
    state.season = find($('season').value);
    state.compare = find($('compare').value);
    state.mode = document.querySelector('input[name=mode]:checked').value;
    return show(state, fit).catch((e) => status(e.message));
  };
  document.querySelector(`input[name=mode][value=${config.mode}]`).checked = true;
  for (const control of [$('season'), $('compare'), ...document.querySelectorAll('input[name=mode]')]) {
    control.addEventListener('change', () => update(false).then(() => markDrawn(state)));
  }
  map.on('singleclick', (e) => showValues(state, e.coordinate, $('values')));
  await update(!config.center);
  if (config.center) map.getView().setCenter(fromLonLat(config.center, VIEW));
  if (config.zoom !== null) map.getView().setZoom(config.zoom);
  await markDrawn(state);
}

main().catch((e) => status(`the viewer failed: ${e.message}`));
