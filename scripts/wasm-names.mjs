// Fits wasm-bindgen's glue to the package: applies the short import/export names wasm-opt gave
// the module (--minify-imports-and-exports-and-modules, whose mapping it prints), checks that the
// glue and the module still agree, name for name, and puts a loader for the package's one way of
// loading in place of wasm-bindgen's general one. Used by build-package.sh.
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

// The loader: wasm-bindgen's also takes bytes, a Module or deprecated arguments, guesses the
// wasm's URL from `document.currentScript`, and has a synchronous form; the package only ever
// loads its wasm from the URL js/sw.js gives. Streaming when the server sends the wasm MIME type,
// from the bytes otherwise (as wasm-bindgen's does). js/sw.js keeps the one load in flight.
function cut(from, to, by, what) {
  const i = js.indexOf(from);
  const j = js.indexOf(to, i);
  if (i < 0 || j < 0) throw new Error(`wasm-names: ${what} not found in the glue`);
  js = js.slice(0, i) + by + js.slice(j + to.length);
}
cut('    let script_src;', '    }\n', '', 'script_src');
cut('    async function __wbg_load(', '    return Object.assign(__wbg_init, { initSync }, exports);', `\
    async function __wbg_init({ module_or_path }) {
        const imports = __wbg_get_imports();
        const response = await fetch(module_or_path);
        if (!response.ok) {
            throw new Error(\`failed to fetch Wasm: \${response.status} \${response.statusText} fetching '\${response.url}'\`);
        }
        const { instance, module } = response.headers.get('Content-Type') === 'application/wasm'
            ? await WebAssembly.instantiateStreaming(response, imports)
            : await WebAssembly.instantiate(await response.arrayBuffer(), imports);
        return __wbg_finalize_init(instance, module);
    }

    return Object.assign(__wbg_init, exports);`, 'the loader');
if (/script_src|initSync|__wbg_load/.test(js)) throw new Error('wasm-names: the glue still refers to the loader it replaced');
fs.writeFileSync(glueFile, js);
