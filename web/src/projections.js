// Projections the maps come in, registered with proj4 (no lookup over the network): ETRS89-LAEA
// Europe (the mosaics, and the view) and the UTM zones of the Sentinel-2 tiles.
import proj4 from 'proj4';
import { get as getProjection } from 'ol/proj.js';
import { register } from 'ol/proj/proj4.js';

export const VIEW = 'EPSG:3035';
/** EPSG:3035's area of use, projected. */
const LAEA_EXTENT = [1896628.62, 1507846.05, 4662111.45, 6829874.45];

export function registerProjections() {
  proj4.defs(VIEW, '+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 '
    + '+towgs84=0,0,0,0,0,0,0 +units=m +no_defs +type=crs');
  for (let zone = 1; zone <= 60; zone++) {
    proj4.defs(`EPSG:${32600 + zone}`, `+proj=utm +zone=${zone} +datum=WGS84 +units=m +no_defs +type=crs`);
    proj4.defs(`EPSG:${32700 + zone}`,
      `+proj=utm +zone=${zone} +south +datum=WGS84 +units=m +no_defs +type=crs`);
  }
  register(proj4);
  getProjection(VIEW).setExtent(LAEA_EXTENT);
}
