// Loads the WASI module in Node's WASI and calls its exports exactly as Fluent Bit's filter_wasm
// does (plugins/filter_wasm, src/wasm/flb_wasm.c, JSON event format):
// the host copies the tag and the record body, each with a trailing NUL (`len + 1` bytes), into
// guest memory with the module's exported `malloc` (wasm_runtime_module_dup_data), calls
// `fn(tag, tag_len, sec, nsec, record, record_len)` with the lengths without the NUL, reads the
// NUL-terminated result at the returned address (strlen + strdup), then frees both copies.
// It never frees the result: the module owns that buffer.
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';

/** `preopens`: a directory (preopened as `.`, filter_wasm's default accessible_paths) or an
 *  object mapping guest names to host directories (accessible_paths with absolute paths). */
export async function loadFilter(wasmPath, preopens) {
  const dirs = typeof preopens === 'string' ? { '.': preopens } : preopens;
  const wasi = new WASI({ version: 'preview1', args: [], env: {}, preopens: dirs });
  const module = await WebAssembly.compile(readFileSync(wasmPath));
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  const ex = instance.exports;
  for (const name of ['memory', 'malloc', 'free', '_initialize']) {
    if (!(name in ex)) throw new Error(`module does not export ${name}`);
  }
  if ('_start' in ex) throw new Error('module exports _start: it must be a reactor');
  // Like WAMR for a WASI reactor: _initialize once, before any other call.
  wasi.initialize(instance);
  const enc = new TextEncoder();
  const dec = new TextDecoder('utf-8', { fatal: true });

  function withNul(bytes) {
    const b = new Uint8Array(bytes.length + 1);
    b.set(bytes);
    return b;
  }

  function dup(bytes) {
    const ptr = ex.malloc(bytes.length);
    if (!ptr) throw new Error(`guest malloc(${bytes.length}) failed`);
    new Uint8Array(ex.memory.buffer, ptr, bytes.length).set(bytes);
    return ptr;
  }

  /** Returns the replacement body as a string ('' means Fluent Bit drops the record). */
  function call(functionName, body, tag = 'defender.0', sec = 1700000000, nsec = 123) {
    const fn = ex[functionName];
    if (typeof fn !== 'function') throw new Error(`no export ${functionName}`);
    const tagBytes = enc.encode(tag);
    const recBytes = typeof body === 'string' ? enc.encode(body) : body;
    const tagPtr = dup(withNul(tagBytes));
    const recPtr = dup(withNul(recBytes));
    let out;
    try {
      const ptr = fn(tagPtr, tagBytes.length, sec >>> 0, nsec >>> 0, recPtr, recBytes.length) >>> 0;
      const mem = new Uint8Array(ex.memory.buffer); // may have grown during the call
      if (ptr === 0 || ptr >= mem.length) throw new Error(`bad result address ${ptr}`);
      const end = mem.indexOf(0, ptr);
      if (end < 0) throw new Error('result is not NUL-terminated');
      out = dec.decode(mem.slice(ptr, end));
    } finally {
      ex.free(tagPtr);
      ex.free(recPtr);
    }
    return out;
  }
  return { call, exports: ex };
}
