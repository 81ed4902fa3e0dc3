// The tasks that install and run K3s on one node, shared by the k3s-server and k3s-agent roles:
// binary (only when its sha256 differs), symlinks, registries.yaml, air-gap images, config.yaml,
// unit and 0600 env file, then the service (service.ts: restarted only when one of those changed,
// waited for until Ready), then labels and taints through the API (node-metadata.ts).
import { readFileSync } from 'node:fs';
import type { Change, HostContext, Task } from '../../lib/runner/types.ts';
import { file, sha256 } from '../../lib/blocks/file.ts';
import { directory } from '../../lib/blocks/directory.ts';
import { q, run } from '../../lib/blocks/shell.ts';
import { putFile } from '../../lib/blocks/remote.ts';
import type { Artifact } from '../../lib/k3s/artifacts.ts';
import { hostArtifacts } from '../../lib/k3s/prepare.ts';
import {
  agentConfig,
  configYaml,
  CONFIG_PATH,
  hasSecretKeys,
  IMAGES_DIR,
  REGISTRIES_PATH,
  registriesYaml,
  serverConfig,
} from '../../lib/k3s/config.ts';
import { iptablesAdvice, iptablesFact, type IptablesInfo } from '../../lib/k3s/iptables.ts';
import { readFact } from '../../lib/facts/read.ts';
import { serviceTask } from './service.ts';
import { convergedTask, joinTargetTask } from './join-order.ts';
import { hostConfigKeys, settingsFor, type K3sSettings } from '../../lib/k3s/settings.ts';
import { nodeMetadataTask } from './node-metadata.ts';
import { BIN_DIR, envFile, envPath, K3S_BIN, unitFile, unitPath, type NodeKind } from '../../lib/k3s/systemd.ts';
import { clusterToken, tokenPassword } from '../../lib/k3s/token.ts';
import { containerNotice, protectKernelDefaultsOn } from '../../lib/k3s/kernel-defaults.ts';
import { serverFiles, serverFileTasks, tlsModesTask } from '../../lib/k3s/server-files.ts';

const MANAGED_MARK = 'Managed by clusterseed';

/** The host's iptables fact: as k3s-prereq's batch gathered it in this run (nothing changed since), else asked now. */
function hostIptables(ctx: HostContext): Promise<IptablesInfo> {
  return readFact(ctx.conn, iptablesFact);
}

export function preferBundledBin(settings: K3sSettings, info: IptablesInfo): boolean {
  return settings.preferBundledBin ?? iptablesAdvice(info).preferBundledBin;
}

function binaryTask(artifact: Artifact, version: string): Task {
  return {
    name: `k3s binary ${version}`,
    probe: `if [ -f ${K3S_BIN} ]; then sha256sum ${K3S_BIN} | cut -d' ' -f1; stat -c %a ${K3S_BIN}; else echo absent; fi`,
    plan(state): Change | null {
      const [hash = '', mode = ''] = state.stdout
        .trim()
        .split('\n')
        .map((l) => l.trim());
      if (hash === artifact.sha256 && mode === '755') return null;
      const mib = (artifact.size / 1048576).toFixed(1);
      const summary =
        hash === 'absent'
          ? `install ${artifact.name} ${version} (${mib} MiB) as ${K3S_BIN}`
          : hash === artifact.sha256
            ? `${K3S_BIN}: mode ${mode} -> 755`
            : `replace ${K3S_BIN} with ${artifact.name} ${version} (the installed binary has another sha256)`;
      return {
        summary,
        async apply(c) {
          // checked again on use: the cache could have changed since the run started
          const data = readFileSync(artifact.path);
          if (sha256(data) !== artifact.sha256)
            throw new Error(`${artifact.path} no longer matches its release checksum; run again to download it anew`);
          await putFile(c, K3S_BIN, data, { mode: 0o755 });
        },
      };
    },
  };
}

