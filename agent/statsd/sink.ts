/** Where the parser puts what it reads. The aggregator implements it; --debug wraps it. */
export interface SampleSink {
  counter(key: string, value: number, rate: number): void;
  timer(key: string, value: number, rate: number): void;
  /** `signed`: the value was written with a leading '+' or '-' (a delta, when the gauge is non-zero). */
  gauge(key: string, value: number, signed: boolean): void;
  set(key: string, member: string): void;
  /** Counted once per datagram or TCP chunk, per non-empty line, per rejected sample. */
  packet(): void;
  line(): void;
  badLine(line: string, reason: string): void;
}
