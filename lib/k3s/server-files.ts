// Role-managed files under K3s' server directory (/var/lib/rancher/k3s/server): psa.yaml and
// audit.yaml, referenced from config.yaml through kube-apiserver-arg. They are written before K3s
// (re)starts, 0600 in the 0700 server directory, and their hashes are inputs of the service task
// (service.ts), so a change restarts K3s once, one server at a time like any config change (the
// k3s-server role is serial). A file the inventory no longer asks for is removed when clusterseed
// wrote it. Also: the tls/ file modes the CIS guide checks (1.1.19-1.1.21), fixed after K3s started.
import type { Change, Task } from '../runner/types.ts';
import { directory } from '../blocks/directory.ts';
import { file } from '../blocks/file.ts';
import { q, run } from '../blocks/shell.ts';
import { AUDIT_LOG_DIR, AUDIT_POLICY_PATH, PSA_PATH, SERVER_DIR, type Hardening } from './hardening.ts';
import { auditPolicyYaml, psaYaml } from './pod-security.ts';

export const DATA_DIR = '/var/lib/rancher/k3s';
export const TLS_DIR = `${SERVER_DIR}/tls`;
const MANAGED_MARK = 'Managed by clusterseed (k3s-server)';

export interface ServerFile {
  path: string;
  content: string;
}

/** The files the hardening settings want under the server directory. */
export function serverFiles(h: Hardening): ServerFile[] {
  const files: ServerFile[] = [];
  if (h.podSecurity) files.push({ path: PSA_PATH, content: psaYaml(h.podSecurity) });
  if (h.auditLog) files.push({ path: AUDIT_POLICY_PATH, content: auditPolicyYaml() });
  return files;
}

/** Every file clusterseed may manage there (to remove the ones no longer wanted). */
const ALL_SERVER_FILES = [PSA_PATH, AUDIT_POLICY_PATH];

function staleFileTask(path: string): Task {
  return {
    name: `no ${path} of clusterseed`,
    probe: `grep -qs ${q(MANAGED_MARK)} ${q(path)} && echo ours || echo none`,
    plan(state): Change | null {
      if (state.stdout.trim() !== 'ours') return null;
      return {
        summary: `remove ${path} (turned off in the inventory)`,
        apply: (c) => run(c, `rm -f ${q(path)}`, `remove ${path}`).then(() => undefined),
      };
    },
  };
}

/** Directories and files, in the order they must exist before K3s starts. */
export function serverFileTasks(h: Hardening): Task[] {
  const wanted = serverFiles(h);
  const tasks: Task[] = [
    // K3s creates these itself with the same modes; they must exist before it first starts
    directory({ path: DATA_DIR, mode: '0755' }),
    directory({ path: SERVER_DIR, mode: '0700' }),
  ];
  // the guide: "the log directory must be created before starting K3s", 0700 (audit records name users and objects)
  if (h.auditLog) tasks.push(directory({ path: AUDIT_LOG_DIR, mode: '0700' }));
  for (const f of wanted) tasks.push(file({ path: f.path, content: f.content, mode: '0600' }));
  for (const path of ALL_SERVER_FILES) if (!wanted.some((f) => f.path === path)) tasks.push(staleFileTask(path));
  return tasks;
}

export interface TlsFile {
  path: string;
  mode: string;
  owner: string;
}

/** `find -printf '%m %u:%g %p'` lines → the files whose mode or owner the CIS checks would flag. */
export function tlsViolations(output: string): TlsFile[] {
  const out: TlsFile[] = [];
  for (const line of output.split('\n')) {
    const m = /^([0-7]+) (\S+) (.+\.(crt|key))$/.exec(line.trim());
    if (!m) continue;
    const [, mode, owner, path] = m;
    // 1.1.20 (certificates) and 1.1.21 (keys): 600 or stricter; 1.1.19: owned by root:root
    if ((parseInt(mode, 8) & ~0o600) !== 0 || owner !== 'root:root') out.push({ path, mode: mode.padStart(4, '0'), owner });
  }
  return out;
}

/** Certificates and keys under server/tls 0600 (or stricter) and root:root; K3s writes certificates 0644. */
export function tlsModesTask(): Task {
  return {
    name: `${TLS_DIR}: certificates and keys 0600 root:root`,
    probe: `[ -d ${TLS_DIR} ] && find ${TLS_DIR} -type f \\( -name '*.crt' -o -name '*.key' \\) -printf '%m %u:%g %p\\n'; true`,
    plan(state): Change | null {
      const bad = tlsViolations(state.stdout);
      if (bad.length === 0) return null;
      const sample = bad
        .slice(0, 3)
        .map((f) => `${f.path.slice(TLS_DIR.length + 1)} ${f.mode} ${f.owner}`)
        .join(', ');
      return {
        summary: `${bad.length} file(s) under ${TLS_DIR} -> 0600 root:root (${sample}${bad.length > 3 ? ', ...' : ''})`,
        // only ever removes permission bits: a stricter mode stays
        apply: (c) =>
          run(
            c,
            `find ${TLS_DIR} -type f \\( -name '*.crt' -o -name '*.key' \\) -exec chown root:root {} + -exec chmod go-rwx,u-x {} +`,
            'tls file modes',
          ).then(() => undefined),
      };
    },
  };
}
