# Sourced by smoke.sh and measure.sh: the project's fake cloud
# (host-sim/cloud) on a loopback port, with one device t1/d1.
#
#   start_cloud DIR       starts it; sets CLOUD_URL API_KEY RESET_SECRET ADMIN_KEY
#   stop_cloud            stops it (it also stops by itself after 30 minutes)
#
# Needs node and the repository's node_modules (tsx).

start_cloud() {
  local dir=$1 root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  mkdir -p "$dir"
  rm -f "$dir/cloud.json"
  (cd "$root" && exec node --import tsx --input-type=module -e "
import { FakeCloud } from './host-sim/cloud/fake-cloud.ts';
import { startCloudServer } from './host-sim/cloud/server.ts';
import { writeFileSync, renameSync } from 'node:fs';
const cloud = new FakeCloud();
const server = await startCloudServer(cloud);
const d = cloud.createDevice({ tenantId: 't1', deviceId: 'd1' });
const out = process.argv[1];
writeFileSync(out + '.tmp', JSON.stringify({ url: server.url, apiKey: d.apiKey, resetSecret: d.resetSecret, adminKey: cloud.adminKey }));
renameSync(out + '.tmp', out);
const stop = () => server.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, 30 * 60 * 1000).unref();
setInterval(() => {}, 1 << 30);
" "$dir/cloud.json") >"$dir/cloud.log" 2>&1 &
  CLOUD_PID=$!
  local i
  for i in $(seq 1 100); do
    [ -f "$dir/cloud.json" ] && break
    kill -0 "$CLOUD_PID" 2>/dev/null || { cat "$dir/cloud.log" >&2; return 1; }
    sleep 0.1
  done
  [ -f "$dir/cloud.json" ] || { echo "fake cloud did not start" >&2; return 1; }
  CLOUD_URL=$(node -p "require('$dir/cloud.json').url")
  API_KEY=$(node -p "require('$dir/cloud.json').apiKey")
  RESET_SECRET=$(node -p "require('$dir/cloud.json').resetSecret")
  ADMIN_KEY=$(node -p "require('$dir/cloud.json').adminKey")
  IDENTITY=(--environment "$CLOUD_URL" --tenant t1 --device d1 --api-key "$API_KEY" --reset-secret "$RESET_SECRET")
}

stop_cloud() {
  if [ -n "${CLOUD_PID:-}" ]; then
    kill "$CLOUD_PID" 2>/dev/null || true
    wait "$CLOUD_PID" 2>/dev/null || true
    CLOUD_PID=
  fi
}

# Number of uplinks the cloud holds for t1/d1 (operator API).
cloud_uplinks() {
  curl -s -H "X-Api-Key: $ADMIN_KEY" "$CLOUD_URL/api/t1/devices/d1/uplinks" |
    node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);console.log(Array.isArray(j)?j.length:-1)})"
}
