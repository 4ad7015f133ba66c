import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIFF_STOPS, SCD_STOPS, differenceStyle, gradient, ramp } from '../src/colours.js';
import { assetUrl, readConfig } from '../src/config.js';
import { readOverlay } from '../src/pistes.js';
import { asOfNote, bySeason, dayToDate, place, seasonStart, shown, thresholdNote } from '../src/season.js';

const item = (id, props) => ({ id, properties: props, assets: {} });

test('query parameters override config.json, trailing slashes dropped', () => {
  const params = new URLSearchParams('stac=http://api:1/&season=2018-2019&mode=difference&center=6.5,45.2&zoom=12');
  const page = 'http://127.0.0.1:8082/viewer/?zoom=3';
  const config = readConfig({ stac_api: 'http://x', catalog_url: '/', catalog_root: '/data/catalog/' }, params,
    page);
  assert.equal(config.stac_api, 'http://api:1');
  assert.equal(config.catalog_url, 'http://127.0.0.1:8082');
  assert.equal(readConfig({ catalog_url: 'http://127.0.0.1:9000/snow/catalog/' }, params, page).catalog_url,
    'http://127.0.0.1:9000/snow/catalog');
  assert.equal(readConfig(null, new URLSearchParams(), page).catalog_url, 'http://127.0.0.1:8082');
  assert.equal(config.catalog_root, '/data/catalog');
  assert.equal(config.season, '2018-2019');
  assert.equal(config.mode, 'difference');
  assert.deepEqual(config.center, [6.5, 45.2]);
  assert.equal(config.zoom, 12);
  assert.equal(readConfig(null, new URLSearchParams('mode=bogus&center=1'), page).mode, 'season');
  assert.equal(readConfig(null, new URLSearchParams('center=1'), page).center, null);
});

test('asset hrefs under the catalog root are read under the catalog URL', () => {
  const config = { catalog_root: '/data/catalog', catalog_url: 'http://127.0.0.1:8082' };
  assert.equal(assetUrl('/data/catalog/mosaics/alps/2017-2018/scd.tif', config),
    'http://127.0.0.1:8082/mosaics/alps/2017-2018/scd.tif');
  assert.equal(assetUrl('https://bucket.example/scd.tif', config), 'https://bucket.example/scd.tif');
  assert.equal(assetUrl('/data/catalogue/scd.tif', config), null);
  const s3 = { catalog_root: 's3://snow/catalog', catalog_url: 'http://127.0.0.1:9000/snow/catalog' };
  assert.equal(assetUrl('s3://snow/catalog/x/scd.tif', s3), 'http://127.0.0.1:9000/snow/catalog/x/scd.tif');
});

test('seasons newest first; a season shows its mosaics, else its tiles', () => {
  const mosaic = item('m', { 'snowdays:season': '2017-2018', 'snowdays:region': 'alps' });
  const tileA = item('a', { 'snowdays:season': '2017-2018', 'grid:code': 'MGRS-31TCH' });
  const tileB = item('b', { 'snowdays:season': '2018-2019', 'grid:code': 'MGRS-31TCH' });
  const seasons = bySeason([mosaic], [tileA, tileB]);
  assert.deepEqual(seasons.map((s) => s.season), ['2018-2019', '2017-2018']);
  assert.deepEqual(shown(seasons[1]), [mosaic]);
  assert.deepEqual(shown(seasons[0]), [tileB]);
  assert.equal(place(mosaic), 'alps');
  assert.equal(place(tileA), place(tileB));
});

test('day indices are dates from the season start (0 is the first day)', () => {
  const tile = item('t', { 'snowdays:season': '2017-2018', start_datetime: '2017-09-01T00:00:00Z' });
  const mosaic = item('m', { 'snowdays:season': '2019-2020' });
  assert.equal(seasonStart(tile, '04-01'), '2017-09-01');
  assert.equal(seasonStart(mosaic, '09-01'), '2019-09-01');
  assert.equal(dayToDate('2017-09-01', 0), '2017-09-01');
  assert.equal(dayToDate('2017-09-01', 121), '2017-12-31');
  assert.equal(dayToDate('2019-09-01', 181), '2020-02-29');
});

