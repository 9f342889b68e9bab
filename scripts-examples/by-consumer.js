// Dedicated nodes for one consumer.
// The consumer named in the variable DEDICATED_CONSUMER (default "acme") goes only to the nodes
// tagged `dedicated`; everyone else shares the other nodes. Changing the variable moves the customer
// live. If no dedicated node is left, the customer shares the others rather than getting a 503.
function select(request, env, nodes) {
  var name = env.DEDICATED_CONSUMER || 'acme';
  var mine = request.consumer !== null && request.consumer !== undefined && request.consumer.name === name;
  var dedicated = nodes.filter(function (n) {
    return n.tags.includes('dedicated');
  });
  if (mine && dedicated.length > 0) return dedicated;
  return nodes.filter(function (n) {
    return !n.tags.includes('dedicated');
  });
}
