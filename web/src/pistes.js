// The ski runs overlay: pistes coloured by difficulty (as OpenSnowMap does), ski areas outlined (not
// filled: the map's colours stay those of its legend).
import GeoJSON from 'ol/format/GeoJSON.js';
import VectorLayer from 'ol/layer/Vector.js';
import VectorSource from 'ol/source/Vector.js';
import { Stroke, Style } from 'ol/style.js';

export const DIFFICULTY_COLOURS = {
  novice: '#2e9e3f', easy: '#1f5fd1', intermediate: '#e3001b', advanced: '#000000',
  expert: '#ff7f00', freeride: '#f2d100', extreme: '#ff7f00',
};
const OTHER = '#666666';
const halo = new Style({ stroke: new Stroke({ color: 'rgba(255,255,255,0.9)', width: 5 }) });
const area = new Style({ stroke: new Stroke({ color: '#333333', width: 1.5, lineDash: [6, 4] }) });
const lines = new Map();

function pisteStyle(feature) {
  if (feature.get('kind') === 'ski_area') return area;
  const colour = DIFFICULTY_COLOURS[feature.get('difficulty')] ?? OTHER;
  if (!lines.has(colour)) lines.set(colour, [halo, new Style({ stroke: new Stroke({ color: colour, width: 3 }) })]);
  return lines.get(colour);
}

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** The overlay of ``url``; ``told(message)`` hears how many runs and areas it holds, or why it has none. */
export function pistesLayer(url, told) {
  const format = new GeoJSON();
  const source = new VectorSource({
    loader: (extent, resolution, projection, success, failure) => {
      readOverlay(url, (data) => format.readFeatures(data, { featureProjection: projection }))
        .then((features) => {
          source.addFeatures(features);
          success(features);
          told(counted(features));
        })
        .catch((e) => {
          told(e.message);
          failure();
        });
    },
  });
  return new VectorLayer({ source, style: pisteStyle, zIndex: 10, properties: { name: 'pistes' } });
}

/** The features of the overlay at ``url`` as ``read`` makes them; an error tells what is wrong with it. */
export async function readOverlay(url, read, fetcher = fetch) {
  const response = await fetcher(url);
  if (response.status === 404) throw new Error('no ski runs published');
  if (!response.ok) throw new Error(`cannot read the ski runs ${url}: HTTP ${response.status}`);
  try {
    return read(await response.json());
  } catch (e) {
    throw new Error(`cannot read the ski runs ${url}: ${e.message}`);
  }
}

function counted(features) {
  const runs = features.filter((f) => f.get('kind') === 'piste').length;
  const areas = features.filter((f) => f.get('kind') === 'ski_area').length;
  return `${plural(runs, 'ski run')}, ${plural(areas, 'ski area')}`;
}

/** The extent of a ski area's outline and runs (in the view's projection), or null. */
export function skiAreaExtent(layer, name) {
  const features = layer.getSource().getFeatures()
    .filter((f) => f.get('ski_area') === name || (f.get('kind') === 'ski_area' && f.get('name') === name));
  if (!features.length) return null;
  const extent = features[0].getGeometry().getExtent().slice();
  for (const f of features.slice(1)) {
    const [x0, y0, x1, y1] = f.getGeometry().getExtent();
    extent[0] = Math.min(extent[0], x0);
    extent[1] = Math.min(extent[1], y0);
    extent[2] = Math.max(extent[2], x1);
    extent[3] = Math.max(extent[3], y1);
  }
  return extent;
}
