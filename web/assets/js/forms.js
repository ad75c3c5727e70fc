// Form building and the mapping of API errors (`field` paths) to inputs.

import { h } from './dom.js';

let uid = 0;

/**
 * field: {name, label, type: text|number|select|textarea|password, options,
 *         help, placeholder, required, list, paths: [api paths shown here]}
 */
export function fieldRow(form, field) {
  const id = `f${++uid}-${field.name}`;
  const common = {
    id, name: field.name, 'data-testid': `input-${field.name}`,
    'aria-describedby': `${id}-err${field.help ? ` ${id}-help` : ''}`,
    placeholder: field.placeholder, required: field.required, autocomplete: field.autocomplete || 'off',
  };
  let input;
  if (field.type === 'select') {
    input = h('select', common, field.options.map((o) => h('option', { value: o }, o)));
  } else if (field.type === 'textarea') {
    input = h('textarea', { ...common, rows: field.rows || 3 });
  } else {
    input = h('input', { ...common, type: field.type || 'text', list: field.list, inputmode: field.inputmode });
  }
  const row = h('div', { class: 'field', 'data-field': field.name },
    h('label', { for: id }, field.label),
    input,
    field.help ? h('small', { id: `${id}-help`, class: 'help' }, field.help) : null,
    h('div', { id: `${id}-err`, class: 'field-error', 'data-testid': `field-error-${field.name}`, role: 'alert', hidden: true }));
  form.fields.push({ ...field, input, row });
  return row;
}

export function createForm(testid, onSubmit) {
  const el = h('form', { class: 'form', 'data-testid': testid, novalidate: true });
  const general = h('div', { class: 'form-error', 'data-testid': `${testid}-error`, role: 'alert', hidden: true });
  const form = { el, general, fields: [] };
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const button = el.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    try { await onSubmit(form); } catch (err) { showError(form, err); } finally { if (button) button.disabled = false; }
  });
  return form;
}

export function clearErrors(form) {
  form.general.hidden = true;
  form.general.textContent = '';
  for (const f of form.fields) {
    const err = f.row.querySelector('.field-error');
    err.hidden = true;
    err.textContent = '';
    f.input.removeAttribute('aria-invalid');
  }
}

/** Strips a collection prefix such as "remoteApps[0]." or "site.". */
function normalisePath(path) {
  return String(path || '').replace(/^(site|tunnelSockets\[\d+\]|exposedApps\[\d+\]|remoteApps\[\d+\])\./, '');
}

function matches(path, prefix) {
  return path === prefix || path.startsWith(`${prefix}[`) || path.startsWith(`${prefix}.`);
}

/** The form field whose API paths best match the error's `field`. */
export function fieldFor(form, path) {
  const p = normalisePath(path);
  let best = null, bestLen = -1;
  for (const f of form.fields) {
    for (const prefix of f.paths || [f.name]) {
      if (matches(p, prefix) && prefix.length > bestLen) { best = f; bestLen = prefix.length; }
    }
  }
  return best;
}

export function showError(form, err) {
  const target = err && err.field ? fieldFor(form, err.field) : null;
  const text = err && err.message ? err.message : String(err);
  if (target && !target.row.hidden) {
    const box = target.row.querySelector('.field-error');
    box.textContent = text;
    box.hidden = false;
    target.input.setAttribute('aria-invalid', 'true');
    target.input.focus();
  } else {
    form.general.textContent = err && err.field ? `${err.field}: ${text}` : text;
    form.general.hidden = false;
  }
}

export function getValue(form, name) {
  const f = form.fields.find((x) => x.name === name);
  return f ? f.input.value.trim() : '';
}

export function setValue(form, name, value) {
  const f = form.fields.find((x) => x.name === name);
  if (f) f.input.value = value === undefined || value === null ? '' : String(value);
}

/** Splits a list typed one per line or comma-separated. */
export function splitList(text) {
  return String(text || '').split(/[\n,]/).map((x) => x.trim()).filter(Boolean);
}
