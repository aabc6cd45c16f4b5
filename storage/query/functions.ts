/** Every render function tally supports, by name: what the evaluator dispatches on and /functions lists. */
import { ALIAS } from './alias.js';
import { CALCULATE } from './calculate.js';
import { COMBINE } from './combine.js';
import { FILTER } from './filter.js';
import type { FunctionDef } from './registry.js';
import { SPECIAL } from './special.js';
import { TRANSFORM } from './transform.js';

function byName(defs: FunctionDef[]): ReadonlyMap<string, FunctionDef> {
  const map = new Map<string, FunctionDef>();
  for (const d of defs) {
    if (map.has(d.name)) throw new Error(`render function ${d.name} is defined twice`);
    map.set(d.name, d);
  }
  return map;
}

export const FUNCTIONS: ReadonlyMap<string, FunctionDef> = byName([...COMBINE, ...TRANSFORM, ...CALCULATE, ...FILTER, ...ALIAS, ...SPECIAL]);