/** kubectl, crictl and ctr as links to k3s, unless the host already has such a command (installer rule). */
function symlinksTask(): Task {
  const cmds = ['kubectl', 'crictl', 'ctr'];
  return {
    name: 'kubectl, crictl, ctr links to k3s',
    probe: cmds
      .map(
        (c) =>
          `if [ -e ${BIN_DIR}/${c} ] || [ -L ${BIN_DIR}/${c} ]; then echo "${c} present"; elif command -v ${c} >/dev/null 2>&1; then echo "${c} elsewhere"; else echo "${c} missing"; fi`,
      )
      .join('; '),
    plan(state): Change | null {
      const missing = state.stdout
        .split('\n')
        .filter((l) => l.endsWith(' missing'))
        .map((l) => l.split(' ')[0]);
      if (missing.length === 0) return null;
      return {
        summary: `link ${missing.map((c) => `${BIN_DIR}/${c}`).join(', ')} to k3s`,
        apply: (c) => run(c, missing.map((m) => `ln -sf k3s ${BIN_DIR}/${m}`).join(' && '), 'create links').then(() => undefined),
      };
    },
  };
}

/** A file uploaded from the control machine's cache when its sha256 on the host differs. */
function cachedFileTask(artifact: Artifact, target: string): Task {
  return {
    name: `${artifact.name} in ${IMAGES_DIR}`,
    probe: `[ -f ${q(target)} ] && sha256sum ${q(target)} | cut -d' ' -f1 || echo absent`,
    plan(state): Change | null {
      if (state.stdout.trim() === artifact.sha256) return null;
      return {
        summary: `upload ${artifact.name} (${(artifact.size / 1048576).toFixed(1)} MiB) to ${target}`,
        async apply(c) {
          const data = readFileSync(artifact.path);
          if (sha256(data) !== artifact.sha256)
            throw new Error(`${artifact.path} no longer matches its release checksum; run again to download it anew`);
          await putFile(c, target, data, { mode: 0o644 });
        },
      };
    },
  };
}

/** registries.yaml from the inventory; one clusterseed wrote earlier is removed when the inventory drops it. */
function registriesTask(settings: K3sSettings): Task {
  if (settings.registries) {
    return file({
      path: REGISTRIES_PATH,
      content: registriesYaml(settings.registries),
      mode: '0600',
      secret: true,
      name: `file ${REGISTRIES_PATH}`,
    });
  }
  return {
    name: `no ${REGISTRIES_PATH} of clusterseed`,
    probe: `grep -qs ${q(MANAGED_MARK)} ${REGISTRIES_PATH} && echo ours || echo none`,
    plan(state): Change | null {
      if (state.stdout.trim() !== 'ours') return null;
      return {
        summary: `remove ${REGISTRIES_PATH} (no registries in the inventory any more)`,
        apply: (c) => run(c, `rm -f ${REGISTRIES_PATH}`, 'remove registries.yaml').then(() => undefined),
      };
    },
  };
}

/** A server must not be handed another token than the one its datastore was created with. */
function tokenMatchTask(token: string, tokenFile: string): Task {
  const want = sha256(tokenPassword(token));
  return {
    name: 'cluster token matches the installed server',
    // compares hashes only: the host's token is never printed
    probe: `f=/var/lib/rancher/k3s/server/token; if [ -s $f ]; then sed -e 's/^K10[0-9a-f]*::[^:]*://' $f | tr -d '\\n' | sha256sum | cut -d' ' -f1; else echo none; fi`,
    plan(state, ctx): null {
      const have = state.stdout.trim();
      if (have === 'none' || have === want) return null;
      throw new Error(
        `K3s on ${ctx.host.name} already runs with another join token than the one in ${tokenFile}. ` +
          `If this cluster was installed before, put its token (sudo cat /var/lib/rancher/k3s/server/token on the first server) into ${tokenFile}; ` +
          `otherwise remove the old installation with scripts/reset.mjs.`,
      );
    },
  };
}

