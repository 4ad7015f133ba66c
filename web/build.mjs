// Bundles the viewer into dist/: one script and one stylesheet (OpenLayers' own included), the page,
// and the country borders of its base map.
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { build } from 'esbuild';

const out = new URL('./dist/', import.meta.url);
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: ['src/main.js'],
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  target: 'es2022',
  outfile: 'dist/viewer.js',
  logLevel: 'warning',
});
await copyFile(new URL('./index.html', import.meta.url), new URL('./index.html', out));
// the base map's country borders (Natural Earth 1:10m), read by the page beside it
await copyFile(new URL('./node_modules/world-atlas/countries-10m.json', import.meta.url),
  new URL('./countries-10m.json', out));
