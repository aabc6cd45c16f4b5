import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

/**
 * For a test whose real peer (carbon's Python code, collectd, …) may be missing on this machine:
 * true when it is there; otherwise the test is skipped with `what` as the visible reason, or fails
 * when REQUIRE_PEERS=1 (as CI runs), so a missing install step cannot pass as a skip.
 */
export function requirePeer(t: TestContext, available: boolean, what: string): boolean {
  if (available) return true;
  if (process.env.REQUIRE_PEERS === '1') assert.fail(`${what} is missing (REQUIRE_PEERS=1)`);
  t.skip(`${what} is missing`);
  return false;
}
