import { spawn } from 'node:child_process';

/** What one run of a hook did. */
export interface HookProcessResult {
  exitCode: number | null;
  signal: string | null;
  /** set when the hook could not be started at all (not executable, bad interpreter line, ...) */
  spawnError?: string;
  stdout: string;
  stderr: string;
  /** bytes of output beyond what was kept */
  truncated: number;
}

export interface RunningHook {
  pid: number | undefined;
  /** Kills the hook and everything it started (its process group). */
  kill(): void;
  done: Promise<HookProcessResult>;
}

/** Output kept per stream and run: enough for a log line, bounded for a hook that prints forever. */
const KEEP_BYTES = 16 * 1024;

/**
 * Starts one hook: `input` on its stdin, `env` added to the agent's. It runs in a process group
 * of its own (detached), so a timeout kills the shell script and whatever it started alike.
 */
export function runHookProcess(path: string, input: string, env: Record<string, string>): RunningHook {
  const child = spawn(path, [], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const out = { stdout: [] as Buffer[], stderr: [] as Buffer[], kept: { stdout: 0, stderr: 0 }, truncated: 0 };
  for (const name of ['stdout', 'stderr'] as const) {
    child[name].on('data', (chunk: Buffer) => {
      const room = KEEP_BYTES - out.kept[name];
      if (room > 0) out[name].push(chunk.subarray(0, room));
      out.kept[name] += Math.min(room, chunk.length);
      out.truncated += Math.max(0, chunk.length - Math.max(room, 0));
    });
  }
  // a hook that does not read its stdin closes the pipe: that is fine
  child.stdin.on('error', () => undefined);
  child.stdin.end(input);

  const done = new Promise<HookProcessResult>((resolve) => {
    const finish = (r: Pick<HookProcessResult, 'exitCode' | 'signal' | 'spawnError'>) =>
      resolve({ ...r, stdout: Buffer.concat(out.stdout).toString('utf8'), stderr: Buffer.concat(out.stderr).toString('utf8'), truncated: out.truncated });
    child.once('error', (err) => finish({ exitCode: null, signal: null, spawnError: err.message }));
    child.once('exit', (exitCode, signal) => {
      // a daemon the hook left behind may hold the pipes open: wait briefly for the rest of the output
      const cut = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, 500);
      let open = 2;
      const closed = () => {
        if (--open > 0) return;
        clearTimeout(cut);
        finish({ exitCode, signal });
      };
      for (const s of [child.stdout, child.stderr]) {
        if (s.destroyed || s.readableEnded) closed();
        else s.once('close', closed);
      }
    });
  });
  return {
    pid: child.pid,
    kill: () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    },
    done,
  };
}
