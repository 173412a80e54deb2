// Finds a Python that imports torch and torchvision, for `kefer train --engine torch` and
// `kefer import-checkpoint`: $KEFER_PYTHON when set (and only it), else `python3` on PATH, else
// /usr/bin/python3 (Debian's python3-torch lives there while a pyenv/venv python3 may shadow it).
// The trainer itself is python/kefer_torch, found beside this code (the checkout) or dist/python (the
// .vsix), or at $KEFER_TORCH_PATH; it goes on PYTHONPATH, so no `pip install` is needed.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export interface TorchPython {
  python: string;
  torch: string;
  torchvision: string;
  cuda: boolean;
  devices: string[];
  safetensors: boolean;
  /** What to add to PYTHONPATH so `-m kefer_torch` resolves. */
  pythonPath: string;
}

export type TorchPythonResult = { ok: true; info: TorchPython } | { ok: false; why: string };

/** The folder holding the kefer_torch package (python/ in the checkout, dist/python in the .vsix). */
export function kefertorchRoot(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.KEFER_TORCH_PATH) return env.KEFER_TORCH_PATH;
  for (let dir = __dirname, i = 0; i < 6; i++, dir = path.dirname(dir)) {
    for (const p of [path.join(dir, 'python'), path.join(dir, 'dist', 'python')]) {
      if (existsSync(path.join(p, 'kefer_torch', '__init__.py'))) return p;
    }
  }
  return undefined;
}

/** PYTHONPATH with `root` first. */
export function withPythonPath(root: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, PYTHONPATH: env.PYTHONPATH ? `${root}${path.delimiter}${env.PYTHONPATH}` : root };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; out: string; err: string; spawnError?: string }> {
  return new Promise((resolve) => {
    let out = '';
    let err = '';
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, out, err, spawnError: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : e.message });
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** The candidates in order: $KEFER_PYTHON alone, else python3 on PATH, then /usr/bin/python3. */
export function pythonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.KEFER_PYTHON) return [env.KEFER_PYTHON];
  return ['python3', '/usr/bin/python3'];
}

/** Probes each candidate with `-m kefer_torch probe`; the first that imports torch and torchvision wins. */
export async function findTorchPython(env: NodeJS.ProcessEnv = process.env): Promise<TorchPythonResult> {
  const root = kefertorchRoot(env);
  if (!root) return { ok: false, why: 'the kefer_torch package (python/kefer_torch) is not beside this engine; set KEFER_TORCH_PATH to its parent folder' };
  const reasons: string[] = [];
  for (const python of pythonCandidates(env)) {
    const r = await run(python, ['-m', 'kefer_torch', 'probe'], withPythonPath(root, env), 60_000);
    if (r.spawnError) {
      reasons.push(`${python}: ${r.spawnError}`);
      continue;
    }
    const line = r.out.trim().split('\n').pop() ?? '';
    if (r.code === 0 && line.startsWith('{')) {
      const p = JSON.parse(line) as Omit<TorchPython, 'python' | 'pythonPath'> & { executable: string };
      return { ok: true, info: { python, torch: p.torch, torchvision: p.torchvision, cuda: p.cuda, devices: p.devices, safetensors: p.safetensors, pythonPath: root } };
    }
    const missing = /No module named '([^']+)'/.exec(r.err);
    reasons.push(`${python}: ${missing ? `no module named ${missing[1]}` : (r.err.trim().split('\n').pop() ?? `exit ${r.code}`)}`);
  }
  const tried = env.KEFER_PYTHON ? `KEFER_PYTHON=${reasons.join('; ')}` : reasons.join('; ');
  return { ok: false, why: `no Python with PyTorch found (${tried}): install torch and torchvision (Debian: apt install python3-torch python3-torchvision) or point KEFER_PYTHON at a python that has them` };
}

/** Runs `python -m kefer_torch <args>` to completion; stderr lines go to onLine as they come. */
export function runKeferTorch(py: TorchPython, args: string[], onLine: (line: string) => void = () => {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let partial = '';
    const p = spawn(py.python, ['-m', 'kefer_torch', ...args], { env: withPythonPath(py.pythonPath), stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) onLine(l);
    });
    p.on('error', (e) => (stderr += e.message));
    p.on('close', (code) => {
      if (partial.trim()) onLine(partial);
      resolve({ code, stdout, stderr });
    });
  });
}
