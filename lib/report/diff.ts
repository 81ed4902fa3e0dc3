import { createTwoFilesPatch } from 'diff';
import type { FileDiff } from './types.ts';
import { mask } from './mask.ts';

/** Unified diffs for --diff; secret files show only that they change, never their content. */
export function renderDiffs(diffs: FileDiff[]): string {
  return diffs
    .map((d) => {
      if (d.secret) {
        const before = d.beforeBytes ?? Buffer.byteLength(d.before);
        return `--- ${d.path}\n+++ ${d.path}\n(secret content hidden: ${before} -> ${d.afterBytes ?? Buffer.byteLength(d.after)} bytes)`;
      }
      const patch = createTwoFilesPatch(d.path, d.path, d.before, d.after, 'current', 'desired', { context: 3 });
      return mask(patch.split('\n').slice(1).join('\n').trimEnd());
    })
    .join('\n');
}
