// Where a native addon of this project lives: build/<file> above the code that asks (src/engine/native
// under tsx, dist/ in the bundle and the installed .vsix), or the file an environment variable names.
// In util/ because data/ (the compiled enlargement) and runtimes/ (the addons) both look addons up.
import { existsSync } from 'node:fs';
import path from 'node:path';

/** build/<file> in the nearest folder above this module that has it, or $<envVar> when set. */
export function findAddon(file: string, envVar: string): string | undefined {
  const env = process.env[envVar];
  if (env) return env;
  const rel = path.join('build', file);
  for (let dir = __dirname, i = 0; i < 5; i++, dir = path.dirname(dir)) {
    const p = path.join(dir, rel);
    if (existsSync(p)) return p;
  }
  return undefined;
}
