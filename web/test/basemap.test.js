import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { BORDERS, SHADOW, borderFeatures, reliefStyle, reliefUrls, shadeGrey } from '../src/basemap.js';
import { registerProjections } from '../src/projections.js';

const topology = async () => JSON.parse(await readFile(new URL(`../node_modules/world-atlas/${BORDERS}`,
  import.meta.url)));

test("the borders are Europe's countries and its neighbours', projected into the view's CRS", async () => {
  registerProjections();
  const features = borderFeatures(await topology());
  const names = new Set(features.map((f) => f.get('name')));
  for (const name of ['France', 'Spain', 'Andorra', 'Italy', 'Switzerland', 'Austria', 'Iceland']) {
    assert.ok(names.has(name), name);
  }
  for (const name of ['Australia', 'Antarctica', 'Brazil', 'New Zealand']) assert.ok(!names.has(name), name);
  const france = features.find((f) => f.get('name') === 'France').getGeometry();
  const inEurope = france.getPolygons().reduce((a, b) => (a.getArea() > b.getArea() ? a : b)).getExtent();
  // mainland France in EPSG:3035 (metres): about 3.2e6..4.3e6 east, 2.0e6..3.1e6 north
  assert.ok(inEurope[0] > 3.1e6 && inEurope[2] < 4.4e6 && inEurope[1] > 1.9e6 && inEurope[3] < 3.2e6,
    inEurope.join(', '));
  for (const feature of features) {
    assert.ok(feature.getGeometry().getExtent().every(Number.isFinite), feature.get('name'));
  }
});

test('the relief is a grey from the deepest shadow to white, no data left out', () => {
  assert.equal(shadeGrey(1), 255 * SHADOW);
  assert.equal(shadeGrey(255), 255);
  assert.equal(shadeGrey(128), 255 * (SHADOW + (1 - SHADOW) * (127 / 254)));
  const [, , , low, lowGrey, high, highGrey] = reliefStyle().color;
  assert.deepEqual([low, high], [1, 255]);
  assert.deepEqual(lowGrey, [255 * SHADOW, 255 * SHADOW, 255 * SHADOW, 1]);
  assert.deepEqual(highGrey, [255, 255, 255, 1]);
});

test("a season's tiles give the hillshades reachable over HTTP, each once", () => {
  const config = { catalog_root: '/data/catalog', catalog_url: 'http://127.0.0.1:8082' };
  const tile = (href) => ({ assets: href ? { hillshade: { href } } : {} });
  const items = [tile('/data/catalog/a/hillshade.tif'), tile(null), tile('/data/catalog/a/hillshade.tif'),
    tile('/elsewhere/hillshade.tif'), tile('https://bucket.example/b/hillshade.tif')];
  assert.deepEqual(reliefUrls(items, config), ['http://127.0.0.1:8082/a/hillshade.tif',
    'https://bucket.example/b/hillshade.tif']);
});
