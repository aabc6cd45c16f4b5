/** Graphite's Alias functions: new names, same points (the path expression is kept for combining). */
import { QueryError } from './errors.js';
import { pyRegExp, pyReplacement } from './format.js';
import { seriesList, type FunctionDef } from './registry.js';
import { aggKey, derive } from './series.js';
import type { TimeSeries } from './timeSeries.js';

const GROUP = 'Alias';

/** Graphite's aliasByMetric: the last element of the innermost path in the name, arguments dropped. */
function metricOf(name: string): string {
  const right = name.indexOf(')');
  const inner = name.slice(name.lastIndexOf('(') + 1, right < 0 ? name.length : right);
  return inner.slice(inner.lastIndexOf('.') + 1).replace(/,.*$/, '');
}

export const ALIAS: FunctionDef[] = [
  {
    name: 'alias',
    group: GROUP,
    description: 'Shows newName instead of the series name. Example: alias(sales.widgets.largeBlue,"Large Blue Widgets")',
    params: [seriesList(), { name: 'newName', type: 'string', required: true }],
    impl: (_ctx, args) => (args.seriesList as TimeSeries[]).map((s) => derive(s, { name: args.newName as string })),
  },
  {
    name: 'aliasByNode',
    group: GROUP,
    description:
      'Names each series by the given nodes of its path (0-based, negative from the end; a string picks a tag), joined with dots. Inside a function-wrapped name, the first path is used. Example: aliasByNode(ganglia.*.cpu.load5,1)',
    params: [seriesList(), { name: 'nodes', type: 'nodeOrTag', required: true, multiple: true }],
    impl: (_ctx, args) => (args.seriesList as TimeSeries[]).map((s) => derive(s, { name: aggKey(s, args.nodes as (number | string)[]) })),
  },
  {
    name: 'aliasByMetric',
    group: GROUP,
    description: 'Names each series by the last node of its path. Example: aliasByMetric(carbon.agents.graphite.creates)',
    params: [seriesList()],
    impl: (_ctx, args) => (args.seriesList as TimeSeries[]).map((s) => derive(s, { name: metricOf(s.name) })),
  },
  {
    name: 'aliasSub',
    group: GROUP,
    description: 'Renames with a regular expression search and replace (\\1 refers to a group). Example: aliasSub(ip.*TCP*,"^.*TCP(\\d+)","\\1")',
    params: [seriesList(), { name: 'search', type: 'string', required: true }, { name: 'replace', type: 'string', required: true }],
    impl: (_ctx, args) => {
      let re: RegExp;
      try {
        re = pyRegExp(args.search as string, 'g');
      } catch (e) {
        throw new QueryError(`aliasSub(): bad regular expression "${args.search as string}": ${(e as Error).message}`);
      }
      const replacement = pyReplacement(args.replace as string);
      return (args.seriesList as TimeSeries[]).map((s) => derive(s, { name: s.name.replace(re, replacement) }));
    },
  },
];
