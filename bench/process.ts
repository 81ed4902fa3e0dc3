// A timed child process for the benchmark: wall-clock seconds from spawn to exit, output kept in a
// log file, a hard timeout that kills the whole process group (ansible-playbook forks workers and
// ssh, clusterseed's child its own), and the group killed as well should the bench itself exit.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { childrenCpuSeconds } from './cpu.ts';

export interface TimedRun {
  seconds: number;
  code: number;
  timedOut: boolean;
  /** everything the process printed (stdout and stderr, interleaved) */
  output: string;
  /** CPU seconds of the process tree on this machine */
  clientCpu: number;
  /** CPU seconds the test hosts used meanwhile (when `hostsCpu` was given) */
  hostsCpu?: number;
}

export interface TimedRunOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** output is written here as it comes */
  logFile: string;
  /** CPU seconds the test hosts have used so far, read before and after the run */
  hostsCpu?: () => number;
}

const running = new Set<number>();
process.on('exit', () => {
  for (const pid of running) killGroup(pid);
});

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export function timedRun(cmd: string, args: string[], opts: TimedRunOptions): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const log = createWriteStream(opts.logFile);
    log.write(`$ ${cmd} ${args.join(' ')}\n`);
    const cpuBefore = childrenCpuSeconds();
    const hostsBefore = opts.hostsCpu?.();
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    if (child.pid) running.add(child.pid);
    let output = '';
    let timedOut = false;
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      log.write(chunk);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid) killGroup(child.pid);
    }, opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      log.end();
      reject(err);
    });
    child.on('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      clearTimeout(timer);
      if (child.pid) {
        // workers a tool left behind (ssh ControlPersist masters are closed by their owner first)
        killGroup(child.pid);
        running.delete(child.pid);
      }
      if (timedOut) log.write(`\n[bench] killed after ${opts.timeoutMs / 1000} s\n`);
      log.end();
      const hostsCpu = hostsBefore === undefined ? undefined : opts.hostsCpu!() - hostsBefore;
      resolve({ seconds, code: code ?? 128 + (signal ? 9 : 0), timedOut, output, clientCpu: childrenCpuSeconds() - cpuBefore, hostsCpu });
    });
  });
}
