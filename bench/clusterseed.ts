// Runs clusterseed (bench/clusterseed-run.ts in a child process, as a user runs a command) against
// a bench lab and reads back its JSON report: outcome counts and SSH round trips per host and role.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunReport } from '../lib/runner/types.ts';
import { timedRun, type TimedRun } from './process.ts';
import type { Phases } from './clusterseed-run.ts';
import { ENTRY } from './baseline.ts';

/** this checkout */
export const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

export interface ToolRun {
  tool: 'clusterseed' | 'baseline' | 'ansible';
  seconds: number;
  ok: boolean;
  /** hosts with at least one change */
  changedHosts: number;
  /** failed or unreachable hosts */
  failedHosts: number;
  /** why the run counts as failed */
  problem?: string;
  logFile: string;
  /** CPU seconds on the control machine and on all test hosts together */
  clientCpu: number;
  hostsCpu?: number;
}

export interface ClusterseedRun extends ToolRun {
  report?: RunReport;
  phases?: Phases;
}

export interface ClusterseedOptions {
  inventory: string;
  forks: number;
  k3sMirror: string;
  k3sCache: string;
  workDir: string;
  label: string;
  timeoutMs: number;
  hostsCpu?: () => number;
  /** the checkout to run (default: this one); the baseline's for `--baseline` */
  root?: string;
}

export async function runClusterseed(opts: ClusterseedOptions): Promise<ClusterseedRun> {
  const json = path.join(opts.workDir, `${opts.label}.json`);
  const logFile = path.join(opts.workDir, `${opts.label}.log`);
  const args = [
    '--import',
    'tsx',
    path.join(opts.root ?? ROOT, ENTRY),
    '--inventory',
    opts.inventory,
    '--json',
    json,
    '--forks',
    String(opts.forks),
    '--k3s-mirror',
    opts.k3sMirror,
    '--k3s-cache',
    opts.k3sCache,
  ];
  const run = await timedRun(process.execPath, args, {
    cwd: opts.root ?? ROOT,
    timeoutMs: opts.timeoutMs,
    logFile,
    hostsCpu: opts.hostsCpu,
  });
  return readResult(run, json, logFile, opts.root ? 'baseline' : 'clusterseed');
}

function readResult(run: TimedRun, json: string, logFile: string, tool: 'clusterseed' | 'baseline'): ClusterseedRun {
  const base = { tool, seconds: run.seconds, logFile, clientCpu: run.clientCpu, hostsCpu: run.hostsCpu };
  if (run.timedOut) return { ...base, ok: false, changedHosts: 0, failedHosts: 0, problem: `timed out (log: ${logFile})` };
  let report: RunReport & { phases?: Phases };
  try {
    report = JSON.parse(readFileSync(json, 'utf8')) as RunReport & { phases?: Phases };
  } catch {
    return { ...base, ok: false, changedHosts: 0, failedHosts: 0, problem: `exit ${run.code}, no JSON report (log: ${logFile})` };
  }
  const failed = report.hosts.filter((h) => h.outcome === 'failed' || h.outcome === 'unreachable');
  const changedHosts = report.hosts.filter((h) => h.counts.changed > 0).length;
  const problem = failed.length
    ? `${failed.length} host(s) failed, e.g. ${failed[0].host}: ${firstFailure(report, failed[0].host)} (log: ${logFile})`
    : run.code !== 0
      ? `exit ${run.code} (log: ${logFile})`
      : undefined;
  return { ...base, ok: !problem, changedHosts, failedHosts: failed.length, problem, report, phases: report.phases };
}

function firstFailure(report: RunReport, host: string): string {
  const task = report.hosts.find((h) => h.host === host)?.tasks.find((t) => t.outcome === 'failed' || t.outcome === 'unreachable');
  return task ? `[${task.role}] ${task.task}: ${(task.message ?? '').split('\n')[0]}` : 'unknown';
}
