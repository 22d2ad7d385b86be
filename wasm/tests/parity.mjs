// Parity: every fixture input through the native CLI, the WASI module (called with filter_wasm's
// convention) and the wasm-bindgen package in Node; the outputs must be byte-identical.
// Also: the 5 MB record, the config file, and the filter's drop / error / several-documents rules.
//
// Environment: DB_NATIVE (the `defender-bridge` binary), DB_WASI (the wasm32-wasip1 module),
// DB_PKG (the wasm-bindgen package dir, default wasm/pkg), DB_SHARED or DEFENDER_BRIDGE_SHARED
// (default ../shared).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { check, assert, assertSame, summary } from './harness.mjs';
import { loadFilter } from './wasi-host.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const native = process.env.DB_NATIVE;
const wasiPath = process.env.DB_WASI;
const pkgDir = path.resolve(process.env.DB_PKG || path.join(repo, 'wasm', 'pkg'));
const shared = path.resolve(process.env.DB_SHARED || process.env.DEFENDER_BRIDGE_SHARED || path.join(repo, '..', 'shared'));
if (!native || !wasiPath) {
  console.error('set DB_NATIVE and DB_WASI');
  process.exit(2);
}

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out.sort();
}

// The inputs: every line of the Elastic test-*.log fixtures, every Sentinel sample file.
const inputs = [];
for (const f of walk(path.join(shared, 'fixtures', 'elastic')).filter((p) => /\/test-[^/]*\.log$/.test(p))) {
  readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
    if (line.trim()) inputs.push({ name: `${path.relative(shared, f)}:${i + 1}`, text: line });
  });
}
for (const f of walk(path.join(shared, 'sentinel', 'samples')).filter((p) => p.endsWith('.json'))) {
  inputs.push({ name: path.relative(shared, f), text: readFileSync(f, 'utf8') });
}

// Each configuration: CLI flags, wasm-bindgen options, and the filter_wasm export that means it.
const configs = [
  { name: 'ecs', flags: ['--to', 'ecs'], opts: { target: 'ecs' }, fn: 'defender_to_ecs' },
  { name: 'ecs+original', flags: ['--to', 'ecs', '--preserve-original-event'],
    opts: { target: 'ecs', preserveOriginalEvent: true }, fn: 'defender_to_ecs_preserve_original' },
  { name: 'sentinel', flags: ['--to', 'sentinel'], opts: { target: 'sentinel' }, fn: 'defender_to_sentinel' },
  { name: 'sentinel+strict', flags: ['--to', 'sentinel', '--strict-schema'],
    opts: { target: 'sentinel', strict_schema: true }, fn: 'defender_to_sentinel_strict' },
];

