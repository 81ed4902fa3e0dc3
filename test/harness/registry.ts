// Which lab owns which 172.30.X.0/24 subnet, and what it created: one JSON file per lab under
// /run/clusterseed-lab, created with O_EXCL (the atomic claim) and rewritten as resources appear.
// A lab whose owner process is gone is "stale"; cleanupStale() tears down what its file lists.
import fs from 'node:fs';
import path from 'node:path';
import { runOkSync } from '../../lib/process/index.ts';
import { isAlive, processRef, type ProcessRef } from './exec.ts';

export const REGISTRY_DIR = '/run/clusterseed-lab';
/** 172.30.X.0/24 with X in this range; far from docker's and libvirt's defaults. */
const FIRST_SUBNET = 16;
const LAST_SUBNET = 250;

export interface LabRecord {
  subnet: number;
  owner: ProcessRef;
  labDir: string;
  bridge: string;
  /** the node-network ("LAN") bridge of a lab started with `lan: true` */
  lanBridge?: string;
  veths: string[];
  netns: string[];
  mounts: string[];
  /** per-container cgroup directories (removed after the processes are gone) */
  cgroups: string[];
  /** nspawn, container leaders, relay: killed (if still the same process) on teardown */
  processes: ProcessRef[];
}

export function recordPath(subnet: number): string {
  return path.join(REGISTRY_DIR, `172.30.${subnet}.json`);
}

/** Atomically claims a free subnet for a new lab owned by this process. */
export function claimSubnet(labDir: string): LabRecord {
  fs.mkdirSync(REGISTRY_DIR, { recursive: true });
  const inUse = addressesInUse();
  const span = LAST_SUBNET - FIRST_SUBNET + 1;
  const offset = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const subnet = FIRST_SUBNET + ((offset + i) % span);
    // 172.31.X is the node network of `lan: true` labs: X must be free there too
    if (inUse.includes(`172.30.${subnet}.`) || inUse.includes(`172.31.${subnet}.`)) continue;
    const record: LabRecord = {
      subnet,
      owner: processRef(process.pid)!,
      labDir,
      bridge: `csbr-${subnet}`,
      veths: [],
      netns: [],
      mounts: [],
      cgroups: [],
      processes: [],
    };
    try {
      fs.writeFileSync(recordPath(subnet), JSON.stringify(record), { flag: 'wx' });
      return record;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  throw new Error(`no free 172.30.X.0/24 subnet left for a test lab (see ${REGISTRY_DIR})`);
}

/** Rewrites the record (temp file + rename, so a reader never sees half a file). */
export function saveRecord(record: LabRecord): void {
  const file = recordPath(record.subnet);
  fs.writeFileSync(`${file}.tmp-${process.pid}`, JSON.stringify(record));
  fs.renameSync(`${file}.tmp-${process.pid}`, file);
}

export function releaseRecord(record: LabRecord): void {
  fs.rmSync(recordPath(record.subnet), { force: true });
}

/** Records of labs whose owner process is gone. */
export function staleRecords(): LabRecord[] {
  if (!fs.existsSync(REGISTRY_DIR)) return [];
  const stale: LabRecord[] = [];
  for (const name of fs.readdirSync(REGISTRY_DIR)) {
    const file = path.join(REGISTRY_DIR, name);
    if (name.includes('.tmp-')) {
      const pid = Number(name.split('.tmp-')[1]);
      if (!processRef(pid)) fs.rmSync(file, { force: true });
      continue;
    }
    if (!name.endsWith('.json')) continue;
    let record: LabRecord;
    try {
      record = JSON.parse(fs.readFileSync(file, 'utf8')) as LabRecord;
    } catch {
      // a claim cut short while being written: harmless once it is clearly not in progress
      if (Date.now() - fs.statSync(file).mtimeMs > 60_000) fs.rmSync(file, { force: true });
      continue;
    }
    if (!isAlive(record.owner)) stale.push(record);
  }
  return stale;
}

function addressesInUse(): string {
  try {
    return runOkSync(['ip', '-4', '-o', 'addr', 'show'], { noStdin: true }) + runOkSync(['ip', '-4', 'route', 'show'], { noStdin: true });
  } catch {
    return '';
  }
}
