import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { MetaSource } from './registry.js';

/** The agent process: memory, and how long the event loop was held (what delays flushes and reads). */
export function processSource(startedAt: number): MetaSource & { endInterval(): void } {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  return {
    path: 'process',
    read() {
      const mem = process.memoryUsage();
      return {
        uptime: Math.round((Date.now() - startedAt) / 1000),
        rss_bytes: mem.rss,
        heap_used_bytes: mem.heapUsed,
        heap_total_bytes: mem.heapTotal,
        external_bytes: mem.external,
        // ms, over the current flush interval
        event_loop_delay_max_ms: loop.count > 0 ? Math.round(loop.max / 1e4) / 100 : 0,
        event_loop_delay_p99_ms: loop.count > 0 ? Math.round(loop.percentile(99) / 1e4) / 100 : 0,
      };
    },
    endInterval: () => loop.reset(),
  };
}
