// The STAC API: every item of a collection, page after page (a missing collection has none).

export const MOSAICS = 'snow-cover-duration-mosaics';
export const TILES = 'snow-cover-duration';
const PAGE = 100;
const MAX_PAGES = 50;

export async function collectionItems(api, collection) {
  const items = [];
  let url = `${api}/collections/${collection}/items?limit=${PAGE}`;
  for (let page = 0; url && page < MAX_PAGES; page++) {
    const answer = await fetch(url);
    if (answer.status === 404) return items;
    if (!answer.ok) throw new Error(`the STAC API answered ${answer.status} for ${url}`);
    const body = await answer.json();
    items.push(...body.features);
    url = (body.links || []).find((link) => link.rel === 'next' && (link.method || 'GET') === 'GET')?.href;
  }
  return items;
}

/** An item's asset of a kind (``scd``...): mosaics name them in lower case, tiles in upper case. */
export function asset(item, kind) {
  return item.assets[kind] ?? item.assets[kind.toUpperCase()] ?? null;
}
