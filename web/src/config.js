// The viewer's settings: config.json (written by the file server of `snowdays up`), then the page's
// query parameters on top.

const DEFAULTS = {
  stac_api: 'http://127.0.0.1:8081',
  catalog_url: '/',
  catalog_root: '',
  season_start: '09-01',
  point_url: '',
};

/** What the map shows: a season, the difference of two, or a season's anomaly. */
export const MODES = ['season', 'difference', 'anomaly'];

/** Settings from config.json's object and the page's query string (URLSearchParams); URLs are made
 * absolute against the page's ``base`` URL, without a trailing slash. */
export function readConfig(file, params, base) {
  const config = { ...DEFAULTS, ...(file || {}) };
  const take = (param, key) => {
    if (params.has(param)) config[key] = params.get(param);
  };
  take('stac', 'stac_api');
  take('catalog', 'catalog_url');
  take('root', 'catalog_root');
  config.stac_api = absoluteUrl(config.stac_api, base);
  config.catalog_url = absoluteUrl(config.catalog_url, base);
  config.catalog_root = config.catalog_root.replace(/\/+$/, '');
  config.point_url = config.point_url ? absoluteUrl(config.point_url, base) : '';
  config.season = params.get('season');
  config.compare = params.get('compare');
  config.mode = MODES.includes(params.get('mode')) ? params.get('mode') : 'season';
  config.center = numbers(params.get('center'), 2);
  config.zoom = params.has('zoom') ? Number(params.get('zoom')) : null;
  return config;
}

function numbers(text, count) {
  if (!text) return null;
  const values = text.split(',').map(Number);
  return values.length === count && values.every(Number.isFinite) ? values : null;
}

/** Where the browser reads an asset: absolute URLs as they are, catalog paths under the catalog's URL. */
export function assetUrl(href, config) {
  if (/^https?:\/\//.test(href)) return href;
  const root = config.catalog_root;
  if (root && href.startsWith(`${root}/`)) return config.catalog_url + href.slice(root.length);
  return null;
}

function absoluteUrl(url, base) {
  return new URL(url, base).href.replace(/\/+$/, '');
}
