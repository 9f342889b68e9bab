import { h, uid } from '../components/dom.js';
import { checkboxField, field, fieldGroup } from '../components/form.js';
import type { Api } from '../types.js';
import { METHODS } from './words-ui.js';

/** The health, panic and retry settings of the API form, as typed (numbers and lists as text). */
export interface HealthValues {
  activeOn: boolean;
  activePath: string;
  intervalMs: string;
  probeTimeoutMs: string;
  healthyThreshold: string;
  unhealthyThreshold: string;
  expectedStatuses: string;
  passiveOn: boolean;
  consecutiveFailures: string;
  passiveStatuses: string;
  passiveTimeouts: boolean;
  baseEjectionMs: string;
  maxEjectionMs: string;
  panic: string;
  retryMethods: string[];
  retryTimeouts: boolean;
  retryStatuses: string;
  deadlineMs: string;
  budgetPercent: string;
  budgetMinConcurrent: string;
}

const list = (items: ReadonlyArray<string | number>) => items.join(', ');

/** The form's values for the API's current settings; the defaults fill a check that is off. */
export function healthValuesOf(api: Pick<Api, 'health' | 'retry'>): HealthValues {
  const d = healthDefaults();
  const a = api.health.active;
  const p = api.health.passive;
  return {
    activeOn: a !== null,
    activePath: a?.path ?? d.activePath,
    intervalMs: a ? String(a.intervalMs) : d.intervalMs,
    probeTimeoutMs: a ? String(a.timeoutMs) : d.probeTimeoutMs,
    healthyThreshold: a ? String(a.healthyThreshold) : d.healthyThreshold,
    unhealthyThreshold: a ? String(a.unhealthyThreshold) : d.unhealthyThreshold,
    expectedStatuses: a ? list(a.expectedStatuses) : d.expectedStatuses,
    passiveOn: p !== null,
    consecutiveFailures: p ? String(p.consecutiveFailures) : d.consecutiveFailures,
    passiveStatuses: p ? list(p.statuses) : d.passiveStatuses,
    passiveTimeouts: p ? p.timeouts : d.passiveTimeouts,
    baseEjectionMs: p ? String(p.baseEjectionMs) : d.baseEjectionMs,
    maxEjectionMs: p ? String(p.maxEjectionMs) : d.maxEjectionMs,
    panic: api.health.panic,
    retryMethods: [...api.retry.methods],
    retryTimeouts: api.retry.timeouts,
    retryStatuses: list(api.retry.statuses),
    deadlineMs: api.retry.deadlineMs === null ? '' : String(api.retry.deadlineMs),
    budgetPercent: api.retry.budgetPercent === null ? '' : String(api.retry.budgetPercent),
    budgetMinConcurrent: String(api.retry.budgetMinConcurrent),
  };
}

/** The server's defaults (src/model/health.ts, src/model/retry.ts): probes off, ejection on, panic uses all. */
export function healthDefaults(): HealthValues {
  return {
    activeOn: false,
    activePath: '/',
    intervalMs: '5000',
    probeTimeoutMs: '2000',
    healthyThreshold: '2',
    unhealthyThreshold: '3',
    expectedStatuses: '2xx, 3xx',
    passiveOn: true,
    consecutiveFailures: '5',
    passiveStatuses: '500, 502, 503, 504',
    passiveTimeouts: true,
    baseEjectionMs: '30000',
    maxEjectionMs: '300000',
    panic: 'use-all',
    retryMethods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'],
    retryTimeouts: true,
    retryStatuses: '502, 503, 504',
    deadlineMs: '',
    budgetPercent: '20',
    budgetMinConcurrent: '3',
  };
}

/** A number when the text is one, else the text itself (so the API names the field), else undefined when empty. */
export function numberOf(text: string): number | string | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

/** "2xx, 200 503" → ["2xx", 200, 503]: numbers where they are numbers, the rest as typed for the API to judge. */
function listOf(text: string): Array<number | string> {
  return text
    .split(/[\s,]+/)
    .filter((s) => s !== '')
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** Only the fields that were filled in: the API fills the rest with its defaults. */
function filled(entries: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined));
}

