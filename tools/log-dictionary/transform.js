// The log dictionary (issue 11, phase 2): an asc transform (asconfig.json "transform") that
// takes the log text out of the module.
//
// The sources keep readable calls, `logWarn("uplink: HTTP {}; retry {} in {} s", status, n, s)`:
// a string literal with one `{}` per argument. After parsing, each call to logError, logWarn,
// logInfo or logDebug becomes `__logN(level, id, arg1, ..., argN)` (assembly/logger.ts), where id
// is the message's 32-bit id (messageId below): the text itself never reaches the module. Two
// different texts with one id, a text that is not a literal, or a count of `{}` that is not the
// count of arguments stop the build.
//
// For the firmware (entry assembly/entry.ts) it writes the dictionary the hosts expand lines
// with: build/log-dictionary.json (Node hosts) and build/log_dictionary.c (boards, the table of
// boards/common/log_dictionary.h). A test harness with another entry gets its calls rewritten
// and writes nothing: its messages are a subset of the firmware's.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Node, NodeKind, LiteralKind, SourceKind } from 'assemblyscript/dist/assemblyscript.js';
import { Transform } from 'assemblyscript/dist/transform.js';
import { LEVELS, messageId, placeholders, toC, toJson } from './dictionary.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OUT_DIR = path.join(ROOT, 'build');
const FIRMWARE_ENTRY = 'assembly/entry.ts';
const CALLS = { logError: 0, logWarn: 1, logInfo: 2, logDebug: 3 };
const MAX_ARGS = 6; // __log0 .. __log6 in assembly/logger.ts

class BuildError extends Error {}

function where(node) {
  const r = node.range;
  return `${r.source.normalizedPath}:${r.source.lineAt(r.start)}`;
}

/** Every node under root, each once (the AST is a tree, but a Set costs nothing). */
function visit(root, fn) {
  const seen = new Set();
  const stack = [root];
  while (stack.length > 0) {
    const n = stack.pop();
    if (n === null || typeof n !== 'object' || seen.has(n)) continue;
    seen.add(n);
    if (n instanceof Node) fn(n);
    for (const [k, v] of Object.entries(n)) {
      if (k === 'range' || k === 'parent' || v === null || typeof v !== 'object') continue;
      if (Array.isArray(v)) for (const e of v) { if (e && typeof e === 'object') stack.push(e); }
      else if (v instanceof Node) stack.push(v);
    }
  }
}

function rewrite(call, messages) {
  const level = CALLS[call.expression.text];
  const [first, ...rest] = call.args;
  if (!first || first.kind !== NodeKind.Literal || first.literalKind !== LiteralKind.String) {
    throw new BuildError(`${where(call)}: ${call.expression.text} takes a string literal first (its text goes to the log dictionary)`);
  }
  const format = first.value;
  const n = placeholders(format);
  if (n !== rest.length) throw new BuildError(`${where(call)}: "${format}" has ${n} {} for ${rest.length} arguments`);
  if (rest.length > MAX_ARGS) throw new BuildError(`${where(call)}: at most ${MAX_ARGS} log arguments, ${rest.length} given`);
  const id = messageId(format);
  const known = messages.get(id);
  if (known && known.format !== format) {
    throw new BuildError(`${where(call)}: log id 0x${id.toString(16).padStart(8, '0')} of "${format}" is also that of "${known.format}" (${known.at[0]}): reword one`);
  }
  const m = known ?? { format, args: rest.length, levels: [], at: [] };
  if (!m.levels.includes(LEVELS[level])) m.levels.push(LEVELS[level]);
  m.at.push(where(call));
  messages.set(id, m);
  const r = call.range;
  call.expression = Node.createIdentifierExpression(`__log${rest.length}`, r);
  call.typeArguments = null;
  call.args = [
    Node.createIntegerLiteralExpression(i64_new(level, 0), r),
    Node.createIntegerLiteralExpression(i64_new(id | 0, 0), r),
    ...rest,
  ];
}

function writeIfChanged(file, text) {
  try { if (fs.readFileSync(file, 'utf8') === text) return; } catch { /* missing: write it */ }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

export default class LogDictionary extends Transform {
  afterParse(parser) {
    const messages = new Map();
    let firmware = false;
    try {
      for (const source of parser.sources) {
        if (source.sourceKind !== SourceKind.User && source.sourceKind !== SourceKind.UserEntry) continue;
        if (source.normalizedPath.startsWith('~lib/')) continue;
        if (source.sourceKind === SourceKind.UserEntry && source.normalizedPath === FIRMWARE_ENTRY) firmware = true;
        visit(source, (n) => {
          if (n.kind === NodeKind.Call && n.expression.kind === NodeKind.Identifier && n.expression.text in CALLS) rewrite(n, messages);
        });
      }
    } catch (e) {
      if (e instanceof BuildError) throw new Error(`log dictionary: ${e.message}`);
      throw e;
    }
    if (!firmware) return;
    const sorted = [...messages.entries()].sort((a, b) => (a[0] >>> 0) - (b[0] >>> 0));
    writeIfChanged(path.join(OUT_DIR, 'log-dictionary.json'), toJson(sorted));
    writeIfChanged(path.join(OUT_DIR, 'log_dictionary.c'), toC(sorted));
  }
}
