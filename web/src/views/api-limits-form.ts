import { h } from '../components/dom.js';
import { field } from '../components/form.js';
import { bytes } from '../format.js';
import type { Api } from '../types.js';
import { numberOf } from './api-health-form.js';

/** The timeouts, retries and body limit of the API form, as typed (numbers as text). */
export interface LimitValues {
  retries: string;
  maxBodyBytes: string;
  connectMs: string;
  headersMs: string;
  bodyMs: string;
  upgradeIdleMs: string;
}

/** The form's values for the API's current timeouts, retries and body limit. */
export function limitValuesOf(api: Pick<Api, 'retries' | 'maxBodyBytes' | 'timeouts'>): LimitValues {
  return {
    retries: String(api.retries),
    maxBodyBytes: String(api.maxBodyBytes),
    connectMs: String(api.timeouts.connectMs),
    headersMs: String(api.timeouts.headersMs),
    bodyMs: String(api.timeouts.bodyMs),
    upgradeIdleMs: String(api.timeouts.upgradeIdleMs),
  };
}

/** The server's defaults (src/model/api.ts): one retry, 10 MiB bodies, timeouts of 3 s, 30 s, 60 s and 5 min. */
export function limitDefaults(): LimitValues {
  return {
    retries: '1',
    maxBodyBytes: String(10 * 1024 * 1024),
    connectMs: '3000',
    headersMs: '30000',
    bodyMs: '60000',
    upgradeIdleMs: '300000',
  };
}

/** The `timeouts`, `retries` and `maxBodyBytes` parts of the API body; what is empty is left to the API's defaults. */
export function limitsBody(v: LimitValues): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const timeouts: Record<string, unknown> = {};
  for (const key of ['connectMs', 'headersMs', 'bodyMs', 'upgradeIdleMs'] as const) {
    const n = numberOf(v[key]);
    if (n !== undefined) timeouts[key] = n;
  }
  body.timeouts = timeouts;
  const r = numberOf(v.retries);
  if (r !== undefined) body.retries = r;
  const m = numberOf(v.maxBodyBytes);
  if (m !== undefined) body.maxBodyBytes = m;
  return body;
}

/**
 * "Timeouts and limits" of the API form, folded unless `open`: the connect, headers, body and WebSocket
 * idle timeouts, the retries, and the largest request body with its size in words.
 */
export function limitsSection(
  start: LimitValues,
  open: boolean,
): { element: HTMLDetailsElement; read: () => LimitValues } {
  const retries = h('input', {
    type: 'number',
    name: 'retries',
    min: 0,
    max: 10,
    step: 1,
    inputmode: 'numeric',
    value: start.retries,
  });
  const maxBody = h('input', {
    type: 'number',
    name: 'maxBodyBytes',
    min: 0,
    step: 1,
    inputmode: 'numeric',
    value: start.maxBodyBytes,
  });
  const maxBodyHint = h('span');
  const timeout = (value: string) => h('input', { type: 'number', min: 1, step: 1, inputmode: 'numeric', value });
  const connectMs = timeout(start.connectMs);
  const headersMs = timeout(start.headersMs);
  const bodyMs = timeout(start.bodyMs);
  const upgradeIdleMs = timeout(start.upgradeIdleMs);

  const showBytes = () => {
    const n = Number(maxBody.value);
    maxBodyHint.textContent =
      maxBody.value !== '' && Number.isInteger(n) && n >= 0
        ? `${bytes(n)}; larger bodies get 413.`
        : 'Larger bodies get 413.';
  };
  showBytes();
  maxBody.addEventListener('input', showBytes);

  const element = h(
    'details',
    { class: 'more', open },
    h('summary', null, 'Timeouts and limits'),
    h(
      'div',
      { class: 'grid-3' },
      field({
        label: 'Connect timeout (ms)',
        path: 'timeouts.connectMs',
        control: connectMs,
        hint: 'TCP/TLS connect to a node.',
      }),
      field({
        label: 'Headers timeout (ms)',
        path: 'timeouts.headersMs',
        control: headersMs,
        hint: 'Until the response headers arrive.',
      }),
      field({
        label: 'Body timeout (ms)',
        path: 'timeouts.bodyMs',
        control: bodyMs,
        hint: 'Longest pause in the response body.',
      }),
      field({
        label: 'WebSocket idle timeout (ms)',
        path: 'timeouts.upgradeIdleMs',
        control: upgradeIdleMs,
        hint: 'An upgraded connection with no message either way is closed after this.',
      }),
      field({
        label: 'Retries',
        path: 'retries',
        control: retries,
        hint: 'Extra tries on another node: after a connect failure, and for GET, HEAD, OPTIONS, PUT, DELETE after a timeout or a 502/503/504.',
      }),
      field({ label: 'Largest request body (bytes)', path: 'maxBodyBytes', control: maxBody, hint: maxBodyHint }),
    ),
  );

  return {
    element,
    read: () => ({
      retries: retries.value,
      maxBodyBytes: maxBody.value,
      connectMs: connectMs.value,
      headersMs: headersMs.value,
      bodyMs: bodyMs.value,
      upgradeIdleMs: upgradeIdleMs.value,
    }),
  };
}
