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
  /** The access decision, before the balance steps (null: the API has no access config). */
  access: AccessExplanation | null;
  /** Whether the health step used real health (false: this process has no health view, every node passed), and whether panic mode applied. */
  health: { known: boolean; panic: boolean };
}

/**
 * The access stage's decision for a sample request carrying credentials: IP lists, CORS, which
 * method authenticated it and as which consumer, and each rate limit's state (looked at, not spent).
 */
export interface AccessExplanation {
  /** The gateway error a real request would get here, or null when it passes. */
  errorCode: string | null;
  /** The step that refused it. */
  step: string | null;
  /** A CORS preflight the gateway answers itself. */
  preflight: boolean;
  ip: { clientIp: string; verdict: string | null; allow: string[]; deny: string[] } | null;
  cors: { origin: string | null; verdict: string | null } | null;
  auth: {
    methods: string[];
    method: string | null;
    reason: string | null;
    consumer: { name: string; tags: string[] } | null;
  } | null;
  limits: Array<{
    by: string;
    key: string;
    rate: number;
    per: string;
    burst: number;
    policy: string;
    remaining: number;
    wouldRefuse: boolean;
    /** False when this process does not serve traffic: its buckets are not the gateways' (every bucket looks full). */
    known: boolean;
  }>;
  /** Response headers the gateway would add. */
  headers: Record<string, string>;
}
