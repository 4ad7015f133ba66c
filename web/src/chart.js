// A point's season as a chart: the gap-filled series the duration counts (runs of snow days), each
// observation below it (snow, no snow, cloud), SOD and SMOD marked; from the file server's /point.

const SVG = 'http://www.w3.org/2000/svg';
export const WIDTH = 320;
const HEIGHT = 74;
const SNOW_Y = 8;
const SNOW_H = 24;
const MARK_Y = 40;
const MARK_H = 10;
/** Observation classes as /point names them, with their colours. */
export const SEEN = { snow: '#2171b5', 'no snow': '#8c6d31', cloud: '#bdbdbd' };
const DATED_ABOVE = 10;

/** Runs of snow days [{first, last}] of a 0/1 series. */
export function snowRuns(snow) {
  const runs = [];
  let first = null;
  snow.forEach((s, d) => {
    if (s && first === null) first = d;
    if (!s && first !== null) {
      runs.push({ first, last: d - 1 });
      first = null;
    }
  });
  if (first !== null) runs.push({ first, last: snow.length - 1 });
  return runs;
}

/** What the chart draws of a point's season (the JSON of /point): x of day d is d * scale. */
export function chartModel(point) {
  const days = point.snow.length;
  const scale = WIDTH / Math.max(days, 1);
  const marks = point.observations.filter((o) => o.day >= 0 && o.day < days)
    .map((o) => ({ x: o.day * scale, seen: o.seen, date: o.date }));
  const dated = point.scd > DATED_ABOVE ? [['SOD', point.sod], ['SMOD', point.smod]] : [];
  return {
    days, scale, marks,
    runs: snowRuns(point.snow).map((r) => ({ x: r.first * scale, width: (r.last - r.first + 1) * scale, ...r })),
    dates: dated.map(([name, day]) => ({ name, x: (day + 0.5) * scale })),
    snowDays: point.snow.reduce((a, b) => a + b, 0),
  };
}

function node(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** The chart of a point's season, an SVG element. */
export function seasonChart(point) {
  const model = chartModel(point);
  const svg = node('svg', { class: 'season-chart', width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img', 'aria-label': `daily snow at the point, ${point.start} to ${point.as_of}` });
  svg.dataset.days = String(model.days);
  svg.dataset.snowDays = String(model.snowDays);
  svg.append(node('rect', { x: 0, y: SNOW_Y, width: model.days * model.scale, height: SNOW_H, fill: '#f0f0f0' }));
  for (const run of model.runs) {
    svg.append(node('rect', { class: 'snow', x: run.x, y: SNOW_Y, width: run.width, height: SNOW_H,
      fill: SEEN.snow, 'data-first': run.first, 'data-last': run.last }));
  }
  for (const mark of model.marks) {
    const tick = node('rect', { x: mark.x, y: MARK_Y, width: Math.max(model.scale, 1), height: MARK_H,
      fill: SEEN[mark.seen] ?? '#000', 'data-seen': mark.seen });
    tick.append(node('title', {}, `${mark.date}: ${mark.seen}`));
    svg.append(tick);
  }
  for (const date of model.dates) {
    svg.append(node('line', { x1: date.x, x2: date.x, y1: 2, y2: SNOW_Y + SNOW_H + 2, stroke: '#b2182b',
      'data-date': date.name }));
    const anchor = date.x > WIDTH - 24 ? 'end' : date.x < 24 ? 'start' : 'middle';
    svg.append(node('text', { x: date.x, y: HEIGHT - 14, 'font-size': 10, 'text-anchor': anchor }, date.name));
  }
  svg.append(node('text', { x: 0, y: HEIGHT - 2, 'font-size': 10 }, point.start));
  svg.append(node('text', { x: WIDTH, y: HEIGHT - 2, 'font-size': 10, 'text-anchor': 'end' }, point.as_of));
  return svg;
}

/** A legend of the chart's colours. */
export function chartLegend() {
  const p = document.createElement('p');
  p.className = 'chart-legend';
  p.textContent = 'Gap-filled snow days above; observations below: ';
  for (const [name, colour] of Object.entries(SEEN)) {
    const swatch = document.createElement('span');
    swatch.style.background = colour;
    swatch.className = 'swatch';
    p.append(swatch, ` ${name} `);
  }
  return p;
}
