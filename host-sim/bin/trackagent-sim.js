#!/usr/bin/env node
// The trackagent-sim command: loads TypeScript through tsx (a dependency: needed at run time)
// and runs host-sim/cli.ts. Whatever fails, a person sees one line, never a stack.
let cli;
try {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import('../cli.ts');
} catch (e) {
  process.stderr.write(`trackagent-sim: cannot load the simulator (${String(e?.message ?? e).split('\n')[0]}): run npm ci in the repository\n`);
  process.exit(3);
}
cli.main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(cli.internalError(e));
    process.exit(3);
  },
);
