import type { TestGateway } from './isogate.js';
import type { TestUpstream } from './upstreams.js';

/** Creates an API through the admin API and returns its id (fails the test on a non-201). */
export async function createApi(t: TestGateway, body: Record<string, unknown>): Promise<string> {
  const res = await t.admin('POST', '/admin/apis', body);
  if (res.status !== 201) throw new Error(`create API: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

/** Adds a simple-url node for an upstream; returns the node id. */
export async function addNode(
  t: TestGateway,
  apiId: string,
  upstream: TestUpstream | { name: string; url: string },
  extra: Record<string, unknown> = {},
): Promise<string> {
  const res = await t.admin('POST', `/admin/apis/${apiId}/nodes`, {
    name: upstream.name,
    connector: { kind: 'simple-url', url: upstream.url },
    ...extra,
  });
  if (res.status !== 201) throw new Error(`add node: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

/** Sets a variable (PUT), failing on errors. */
export async function setVariable(t: TestGateway, name: string, value: string): Promise<void> {
  const res = await t.admin('PUT', `/admin/variables/${name}`, { value });
  if (res.status !== 200 && res.status !== 201)
    throw new Error(`set variable: ${res.status} ${JSON.stringify(res.body)}`);
}

/** Saves a selector, failing on errors. */
export async function setSelector(t: TestGateway, apiId: string, selector: Record<string, unknown>): Promise<void> {
  const res = await t.admin('PUT', `/admin/apis/${apiId}/selector`, selector);
  if (res.status !== 200) throw new Error(`set selector: ${res.status} ${JSON.stringify(res.body)}`);
}
