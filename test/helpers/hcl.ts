// Terraform and Packer files as data, for tests: @cdktf/hcl2json (HashiCorp's HCL parser compiled to
// WebAssembly) turns HCL into JSON offline, the way `hcl2json` does; expressions stay as their source text.
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse } from '@cdktf/hcl2json';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- HCL as JSON has whatever shape the file has
export type Hcl = Record<string, any>;

/** Every `*.tf` (or `*.pkr.hcl`) file of a directory parsed and merged: blocks of each type concatenated. */
export async function parseHclDir(dir: string, suffix = '.tf'): Promise<Hcl> {
  const merged: Hcl = {};
  for (const name of (await fs.readdir(dir)).filter((n) => n.endsWith(suffix)).sort()) {
    const parsed = (await parse(name, await fs.readFile(path.join(dir, name), 'utf8'))) as Hcl;
    for (const [type, value] of Object.entries(parsed)) {
      if (Array.isArray(value)) merged[type] = [...(merged[type] ?? []), ...value];
      else merged[type] = mergeObjects(merged[type] ?? {}, value as Hcl);
    }
  }
  return merged;
}

function mergeObjects(a: Hcl, b: Hcl): Hcl {
  const out: Hcl = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = k in out && typeof out[k] === 'object' && !Array.isArray(out[k]) ? mergeObjects(out[k] as Hcl, v as Hcl) : v;
  return out;
}

/** `resource "type" "name"` → its (first) block. */
export function resource(hcl: Hcl, type: string, name: string): Hcl {
  const block = hcl.resource?.[type]?.[name]?.[0] as Hcl | undefined;
  if (!block) throw new Error(`no resource "${type}" "${name}"`);
  return block;
}

/** A variable's default (undefined when it has none). */
export function variableDefault(hcl: Hcl, name: string): unknown {
  const block = hcl.variable?.[name]?.[0] as Hcl | undefined;
  if (!block) throw new Error(`no variable "${name}"`);
  return block.default;
}

/** The merged `locals` blocks. */
export function locals(hcl: Hcl): Hcl {
  return Object.assign({}, ...((hcl.locals ?? []) as Hcl[]));
}
