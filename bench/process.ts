// A timed child process for the benchmark: wall-clock seconds from spawn to exit, output kept in a
// log file, a hard timeout that kills the whole process group (ansible-playbook forks workers and
// ssh, clusterseed's child its own), and the group killed as well should the bench itself exit.
import { createWriteStream } from 'node:fs';
import { killGroup, start } from '../lib/process/index.ts';
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

export async function timedRun(cmd: string, args: string[], opts: TimedRunOptions): Promise<TimedRun> {
  const log = createWriteStream(opts.logFile);
  log.write(`$ ${cmd} ${args.join(' ')}\n`);
  const cpuBefore = childrenCpuSeconds();
  const hostsBefore = opts.hostsCpu?.();
  const started = process.hrtime.bigint();
  let output = '';
  // own process group: the timeout (and the bench's exit) kills the tool with everything it forked
  const child = start([cmd, ...args], {
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    timeoutMs: opts.timeoutMs,
    onOutput: (chunk) => {
      output += chunk.toString('utf8');
      log.write(chunk);
    },
  });
  if (child.pid) running.add(child.pid);
  try {
    const { code, timedOut } = await child.done;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (child.pid) {
      // workers a tool left behind (ssh ControlPersist masters are closed by their owner first)
      killGroup(child.pid);
      running.delete(child.pid);
    }
    if (timedOut) log.write(`\n[bench] killed after ${opts.timeoutMs / 1000} s\n`);
    const hostsCpu = hostsBefore === undefined ? undefined : opts.hostsCpu!() - hostsBefore;
    return { seconds, code, timedOut, output, clientCpu: childrenCpuSeconds() - cpuBefore, hostsCpu };
  } finally {
    log.end();
  }
}
