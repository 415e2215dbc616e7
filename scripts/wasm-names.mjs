// Applies the short import/export names wasm-opt gave the module
// (--minify-imports-and-exports-and-modules, whose mapping it prints) to wasm-bindgen's glue, and
// checks that the glue and the module still agree, name for name. Used by build-package.sh.
//   node scripts/wasm-names.mjs <mapping.json> <module.wasm> <glue.js>   (rewrites glue.js)
import fs from 'node:fs';

const [mappingFile, wasmFile, glueFile] = process.argv.slice(2);
const { imports, exports } = JSON.parse(fs.readFileSync(mappingFile, 'utf8'));
const module = new WebAssembly.Module(fs.readFileSync(wasmFile));
const actualImports = WebAssembly.Module.imports(module);
const actualExports = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
let js = fs.readFileSync(glueFile, 'utf8');
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function replaceAll(re, to, what) {
  const n = (js.match(re) || []).length;
  if (n === 0) throw new Error(`wasm-names: ${what} not found in the glue`);
  js = js.replace(re, to);
  return n;
}

// The functions the glue gives the module: keys of its imports object.
const modules = new Map();
for (const [oldModule, name, short] of imports) {
  const now = actualImports.find((i) => i.name === short);
  if (!now) throw new Error(`wasm-names: no import named ${short} in the module`);
  modules.set(oldModule, now.module);
  const n = replaceAll(new RegExp(`(?<![\\w$])${esc(name)}(?=\\s*:)`, 'g'), short, `import ${name}`);
  if (n !== 1) throw new Error(`wasm-names: import ${name} is defined ${n} times in the glue`);
}
for (const [oldModule, short] of modules) {
  replaceAll(new RegExp(`(["'])${esc(oldModule)}\\1(?=\\s*:)`, 'g'), JSON.stringify(short), `module ${oldModule}`);
}
// What the glue uses from the module: `wasm.<export>`.
for (const [name, short] of exports) {
  if (!actualExports.has(short)) throw new Error(`wasm-names: no export named ${short} in the module`);
  if (new RegExp(`\\bwasm\\.${esc(name)}\\b`).test(js)) {
    replaceAll(new RegExp(`\\bwasm\\.${esc(name)}\\b`, 'g'), `wasm.${short}`, `export ${name}`);
  }
}
for (const [, used] of js.matchAll(/\bwasm\.([\w$]+)/g)) {
  if (!actualExports.has(used)) throw new Error(`wasm-names: the glue uses wasm.${used}, which the module does not export`);
}
fs.writeFileSync(glueFile, js);
