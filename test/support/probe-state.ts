// A probe result for unit tests of a task's plan: its own probe's stdout plus the files it asked
// for, as the batch's file facts would describe them (missing unless given here). The facts the task
// names (Task.facts, lib/facts) are parsed from the same stdout, as if it were their query's output.
import { createHash } from 'node:crypto';
import type { FileFact, ProbeResult, Task } from '../../lib/runner/types.ts';

export function probed(task: Task, stdout: string, files: Record<string, string | Buffer> = {}, meta: Partial<FileFact> = {}): ProbeResult {
  const facts = new Map<string, FileFact>();
  for (const { path } of task.files ?? []) {
    const content = files[path];
    if (content === undefined) {
      facts.set(path, { exists: false, type: '', mode: '', owner: '', group: '' });
      continue;
    }
    const bytes = Buffer.from(content);
    facts.set(path, {
      exists: true,
      type: bytes.length ? 'regular file' : 'regular empty file',
      mode: '0644',
      owner: 'root',
      group: 'root',
      content: bytes,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      ...meta,
    });
  }
  const answers = new Map<string, unknown>((task.facts ?? []).map((r) => [r.fact.name, r.fact.parse(stdout, r.params ?? [])]));
  return { stdout, code: 0, files: facts, ...(answers.size ? { facts: answers } : {}) };
}

/** The queries a probe batch runs for the facts this task names (what its probe was before lib/facts). */
export function factQueries(task: Task): string {
  return (task.facts ?? []).map((r) => r.fact.command(r.params ?? [])).join('\n');
}

/** A plan's answer that leaves the host as it is: null, or `{ ok: reason }` (lib/runner/types.ts InState). */
export function inState(plan: unknown): boolean {
  return plan === null || (typeof plan === 'object' && 'ok' in plan && !('apply' in plan));
}
