// LiquidJS side of the Liquid differential test (server/tests/core_liquid_differential.rs).
//
// Renders every case of server/tests/fixtures/liquid/cases.json with LiquidJS (the `liquidjs`
// package of the repository's package.json, `new Liquid()` with its default options) over the case's
// own `data` or, failing that, fixtures/liquid/data.json, and prints one JSON object on stdout:
//
//   { "<case name>": { "ok": "<rendered text>" } | { "error": "<message>" }, ... }
//
// Usage: node server/tests/liquid/render-liquidjs.mjs [cases.json [data.json]]
// `liquidjs` resolves from the repository root's node_modules (`npm ci` there, or scripts/test.sh).
//
// Dates render in UTC, as hookline's do: the process's time zone is set before anything reads it, so
// that `date` gives the same text on every machine.
process.env.TZ = 'UTC';

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Liquid } from 'liquidjs';

const fixtures = new URL('../fixtures/liquid/', import.meta.url);
const casesPath = process.argv[2] ?? fileURLToPath(new URL('cases.json', fixtures));
const dataPath = process.argv[3] ?? fileURLToPath(new URL('data.json', fixtures));

const cases = JSON.parse(readFileSync(casesPath, 'utf8'));
const defaultData = JSON.parse(readFileSync(dataPath, 'utf8'));

const engine = new Liquid();
const results = {};
for (const { name, template, data } of cases) {
  // A fresh copy each time: no case sees what another left behind.
  const scope = structuredClone(data ?? defaultData);
  try {
    results[name] = { ok: engine.parseAndRenderSync(template, scope) };
  } catch (e) {
    results[name] = { error: String(e?.message ?? e) };
  }
}
process.stdout.write(JSON.stringify(results));
