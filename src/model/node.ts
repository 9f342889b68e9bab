import { z } from 'zod';
import { ConnectorConfig } from '../connectors/registry.js';
import { Rule } from './rule.js';
import { DisplayName } from './text.js';

/** A tag: a short label selectors filter on (`temp` marks a canary node). */
export const Tag = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1–64 of letters, digits, _ . : -');

const nodeFields = {
  name: z.string().trim().min(1).max(100),
  connector: ConnectorConfig,
  enabled: z.boolean(),
  weight: z.number().int().min(1).max(10000),
  tags: z.array(Tag).max(32),
  rules: z.array(Rule).max(32),
};

/** Body of `POST /admin/apis/:id/nodes`: `name` and `connector` are required. */
export const NodeCreate = z.strictObject({
  ...nodeFields,
  name: DisplayName,
  enabled: nodeFields.enabled.default(true),
  weight: nodeFields.weight.default(1),
  tags: nodeFields.tags.default([]),
  rules: nodeFields.rules.default([]),
});
export type NodeCreate = z.infer<typeof NodeCreate>;

/** Body of `PATCH /admin/apis/:id/nodes/:nodeId`: any subset of the fields. */
export const NodePatch = z.strictObject({ ...nodeFields, name: DisplayName }).partial();
export type NodePatch = z.infer<typeof NodePatch>;

/** One backend of an API, as stored and returned. */
export const Node = z.object({
  id: z.string(),
  apiId: z.string(),
  ...nodeFields,
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Node = z.infer<typeof Node>;
