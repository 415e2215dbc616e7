// LiquidJS side of the render benchmark: the same template and the same data as hookline's bench
// (written by `cargo bench --bench render` into $HOOKLINE_BENCH_OUT), parsed once, rendered many times.
// Prints the median renders per second of several rounds, like the Rust side.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Liquid } from 'liquidjs';

const dir = process.env.HOOKLINE_BENCH_OUT;
if (!dir) {
  console.error('liquidjs-render: set HOOKLINE_BENCH_OUT to the directory the Rust bench wrote');
  process.exit(2);
}
const source = readFileSync(join(dir, 'template.liquid'), 'utf8');
const data = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8'));
const expected = process.env.HOOKLINE_BENCH_EXPECT ? readFileSync(process.env.HOOKLINE_BENCH_EXPECT, 'utf8') : null;

const engine = new Liquid();
const template = engine.parse(source);
const render = () => engine.renderSync(template, data);
if (expected !== null && render() !== expected) {
  console.error('liquidjs-render: LiquidJS renders different text than hookline');
  process.exit(1);
}

const ROUNDS = 9;
const ROUND_MS = 300;
let sink = 0;
let n = 0;
let start = performance.now();
while (performance.now() - start < 300) {
  sink += render().length;
  n++;
}
const perRound = Math.max(1, Math.round((n * ROUND_MS) / (performance.now() - start)));
const rates = [];
for (let r = 0; r < ROUNDS; r++) {
  start = performance.now();
  for (let i = 0; i < perRound; i++) sink += render().length;
  rates.push(perRound / ((performance.now() - start) / 1000));
}
rates.sort((a, b) => a - b);
const median = rates[Math.floor(ROUNDS / 2)];
console.log(`liquidjs ${engine.constructor.name} body template:        ${median.toFixed(0).padStart(12)} renders/s`);
console.log(`LIQUIDJS_RENDERS_PER_SEC=${median.toFixed(0)}`);
if (sink < 0) console.log(sink);