/** config.yaml without the keys K3s reads only when the node registers (no restart for those). */
export function withoutRegistrationKeys(config: Record<string, unknown>): Record<string, unknown> {
  const { 'node-label': _labels, 'node-taint': _taints, ...rest } = config;
  return rest;
}

/** Every task of a K3s node of the given kind, in order. */
export async function k3sNodeTasks(ctx: HostContext, kind: NodeKind): Promise<Task[]> {
  const settings = settingsFor(ctx);
  const cluster = settings.cluster;
  const artifacts = await hostArtifacts(ctx);
  const token = clusterToken(ctx);
  const iptables = await hostIptables(ctx);
  const input = {
    inventory: ctx.inventory,
    settings,
    host: ctx.host,
    preferBundledBin: preferBundledBin(settings, iptables),
    hostConfig: hostConfigKeys(ctx, kind === 'server' ? 'k3s-server' : 'k3s-agent'),
    protectKernelDefaults: protectKernelDefaultsOn(settings.hardening.protectKernelDefaults, ctx.facts.container),
  };
  if (settings.hardening.protectKernelDefaults && !input.protectKernelDefaults) ctx.log.warn(containerNotice(ctx.facts.container));
  const ownFiles = kind === 'server' ? serverFiles(settings.hardening) : [];
  const configObject = kind === 'server' ? serverConfig(input) : agentConfig(input);
  const config = configYaml(configObject);
  const unit = unitFile(kind);
  const env = envFile({ K3S_TOKEN: token, ...settings.env });
  const registries = settings.registries ? registriesYaml(settings.registries) : '';

  const tasks: Task[] = [joinTargetTask(kind)];
  if (kind === 'server') tasks.push(tokenMatchTask(token, cluster.tokenFile ?? 'the token file'));
  tasks.push(binaryTask(artifacts.binary, cluster.k3sVersion), symlinksTask());
  tasks.push(directory({ path: '/etc/rancher/k3s', mode: '0755' }));
  tasks.push(registriesTask(settings));
  if (artifacts.images) {
    tasks.push(directory({ path: IMAGES_DIR, mode: '0755' }));
    tasks.push(cachedFileTask(artifacts.images, `${IMAGES_DIR}/${artifacts.images.name}`));
  }
  // psa.yaml, audit.yaml: in place before config.yaml points K3s at them
  if (kind === 'server') tasks.push(...serverFileTasks(settings.hardening));
  tasks.push(file({ path: CONFIG_PATH, content: config, mode: '0600', secret: hasSecretKeys(configObject) }));
  tasks.push(file({ path: unitPath(kind), content: unit, mode: '0644' }));
  tasks.push(file({ path: envPath(kind), content: env, mode: '0600', secret: true }));
  tasks.push(
    serviceTask({
      kind,
      inputs: {
        binary: artifacts.binary.sha256,
        // labels and taints only count at registration; later changes go through the API (node-metadata.ts)
        'config.yaml': sha256(configYaml(withoutRegistrationKeys(configObject))),
        unit: sha256(unit),
        env: sha256(env),
        'registries.yaml': sha256(registries),
        images: artifacts.images?.sha256 ?? '',
        // a changed server file restarts K3s like a changed config.yaml (one server at a time: the role is serial)
        ...Object.fromEntries(ownFiles.map((f) => [f.path.split('/').pop()!, sha256(f.content)])),
      },
      version: cluster.k3sVersion,
      etcdVoter: kind === 'server' && settings.embeddedEtcd,
      readyTimeoutMs: settings.readyTimeoutMs,
    }),
  );
  // K3s (re)writes its certificates when it starts: their modes are fixed afterwards
  if (kind === 'server' && settings.hardening.tlsFileModes) tasks.push(tlsModesTask());
  tasks.push(nodeMetadataTask(ctx), convergedTask());
  return tasks;
}
