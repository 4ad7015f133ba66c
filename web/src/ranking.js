// The resort ranking of a region and season: ski areas by mean snow cover duration on their runs.

const COLUMNS = [
  ['rank', 'Rank', (r) => r.rank],
  ['ski_area', 'Ski area', (r) => r.ski_area],
  ['scd_mean', 'Mean SCD (days)', (r) => r.scd_mean.toFixed(0)],
  ['scd_p10', 'P10–P90 (days)', (r) => `${r.scd_p10.toFixed(0)}–${r.scd_p90.toFixed(0)}`],
  ['share_120', 'Runs with ≥ N days', (r) => `${(100 * r.share_120).toFixed(0)} %`],
  ['smod_median', 'Melt-out (median)', (r) => r.smod_median ?? '–'],
];

/** The ranking at ``url`` as a table (null when none is published); a row click calls ``picked(name)``. */
export async function rankingTable(url, picked) {
  const answer = await fetch(url);
  if (!answer.ok) return null;
  const ranking = await answer.json();
  const table = document.createElement('table');
  table.className = 'ranking';
  const caption = table.createCaption();
  caption.textContent = `Resorts of ${ranking.region}, ${ranking.season}`;
  const head = table.createTHead().insertRow();
  for (const [, title] of COLUMNS) {
    const th = document.createElement('th');
    th.textContent = title.replace('N', String(ranking.min_days));
    head.appendChild(th);
  }
  const body = table.createTBody();
  for (const resort of ranking.resorts) {
    const row = body.insertRow();
    row.dataset.skiArea = resort.ski_area;
    for (const [key, , cell] of COLUMNS) {
      const td = row.insertCell();
      td.className = key;
      td.textContent = cell(resort);
    }
    row.addEventListener('click', () => picked(resort.ski_area));
  }
  return table;
}
