// Canary by request header.
// A client (or a test harness) opts into the canary by sending `x-canary: 1`; those requests go
// only to the nodes tagged `temp`. Requests without the header (or with any other value) go only to
// the nodes without that tag. Header names arrive lower-cased; a repeated header is an array.
function select(request, env, nodes) {
  var value = request.headers['x-canary'];
  if (Array.isArray(value)) value = value[0];
  if (value === '1')
    return nodes.filter(function (n) {
      return n.tags.includes('temp');
    });
  return nodes.filter(function (n) {
    return !n.tags.includes('temp');
  });
}
