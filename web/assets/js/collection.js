// A list + create/edit form for one REST collection (tunnel sockets,
// exposed apps, remote apps). Errors from the API go next to the field they
// name; on error nothing else on the page changes.

import { h, replaceChildren, empty } from './dom.js';
import { api, enc } from './api.js';
import { state, refresh } from './store.js';
import { createForm, fieldRow, setValue, clearErrors } from './forms.js';

function cell(label, content) {
  return h('td', { 'data-label': label }, content);
}

export function mountCollection(spec, ctx) {
  let editing = null;     // name being edited, or null when creating
  let armed = null;       // name whose delete awaits confirmation

  const heading = h('h3', { 'data-testid': `${spec.testid}-form-title` });
  const cancel = h('button', { type: 'button', class: 'secondary', 'data-testid': `${spec.testid}-cancel`, onclick: () => resetForm() }, 'Cancel');
  const form = createForm(`${spec.testid}-form`, submit);
  const rows = spec.fields.map((f) => fieldRow(form, f));
  form.el.append(heading, ...rows, form.general,
    h('div', { class: 'actions' }, h('button', { type: 'submit', 'data-testid': `${spec.testid}-submit` }, 'Save'), cancel));
  form.el.addEventListener('input', () => spec.onInput && spec.onInput(form));
  form.el.addEventListener('change', () => spec.onInput && spec.onInput(form));

  const list = h('div', { class: 'list', 'data-testid': `${spec.testid}-list` });
  const el = h('section', { class: 'collection', 'data-testid': `${spec.testid}-section` },
    h('h2', {}, spec.title), spec.intro ? h('p', { class: 'muted' }, spec.intro) : null,
    h('div', { class: 'split' }, list, h('div', { class: 'panel' }, form.el)));

  function resetForm(values) {
    editing = null;
    clearErrors(form);
    form.el.reset();
    for (const f of form.fields) f.input.readOnly = false;
    heading.textContent = `Add ${spec.singular}`;
    cancel.hidden = true;
    if (values) for (const [k, v] of Object.entries(values)) setValue(form, k, v);
    if (spec.onInput) spec.onInput(form);
  }

  function startEdit(item) {
    resetForm();
    editing = item.name;
    heading.textContent = `Edit ${spec.singular} ${item.name}`;
    cancel.hidden = false;
    spec.fromItem(form, item);
    form.fields.find((f) => f.name === 'name').input.readOnly = true;
    if (spec.onInput) spec.onInput(form);
    form.fields[1].input.focus();
  }

  async function submit() {
    const body = spec.toBody(form);
    if (editing) {
      await api.put(`${spec.path}/${enc(editing)}`, body);
      ctx.notice(`Saved ${spec.singular} ${body.name}.`);
    } else {
      await api.post(spec.path, body);
      ctx.notice(`Created ${spec.singular} ${body.name}.`);
    }
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
    return [
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
    const body = items.map((item) => h('tr', { 'data-testid': `${spec.testid}-row`, 'data-name': item.name },
      spec.columns.map((c) => cell(c.label, c.value(item))),
      cell('', h('div', { class: 'row-actions' }, actions(item)))));
    replaceChildren(list, h('table', { class: 'table' }, h('thead', {}, head), h('tbody', {}, body)));
  }

  resetForm();
  update();
  function prefill(values) {
    resetForm(values);
    const next = form.fields.find((f) => !f.input.value && !f.row.hidden) || form.fields[0];
    next.input.focus();
  }

  return { el, update, prefill };
}