/** The `health` and `retry` parts of the API body for these values. */
export function healthBody(v: HealthValues): { health: Record<string, unknown>; retry: Record<string, unknown> } {
  return {
    health: {
      active: v.activeOn
        ? filled({
            path: v.activePath.trim() === '' ? undefined : v.activePath.trim(),
            intervalMs: numberOf(v.intervalMs),
            timeoutMs: numberOf(v.probeTimeoutMs),
            healthyThreshold: numberOf(v.healthyThreshold),
            unhealthyThreshold: numberOf(v.unhealthyThreshold),
            expectedStatuses: listOf(v.expectedStatuses),
          })
        : null,
      passive: v.passiveOn
        ? filled({
            consecutiveFailures: numberOf(v.consecutiveFailures),
            statuses: listOf(v.passiveStatuses),
            timeouts: v.passiveTimeouts,
            baseEjectionMs: numberOf(v.baseEjectionMs),
            maxEjectionMs: numberOf(v.maxEjectionMs),
          })
        : null,
      panic: v.panic,
    },
    retry: {
      methods: v.retryMethods,
      timeouts: v.retryTimeouts,
      statuses: listOf(v.retryStatuses),
      deadlineMs: v.deadlineMs.trim() === '' ? null : numberOf(v.deadlineMs),
      budgetPercent: v.budgetPercent.trim() === '' ? null : numberOf(v.budgetPercent),
      ...filled({ budgetMinConcurrent: numberOf(v.budgetMinConcurrent) }),
    },
  };
}

/**
 * The "Health checks and retries" part of the API form: active probes and passive ejection (each can
 * be turned off, which hides its fields), panic mode, and which failed tries are retried. Field paths
 * are the body's (`health.active.intervalMs`), so the API's errors land next to their fields.
 */
