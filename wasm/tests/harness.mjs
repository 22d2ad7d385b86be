// A tiny test harness shared by the wasm tests: `check(name, fn)`, then `summary()` prints
// `N passed, M failed` as the last line and sets the exit code.
let passed = 0;
let failed = 0;

export async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}\n  ${String(e && e.stack ? e.stack : e).split('\n').join('\n  ')}`);
  }
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** Shows where two strings first differ. */
export function assertSame(actual, expected, what) {
  if (actual === expected) return;
  let i = 0;
  while (i < actual.length && actual[i] === expected[i]) i++;
  const at = (s) => JSON.stringify(s.slice(Math.max(0, i - 60), i + 60));
  throw new Error(`${what}: differ at byte ${i} (lengths ${actual.length} vs ${expected.length})\n` +
    `  got      ${at(actual)}\n  expected ${at(expected)}`);
}

export function summary() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
  return { passed, failed };
}
