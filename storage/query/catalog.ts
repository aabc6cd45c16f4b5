/** The `/functions` answer, generated from the same registry the evaluator dispatches on. */
import { AGG_FUNC_NAMES } from './aggfuncs.js';
import { pyRepr } from './format.js';
import { FUNCTIONS } from './functions.js';
import type { FunctionDef, ParamSpec } from './registry.js';

/** A parameter as Graphite's Param.toJSON writes it: optional fields only when set. */
export interface CatalogParam {
  name: string;
  type: string;
  required?: true;
  default?: string | number | boolean;
  multiple?: true;
  options?: readonly string[];
  suggestions?: readonly (string | number)[];
}

export interface CatalogEntry {
  name: string;
  /** Python-style signature, e.g. `summarize(seriesList, intervalString, func='sum', alignToFrom=False)` */
  function: string;
  description: string;
  module: string;
  group: string;
  params: CatalogParam[];
}

function param(p: ParamSpec): CatalogParam {
  const options = p.options ?? (p.type === 'aggFunc' ? AGG_FUNC_NAMES : undefined);
  return {
    name: p.name,
    type: p.type,
    ...(p.required ? { required: true as const } : {}),
    ...(p.default !== undefined ? { default: p.default } : {}),
    ...(p.multiple ? { multiple: true as const } : {}),
    ...(options ? { options } : {}),
    ...(p.suggestions ? { suggestions: p.suggestions } : {}),
  };
}

function signature(def: FunctionDef): string {
  const params = def.params.map((p) => (p.multiple ? `*${p.name}` : p.required ? p.name : `${p.name}=${p.default === undefined ? 'None' : pyRepr(p.default)}`));
  return `${def.name}(${params.join(', ')})`;
}

function entry(def: FunctionDef): CatalogEntry {
  return {
    name: def.name,
    function: signature(def),
    description: def.description,
    module: def.module ?? 'graphite.render.functions',
    group: def.group,
    params: def.params.map(param),
  };
}

/** Every supported render function's entry, by name (`?group=` filters, `?grouped=1` nests by group). */
export function functionCatalog(options: { group?: string; grouped?: boolean } = {}): Record<string, CatalogEntry> | Record<string, Record<string, CatalogEntry>> {
  const entries = [...FUNCTIONS.values()].map(entry).filter((e) => options.group === undefined || e.group === options.group);
  if (!options.grouped) return Object.fromEntries(entries.map((e) => [e.name, e]));
  const grouped: Record<string, Record<string, CatalogEntry>> = {};
  for (const e of entries) (grouped[e.group] ??= {})[e.name] = e;
  return grouped;
}

/** `/functions/<name>`; undefined when there is no such function (answer 404). */
export function functionInfo(name: string): CatalogEntry | undefined {
  const def = FUNCTIONS.get(name);
  return def && entry(def);
}

export function functionNames(): string[] {
  return [...FUNCTIONS.keys()].sort();
}