test('scales as style expressions and as legend gradients', () => {
  assert.deepEqual(ramp([[0, '#f7fbff'], [360, '#08306b']], ['band', 1]),
    ['interpolate', ['linear'], ['band', 1], 0, [247, 251, 255, 1], 360, [8, 48, 107, 1]]);
  assert.equal(gradient(DIFF_STOPS).split('%').length - 1, DIFF_STOPS.length);
  assert.match(gradient(SCD_STOPS), /^linear-gradient\(to right, #f7fbff 0\.0%, #deebf7 12\.5%, .* #08306b 100\.0%\)$/);
});

test('the difference leaves out either map nodata, and only those it has', () => {
  assert.equal(differenceStyle(null, null).color[0], 'interpolate');
  const one = differenceStyle(65535, null).color;
  assert.deepEqual(one.slice(0, 2), ['case', ['==', ['band', 1], 65535]]);
  const both = differenceStyle(65535, 0).color;
  assert.deepEqual(both[1], ['any', ['==', ['band', 1], 65535], ['==', ['band', 2], 0]]);
});

test('the legend tells the display threshold the mosaics were made with', () => {
  const mosaic = (n) => item('m', n === undefined ? {} : { 'snowdays:display_min_days': n });
  assert.equal(thresholdNote([mosaic(45)]), 'Pixels under 45 days are left out.');
  assert.equal(thresholdNote([mosaic(60), mosaic(45), mosaic(60)]), 'Pixels under 45 or 60 days are left out.');
  assert.equal(thresholdNote([mosaic()]), 'Pixels under the display threshold are left out.');
});

test('the legend tells how current the maps shown are: their as-of dates', () => {
  const at = (day) => item('m', day === undefined ? {} : { 'snowdays:as_of': day });
  assert.equal(asOfNote([at('2018-02-03')]), 'As of 2018-02-03.');
  assert.equal(asOfNote([at('2018-02-03'), at('2018-01-31'), at('2018-02-03')]), 'As of 2018-01-31 to 2018-02-03.');
  assert.equal(asOfNote([at()]), '');
  assert.equal(asOfNote([]), '');
});

test('a ski runs file that is missing, refused or not GeoJSON is told apart', async () => {
  const answer = (status, body) => async () => new Response(body, { status });
  const url = 'http://files/pistes/pistes.geojson';
  const read = (data) => { if (data.type !== 'FeatureCollection') throw new Error('not a FeatureCollection'); return data.features; };
  assert.deepEqual(await readOverlay(url, read, answer(200, '{"type": "FeatureCollection", "features": [1]}')), [1]);
  await assert.rejects(readOverlay(url, read, answer(404, 'no')), { message: 'no ski runs published' });
  await assert.rejects(readOverlay(url, read, answer(500, 'oops')),
    { message: `cannot read the ski runs ${url}: HTTP 500` });
  await assert.rejects(readOverlay(url, read, answer(200, '{"type": "Feat')), /^Error: cannot read the ski runs .*: .*JSON/);
  await assert.rejects(readOverlay(url, read, answer(200, '{"type": "Point"}')),
    { message: `cannot read the ski runs ${url}: not a FeatureCollection` });
});

test("a point's season: runs of snow days, observations inside the season, dates only past 10 days", async () => {
  const { chartModel, snowRuns, WIDTH } = await import('../src/chart.js');
  assert.deepEqual(snowRuns([0, 1, 1, 0, 1]), [{ first: 1, last: 2 }, { first: 4, last: 4 }]);
  assert.deepEqual(snowRuns([1, 1]), [{ first: 0, last: 1 }]);
  assert.deepEqual(snowRuns([0, 0]), []);
  const snow = Array.from({ length: 40 }, (_, d) => (d >= 10 && d < 30 ? 1 : 0));
  const point = { snow, scd: 20, sod: 10, smod: 29, start: '2017-09-01', as_of: '2017-10-10',
    observations: [{ day: -3, seen: 'snow', date: '2017-08-29' }, { day: 12, seen: 'snow', date: '2017-09-13' },
      { day: 35, seen: 'cloud', date: '2017-10-06' }, { day: 40, seen: 'no snow', date: '2017-10-11' }] };
  const model = chartModel(point);
  assert.equal(model.snowDays, 20);
  assert.equal(model.scale, WIDTH / 40);
  assert.deepEqual(model.marks.map((m) => m.seen), ['snow', 'cloud']);
  assert.deepEqual(model.runs.map((r) => [r.first, r.last, r.width]), [[10, 29, 20 * WIDTH / 40]]);
  assert.deepEqual(model.dates.map((d) => d.name), ['SOD', 'SMOD']);
  assert.deepEqual(chartModel({ ...point, scd: 10 }).dates, []);
});

test("the point's season is asked of config.json's point_url, made absolute; none without it", () => {
  const page = 'http://127.0.0.1:8082/viewer/';
  assert.equal(readConfig({ point_url: '/point' }, new URLSearchParams(), page).point_url,
    'http://127.0.0.1:8082/point');
  assert.equal(readConfig(null, new URLSearchParams(), page).point_url, '');
});
