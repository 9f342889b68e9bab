import { z } from 'zod';
import type { ConnectorKind, HttpTarget } from './kind.js';
import { simpleUrl } from './simple-url/index.js';

/** Every connector kind, by its key. Add a kind by adding its folder and listing it here. */
export const connectorKinds: ReadonlyMap<string, ConnectorKind> = new Map(
  [simpleUrl as unknown as ConnectorKind].map((k) => [k.kind, k]),
);

/** A node's connector as stored: `{ kind, ...settings }`, validated against its kind's schema. */
export const ConnectorConfig = z.discriminatedUnion('kind', [
  simpleUrl.settings.extend({ kind: z.literal(simpleUrl.kind) }),
]);
export type ConnectorConfig = z.infer<typeof ConnectorConfig>;

/** Resolves a stored connector config to its HTTP target. */
export function connectorTarget(config: ConnectorConfig): HttpTarget {
  const kind = connectorKinds.get(config.kind);
  if (!kind) throw new Error(`unknown connector kind ${config.kind}`);
  const { kind: _kind, ...rest } = config;
  return kind.target(rest);
}

/** The public description of every kind, with its settings as JSON Schema (`GET /admin/connectors`). */
export function describeConnectorKinds(): Array<{
  kind: string;
  title: string;
  description: string;
  settings: unknown;
}> {
  return [...connectorKinds.values()].map((k) => ({
    kind: k.kind,
    title: k.title,
    description: k.description,
    settings: z.toJSONSchema(k.settings),
  }));
}
