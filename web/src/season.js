// Seasons and dates: items grouped by season, day indices (SOD, SMOD) as calendar dates.

/** Items of both collections by season label, newest season first: [{season, mosaics, tiles}]. */
export function bySeason(mosaics, tiles) {
  const seasons = new Map();
  const entry = (label) => {
    if (!seasons.has(label)) seasons.set(label, { season: label, mosaics: [], tiles: [] });
    return seasons.get(label);
  };
  for (const item of mosaics) entry(item.properties['snowdays:season']).mosaics.push(item);
  for (const item of tiles) entry(item.properties['snowdays:season']).tiles.push(item);
  return [...seasons.values()]
    .filter((s) => s.season)
    .sort((a, b) => b.season.localeCompare(a.season));
}

/** What a season's map shows: its mosaics, or its tiles where it has no mosaic. */
export function shown(entry) {
  return entry.mosaics.length ? entry.mosaics : entry.tiles;
}

/** What an item stands for across seasons: its region (mosaics) or its tile. */
export function place(item) {
  return item.properties['snowdays:region'] ?? item.properties['grid:code'] ?? item.id;
}

/** First day of an item's season (YYYY-MM-DD): its start_datetime, else from the label. */
export function seasonStart(item, seasonStartMonthDay) {
  const start = item.properties.start_datetime;
  if (start) return start.slice(0, 10);
  return `${item.properties['snowdays:season'].slice(0, 4)}-${seasonStartMonthDay}`;
}

/** The date of day index ``day`` of a season that starts on ``start`` (YYYY-MM-DD, 0 is the start). */
export function dayToDate(start, day) {
  const when = new Date(`${start}T00:00:00Z`);
  when.setUTCDate(when.getUTCDate() + day);
  return when.toISOString().slice(0, 10);
}

/** What the legend says of the masked display variant of ``items`` (their display_min_days). */
export function thresholdNote(items) {
  const days = [...new Set(items.map((item) => item.properties['snowdays:display_min_days'])
    .filter((n) => Number.isInteger(n)))].sort((a, b) => a - b);
  const under = days.length ? `${days.join(' or ')} days` : 'the display threshold';
  return `Pixels under ${under} are left out.`;
}

/** What the legend says of how current ``items`` are: their as-of dates (the latest product each
 * holds), one date, or the earliest and the latest; empty when none tells. */
export function asOfNote(items) {
  const days = [...new Set(items.map((item) => item.properties['snowdays:as_of'])
    .filter((d) => typeof d === 'string'))].sort();
  if (!days.length) return '';
  return days.length === 1 ? `As of ${days[0]}.` : `As of ${days[0]} to ${days[days.length - 1]}.`;
}
