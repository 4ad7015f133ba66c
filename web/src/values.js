// Values at a point, read from the COGs with HTTP range requests (one pixel's block each).
import { fromUrl } from 'geotiff';
import { transform } from 'ol/proj.js';

const images = new Map();

/** The full-resolution image of a COG, opened once per URL (headers are read once). */
export function openImage(url) {
  if (!images.has(url)) {
    const image = fromUrl(url).then((tiff) => tiff.getImage());
    image.catch(() => images.delete(url));
    images.set(url, image);
  }
  return images.get(url);
}

export function imageProjection(image) {
  const keys = image.getGeoKeys();
  return `EPSG:${keys.ProjectedCSTypeGeoKey ?? keys.GeographicTypeGeoKey}`;
}

/** The value of the COG at ``url`` at a view coordinate; null outside it or where it has nodata. */
export async function valueAt(url, coordinate, viewProjection) {
  const image = await openImage(url);
  const [x, y] = transform(coordinate, viewProjection, imageProjection(image));
  const [ox, oy] = image.getOrigin();
  const [rx, ry] = image.getResolution();
  const col = Math.floor((x - ox) / rx);
  const row = Math.floor((y - oy) / ry);
  if (col < 0 || row < 0 || col >= image.getWidth() || row >= image.getHeight()) return null;
  const [band] = await image.readRasters({ window: [col, row, col + 1, row + 1], samples: [0] });
  const value = band[0];
  return value === image.getGDALNoData() ? null : value;
}
