import type { SampleSink } from './sink.js';

/** --debug: prints every incoming sample whose key matches the glob, then hands it on. */
export function debugSink(inner: SampleSink, matches: (key: string) => boolean, print: (line: string) => void): SampleSink {
  const rate = (r: number): string => (r === 1 ? '' : ` @${r}`);
  return {
    counter(key, value, r) {
      if (matches(key)) print(`sample counter ${key} ${value}${rate(r)}`);
      inner.counter(key, value, r);
    },
    timer(key, value, r) {
      if (matches(key)) print(`sample timer ${key} ${value}${rate(r)}`);
      inner.timer(key, value, r);
    },
    gauge(key, value, signed) {
      if (matches(key)) print(`sample gauge ${key} ${signed && value >= 0 ? '+' : ''}${value}`);
      inner.gauge(key, value, signed);
    },
    set(key, member) {
      if (matches(key)) print(`sample set ${key} ${JSON.stringify(member)}`);
      inner.set(key, member);
    },
    packet: () => inner.packet(),
    line: () => inner.line(),
    badLine: (line, reason) => inner.badLine(line, reason),
  };
}
