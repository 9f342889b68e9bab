import { admin } from './api.js';
import { confirmDialog } from './components/dialog.js';
import { h, type Child } from './components/dom.js';
import type { DryRunAnswer, Impact } from './types.js';

/** The lines of an impact, the ones that leave an API without any node first and marked. */
export function impactLines(impact: Impact | null): HTMLElement | null {
  if (impact === null || impact.summary.length === 0) return null;
  const losing = impact.summary.filter((line) => line.startsWith('leaves '));
  const rest = impact.summary.filter((line) => !line.startsWith('leaves '));
  return h(
    'div',
    { class: 'impact' },
    losing.map((line) => h('p', { class: 'impact-line impact-loses' }, h('strong', null, 'This ', line, '.'))),
    // API names keep their case, so the lines are not capitalised.
    rest.map((line) => h('p', { class: 'impact-line' }, line, '.')),
  );
}

/** What a previewed write would do, as one sentence for a notification (empty when nothing). */
export function impactText(impact: Impact | null): string {
  return impact && impact.summary.length > 0 ? ` Impact: ${impact.summary.join('; ')}.` : '';
}

/**
 * Runs a write as a dry run first (issue 17: impact before a change). When it would leave an API
 * without a node that takes traffic, or when `always` is set (deletes), asks for confirmation,
 * showing what it would do; resolves whether to go on and the impact that was shown.
 */
export async function confirmWithImpact(o: {
  method: string;
  path: string;
  body?: unknown;
  title: string;
  confirmLabel: string;
  /** What the dialog says before the impact lines. */
  message?: Child;
  /** Ask even when no API would lose its last node. */
  always?: boolean;
  danger?: boolean;
}): Promise<{ go: boolean; impact: Impact | null }> {
  const answer: DryRunAnswer = await admin.preview(o.method, o.path, o.body);
  const impact = answer.impact;
  const loses = (impact?.losesLastNode.length ?? 0) > 0;
  if (!loses && !o.always) return { go: true, impact };
  const go = await confirmDialog({
    title: o.title,
    message: [o.message ?? null, impactLines(impact)],
    confirmLabel: o.confirmLabel,
    danger: o.danger ?? loses,
  });
  return { go, impact };
}
