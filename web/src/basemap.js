// The base map, drawn without a tile server: the country borders (Natural Earth's, from the
// world-atlas npm package, which build.mjs copies beside the viewer) and the relief, the hillshade COG
// a published tile season carries where the tile has a DEM (its `hillshade` asset), multiplied into
// the maps under it so that their colours keep their hue.
import TopoJSON from 'ol/format/TopoJSON.js';
import LayerGroup from 'ol/layer/Group.js';
import VectorLayer from 'ol/layer/Vector.js';
import WebGLTileLayer from 'ol/layer/WebGLTile.js';
import GeoTIFF from 'ol/source/GeoTIFF.js';
import VectorSource from 'ol/source/Vector.js';
import { intersects } from 'ol/extent.js';
import { Stroke, Style } from 'ol/style.js';
import { createForProjection } from 'ol/tilegrid.js';
import { assetUrl } from './config.js';
import { VIEW } from './projections.js';

export const BORDERS = 'countries-10m.json';
export const BORDER_COLOUR = '#6a3d9a';
/** The countries read: those meeting EPSG:3035's area of use (lon, lat; the rest of the world would
 * project far off, or not at all near the antipode). */
const AREA = [-35.6, 24.6, 44.9, 84.8];
/** What the deepest shadow leaves of the colour under it (1 where the slope faces the light). */
export const SHADOW = 0.45;
const MAX_ZOOM = 20;

/** The countries of a world-atlas topology whose outline meets the view's area, in the view's CRS. */
export function borderFeatures(topology) {
  return new TopoJSON().readFeatures(topology)
    .filter((feature) => intersects(feature.getGeometry().getExtent(), AREA))
    .map((feature) => {
      feature.getGeometry().transform('EPSG:4326', VIEW);
      return feature;
    });
}

/** The borders' layer, read from ``url`` (its property ``loaded``: a promise, settled once they are
 * read or not); ``told(message)`` hears why when they cannot be. */
export function bordersLayer(url, told) {
  const source = new VectorSource();
  const loaded = fetch(url)
    .then((answer) => {
      if (!answer.ok) throw new Error(`the server answered ${answer.status}`);
      return answer.json();
    })
    .then((topology) => source.addFeatures(borderFeatures(topology)))
    .catch((e) => told(`cannot read the country borders ${url}: ${e.message}`));
  return new VectorLayer({
    source, className: 'ol-layer borders', properties: { name: 'borders', loaded },
    style: new Style({ stroke: new Stroke({ color: BORDER_COLOUR, width: 1.5 }) }),
  });
}

/** The grey a shade (band 1: 1 + 254 x the light's cosine) is drawn with, 0..255. */
export function shadeGrey(value) {
  const shade = Math.min(Math.max((value - 1) / 254, 0), 1);
  return 255 * (SHADOW + (1 - SHADOW) * shade);
}

/** The relief's style: greys from SHADOW to white (0, no data, is left out by the source). */
export function reliefStyle() {
  const grey = (value) => [...Array(3).fill(shadeGrey(value)), 1];
  return { color: ['interpolate', ['linear'], ['band', 1], 1, grey(1), 255, grey(255)] };
}

/** The URLs of the hillshades of ``items`` (the tiles of a season), each once. */
export function reliefUrls(items, config) {
  const hrefs = items.map((item) => item.assets.hillshade?.href).filter(Boolean);
  return [...new Set(hrefs.map((href) => assetUrl(href, config)).filter(Boolean))];
}

/** The group of the relief's layers, above the maps; ``showRelief`` fills it. */
export function reliefGroup() {
  return new LayerGroup({ properties: { name: 'relief' } });
}

/** Show the relief of ``items`` (a season's tiles) in ``group``. */
export function showRelief(group, items, config) {
  const layers = reliefUrls(items, config).map((url) => {
    const source = new GeoTIFF({ sources: [{ url, nodata: 0 }], normalize: false });
    source.setTileGridForProjection(VIEW, createForProjection(VIEW, MAX_ZOOM));
    return new WebGLTileLayer({ source, style: reliefStyle(), className: 'ol-layer relief' });
  });
  group.getLayers().clear();
  group.getLayers().extend(layers);
}
