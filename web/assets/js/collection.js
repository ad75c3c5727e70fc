// A list + create/edit form for one REST collection (tunnel sockets,
// exposed apps, remote apps). Errors from the API go next to the field they
// name; on error nothing else on the page changes.

import { h, replaceChildren, empty, badge } from './dom.js';
import { api, enc } from './api.js';
import { state, refresh } from './store.js';
import { createForm, fieldRow, setValue, clearErrors } from './forms.js';

function cell(label, content) {
  return h('td', { 'data-label': label }, content);
}

/** The first cell: the name, marked when the config file manages it. */
function originLabel(item, content) {
  if (item.origin !== 'config') return content;
  const mark = badge('from file', 'idle', 'origin-badge');
  mark.title = `Managed by the config file ${item.managedBy || ''}`;
  return h('span', {}, content, ' ', mark);
}

const cap = (t) => t.charAt(0).toUpperCase() + t.slice(1);

export function mountCollection(spec, ctx) {
  let editing = null;     // name being edited, or null when creating
  let armed = null;       // name whose delete awaits confirmation
  const open = new Set(); // names whose details row is shown

  const heading = h('h3', { 'data-testid': `${spec.testid}-form-title` });
  const cancel = h('button', { type: 'button', class: 'secondary', 'data-testid': `${spec.testid}-cancel`, onclick: () => resetForm() }, 'Cancel');
  const form = createForm(`${spec.testid}-form`, submit);
  const rows = spec.fields.map((f) => fieldRow(form, f));
  // An object from the config file is the file's: saving it here takes it
  // over (the API answers 409 otherwise), and says so before.
  // "enabled": false pauses the object without deleting it.
  const pausedBox = h('input', { type: 'checkbox', name: 'paused', 'data-testid': 'input-paused' });
  const paused = h('div', { class: 'field', 'data-field': 'enabled' },
    h('label', {}, pausedBox, ` Paused: keep the ${spec.singular} but do not run it`));
  const takeOverBox = h('input', { type: 'checkbox', name: 'takeOver', 'data-testid': 'input-takeOver' });
  const managedNote = h('p', { class: 'help', 'data-testid': 'managed-note' });
  const takeOver = h('div', { class: 'field managed', 'data-field': 'takeOver', hidden: true }, managedNote,
    h('label', {}, takeOverBox, ' Take it over: manage it here from now on (the file\'s entry is then ignored)'));
  form.el.append(heading, ...rows, paused, takeOver, form.general,
    h('div', { class: 'actions' }, h('button', { type: 'submit', 'data-testid': `${spec.testid}-submit` }, 'Save'), cancel));
  form.el.addEventListener('input', () => spec.onInput && spec.onInput(form));
  form.el.addEventListener('change', () => spec.onInput && spec.onInput(form));
  if (spec.decorate) spec.decorate(form);

  const list = h('div', { class: 'list', 'data-testid': `${spec.testid}-list` });
  const el = h('section', { class: 'collection', 'data-testid': `${spec.testid}-section` },
    h('h2', {}, spec.title), spec.intro ? h('p', { class: 'muted' }, spec.intro) : null,
    h('div', { class: 'split' }, list, h('div', { class: 'panel' }, form.el)));

  function resetForm(values) {
    editing = null;
    takeOver.hidden = true;
    takeOverBox.checked = false;
    pausedBox.checked = false;
    clearErrors(form);
    form.el.reset();
    for (const f of form.fields) f.input.readOnly = false;
    heading.textContent = `Add ${spec.singular}`;
    cancel.hidden = true;
    if (values) for (const [k, v] of Object.entries(values)) setValue(form, k, v);
    if (spec.onReset) spec.onReset(form);
    if (spec.onInput) spec.onInput(form);
  }

  function startEdit(item) {
    resetForm();
    editing = item.name;
    heading.textContent = `Edit ${spec.singular} ${item.name}`;
    cancel.hidden = false;
    spec.fromItem(form, item);
    if (spec.onReset) spec.onReset(form);
    pausedBox.checked = item.enabled === false;
    if (item.origin === 'config') {
      managedNote.textContent = `Managed by the config file ${item.managedBy || ''}: each start of the agent makes it equal to the file again.`;
      takeOver.hidden = false;
    }
    form.fields.find((f) => f.name === 'name').input.readOnly = true;
    if (spec.onInput) spec.onInput(form);
    const next = form.fields.slice(1).find((f) => !f.row.hidden && !f.input.hidden && f.input.offsetParent !== null);
    (next ? next.input : form.el.querySelector('select:not([hidden]), input:not([hidden])')).focus();
  }

  async function submit() {
    const body = spec.toBody(form);
    if (pausedBox.checked) body.enabled = false;
    let saved;
    if (editing) {
      if (!takeOver.hidden && takeOverBox.checked) body.origin = 'api';
      saved = await api.put(`${spec.path}/${enc(editing)}`, body);
    } else {
      saved = await api.post(spec.path, body);
    }
    // Stored, but its runtime says no (a port in use, a site without that app).
    const st = (saved && saved.status) || {};
    const but = (saved && saved.warning) || (st.state === 'error' ? `saved, but ${st.error || 'it is in error'}` : '');
    if (but) ctx.notice(`${cap(spec.singular)} ${body.name} ${but.startsWith('saved, but') ? but : `saved, but ${but}`}`, 'warn');
    else ctx.notice(`${editing ? 'Saved' : 'Created'} ${spec.singular} ${body.name}${st.state ? ` (${st.state})` : ''}.`);
    resetForm();
    await refresh([spec.kind]);
  }

  async function remove(name) {
    armed = null;
    try {
      await api.del(`${spec.path}/${enc(name)}`);
      if (editing === name) resetForm();
      ctx.notice(`Deleted ${spec.singular} ${name}.`);
      await refresh([spec.kind]);
    } catch (err) {
      ctx.notice(`Could not delete ${name}: ${err.message}`, 'bad');
      update();
    }
  }

  function actions(item) {
    if (armed === item.name) {
      return [
        h('button', { type: 'button', class: 'danger', 'data-testid': 'confirm-delete', 'data-focus-key': `${spec.testid}-confirm-${item.name}`, onclick: () => remove(item.name) }, `Delete ${item.name}`),
        h('button', { type: 'button', class: 'secondary', 'data-testid': 'cancel-delete', onclick: () => { armed = null; update(); } }, 'Keep'),
      ];
    }
    const more = spec.details ? h('button', {
      type: 'button', class: 'secondary', 'data-testid': 'details', 'aria-expanded': open.has(item.name) ? 'true' : 'false',
      'data-focus-key': `${spec.testid}-details-${item.name}`,
      onclick: () => { if (open.has(item.name)) open.delete(item.name); else open.add(item.name); update(); },
    }, open.has(item.name) ? 'Hide' : 'Details') : null;
    return [
      more,
      h('button', { type: 'button', class: 'secondary', 'data-testid': 'edit', 'data-focus-key': `${spec.testid}-edit-${item.name}`, onclick: () => startEdit(item) }, 'Edit'),
      h('button', { type: 'button', class: 'secondary', 'data-testid': 'delete', 'data-focus-key': `${spec.testid}-delete-${item.name}`,
        onclick: () => { armed = item.name; update(); el.querySelector('[data-testid=confirm-delete]').focus(); } }, 'Delete'),
    ];
  }

  function update() {
    const items = state[spec.kind] || [];
    if (!items.length) {
      replaceChildren(list, empty(`${spec.testid}-empty`, spec.emptyText));
      return;
    }
    const head = h('tr', {}, spec.columns.map((c) => h('th', { scope: 'col' }, c.label)), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')));
    const width = spec.columns.length + 1;
    const body = items.flatMap((item) => [h('tr', { 'data-testid': `${spec.testid}-row`, 'data-name': item.name, 'data-origin': item.origin || 'api',
      'data-state': (item.status && item.status.state) || '', class: item.status && item.status.state === 'error' ? 'row-error' : null },
      spec.columns.map((c, i) => cell(c.label, i === 0 ? originLabel(item, c.value(item)) : c.value(item))),
      cell('', h('div', { class: 'row-actions' }, actions(item)))),
    spec.details && open.has(item.name)
      ? h('tr', { class: 'details-row', 'data-testid': `${spec.testid}-details`, 'data-name': item.name }, h('td', { colspan: width }, spec.details(item)))
      : null]).filter(Boolean);
    replaceChildren(list, h('table', { class: 'table' }, h('thead', {}, head), h('tbody', {}, body)));
  }

  resetForm();
  update();
  function prefill(values) {
    resetForm(values);
    const next = form.fields.find((f) => !f.input.value && !f.row.hidden) || form.fields[0];
    next.input.focus();
  }

  return { el, update, prefill, form, detailsOpen: () => open.size > 0 };
}
