/** A part's figures: numbers (published as metrics) and strings (shown, not published), nested. */
export interface Figures {
  [name: string]: number | string | Figures;
}

export interface MetaSource {
  /** dotted path the figures live under: "listeners.udp_127_0_0_1_8125", "flushers.graphite" */
  path: string;
  read(): Figures;
  /** false for figures flushed already under etsy's own names (the statsd counters) */
  publish?: boolean;
}

/**
 * The one registry of tally's own figures. Every part (listeners, flushers, and later collectors
 * and log tailers) adds a source here and removes it when it goes; the registry reads them all on
 * demand: for the metrics published each flush, for XML-RPC, the admin port and `tally stats`.
 */
export class MetaRegistry {
  private readonly sources = new Set<MetaSource>();

  /** Returns the function that removes the source. */
  add(source: MetaSource): () => void {
    this.sources.add(source);
    return () => this.sources.delete(source);
  }

  /** Every figure, nested by path. */
  read(onlyPublished = false): Figures {
    const root: Figures = {};
    for (const s of this.sources) {
      if (onlyPublished && s.publish === false) continue;
      let node = root;
      for (const part of s.path === '' ? [] : s.path.split('.')) {
        const next = node[part];
        node = typeof next === 'object' ? next : (node[part] = {});
      }
      Object.assign(node, s.read());
    }
    return root;
  }
}

/** [["listeners.udp_127_0_0_1_8125.datagrams", 12], ...], sorted by name. */
export function flatten(figures: Figures, prefix = ''): [string, number | string][] {
  const out: [string, number | string][] = [];
  for (const [name, v] of Object.entries(figures)) {
    const path = prefix + name;
    if (typeof v === 'object') out.push(...flatten(v, path + '.'));
    else out.push([path, v]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** A listener address as one metric path segment: "udp_127_0_0_1_8125", "udp___1__8125". */
export function pathSegment(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '_');
}
