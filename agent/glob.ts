import picomatch from 'picomatch';

/** Shell-style glob over metric names: `*` and `?` cross dots (`api.*` matches `api.a.b`), `[...]`, `{a,b}`. */
export function globMatcher(glob: string): (name: string) => boolean {
  return picomatch(glob, { bash: true, dot: true });
}