function runNative(flags, text) {
  const r = spawnSync(native, ['map', ...flags], { input: text, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`native exited ${r.status}: ${r.error || r.stderr}`);
  const out = r.stdout.toString('utf8');
  return out === '' ? [] : out.replace(/\n$/, '').split('\n');
}

// What the filter must return for these native documents (docs/wasm.md).
function filterExpected(lines) {
  if (lines.length === 0) return '';
  if (lines.length === 1) return lines[0];
  return `{"documents":[${lines.join(',')}]}`;
}

const pkgJs = readdirSync(pkgDir).find((f) => /^defender_bridge_wasm\.js$/.test(f));
const pkg = await import(pathToFileURL(path.join(pkgDir, pkgJs)).href);
pkg.initSync({ module: readFileSync(path.join(pkgDir, 'defender_bridge_wasm_bg.wasm')) });

const emptyDir = mkdtempSync(path.join(tmpdir(), 'db-wasi-'));
const filter = await loadFilter(wasiPath, emptyDir);

let identical = 0;
let total = 0;
let documents = 0;
let errorRecords = 0;
const mismatches = [];
for (const cfg of configs) {
  for (const input of inputs) {
    total++;
    const where = `${cfg.name} ${input.name}`;
    try {
      const nat = runNative(cfg.flags, input.text);
      const js = pkg.mapToJson(input.text, cfg.opts);
      assertSame(js.join('\n'), nat.join('\n'), `wasm-bindgen ${where}`);
      const expected = filterExpected(nat);
      assertSame(filter.call(cfg.fn, input.text), expected, `filter_wasm ${where}`);
      // in_tail without a parser hands the filter {"log":"<line>"}: the same result.
      assertSame(filter.call(cfg.fn, JSON.stringify({ log: input.text })), expected, `filter_wasm {"log"} ${where}`);
      identical++;
      documents += nat.length;
      errorRecords += nat.filter((l) => /"pipeline_error"|"DefenderBridgeErrors_CL"/.test(l)).length;
    } catch (e) {
      mismatches.push(e.message);
    }
  }
}
console.log(`parity: ${identical}/${total} records identical (${inputs.length} inputs x ${configs.length} configurations; ` +
  `${documents} documents of which ${errorRecords} error records)`);

await check(`parity: native, WASI filter_wasm and wasm-bindgen byte-identical on ${total} records`, () => {
  if (mismatches.length) throw new Error(`${mismatches.length} mismatches:\n${mismatches.slice(0, 5).join('\n')}`);
  assert(total >= inputs.length * configs.length && inputs.length > 100, 'too few inputs found');
});

// A 5 MB record passes through the filter_wasm convention (exported malloc, no app heap).
function bigRecord() {
  const base = JSON.parse(readFileSync(path.join(shared, 'sentinel', 'samples',
    'streaming-envelope-graph2otel', 'DeviceProcessEvents.liveRecord.json'), 'utf8'));
  base.properties.ProcessCommandLine = 'powershell.exe -enc ' + 'QUJD'.repeat(5 * 1024 * 1024 / 4);
  return JSON.stringify(base);
}
const big = bigRecord();
for (const cfg of [configs[0], configs[2]]) {
  await check(`5 MB record (${(big.length / 1048576).toFixed(1)} MiB) through ${cfg.fn} is kept and identical`, () => {
    assert(big.length > 5 * 1024 * 1024, 'record is not 5 MB');
    const expected = filterExpected(runNative(cfg.flags, big));
    const got = filter.call(cfg.fn, big);
    assert(got.length > 1024, `record dropped or truncated (${got.length} bytes)`);
    JSON.parse(got);
    assertSame(got, expected, '5 MB');
    assertSame(filter.call(cfg.fn, JSON.stringify({ log: big })), expected, '5 MB as {"log"}');
    // The reused buffer shrinks back; a small record after a big one is still right.
    assertSame(filter.call(cfg.fn, '{"value":[]}'), '', 'after 5 MB');
  });
}
await check('5 MB record through wasm-bindgen is identical', () => {
  assertSame(pkg.mapToJson(big, { target: 'ecs' }).join('\n'), runNative(['--to', 'ecs'], big).join('\n'), '5 MB js');
});

await check('filter: "no document" gives an empty string (drop); bad input gives an error record', () => {
  assertSame(filter.call('defender_to_ecs', '{"value":[]}'), '', 'empty page');
  const err = JSON.parse(filter.call('defender_to_ecs', '{"not":"defender"}'));
  assert(err.event.kind === 'pipeline_error' && err.error.message, 'ECS error record');
  assertSame(err.event.original, '{"not":"defender"}', 'original kept');
  const row = JSON.parse(filter.call('defender_to_sentinel', 'not json'));
  assert(row.Type === 'DefenderBridgeErrors_CL' && row.ErrorMessage && row.RawData === 'not json', 'Sentinel error row');
  // WAMR passes address 0 when it could not copy the record in: an error record, not a drop.
  const ex = filter.exports;
  const ptr = ex.defender_to_ecs(0, 0, 0, 0, 0, 4096) >>> 0;
  const mem = new Uint8Array(ex.memory.buffer);
  const v = JSON.parse(new TextDecoder().decode(mem.slice(ptr, mem.indexOf(0, ptr))));
  assert(v.event.kind === 'pipeline_error' && /could not copy/.test(v.error.message), 'failed copy');
});

await check('filter: a page with several records becomes {"documents":[…]} in order', () => {
  const a = inputs.find((i) => i.name.includes('DeviceProcessEvents')).text;
  const b = inputs.find((i) => i.name.includes('DeviceLogonEvents')).text;
  const page = `{"records":[${a},${b}]}`;
  const nat = runNative(['--to', 'sentinel'], page);
  assert(nat.length === 2, `expected 2 documents, native gave ${nat.length}`);
  const got = filter.call('defender_to_sentinel', page);
  assertSame(got, filterExpected(nat), 'envelope');
  assert(JSON.parse(got).documents.length === 2, 'two documents');
});

await check('filter: options come from defender-bridge.json in the preopened dir', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'db-wasi-cfg-'));
  writeFileSync(path.join(dir, 'defender-bridge.json'), '{"preserve_original_event": true, "log_key": "message"}');
  const f = await loadFilter(wasiPath, dir);
  const text = inputs[0].text;
  const expected = filterExpected(runNative(['--to', 'ecs', '--preserve-original-event'], text));
  assertSame(f.call('defender_to_ecs', text), expected, 'config preserve_original_event');
  assertSame(f.call('defender_to_ecs', JSON.stringify({ message: text })), expected, 'config log_key');
  // accessible_paths with absolute paths: the module looks in every preopened directory.
  const f2 = await loadFilter(wasiPath, { '/var/empty': emptyDir, '/etc/defender-bridge': dir });
  assertSame(f2.call('defender_to_ecs', text), expected, 'config in /etc/defender-bridge');
  rmSync(dir, { recursive: true });
});

