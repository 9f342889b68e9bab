// Route by client type.
// Phones and tablets (judged by the User-Agent) go to the nodes tagged `mobile`; everything else
// goes to the nodes tagged `pc`. When no node carries the wanted tag (say every mobile node is
// down), the request may go to any node rather than fail.
function select(request, env, nodes) {
  var agent = request.headers['user-agent'];
  if (Array.isArray(agent)) agent = agent[0];
  var mobile = /Mobile|Android|iPhone|iPad|iPod|Windows Phone|Opera Mini|IEMobile/i.test(agent || '');
  var wanted = mobile ? 'mobile' : 'pc';
  var matching = nodes.filter(function (n) {
    return n.tags.includes(wanted);
  });
  return matching.length > 0 ? matching : nodes;
}
