import type { FastifyInstance } from 'fastify';
import { VariableInput, VariableName } from '../../model/variable.js';
import { awaitApplied } from '../applied.js';
import type { AdminDeps } from '../deps.js';
import { AdminError } from '../errors.js';
import { pageOf, pagingOf } from '../paging.js';
import { parseInput } from '../validate.js';

type NameParams = { Params: { name: string } };

const asIs = (name: string): string => name;

/** A rule that referenced a deleted variable. */
export interface VariableUse {
  apiId: string;
  apiName: string;
  nodeId: string;
  nodeName: string;
}

/** `/admin/variables` and `/admin/variables/:name`: list, read, create or replace, delete (writes are an operator's). */
export function registerVariableRoutes(app: FastifyInstance, { store, runtime }: AdminDeps): void {
  // The whole list as an array, or with `limit`/`after` one page of it by name (names are case-sensitive).
  app.get('/variables', async (request) => {
    const paging = pagingOf(request.query);
    const all = await store.listVariables();
    return paging === null ? all : pageOf(all, (v) => v.name, paging, asIs);
  });

  app.get<NameParams>('/variables/:name', async (request) => {
    const name = parseInput(VariableName, request.params.name, 'name');
    const variable = await store.getVariable(name);
    if (!variable) throw new AdminError('VARIABLE_NOT_FOUND', `no variable named ${name}`);
    return variable;
  });

  app.put<NameParams>('/variables/:name', { config: { role: 'operator' } }, async (request, reply) => {
    const name = parseInput(VariableName, request.params.name, 'name');
    const { value } = parseInput(VariableInput, request.body);
    // Only decides 200 vs 201; two racing creators may both hear 201, the stored value is the same either way.
    const existed = (await store.getVariable(name)) !== null;
    const variable = await store.putVariable(name, value);
    await awaitApplied(runtime, request.log);
    return reply.code(existed ? 200 : 201).send(variable);
  });

  app.delete<NameParams>('/variables/:name', { config: { role: 'operator' } }, async (request) => {
    const name = parseInput(VariableName, request.params.name, 'name');
    const config = await store.loadConfig();
    const apiNames = new Map(config.apis.map((a) => [a.id, a.name]));
    const usedBy: VariableUse[] = config.nodes
      .filter((node) => node.rules.some((rule) => rule.variable === name))
      .map((node) => ({
        apiId: node.apiId,
        apiName: apiNames.get(node.apiId) ?? '',
        nodeId: node.id,
        nodeName: node.name,
      }));
    if (!(await store.deleteVariable(name))) throw new AdminError('VARIABLE_NOT_FOUND', `no variable named ${name}`);
    await awaitApplied(runtime, request.log);
    return { deleted: name, usedBy };
  });
}
