// Settings' side panels: the running agent (version, uptime, fingerprint,
// detected addresses, history memory), and the whole configuration:
// download it, or upload one, see the plan (what it creates, changes and
// deletes, field by field), then apply it.

import { h, replaceChildren, fmtDuration, fmtBytes } from '../dom.js';
import { api, ApiError } from '../api.js';
import { state, refresh } from '../store.js';

export function agentPanel() {
  const el = h('div', { class: 'panel', 'data-testid': 'agent-info' });
  function update() {
    const site = state.site || {};
    const ag = (site.status && site.status.agent) || {};
    const hist = (site.status && site.status.history) || {};
    const detected = state.tunnelSockets.filter((t) => t.status && t.status.publicAddress)
      .map((t) => `${t.name}: ${t.status.publicAddress}${t.status.detection ? ' (detected)' : ''}`);
    replaceChildren(el, h('h3', {}, 'This agent'), h('dl', { class: 'facts' },
      h('dt', {}, 'Version'), h('dd', { 'data-testid': 'agent-version' }, ag.version || '–'),
      h('dt', {}, 'Up for'), h('dd', { 'data-testid': 'agent-uptime' }, ag.uptimeSeconds !== undefined ? fmtDuration(ag.uptimeSeconds) : '–'),
      h('dt', {}, 'Certificate'), h('dd', {}, h('code', { class: 'fingerprint', 'data-testid': 'agent-fingerprint' }, ag.fingerprint || '–')),
      h('dt', {}, 'Public addresses'), h('dd', { 'data-testid': 'agent-addresses' }, detected.length ? detected.join('; ') : 'none announced'),
      h('dt', {}, 'History'), h('dd', {}, hist.series !== undefined ? `${hist.series} series, ${fmtBytes(hist.bytes)} of memory` : '–')));
  }
  update();
  return { el, update };
}

function planList(plan) {
  const entry = (verb, e) => h('li', { 'data-testid': 'plan-entry', 'data-verb': verb, 'data-kind': e.kind, 'data-name': e.name },
    h('strong', { class: `plan-${verb}` }, { created: '+', changed: '~', deleted: '−' }[verb]), ` ${e.kind} ${e.name}`,
    e.origin === 'config' ? h('span', { class: 'muted' }, ' (from the config file)') : null,
    e.fields && e.fields.length ? h('ul', {}, e.fields.map((f) => h('li', {}, h('code', {}, f.field), ': ',
      'from' in f && f.from !== null ? h('code', {}, JSON.stringify(f.from)) : 'unset', ' → ',
      'to' in f && f.to !== null ? h('code', {}, JSON.stringify(f.to)) : 'unset'))) : null);
  const all = [...plan.created.map((e) => entry('created', e)), ...plan.changed.map((e) => entry('changed', e)), ...plan.deleted.map((e) => entry('deleted', e))];
  return [
    h('p', { 'data-testid': 'plan-summary' }, all.length
      ? `${plan.created.length} to create, ${plan.changed.length} to change, ${plan.deleted.length} to delete.`
      : 'No change: the agent already runs this configuration.'),
    all.length ? h('ul', { class: 'plan' }, all) : null,
    (plan.warnings || []).map((w) => h('p', { class: 'form-error', 'data-testid': 'plan-warning' }, w)),
  ];
}

export function configPanel(ctx) {
  let upload = null;   // {text, type, name, revision, plan}
  const file = h('input', { type: 'file', accept: '.json,.yaml,.yml,application/json,application/yaml', 'data-testid': 'config-file', id: 'config-file' });
  const out = h('div', { 'data-testid': 'config-plan' });
  const error = h('div', { class: 'form-error', role: 'alert', 'data-testid': 'config-error', hidden: true });
  const el = h('div', { class: 'panel', 'data-testid': 'config' },
    h('h3', {}, 'Configuration'),
    h('p', { class: 'muted' }, 'The whole desired state as one document (no secrets in it). An uploaded one replaces it all: what it does not list is deleted. You see the plan before anything changes.'),
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', 'data-testid': 'config-download', onclick: download }, 'Download')),
    h('div', { class: 'field' }, h('label', { for: 'config-file' }, 'Upload a configuration (JSON as downloaded, or the YAML config file)'), file),
    error, out);

  function fail(text) { error.textContent = text; error.hidden = false; }

  async function download() {
    error.hidden = true;
    try {
      const doc = await api.get('/config');
      const blob = new Blob([`${JSON.stringify(doc, null, 2)}\n`], { type: 'application/json' });
      const a = h('a', { href: URL.createObjectURL(blob), download: `wovenet-${(state.site && state.site.siteName) || 'site'}.json`, 'data-testid': 'config-download-link' });
      document.body.append(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    } catch (err) {
      fail(`Could not read the configuration: ${err.message}`);
    }
  }

  async function plan() {
    const cur = await api.get('/config');
    const body = { raw: upload.text, type: upload.type };
    upload.revision = cur.revision;
    upload.plan = await api.put('/config?dryRun=true', body, { 'If-Match': `"${cur.revision}"` });
  }

  function show() {
    if (!upload || !upload.plan) { replaceChildren(out); return; }
    const p = upload.plan;
    const changes = p.created.length + p.changed.length + p.deleted.length;
    replaceChildren(out, h('h4', {}, `Plan for ${upload.name}`), planList(p),
      h('div', { class: 'actions' },
        changes ? h('button', { type: 'button', 'data-testid': 'config-apply', onclick: apply }, 'Apply this plan') : null,
        h('button', { type: 'button', class: 'secondary', 'data-testid': 'config-cancel', onclick: () => { upload = null; file.value = ''; show(); } }, changes ? 'Cancel' : 'Close')));
  }

  async function apply() {
    error.hidden = true;
    try {
      const done = await api.put('/config', { raw: upload.text, type: upload.type }, { 'If-Match': `"${upload.revision}"` });
      const n = done.created.length + done.changed.length + done.deleted.length;
      ctx.notice(`Configuration applied: ${n} change${n === 1 ? '' : 's'} (revision ${done.revision}).`);
      upload = null;
      file.value = '';
      show();
      await refresh();
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) fail('The configuration changed since this plan was made: nothing was applied. Upload the file again to see a new plan.');
      else fail(`Not applied: ${err.field ? `${err.field}: ` : ''}${err.message}`);
    }
  }

  file.addEventListener('change', async () => {
    error.hidden = true;
    const f = file.files && file.files[0];
    if (!f) return;
    if (f.size > 1 << 20) { fail('That file is over 1 MiB: not a configuration.'); return; }
    const yaml = /\.ya?ml$/i.test(f.name) || /yaml/.test(f.type);
    upload = { text: await f.text(), type: yaml ? 'application/yaml' : 'application/json', name: f.name };
    try {
      await plan();
    } catch (err) {
      upload = null;
      fail(`${f.name} cannot be applied: ${err.field ? `${err.field}: ` : ''}${err.message}`);
    }
    show();
  });

  return { el, update() {} };
}
