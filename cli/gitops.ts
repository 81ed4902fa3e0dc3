// `scripts/gitops.mjs`: render the GitOps repository from the inventory, offline.
//   render -i inventory.yaml -o DIR   render, validate, scan for secrets, write DIR (exactly the tree)
//   check  -i inventory.yaml [-o DIR] render, validate and run the bring-up analysis only; with -o,
//          list what would change
// Both run the bring-up analysis (lib/gitops/bringup/): a repository that would not come up on the
// inventory's cluster is refused like an invalid one (exit 1, one line per finding).
// Never touches a host: secrets are sealed with the keys kept under .clusterseed/.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { loadInventory } from '../lib/inventory/load.ts';
import { parseFlags, UsageError } from './args.ts';
import { writeRepo } from '../lib/gitops/index.ts';
import { factsFromDir, formatFindings as formatBringup } from '../lib/gitops/bringup/index.ts';
import { renderAndAnalyze } from '../lib/gitops/bringup/pipeline.ts';
import { bootstrapOfRender } from '../roles/argocd-bootstrap/index.ts';
import { formatFindings, scanText, type SecretFinding } from '../lib/gitops/secret-scan.ts';
import { acquireStateLock } from '../lib/locks/state-lock.ts';

const USAGE = `usage: scripts/gitops.mjs <render|check> -i inventory.yaml [-o DIR] [options]

  render   render the repository, validate it, scan it for secrets, run the bring-up analysis
           and write it to DIR (DIR ends up holding exactly the rendered tree; .git is kept)
  check    render, validate and run the bring-up analysis only (will the repository come up on
           the inventory's cluster?); with -o DIR, list the files that would change

options:
  -i, --inventory FILE   inventory (default: inventory.yaml)
  -o, --output DIR       where the repository goes
      --repo-url URL     URL Argo CD clones the repository from (default: from gitops.repo)
      --state-dir DIR    keys, credentials and sealed-secret cache (default: .clusterseed next to the inventory)
      --templates DIR    template root (default: gitops-template/)
      --facts DIR        chart facts the bring-up analysis reads (default: lib/gitops/chart-facts/)
      --force            allow replacing a non-empty DIR that holds no rendered repository
  -h, --help`;

export function scanFiles(files: Map<string, string>): SecretFinding[] {
  return [...files].flatMap(([file, content]) => scanText(file, content));
}

async function readTree(dir: string, files: Map<string, string>): Promise<{ changed: string[]; removed: string[] }> {
  const changed: string[] = [];
  for (const [rel, content] of files) {
    const old = await fs.readFile(path.join(dir, rel), 'utf8').catch(() => undefined);
    if (old !== content) changed.push(rel);
  }
  const removed: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (!rel && e.name === '.git') continue;
      if (e.isDirectory()) await walk(r);
      else if (!files.has(r)) removed.push(r);
    }
  };
  await walk('');
  return { changed, removed: removed.sort() };
}

export async function main(args: string[]): Promise<number> {
  try {
    const [command, ...rest] = args;
    if (!command || command === '-h' || command === '--help') {
      console.log(USAGE);
      return command ? 0 : 1;
    }
    if (command !== 'render' && command !== 'check') throw new UsageError(`unknown command "${command}"`);
    const { values } = parseFlags(rest, {
      inventory: { type: 'string', short: 'i', default: 'inventory.yaml' },
      output: { type: 'string', short: 'o' },
      'repo-url': { type: 'string' },
      'state-dir': { type: 'string' },
      templates: { type: 'string' },
      facts: { type: 'string' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (command === 'render' && !values.output) throw new UsageError('render needs -o DIR');
    const inventory = await loadInventory(path.resolve(values.inventory!));
    const stateDir = path.resolve(values['state-dir'] ?? path.join(inventory.dir, '.clusterseed'));
    // rendering creates keys and passwords and updates the sealed-secret cache: one run at a time
    const lock = acquireStateLock(stateDir, { command: ['gitops.mjs', ...args].join(' '), warn: (m) => console.error(`warning: ${m}`) });
    try {
      return await renderLocked(command, values, inventory, stateDir);
    } finally {
      lock.release();
    }
  } catch (err) {
    // bad input is exit 1, as for every clusterseed CLI (README: exit codes)
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}\n\n${USAGE}`);
      return 1;
    }
    console.error((err as Error).message);
    return 1;
  }
}

async function renderLocked(
  command: string,
  values: { output?: string; 'repo-url'?: string; templates?: string; facts?: string; force?: boolean },
  inventory: Awaited<ReturnType<typeof loadInventory>>,
  stateDir: string,
): Promise<number> {
  {
    const started = performance.now();
    const {
      files,
      model,
      secrets,
      findings: bringup,
      warnings,
      analysisMs,
    } = await renderAndAnalyze(inventory, {
      stateDir,
      repoUrl: values['repo-url'],
      templateDir: values.templates ? path.resolve(values.templates) : undefined,
      facts: values.facts ? factsFromDir(path.resolve(values.facts)) : undefined,
      bootstrap: bootstrapOfRender,
    });
    if (warnings.length) console.error(`warning: accepted risks (bring-up analysis)\n${formatBringup(warnings)}`);
    const findings = scanFiles(files);
    if (findings.length) {
      console.error(`refusing to write: the rendered repository contains secrets\n${formatFindings(findings)}`);
      return 1;
    }
    if (bringup.length) {
      console.error(
        `refusing: the repository would not come up on the inventory's cluster (bring-up analysis, ${bringup.length} finding${bringup.length === 1 ? '' : 's'})\n${formatBringup(bringup)}`,
      );
      return 1;
    }
    const ms = Math.round(performance.now() - started);
    const clusters = model.clusters.map((c) => `${c.name} (${c.components.length} components)`).join(', ');
    console.log(
      `rendered ${files.size} files for ${clusters} in ${ms} ms (bring-up analysis ${Math.round(analysisMs)} ms); valid, no plaintext secrets, comes up`,
    );
    if (model.repoUrl.startsWith('file://')) {
      console.log(`note: Argo CD cannot clone ${model.repoUrl}; pass --repo-url with the URL it reaches the repository at`);
    }
    for (const c of secrets.newKeys)
      console.log(`new Sealed Secrets key pair for ${c} (installed into that cluster before its SealedSecrets sync)`);
    // no placeholder is rendered for them: Argo CD deploys to them once registered
    if (secrets.unregistered.length)
      console.log(
        `not registered in Argo CD yet (no cluster Secret rendered): ${secrets.unregistered.join(', ')}; run site.mjs without --skip-hosts to register them`,
      );
    if (secrets.resealed.length) console.log(`sealed: ${secrets.resealed.join(', ')}`);
    if (command === 'check') {
      if (values.output) {
        const { changed, removed } = await readTree(path.resolve(values.output), files);
        if (!changed.length && !removed.length) console.log(`${values.output}: up to date`);
        for (const f of changed) console.log(`~ ${f}`);
        for (const f of removed) console.log(`- ${f}`);
      }
      return 0;
    }
    const out = path.resolve(values.output!);
    const res = await writeRepo(files, out, { force: values.force });
    if (!res.written.length && !res.removed.length) console.log(`${out}: unchanged`);
    else console.log(`${out}: ${res.written.length} written, ${res.removed.length} removed, ${res.unchanged} unchanged`);
    return 0;
  }
}
