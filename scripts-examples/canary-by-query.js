// Canary by query parameter.
// Requests carrying `?select_code=temp_node` go only to the nodes tagged `temp` (the canary);
// every other request goes only to the nodes without that tag, so the canary sees nothing else.
function select(request, env, nodes) {
  // request: { method, path, query, headers, body, clientIp }
  // env:     { IP1_enable: "true", ... }  (all variables, strings)
  // nodes:   [{ id, name, url, weight, tags }] after enabled/rules/health filtering
  if (request.query.select_code === 'temp_node') return nodes.filter((n) => n.tags.includes('temp'));
  return nodes.filter((n) => !n.tags.includes('temp'));
}
