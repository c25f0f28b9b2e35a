// The budgets of test/budgets.json, and the one function that holds a figure against one.
import fs from 'node:fs';

export interface Budget { max: number; goal?: number; unit: string; why: string; steps?: number; records?: number }

export function loadBudgets(path = 'test/budgets.json'): Record<string, Budget> {
  const raw = JSON.parse(fs.readFileSync(path, 'utf8')) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(raw).filter(([k]) => !k.startsWith('$'))) as Record<string, Budget>;
}

/** null when within budget; else one line naming the figure, the budget and the measurement. */
export function overBudget(name: string, measured: number, budgets: Record<string, Budget>): string | null {
  const b = budgets[name];
  if (!b) return `${name}: no budget in test/budgets.json`;
  return measured <= b.max ? null : `${name} is over budget: measured ${measured} ${b.unit}, budget ${b.max} ${b.unit} (test/budgets.json: ${b.why})`;
}

/** The figure aimed at: the goal when the budget has one apart from its ceiling. */
export function goalOf(b: Budget): number {
  return b.goal ?? b.max;
}

/**
 * Runs the Linux board's valgrind measurements (boards/linux/measure.sh: memcheck over trap
 * restarts, massif, stack depths) and returns its JSON. Asynchronous: it takes half a
 * minute, and a test worker must keep answering its runner meanwhile.
 */
export async function boardFigures(): Promise<Record<string, any>> {
  const { stdout } = await execFileAsync('bash', ['boards/linux/measure.sh'], { encoding: 'utf8', maxBuffer: 16 << 20 });
  return JSON.parse(stdout);
}

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
const execFileAsync = promisify(execFile);
