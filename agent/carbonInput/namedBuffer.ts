import type { NamedPoints } from '../flush/snapshot.js';

/**
 * The named datapoints (path, value, own timestamp) of the current flush interval, in arrival order,
 * at most `maxPoints` of them: past the bound a point is refused (the caller counts it), so a flood
 * cannot take the agent's memory. take() hands the interval over and starts a fresh one at once.
 */
export class NamedBuffer {
  private names: string[] = [];
  private values: number[] = [];
  private timestamps: number[] = [];
  /** points refused since the last take() */
  private droppedNow = 0;

  constructor(private max: number) {}

  get maxPoints(): number {
    return this.max;
  }

  set maxPoints(n: number) {
    this.max = n;
  }

  /** points held for the current interval */
  get size(): number {
    return this.names.length;
  }

  /** false when the interval already holds maxPoints (the point is dropped) */
  readonly add = (name: string, value: number, ts: number): boolean => {
    if (this.names.length >= this.max) {
      this.droppedNow++;
      return false;
    }
    this.names.push(name);
    this.values.push(value);
    this.timestamps.push(ts);
    return true;
  };

  /** The interval's points, and how many were refused in it; the buffer starts empty again. */
  take(): { points: NamedPoints; dropped: number } {
    const points: NamedPoints = { names: this.names, values: this.values, timestamps: this.timestamps };
    const dropped = this.droppedNow;
    this.names = [];
    this.values = [];
    this.timestamps = [];
    this.droppedNow = 0;
    return { points, dropped };
  }
}
