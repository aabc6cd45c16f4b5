/**
 * Fires at wall-clock multiples of the interval (a 10 s interval at :00, :10, :20 ...), re-armed
 * from the clock each time so it never drifts. A slot missed because the process was stalled is
 * skipped, never fired twice.
 */
export class AlignedTimer {
  private timer: NodeJS.Timeout | null = null;
  private lastSlot = 0;

  constructor(
    private intervalMs: number,
    private readonly onSlot: (slotMs: number) => void,
  ) {}

  start(): void {
    this.arm();
  }

  setInterval(ms: number): void {
    this.intervalMs = ms;
    if (this.timer) {
      this.stop();
      this.arm();
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    const now = Date.now();
    const slot = Math.max((Math.floor(now / this.intervalMs) + 1) * this.intervalMs, this.lastSlot + this.intervalMs);
    this.timer = setTimeout(() => {
      this.lastSlot = slot;
      this.arm();
      this.onSlot(slot);
    }, slot - now);
  }
}
