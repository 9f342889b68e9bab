// Canary by consumer tag.
// Every consumer tagged `beta` (see /admin/consumers) goes only to the nodes tagged `temp`; every
// other caller (other consumers, and anonymous ones when the API allows them) only to the nodes
// without that tag. `request.consumer` is `{ name, tags }` once the API authenticates, else null.
function select(request, env, nodes) {
  var consumer = request.consumer;
  var beta = false;
  if (consumer) {
    // An index loop rather than tags.includes: it reads only values, so results can be memoized.
    for (var i = 0; i < consumer.tags.length; i++) if (consumer.tags[i] === 'beta') beta = true;
  }
  return nodes.filter(function (n) {
    return n.tags.includes('temp') === beta;
  });
}
