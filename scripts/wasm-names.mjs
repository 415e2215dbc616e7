// Fits wasm-bindgen's glue to the package: applies the short import/export names wasm-opt gave
// the module (--minify-imports-and-exports-and-modules, whose mapping it prints), checks that the
// glue and the module still agree, name for name, makes the JS values the module is given an
// arena per call from JS, and puts a loader for the package's one way of loading in place of
// wasm-bindgen's general one. Used by build-package.sh.
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

// JS values as an arena. The module gets JS values as indices into the glue's `heap` and no
// longer drops or copies them one by one (build-package.sh links those imports to functions that
// do nothing): each function JS calls (`handle`, `step`) frees every value made during the call when
// it returns, taking the heap back to where it was. Calls nest (a promise's executor runs inside
// `new Promise`), each freeing only what came after it. What the module keeps across calls is
// kept by JS (src/idb.rs).
if (imports.some(([, name]) => /^__wbindgen_object_(drop|clone)_ref$/.test(name))) {
  throw new Error('wasm-names: the module still drops or copies JS values one by one');
}
replaceAll(/\n\s*__wbindgen_object_drop_ref: function\(arg0\) \{\n\s*takeObject\(arg0\);\n\s*\},/g, '',
  'the drop import');
replaceAll(/\n\s*__wbindgen_object_clone_ref: function\(arg0\) \{\n\s*const ret = getObject\(arg0\);\n\s*return addHeapObject\(ret\);\n\s*\},/g,
  '', 'the copy import');
// The mark is the heap's length: the glue frees no slot one by one any more, so it only grows
// (addHeapObject takes the next free slot, which is then always the end).
for (const [what, text] of [['the heap', 'let heap_next = heap.length;'],
  ['addHeapObject', 'if (heap_next === heap.length) heap.push(heap.length + 1);']]) {
  if (!js.includes(text)) throw new Error(`wasm-names: ${what} is not as expected in the glue`);
}
const wrapped = [];
replaceAll(
  /(\n    function (\w+)\([^)]*\) \{\n)((?:(?!\n    function )[^])*?)        return takeObject\(ret\);\n    \}/g,
  (_, head, name, body) => {
    wrapped.push(name);
    return `${head}        const mark = heap_next;\n        try {\n${body}` +
      '        return getObject(ret);\n        } finally {\n            heap.length = heap_next = mark;\n        }\n    }';
  },
  'the functions JS calls');
if (wrapped.join() !== 'handle,step' || /takeObject\(/.test(js.replace(/function takeObject\(/, ''))) {
  throw new Error(`wasm-names: expected handle and step to be the only calls from JS (found ${wrapped})`);
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

// The loader: wasm-bindgen's also takes a URL, a Response, a Module or deprecated arguments,
// guesses the wasm's URL from `document.currentScript`, and has a synchronous form; the package
// only ever instantiates the bytes js/sw.js fetched (or kept) and checked as its build's.
function cut(from, to, by, what) {
  const i = js.indexOf(from);
  const j = js.indexOf(to, i);
  if (i < 0 || j < 0) throw new Error(`wasm-names: ${what} not found in the glue`);
  js = js.slice(0, i) + by + js.slice(j + to.length);
}
cut('    let script_src;', '    }\n', '', 'script_src');
cut('    async function __wbg_load(', '    return Object.assign(__wbg_init, { initSync }, exports);', `\
    async function __wbg_init(bytes) {
        const { instance, module } = await WebAssembly.instantiate(bytes, __wbg_get_imports());
        return __wbg_finalize_init(instance, module);
    }
    return Object.assign(__wbg_init, exports);`, 'the loader');
if (/script_src|initSync|__wbg_load/.test(js)) throw new Error('wasm-names: the glue still refers to the loader it replaced');
fs.writeFileSync(glueFile, js);
