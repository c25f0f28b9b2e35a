#!/usr/bin/env node
// Builds the AssemblyScript module's targets (asconfig.json) that are stale, and only those.
// First it writes the ABI constants from their table (tools/abi/generate.js), which the module
// imports: a changed table is a changed source.
// A target is stale when its outputs are missing or when the hash of what it is made of
// (every file under assembly/ and tools/log-dictionary/, tools/merge-data-segments.js,
// asconfig.json, the compiler's and json-as's versions)
// differs from the one stamped beside its outputs by its last build. Hashes, not mtimes: a
// checkout or a copy changes mtimes without changing a byte.
//
// Quiet unless something is wrong: asc's INFO notices (AS210 "never null" and the like) and
// its optimizer's chatter are dropped; warnings and errors are shown whole.
//
//   node host-sim/bin/build-module.js [TARGET...] [--force]   (default: every target)
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { mergeDataSegments } from '../../tools/merge-data-segments.js';
import { generate as generateAbi } from '../../tools/abi/generate.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CONFIG = 'asconfig.json';
const SOURCES = ['assembly', 'tools/log-dictionary', 'tools/merge-data-segments.js'];
/** Targets whose data segments are merged after asc (tools/merge-data-segments.js); not debug: its source map addresses the file. */
const MERGED = ['release'];
/** What the log dictionary transform writes beside the module (tools/log-dictionary/). */
const DICTIONARY = ['build/log-dictionary.json', 'build/log_dictionary.c'];
const TOOLS = ['assemblyscript', 'json-as'];
const PROG = 'build';
const require = createRequire(path.join(ROOT, 'package.json'));

function filesUnder(dir) {
  const out = [];
  if (!fs.existsSync(dir)) return out;
  if (fs.statSync(dir).isFile()) return [dir];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** The hash of everything a target is built from. */
export function inputHash(root, target) {
  const h = crypto.createHash('sha256');
  h.update(`target ${target}\n`);
  const files = [path.join(root, CONFIG), ...SOURCES.flatMap((d) => filesUnder(path.join(root, d))).sort()];
  for (const f of files) {
    h.update(`${path.relative(root, f)}\n`);
    h.update(fs.readFileSync(f));
  }
  for (const t of TOOLS) h.update(`${t}@${toolVersion(t)}\n`);
  return h.digest('hex');
}

function toolVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
  } catch {
    return 'missing';
  }
}

/** Files a target writes (asconfig's outFile and textFile, the log dictionary). */
function outputsOf(options) {
  return [options.outFile, options.textFile, ...DICTIONARY].filter(Boolean).map((f) => path.join(ROOT, f));
}

const stampOf = (outFile) => `${outFile}.inputs`;

/** asc's output without the notices: blocks that start with INFO, and optimizer chatter. */
export function withoutNotices(text) {
  const blocks = text.replace(/\r\n/g, '\n').split(/\n\s*\n/);
  return blocks
    .filter((b) => !/^\s*INFO AS\d+/.test(b))
    .map((b) => b.split('\n').filter((l) => !/^Last converge was suboptimal\.?$/.test(l.trim())).join('\n'))
    .filter((b) => b.trim() !== '')
    .join('\n\n');
}

function build(target) {
  const asc = require.resolve('assemblyscript/bin/asc.js');
  // The config by its full path: asc resolves the relative transform path of asconfig.json from
  // the config's folder, and a relative folder turns it into a package name.
  const r = spawnSync(process.execPath, [asc, '--config', path.join(ROOT, CONFIG), '--target', target], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) return { ok: false, text: `cannot run asc (${r.error.message})` };
  return { ok: r.status === 0, text: withoutNotices(`${r.stdout ?? ''}\n\n${r.stderr ?? ''}`) };
}

function main(argv) {
  const force = argv.includes('--force');
  let config;
  try {
    config = JSON.parse(fs.readFileSync(path.join(ROOT, CONFIG), 'utf8'));
  } catch (e) {
    process.stderr.write(`${PROG}: cannot read ${CONFIG} (${e.code ?? e.message}): restore it from git\n`);
    return 2;
  }
  try {
    for (const f of generateAbi(ROOT)) process.stderr.write(`abi: wrote ${f}\n`);
  } catch (e) {
    process.stderr.write(`${PROG}: cannot write the ABI constants (${e.message.split('\n')[0]}): fix assembly/abi.json\n`);
    return 2;
  }
  const all = Object.keys(config.targets ?? {});
  const asked = argv.filter((a) => !a.startsWith('--'));
  for (const t of asked) {
    if (!all.includes(t)) {
      process.stderr.write(`${PROG}: no target '${t}' in ${CONFIG}: give one of ${all.join(', ')}\n`);
      return 2;
    }
  }
  for (const target of asked.length > 0 ? asked : all) {
    const options = { ...config.options, ...config.targets[target] };
    const outputs = outputsOf(options);
    const stamp = stampOf(outputs[0]);
    const hash = inputHash(ROOT, target);
    const fresh = !force && outputs.every((f) => fs.existsSync(f)) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8').trim() === hash;
    const shown = path.relative(ROOT, outputs[0]);
    if (fresh) {
      process.stderr.write(`module ${target}: ${shown} is up to date\n`);
      continue;
    }
    const started = performance.now();
    process.stderr.write(`module ${target}: building ${shown}...`);
    const r = build(target);
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    if (!r.ok) {
      process.stderr.write(` failed after ${secs} s\n${r.text}\n`);
      process.stderr.write(`${PROG}: the ${target} module did not build: fix the errors above\n`);
      try { fs.rmSync(stamp, { force: true }); } catch { /* a stale stamp only means a rebuild */ }
      return 1;
    }
    if (MERGED.includes(target)) {
      const m = mergeDataSegments(new Uint8Array(fs.readFileSync(outputs[0])));
      fs.writeFileSync(outputs[0], m.bytes);
    }
    process.stderr.write(` done in ${secs} s\n`);
    if (r.text) process.stderr.write(`${r.text}\n`); // warnings: the build went through, but say them
    fs.writeFileSync(stamp, `${hash}\n`);
  }
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
