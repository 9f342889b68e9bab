#!/usr/bin/env bash
# Starts isogate the way ../shared-style anchor scripts expect a candidate: in the foreground, on $PORT,
# routing GET /echo round-robin to $UPSTREAMS (comma-separated base URLs). Build first (npm run build).
#   CANDIDATE_CMD="bash bench/anchors-candidate.sh" CANDIDATE_PORT=18110 bash <anchors.sh>
# ISOGATE_ARGS adds flags (e.g. "--no-access-log"); SELECTOR=1 adds the canary selector to the API.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT TERM INT
export ISOGATE_ADMIN_TOKEN=anchors-token-0123456789
admin=${ADMIN_PORT:-18391}
status=${STATUS_PORT:-18392}
# shellcheck disable=SC2086
node --no-node-snapshot "$root/dist/src/cli.js" start --no-demo --data-dir "$dir" \
  --gateway-host 127.0.0.1 --gateway-port "${PORT:?PORT is required}" \
  --admin-port "$admin" --status-host 127.0.0.1 --status-port "$status" ${ISOGATE_ARGS:-} >"$dir/gateway.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$status/status/ready" >/dev/null && break; sleep 0.1; done
call() { curl -fs -X "$1" "http://127.0.0.1:$admin$2" -H "authorization: Bearer $ISOGATE_ADMIN_TOKEN" -H 'content-type: application/json' -d "$3"; }
api=$(call POST /admin/apis '{"name":"echo","path":"/echo","algorithm":"round_robin","methods":["GET"]}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
i=0
IFS=, read -ra ups <<<"${UPSTREAMS:?UPSTREAMS is required}"
for u in "${ups[@]}"; do
  i=$((i + 1))
  call POST "/admin/apis/$api/nodes" "{\"name\":\"up$i\",\"connector\":{\"kind\":\"simple-url\",\"url\":\"$u\"}}" >/dev/null
done
if [ "${SELECTOR:-0}" = 1 ]; then
  code=$(node -e 'process.stdout.write(JSON.stringify(require("fs").readFileSync(process.argv[1], "utf8")))' "$root/scripts-examples/canary-by-query.js")
  call PUT "/admin/apis/$api/selector" "{\"code\":$code}" >/dev/null
fi
wait "$pid"
