// The ABI's one table (assembly/abi.json) against what is made of it: the generated constants
// committed for each language, and the tables of the ABI page a person reads.
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OUTPUTS, ROOT, TABLE, readTable, render, stale, snake, type AbiTable } from '../tools/abi/generate.js';

const table = readTable();
const page = fs.readFileSync(path.join(ROOT, 'assembly/ABI.md'), 'utf8');

/** The rows (cells, backticks removed) of the first table after the heading `### title`. */
function tableAfter(title: string): string[][] {
  const at = page.indexOf(`\n### ${title}\n`);
  if (at < 0) throw new Error(`ABI.md has no section "${title}"`);
  const lines = page.slice(at).split('\n').slice(2);
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const l of lines.slice(first + 2)) {
    if (!l.startsWith('|')) break;
    rows.push(l.slice(1, -1).split('|').map((c) => c.trim().replace(/`/g, '')));
  }
  return rows;
}

const group = (t: AbiTable, name: string) => {
  const g = t.groups.find((x) => x.name === name);
  if (!g) throw new Error(`${TABLE} has no group ${name}`);
  return g;
};

describe('ABI table', () => {
  it('the committed generated files are what the generator writes', () => {
    expect(stale()).toEqual([]);
  });

  it('a changed table makes every generated file stale', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'abi-'));
    try {
      const changed = structuredClone(table);
      group(changed, 'stat').values[0].value = 99;
      fs.mkdirSync(path.join(dir, 'assembly'));
      fs.writeFileSync(path.join(dir, TABLE), JSON.stringify(changed));
      for (const [f, text] of Object.entries(render(table))) {
        fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
        fs.writeFileSync(path.join(dir, f), text);
      }
      expect(stale(dir).sort()).toEqual(Object.values(OUTPUTS).sort());
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names and values are unique within each group', () => {
    for (const g of table.groups) {
      expect(new Set(g.values.map((v) => v.name)).size, g.name).toBe(g.values.length);
      expect(new Set(g.values.map((v) => v.value)).size, g.name).toBe(g.values.length);
    }
  });

  it('ABI.md states the version of the table', () => {
    expect(page).toMatch(new RegExp(`^# Host ABI \\(version ${table.version}\\)`));
  });

  it("ABI.md's start flags are the table's", () => {
    const rows = tableAfter('Start flags').map(([bit, name]) => [name, 1 << Number(bit)]);
    expect(rows).toEqual(group(table, 'startFlag').values.map((v) => [snake(v.name), v.value]));
  });

  it("ABI.md's start statuses are the table's", () => {
    const rows = tableAfter('Start status').map(([value, name]) => [name, Number(value)]);
    expect(rows).toEqual(group(table, 'startStatus').values.map((v) => [snake(v.name), v.value]));
  });

  it("ABI.md's agent_stat ids are the table's", () => {
    const rows = tableAfter('agent_stat').map(([which, name]) => [name, Number(which)]);
    expect(rows).toEqual(group(table, 'stat').values.map((v) => [v.name, v.value]));
  });

  it("ABI.md's import status codes are the table's", () => {
    const rows = tableAfter('Import status').map(([value, name]) => [name, Number(value)]);
    expect(rows).toEqual(group(table, 'importStatus').values.map((v) => [snake(v.name), v.value]));
  });
});
