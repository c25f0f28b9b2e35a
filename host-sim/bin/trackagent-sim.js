#!/usr/bin/env node
// The trackagent-sim command: loads TypeScript through tsx and runs host-sim/cli.ts.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli.ts');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`trackagent-sim: internal error: ${e?.stack ?? e}\n`);
    process.exit(3);
  },
);
