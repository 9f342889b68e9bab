import type { SelectorFailure } from '../selector/types.js';

// What `POST /admin/apis/:id/selector/test` answers: contracts shared by the gateway's explain, the
// admin API and the console, so they import nothing from either.

/** A node as the explanation lists it. */
export interface NodeRef {
  id: string;
  name: string;
  url: string;
}

/**
 * Every step of the balance stage for one sample request (`POST /admin/apis/:id/selector/test`):
 * the candidates after each filter, the selector's run and the algorithm's pick.
 */
export interface BalanceExplanation {
  steps: {
    enabled: NodeRef[];
    rules: NodeRef[];
    health: NodeRef[];
    selector: NodeRef[];
  };
  pick: NodeRef | null;
  selector: {
    ran: boolean;
    durationUs: number;
    console: string[];
    error: SelectorFailure | null;
    /** What the gateway did about an error: went on with the input list, or rejected. */
    fallback: 'use-all' | 'reject' | null;
  };
  /** The gateway error code a real request would get, or null when a node was picked. */
  errorCode: string | null;
  /** Whether the health step used real health (false: this process has no health view, every node passed), and whether panic mode applied. */
  health: { known: boolean; panic: boolean };
}
