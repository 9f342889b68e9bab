// Canary for a share of users.
// Each user id (query `uid`, else header `x-user-id`) hashes to a stable bucket 0–99; buckets below
// the variable CANARY_PERCENT (default 10) go to the nodes tagged `temp`, the others to the nodes
// without it. The same user always lands on the same side, so raising the percentage only moves
// users onto the canary. Requests without a user id stay off the canary.
function select(request, env, nodes) {
  var canary = nodes.filter(function (n) {
    return n.tags.includes('temp');
  });
  var stable = nodes.filter(function (n) {
    return !n.tags.includes('temp');
  });

  var uid = request.query.uid;
  if (Array.isArray(uid)) uid = uid[0];
  if (!uid) {
    uid = request.headers['x-user-id'];
    if (Array.isArray(uid)) uid = uid[0];
  }
  if (!uid) return stable;

  var percent = Number(env.CANARY_PERCENT === undefined ? 10 : env.CANARY_PERCENT);
  if (!(percent >= 0)) percent = 10; // not a number: use the default
  return bucket(uid) < percent ? canary : stable;
}

// FNV-1a over the UTF-16 code units, reduced to 0–99.
function bucket(text) {
  var h = 0x811c9dc5;
  for (var i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % 100;
}
