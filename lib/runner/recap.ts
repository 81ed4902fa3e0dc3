import type { RunReport } from './types.ts';

/** The Ansible-style recap, one line per host, and a closing verdict. */
export function formatRecap(report: RunReport): string {
  const width = Math.max(...report.hosts.map((h) => h.host.length), 4);
  const lines = ['', `RECAP${report.check ? ' (check mode: nothing was changed)' : ''}`];
  for (const h of report.hosts) {
    const c = h.counts;
    lines.push(
      `${h.host.padEnd(width)} : ok=${c.ok} changed=${c.changed} unreachable=${c.unreachable} failed=${c.failed}` +
        ` skipped=${c.skipped} round-trips=${h.roundTrips}${h.interrupted ? ' INTERRUPTED' : ''}`,
    );
  }
  const changed = report.hosts.reduce((n, h) => n + h.counts.changed, 0);
  const bad = report.hosts.filter((h) => h.outcome === 'failed' || h.outcome === 'unreachable');
  lines.push('');
  const cut = report.hosts.filter((h) => h.interrupted);
  if (report.interrupted) {
    lines.push(
      `INTERRUPTED (${report.interrupted}): ` +
        (cut.length ? `${cut.map((h) => h.host).join(', ')} did not finish; run again to converge.` : 'every host had finished.'),
    );
  }
  if (bad.length) lines.push(`FAILED on ${bad.map((h) => `${h.host} (${h.outcome})`).join(', ')}`);
  else if (changed === 0) lines.push('No changes: every host is already in the desired state.');
  else if (report.check) lines.push(`${changed} change(s) pending.`);
  else lines.push(`${changed} change(s) made.`);
  lines.push(`(${(report.durationMs / 1000).toFixed(1)} s)`);
  return lines.join('\n');
}
