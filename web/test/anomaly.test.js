import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ANOMALY_COLOURS, anomalyColour, anomalyLegend, anomalyRange, anomalyShown, anomalyStops, anomalyStyle, signedDays,
} from '../src/anomaly.js';
import { rgb } from '../src/colours.js';
import { readConfig } from '../src/config.js';

const tile = (season, past, asOf, half) => ({
  id: `scd-anomaly-t31tch-${season}`,
  properties: {
    'snowdays:season': season, 'snowdays:past_seasons': past, 'snowdays:as_of': asOf,
    renders: { scd_anomaly: { rescale: [[-half, half]] } },
  },
  assets: { 'SCD-ANOMALY': { href: 'x.tif' } },
});

test('the scale is white at 0, blue for more snow, red for less, and symmetric', () => {
  for (const half of [10, 40, 90]) {
    assert.deepEqual(anomalyColour(0, half), [255, 255, 255]);
    assert.deepEqual(anomalyColour(half, half), rgb('#2166ac'));
    assert.deepEqual(anomalyColour(-half, half), rgb('#b2182b'));
    assert.deepEqual(anomalyColour(3 * half, half), rgb('#2166ac'), 'clamped past the range');
    assert.deepEqual(anomalyColour(-3 * half, half), rgb('#b2182b'));
    const stops = anomalyStops(half);
    assert.deepEqual(stops.map(([v]) => v), stops.map(([v]) => 0 - v).reverse(), 'stops symmetric about 0');
    assert.equal(stops[0][0], -half);
    for (const v of [0.2, 0.5, 0.9].map((f) => f * half)) {
      const [more, less] = [anomalyColour(v, half), anomalyColour(-v, half)];
      assert.ok(more[2] > more[0], `+${v}: blue`);
      assert.ok(less[0] > less[2], `-${v}: red`);
      assert.ok(Math.abs(more[0] + more[1] + more[2] - (less[0] + less[1] + less[2])) < 120, 'as light');
    }
  }
});

test('between stops the colour is linear, as the map interpolates it', () => {
  const half = 60;
  const [a, b] = [rgb(ANOMALY_COLOURS[3][1]), rgb(ANOMALY_COLOURS[4][1])]; // 0 and +20 days
  assert.deepEqual(anomalyColour(10, half), a.map((x, i) => Math.round((x + b[i]) / 2)));
  const style = anomalyStyle(half).color;
  assert.equal(style[0], 'interpolate');
  assert.deepEqual(style.slice(3, 5), [-60, [...rgb('#b2182b'), 1]]);
  assert.deepEqual(style.slice(9, 11), [0, [255, 255, 255, 1]]);
});

test('the range is the widest render hint, a multiple of 10 days', () => {
  assert.equal(anomalyRange([tile('2018-2019', [], '', 30), tile('2018-2019', [], '', 50)]), 50);
  assert.equal(anomalyRange([tile('2018-2019', [], '', 35)]), 40);
  assert.equal(anomalyRange([{ properties: {}, assets: {} }]), 60, 'no hint: 60 days');
});

test('the legend says against how many seasons and as of when', () => {
  const items = [tile('2019-2020', ['2017-2018', '2018-2019'], '2019-12-29', 40)];
  const legend = anomalyLegend(items, '2019-2020');
  assert.equal(legend.title, 'Snow cover duration anomaly 2019-2020');
  assert.ok(legend.note.startsWith('days vs mean of 2 seasons, as of 2019-12-29.'), legend.note);
  assert.deepEqual(legend.ticks, [-40, -20, 0, 20, 40]);
  const region = {
    properties: {
      'snowdays:season': '2019-2020', 'snowdays:tiles_as_of': { T31TCH: '2019-12-29', T31TCJ: '2019-12-31' },
      'snowdays:tiles_past_seasons': { T31TCH: ['2018-2019'], T31TCJ: ['2017-2018', '2018-2019'] },
    },
    assets: { scd_anomaly: {} },
  };
  assert.ok(anomalyLegend([region], '2019-2020').note
    .startsWith('days vs mean of 1 to 2 seasons, as of 2019-12-29 to 2019-12-31.'));
  assert.ok(anomalyLegend([tile('2019-2020', ['2018-2019'], '2019-12-29', 10)], '2019-2020').note
    .startsWith('days vs mean of 1 season, as of'));
});

test('a season shows its regional anomalies, else its tiles\'', () => {
  const region = { properties: { 'snowdays:season': '2018-2019', 'snowdays:region': 'alps' }, assets: {} };
  const tiles = [tile('2018-2019', [], '', 10), tile('2019-2020', [], '', 10)];
  assert.deepEqual(anomalyShown({ mosaics: [region], tiles }, '2018-2019'), [region]);
  assert.deepEqual(anomalyShown({ mosaics: [region], tiles }, '2019-2020'), [tiles[1]]);
  assert.deepEqual(anomalyShown({ mosaics: [], tiles }, '2017-2018'), []);
});

test('values are signed days, to a tenth', () => {
  assert.equal(signedDays(12.345), '+12.3 days');
  assert.equal(signedDays(-3.25), '-3.2 days');
  assert.equal(signedDays(0.01), '0.0 days');
});

test('mode=anomaly is a mode of the page', () => {
  const page = 'http://127.0.0.1:8082/viewer/';
  assert.equal(readConfig(null, new URLSearchParams('mode=anomaly&season=2019-2020'), page).mode, 'anomaly');
});
