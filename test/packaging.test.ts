// What a user installs and runs: package.json's promises (engines, what is needed at run time),
// the lock that `npm ci` installs from, and `npm start`'s build, which builds only what is stale
// and says nothing more than one line per target unless something is wrong.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// @ts-expect-error: a plain JavaScript tool, no types
import { inputHash, withoutNotices } from '../host-sim/bin/build-module.js';

const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8'));
const BUILD = path.resolve('host-sim/bin/build-module.js');

/** Bare package names a JavaScript or TypeScript file imports. */
function imports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const names = [...text.matchAll(/(?:import|from)\s*\(?\s*['"]([^'"./][^'"]*)['"]/g)].map((m) => m[1]);
  return [...new Set(names.filter((n) => !n.startsWith('node:')).map((n) => (n.startsWith('@') ? n.split('/').slice(0, 2).join('/') : n.split('/')[0])))];
}

/** Every file the simulator's command loads at run time: the bin and what cli.ts imports, transitively. */
function runtimeFiles(): string[] {
  const seen = new Set<string>();
  const visit = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    const text = fs.readFileSync(f, 'utf8');
    for (const m of text.matchAll(/(?:import|from)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const next = path.resolve(path.dirname(f), m[1]);
      if (fs.existsSync(next) && /\.(ts|js)$/.test(next)) visit(next);
    }
  };
  visit(path.resolve(pkg.bin['trackagent-sim']));
  visit(path.resolve('host-sim/fleet/worker.js'));
  return [...seen];
}

describe('package.json', () => {
  it('says which Node it needs, and its Node types are of that Node', () => {
    const min = /^>=(\d+)/.exec(pkg.engines?.node ?? '')?.[1];
    expect(min).toBeDefined();
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(Number(min));
    expect(/^\^?(\d+)/.exec(pkg.devDependencies['@types/node'])?.[1]).toBe(min);
    expect(fs.readFileSync('README.md', 'utf8')).toContain(`Node ${min}`);
  });

  it('lists every package the simulator imports at run time as a dependency, and build-time tools as dev dependencies', () => {
    const needed = new Set(runtimeFiles().flatMap(imports));
    expect(needed.has('tsx')).toBe(true); // the bin loads TypeScript through it
    for (const n of needed) expect(Object.keys(pkg.dependencies), `${n} is imported at run time`).toContain(n);
    expect(Object.keys(pkg.dependencies)).not.toContain('json-as'); // an AssemblyScript transform: build time only
    expect(Object.keys(pkg.devDependencies)).toEqual(expect.arrayContaining(['json-as', 'assemblyscript', 'typescript', 'puppeteer-core']));
  });

  it('runs the type checker in npm test', () => {
    expect(pkg.scripts.typecheck).toBe('tsc -p .');
    expect(pkg.scripts.test).toMatch(/^npm run typecheck && /);
  });

  it('has a lock that npm ci takes on any platform: every optional platform package is in it', () => {
    expect(lock.lockfileVersion).toBeGreaterThanOrEqual(3);
    for (const [name, direct] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
      expect(lock.packages[''].dependencies?.[name] ?? lock.packages[''].devDependencies?.[name], name).toBe(direct);
    }
    // Each locked package's optional dependencies are locked too: what npm ci reported missing before.
    const missing: string[] = [];
    for (const [where, p] of Object.entries(lock.packages as Record<string, { optionalDependencies?: Record<string, string> }>)) {
      for (const dep of Object.keys(p.optionalDependencies ?? {})) {
        const base = where === '' ? '' : `${where}/`;
        if (!lock.packages[`${base}node_modules/${dep}`] && !lock.packages[`node_modules/${dep}`]) missing.push(`${dep} (of ${where || 'the root'})`);
      }
    }
    expect(missing).toEqual([]);
    expect(lock.packages['node_modules/@rollup/rollup-android-arm-eabi']).toBeDefined();
    expect(lock.packages['node_modules/@esbuild/win32-x64']).toBeDefined();
    expect(fs.readFileSync('.ci/run', 'utf8')).toMatch(/^npm ci /m);
  });
});

describe('the module build (npm run build, npm start)', () => {
  it('drops asc\'s notices and keeps warnings and errors whole', () => {
    const out = [
      "INFO AS210: Expression is never 'null'.\n    :\n 87 │ x\n    └─ in assembly/json/scan.ts(87,37)",
      'WARNING AS201: Conversion from type \'f64\' to \'i32\' will require an explicit cast.\n    └─ in assembly/a.ts(1,1)',
      'ERROR TS2304: Cannot find name \'y\'.\n    └─ in assembly/b.ts(2,2)',
      'Last converge was suboptimal.',
    ].join('\n\n');
    const kept = withoutNotices(out);
    expect(kept).not.toContain('AS210');
    expect(kept).not.toContain('converge');
    expect(kept).toContain('WARNING AS201');
    expect(kept).toContain('ERROR TS2304: Cannot find name \'y\'.\n    └─ in assembly/b.ts(2,2)');
    expect(withoutNotices("INFO AS210: x\n    └─ in a.ts\n\nLast converge was suboptimal.\n")).toBe('');
  });

  it('decides staleness by content: a touched file is fresh, a changed byte, the config or another target is not', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'build-module-'));
    fs.mkdirSync(path.join(root, 'assembly', 'log'), { recursive: true });
    fs.writeFileSync(path.join(root, 'asconfig.json'), '{"targets":{"release":{}}}');
    fs.writeFileSync(path.join(root, 'assembly', 'entry.ts'), 'export function f(): i32 { return 1; }\n');
    fs.writeFileSync(path.join(root, 'assembly', 'log', 'ring.ts'), '// ring\n');
    const h0 = inputHash(root, 'release');
    const later = new Date(Date.now() + 60_000);
    fs.utimesSync(path.join(root, 'assembly', 'entry.ts'), later, later);
    expect(inputHash(root, 'release')).toBe(h0);
    expect(inputHash(root, 'debug')).not.toBe(h0);
    fs.writeFileSync(path.join(root, 'assembly', 'log', 'ring.ts'), '// ring!\n');
    const h1 = inputHash(root, 'release');
    expect(h1).not.toBe(h0);
    fs.writeFileSync(path.join(root, 'asconfig.json'), '{"targets":{"release":{"optimizeLevel":3}}}');
    expect(inputHash(root, 'release')).not.toBe(h1);
    fs.writeFileSync(path.join(root, 'assembly', 'new.ts'), '');
    expect(inputHash(root, 'release')).not.toBe(h1);
  });

  it('builds nothing when the module is up to date, in one quiet line per target', () => {
    // npm test built both targets just before; nothing changed since.
    const r = spawnSync(process.execPath, [BUILD], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n').sort()).toEqual(['module debug: build/trackagent.debug.wasm is up to date', 'module release: build/trackagent.wasm is up to date']);
    const bad = spawnSync(process.execPath, [BUILD, 'fastest'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe("build: no target 'fastest' in asconfig.json: give one of debug, release\n");
  });
});