export function healthSection(
  start: HealthValues,
  open: boolean,
): { element: HTMLDetailsElement; read: () => HealthValues } {
  const num = (name: string, value: string, min = 1) =>
    h('input', { type: 'number', name, min, step: 1, inputmode: 'numeric', value });
  const text = (name: string, value: string, placeholder = '') =>
    h('input', { type: 'text', name, value, placeholder, autocomplete: 'off', spellcheck: 'false' });
  const box = (name: string, checked: boolean) => h('input', { type: 'checkbox', name, checked });

  const activeOn = box('activeOn', start.activeOn);
  const activePath = text('activePath', start.activePath, '/healthz');
  const intervalMs = num('intervalMs', start.intervalMs, 100);
  const probeTimeoutMs = num('probeTimeoutMs', start.probeTimeoutMs);
  const healthyThreshold = num('healthyThreshold', start.healthyThreshold);
  const unhealthyThreshold = num('unhealthyThreshold', start.unhealthyThreshold);
  const expectedStatuses = text('expectedStatuses', start.expectedStatuses, '2xx, 3xx');
  const passiveOn = box('passiveOn', start.passiveOn);
  const consecutiveFailures = num('consecutiveFailures', start.consecutiveFailures);
  const passiveStatuses = text('passiveStatuses', start.passiveStatuses, '500, 502, 503, 504');
  const passiveTimeouts = box('passiveTimeouts', start.passiveTimeouts);
  const baseEjectionMs = num('baseEjectionMs', start.baseEjectionMs, 100);
  const maxEjectionMs = num('maxEjectionMs', start.maxEjectionMs, 100);
  const panic = h(
    'select',
    { name: 'panic' },
    h('option', { value: 'use-all', selected: start.panic === 'use-all' }, 'Send to all of them anyway'),
    h('option', { value: 'reject', selected: start.panic === 'reject' }, 'Answer 503 NO_HEALTHY_NODE'),
  );
  const methodBoxes = METHODS.map((m) =>
    h('input', {
      type: 'checkbox',
      name: 'retryMethods',
      value: m,
      checked: start.retryMethods.includes(m),
      id: uid('rm'),
    }),
  );
  const retryTimeouts = box('retryTimeouts', start.retryTimeouts);
  const retryStatuses = text('retryStatuses', start.retryStatuses, '502, 503, 504');
  const deadlineMs = num('deadlineMs', start.deadlineMs);
  const budgetPercent = num('budgetPercent', start.budgetPercent, 0);
  const budgetMinConcurrent = num('budgetMinConcurrent', start.budgetMinConcurrent, 0);

  const activeFields = h(
    'div',
    { class: 'grid-3' },
    field({
      label: 'Probe request',
      path: 'health.active.path',
      control: activePath,
      hint: 'A path on each node’s URL, e.g. /healthz.',
    }),
    field({ label: 'Probe every (ms)', path: 'health.active.intervalMs', control: intervalMs }),
    field({
      label: 'Probe timeout (ms)',
      path: 'health.active.timeoutMs',
      control: probeTimeoutMs,
      hint: 'Not longer than the interval.',
    }),
    field({ label: 'Passes to come back', path: 'health.active.healthyThreshold', control: healthyThreshold }),
    field({ label: 'Failures to go out', path: 'health.active.unhealthyThreshold', control: unhealthyThreshold }),
    field({
      label: 'Passing statuses',
      path: 'health.active.expectedStatuses',
      control: expectedStatuses,
      hint: 'Codes or classes, e.g. 200, 3xx.',
    }),
  );
  const passiveFields = h(
    'div',
    { class: 'grid-3' },
    field({
      label: 'Failed requests in a row',
      path: 'health.passive.consecutiveFailures',
      control: consecutiveFailures,
    }),
    field({ label: 'Failing statuses', path: 'health.passive.statuses', control: passiveStatuses }),
    checkboxField({
      label: 'A headers timeout counts as a failure',
      path: 'health.passive.timeouts',
      control: passiveTimeouts,
    }),
    field({
      label: 'First ejection (ms)',
      path: 'health.passive.baseEjectionMs',
      control: baseEjectionMs,
      hint: 'The n-th in a row lasts n times this.',
    }),
    field({ label: 'Longest ejection (ms)', path: 'health.passive.maxEjectionMs', control: maxEjectionMs }),
  );
  const showParts = () => {
    activeFields.hidden = !activeOn.checked;
    passiveFields.hidden = !passiveOn.checked;
  };
  activeOn.addEventListener('change', showParts);
  passiveOn.addEventListener('change', showParts);
  showParts();

  const element = h(
    'details',
    { class: 'health-settings', open },
    h('summary', null, 'Health checks and retries'),
    checkboxField({
      label: 'Probe the nodes (active health checks)',
      path: 'health.active',
      control: activeOn,
      hint: 'Each gateway process sends a GET to every enabled node and takes a node out after failed probes.',
    }),
    activeFields,
    checkboxField({
      label: 'Eject nodes whose requests fail (passive health checks)',
      path: 'health.passive',
      control: passiveOn,
      hint: 'Failed real requests in a row take a node out for a while.',
    }),
    passiveFields,
    field({
      label: 'When every node looks down (panic mode)',
      path: 'health.panic',
      control: panic,
      hint: 'All of them anyway is usually right: a broken health check should not become an outage.',
    }),
    fieldGroup({
      legend: 'Retry these methods after the request may have reached a node',
      path: 'retry.methods',
      class: 'methods',
      hint: 'A refused connection is retried for every method.',
      children: methodBoxes.map((b) => h('span', { class: 'check' }, b, h('label', { for: b.id }, b.value))),
    }),
    h(
      'div',
      { class: 'grid-3' },
      field({ label: 'Retry on these statuses', path: 'retry.statuses', control: retryStatuses }),
      checkboxField({ label: 'Retry after a headers timeout', path: 'retry.timeouts', control: retryTimeouts }),
      field({
        label: 'Deadline for all tries (ms)',
        path: 'retry.deadlineMs',
        control: deadlineMs,
        hint: 'Empty: no deadline of its own.',
      }),
      field({
        label: 'Retry budget (% of requests in flight)',
        path: 'retry.budgetPercent',
        control: budgetPercent,
        hint: 'At most this share of the requests in flight is retried at once, per gateway process. Empty: no budget.',
      }),
      field({
        label: 'Budget floor (requests retried at once)',
        path: 'retry.budgetMinConcurrent',
        control: budgetMinConcurrent,
        hint: 'This many may always be retried at once, whatever the percentage.',
      }),
    ),
  );

  const read = (): HealthValues => ({
    activeOn: activeOn.checked,
    activePath: activePath.value,
    intervalMs: intervalMs.value,
    probeTimeoutMs: probeTimeoutMs.value,
    healthyThreshold: healthyThreshold.value,
    unhealthyThreshold: unhealthyThreshold.value,
    expectedStatuses: expectedStatuses.value,
    passiveOn: passiveOn.checked,
    consecutiveFailures: consecutiveFailures.value,
    passiveStatuses: passiveStatuses.value,
    passiveTimeouts: passiveTimeouts.checked,
    baseEjectionMs: baseEjectionMs.value,
    maxEjectionMs: maxEjectionMs.value,
    panic: panic.value,
    retryMethods: methodBoxes.filter((b) => b.checked).map((b) => b.value),
    retryTimeouts: retryTimeouts.checked,
    retryStatuses: retryStatuses.value,
    deadlineMs: deadlineMs.value,
    budgetPercent: budgetPercent.value,
    budgetMinConcurrent: budgetMinConcurrent.value,
  });
  return { element, read };
}
