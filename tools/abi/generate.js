#!/usr/bin/env node
// Writes the host ABI's constants, from their one table (assembly/abi.json), into each language
// that needs them: AssemblyScript for the module, TypeScript for the Node hosts, C for the board
// glue. The written files are committed (a board builds without Node); npm run build runs this
// first, and test/abi-table.test.ts fails when a committed one differs from what this writes.
//
//   node tools/abi/generate.js           write the files that differ
//   node tools/abi/generate.js --check   write nothing; exit 1 naming the stale ones
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TABLE = 'assembly/abi.json';
const SELF = 'tools/abi/generate.js';
export const OUTPUTS = {
  as: 'assembly/abi_constants.ts',
  ts: 'host-sim/abi-constants.ts',
  c: 'boards/common/abi_constants.h',
};

/** lowerCamel -> UPPER_SNAKE (`lastId` -> `LAST_ID`, `i32` -> `I32`). */
export function snake(name) {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

export function readTable(root = ROOT) {
  return JSON.parse(fs.readFileSync(path.join(root, TABLE), 'utf8'));
}

const header = (open, line, close) =>
  [open, `${line} Generated from ${TABLE} by ${SELF}; do not edit: change the table, then npm run build.`, close]
    .filter((l) => l !== '').join('\n');

function renderAs(t) {
  const out = [header('', '//', ''), '', `export const ABI_VERSION: i32 = ${t.version};`];
  for (const g of t.groups) {
    out.push('', `// ${g.doc}`);
    for (const v of g.values) out.push(`export const ${g.ts}${snake(v.name)}: ${g.as ?? 'i32'} = ${v.value}; // ${v.doc}`);
  }
  return `${out.join('\n')}\n`;
}

function renderTs(t) {
  const out = [header('', '//', ''), '', `export const ABI_VERSION = ${t.version};`];
  for (const g of t.groups) {
    out.push('', `// ${g.doc}`);
    for (const v of g.values) out.push(`export const ${g.ts}${snake(v.name)} = ${v.value}; // ${v.doc}`);
    const members = g.values.map((v) => `${v.name}: ${v.value}`).join(', ');
    out.push(`export const ${snake(g.name)} = { ${members} } as const;`);
  }
  return `${out.join('\n')}\n`;
}

function renderC(t) {
  const guard = 'TRACKAGENT_ABI_CONSTANTS_H';
  const out = [header('/*', ' *', ' */'), `#ifndef ${guard}`, `#define ${guard}`, '', `#define AGENT_ABI_VERSION ${t.version}`];
  for (const g of t.groups) {
    out.push('', `/* ${g.doc.replace(/`/g, '')} */`);
    for (const v of g.values) {
      const value = v.value < 0 ? `(${v.value})` : `${v.value}`;
      out.push(`#define ${g.c}${snake(v.name)} ${value} /* ${v.doc.replace(/`/g, '')} */`);
    }
  }
  out.push('', `#endif /* ${guard} */`);
  return `${out.join('\n')}\n`;
}

/** Every generated file's path (from the root) and text. */
export function render(table) {
  return { [OUTPUTS.as]: renderAs(table), [OUTPUTS.ts]: renderTs(table), [OUTPUTS.c]: renderC(table) };
}

/** The generated files whose committed text differs from what the table gives. */
export function stale(root = ROOT) {
  const files = render(readTable(root));
  return Object.keys(files).filter((f) => {
    const p = path.join(root, f);
    return !fs.existsSync(p) || fs.readFileSync(p, 'utf8') !== files[f];
  });
}

/** Writes the stale files; returns their paths. */
export function generate(root = ROOT) {
  const files = render(readTable(root));
  const written = stale(root);
  for (const f of written) fs.writeFileSync(path.join(root, f), files[f]);
  return written;
}

function main(argv) {
  try {
    if (argv.includes('--check')) {
      const s = stale();
      if (s.length > 0) {
        process.stderr.write(`abi: ${s.join(', ')} stale: run node ${SELF}\n`);
        return 1;
      }
      return 0;
    }
    for (const f of generate()) process.stderr.write(`abi: wrote ${f}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`abi: cannot generate from ${TABLE} (${e.message.split('\n')[0]}): fix the table\n`);
    return 2;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
