// The playground: maps the input box with the wasm-bindgen package on every change.
import init, { mapEntries, version } from '../pkg/defender_bridge_wasm.js';

const $ = (id) => document.getElementById(id);
const input = $('input');
const output = $('output');
const errors = $('errors');
const status = $('status');

function options() {
  return {
    target: $('target').value,
    ecsIntegration: $('integration').value,
    preserveOriginalEvent: $('original').checked,
    strictSchema: $('strict').checked,
  };
}

function render() {
  errors.replaceChildren();
  const text = input.value;
  if (!text.trim()) {
    output.textContent = '';
    status.textContent = 'ready';
    return;
  }
  let entries;
  try {
    entries = mapEntries(text, options());
  } catch (e) {
    output.textContent = '';
    status.textContent = 'error';
    const li = document.createElement('li');
    li.textContent = e.message;
    errors.append(li);
    return;
  }
  const pretty = $('pretty').checked;
  output.textContent = entries
    .map((e) => (pretty ? JSON.stringify(JSON.parse(e.json), null, 2) : e.json))
    .join('\n');
  const failed = entries.filter((e) => e.error !== null);
  for (const e of failed) {
    const li = document.createElement('li');
    li.textContent = e.error;
    errors.append(li);
  }
  const docs = entries.length - failed.length;
  status.textContent = `${docs} document${docs === 1 ? '' : 's'}, ${failed.length} error${failed.length === 1 ? '' : 's'}`;
}

async function loadFile(file) {
  input.value = await file.text();
  render();
}

input.addEventListener('input', render);
for (const id of ['target', 'integration', 'original', 'strict', 'pretty']) $(id).addEventListener('change', render);
$('file').addEventListener('change', (e) => e.target.files[0] && loadFile(e.target.files[0]));
input.addEventListener('dragover', (e) => { e.preventDefault(); input.classList.add('drag'); });
input.addEventListener('dragleave', () => input.classList.remove('drag'));
input.addEventListener('drop', (e) => {
  e.preventDefault();
  input.classList.remove('drag');
  if (e.dataTransfer.files[0]) loadFile(e.dataTransfer.files[0]);
});
$('copy').addEventListener('click', () => navigator.clipboard.writeText(output.textContent));

try {
  await init();
  status.textContent = `ready (defender-bridge ${version()})`;
  document.body.dataset.ready = 'true';
  render();
} catch (e) {
  status.textContent = `could not load the WebAssembly module: ${e.message}`;
}
