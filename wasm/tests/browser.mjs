// The playground in headless Chromium (Debian's chromium, driven by playwright-core): served from
// a loopback server, a fixture is pasted and dropped, and the rendered output must equal the
// native CLI's output byte for byte; errors must show the core's message.
//
// Environment: DB_NATIVE (the `defender-bridge` binary), DB_SHARED or DEFENDER_BRIDGE_SHARED
// (default ../shared), CHROMIUM (default /usr/bin/chromium), DB_SCREENSHOT (optional PNG path).
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { check, assert, assertSame, summary } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..'); // serves wasm/: /www/ and /pkg/
const repo = path.resolve(root, '..');
const shared = path.resolve(process.env.DB_SHARED || process.env.DEFENDER_BRIDGE_SHARED || path.join(repo, '..', 'shared'));
const native = process.env.DB_NATIVE;
if (!native) {
  console.error('set DB_NATIVE');
  process.exit(2);
}

function runNative(flags, text) {
  const r = spawnSync(native, ['map', ...flags], { input: text, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`native exited ${r.status}: ${r.error || r.stderr}`);
  return r.stdout.toString('utf8').replace(/\n$/, '');
}

const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.json': 'application/json', '.ts': 'text/plain' };
const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const file = path.join(root, decodeURIComponent(url.pathname));
  try {
    if (!file.startsWith(root + path.sep) || !statSync(file).isFile()) throw new Error('not found');
    res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream' });
    res.end(readFileSync(file));
  } catch {
    res.writeHead(404).end('not found');
  }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}`;

const profile = mkdtempSync(path.join(tmpdir(), 'db-chromium-'));
// launchPersistentContext: a fresh --user-data-dir of our own, removed afterwards.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
try {
  const page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('request', (r) => !r.url().startsWith(base) && !r.url().startsWith('data:') && problems.push(`off-host request ${r.url()}`));

  const ndjson = readFileSync(path.join(shared, 'fixtures', 'elastic', 'm365_defender', 'event', 'test-device.log'), 'utf8');
  const sample = readFileSync(path.join(shared, 'sentinel', 'samples', 'streaming-envelope-graph2otel',
    'DeviceProcessEvents.liveRecord.json'), 'utf8');

  await check('playground loads the wasm-bindgen package from a loopback server', async () => {
    await page.goto(`${base}/www/index.html`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
    assert(/^ready/.test(await page.textContent('#status')), 'status ready');
  });

  await check('pasting NDJSON fixtures renders the native ECS output', async () => {
    await page.click('#input');
    await page.keyboard.insertText(ndjson); // what a paste does: one input event with the text
    const expected = runNative(['--to', 'ecs'], ndjson);
    await page.waitForFunction((n) => document.getElementById('output').textContent.split('\n').length === n,
      expected.split('\n').length, { timeout: 20000 });
    assertSame(await page.textContent('#output'), expected, 'ECS output');
    const errs = expected.split('\n').filter((l) => l.includes('"pipeline_error"')).length;
    assertSame(await page.locator('#errors li').count() + '', errs + '', 'error count');
  });

  await check('switching to Sentinel renders the native Sentinel rows', async () => {
    await page.selectOption('#target', 'sentinel');
    const expected = runNative(['--to', 'sentinel'], ndjson);
    await page.waitForFunction((t) => document.getElementById('output').textContent === t, expected, { timeout: 20000 })
      .catch(() => {});
    assertSame(await page.textContent('#output'), expected, 'Sentinel output');
  });

  await check('dropping a pretty-printed sample file renders the native output', async () => {
    const dt = await page.evaluateHandle((text) => {
      const d = new DataTransfer();
      d.items.add(new File([text], 'DeviceProcessEvents.json', { type: 'application/json' }));
      return d;
    }, sample);
    await page.dispatchEvent('#input', 'drop', { dataTransfer: dt });
    const expected = runNative(['--to', 'sentinel'], sample);
    await page.waitForFunction((t) => document.getElementById('output').textContent === t, expected, { timeout: 20000 })
      .catch(() => {});
    assertSame(await page.textContent('#output'), expected, 'dropped sample');
  });

  await check('bad input shows the error record and the core message', async () => {
    await page.selectOption('#target', 'ecs');
    await page.fill('#input', '{"value":[{"id":1}], "broken": ');
    const expected = runNative(['--to', 'ecs'], '{"value":[{"id":1}], "broken": ');
    const message = JSON.parse(expected.split('\n')[0]).error.message;
    await page.waitForSelector('#errors li', { timeout: 20000 });
    assertSame(await page.textContent('#output'), expected, 'error record');
    assertSame(await page.textContent('#errors li'), message, 'error message');
    assert(/0 documents, 1 error/.test(await page.textContent('#status')), 'status counts');
    if (process.env.DB_SCREENSHOT) {
      await page.fill('#input', sample);
      await page.check('#pretty');
      await page.screenshot({ path: process.env.DB_SCREENSHOT, fullPage: true });
    }
  });

  await check('no page errors, console errors or off-host requests', () => {
    if (problems.length) throw new Error(problems.join('\n'));
  });
} finally {
  await context.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
summary();