await check('filter: a bad config turns every record into an error record (never a drop)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'db-wasi-bad-'));
  writeFileSync(path.join(dir, 'defender-bridge.json'), '{"preserve_orignal_event": true}');
  const f = await loadFilter(wasiPath, dir);
  const v = JSON.parse(f.call('defender_to_ecs', inputs[0].text));
  assert(v.event.kind === 'pipeline_error' && /unknown option/.test(v.error.message), v.error && v.error.message);
  rmSync(dir, { recursive: true });
});

await check('wasm-bindgen: map() returns objects, options are checked, onError "throw" throws the core message', () => {
  const text = inputs[0].text;
  const objs = pkg.map(text, { target: 'ecs' });
  assert(Array.isArray(objs) && objs.length === runNative(['--to', 'ecs'], text).length, 'map() count');
  assertSame(JSON.stringify(pkg.map(JSON.parse(text))), JSON.stringify(pkg.map(JSON.stringify(JSON.parse(text)))), 'object input');
  let msg = '';
  try { pkg.map(text, { target: 'splunk' }); } catch (e) { msg = e.message; assert(e instanceof Error, 'Error'); }
  assert(/unknown target "splunk"/.test(msg), `bad target: ${msg}`);
  try { pkg.map(42); msg = ''; } catch (e) { msg = e.message; }
  assert(/input must be/.test(msg), `bad input: ${msg}`);
  const nat = runNative(['--to', 'ecs'], 'not json');
  const expectedMsg = JSON.parse(nat[0]).error.message;
  try { pkg.map('not json', { onError: 'throw' }); msg = ''; } catch (e) { msg = e.message; }
  assertSame(msg, expectedMsg, 'thrown message');
  const entries = pkg.mapEntries('not json');
  assertSame(entries[0].error, expectedMsg, 'mapEntries error');
  assertSame(entries[0].json, nat[0], 'mapEntries json');
});

await check('wasm-bindgen package layout: package.json, .d.ts with the API types', () => {
  const pj = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  assert(pj.name && pj.version && pj.main && pj.types, 'package.json fields');
  for (const f of [pj.main, pj.types, 'defender_bridge_wasm_bg.wasm']) statSync(path.join(pkgDir, f));
  const dts = readFileSync(path.join(pkgDir, pj.types), 'utf8');
  for (const s of ['export function map(input: string | object, options?: MapOptions | null): MapRecord[]',
    'export function mapToJson(', 'export interface MapOptions']) {
    assert(dts.includes(s), `.d.ts lacks ${s}`);
  }
});

rmSync(emptyDir, { recursive: true });
summary();
