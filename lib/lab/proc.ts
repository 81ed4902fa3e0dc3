// Process inspection for the lab (running tools is lib/process): is a pid alive, which processes carry
// a lab's tag, and the tail of a log.
import fs from 'node:fs';

/** Whether a process with this pid exists (and is not a zombie we could still see). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The NUL-separated command line of a process, or undefined when it is gone. */
export function processArgs(pid: number): string[] | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

/** Pids of every process carrying `tag` as an argument or as the prefix of one (`TAG-...`). */
export function findProcesses(tag: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    if (processArgs(pid)?.some((a) => a === tag || a.startsWith(`${tag}-`))) pids.push(pid);
  }
  return pids;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The last `lines` lines of a text file, or '' when it does not exist. */
export function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
