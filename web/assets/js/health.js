// What needs a look: every object whose status says error, the broker
// when it is not connected, peers whose channels are all down. One list
// for the overview's banner and counts and the navigation's badge.

import { state } from './store.js';

const KINDS = [
  ['tunnelSockets', 'tunnel socket', '#/sockets'],
  ['exposedApps', 'exposed app', '#/apps'],
  ['remoteApps', 'remote app', '#/apps'],
];

/** [{kind, noun, name, error, href}] of the objects in state error. */
export function problems() {
  const out = [];
  for (const [kind, noun, href] of KINDS) {
    for (const o of state[kind] || []) {
      const st = o.status || {};
      if (st.state === 'error') out.push({ kind, noun, name: o.name, error: st.error || 'in error', href });
    }
  }
  const broker = (state.broker && state.broker.state) || '';
  if (state.site && broker && broker !== 'connected') {
    out.push({ kind: 'broker', noun: 'broker', name: '', error: `the message channel is ${broker}: no peer can find this site`, href: '#/settings' });
  }
  return out;
}

/** Apps split by health, for consistent counts everywhere. */
export function appCounts() {
  const all = [...state.remoteApps, ...state.exposedApps];
  const state_ = (a) => (a.status && a.status.state) || '';
  return {
    total: all.length,
    exposed: state.exposedApps.length,
    remote: state.remoteApps.length,
    error: all.filter((a) => state_(a) === 'error').length,
    paused: all.filter((a) => state_(a) === 'disabled').length,
    open: all.reduce((n, a) => n + ((a.status && a.status.activeConnections) || 0), 0),
  };
}
