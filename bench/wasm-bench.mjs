// The WASM part of `cargo xtask bench`: runs NDJSON corpus files through one export of the
// wasm32-wasip1 module in Node's WASI, called exactly as Fluent Bit's filter_wasm calls it
// (wasm/tests/wasi-host.mjs: copy tag and body in with the module's malloc, call, read the
// NUL-terminated result, free the copies).
//   node wasm-bench.mjs MODULE.wasm EXPORT RUNS FILE...
// Prints one JSON line per file: {"file", "records", "secs" (CPU seconds, best of RUNS), "out_bytes"}.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFilter } from '../wasm/tests/wasi-host.mjs';

const [wasmPath, fn, runsArg, ...files] = process.argv.slice(2);
const runs = Math.max(1, Number(runsArg) || 1);
// An empty preopened directory: no defender-bridge.json, so the module's default options.
const filter = await loadFilter(wasmPath, mkdtempSync(join(tmpdir(), 'db-wasm-bench-')));
const enc = new TextEncoder();

for (const file of files) {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => enc.encode(l));
  // Warm-up, one whole untimed pass: V8 compiles hot functions with its optimising tier on
  // background threads, whose CPU time would otherwise land in the first file's timed run
  // (with 200 lines of warm-up, the first kind measured came out 1.5–2x slower than on a
  // second run).
  for (const l of lines) filter.call(fn, l);
  let best = Infinity;
  let outBytes = 0;
  for (let r = 0; r < runs; r++) {
    let n = 0;
    // CPU time of the process (user + system, JIT and GC threads included), as the native side
    // measures it: wall time would count what other processes on a busy machine take.
    const t0 = process.cpuUsage();
    for (const l of lines) n += filter.call(fn, l).length;
    const used = process.cpuUsage(t0);
    const secs = (used.user + used.system) / 1e6;
    best = Math.min(best, secs);
    outBytes = n;
  }
  console.log(JSON.stringify({ file, records: lines.length, secs: best, out_bytes: outBytes }));
}
