// Issue 20, point 5: bad input is refused up front. Every case runs a real CLI (its main(), output
// captured; a few as child processes, some of them as an unprivileged user because root bypasses
// file permissions) against an inventory whose hosts are loopback listeners that count connections.
// Each case must exit 1 with a message naming the flag, file, line or field, print no stack trace,
// contact no host (the listeners saw nothing) and write nothing (no .clusterseed state, no report).
// Two cases with good input show that the listeners do see a run that gets as far as the hosts
// (exit 2: unreachable, and an unknown host key whose message names --accept-new-host-keys).
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { main as siteMain } from '../../cli/site.ts';
import { main as resetMain } from '../../cli/reset.ts';
import { main as idempotencyMain } from '../../cli/idempotency.ts';
import { main as gitopsMain } from '../../cli/gitops.ts';
import { main as labMain } from '../../cli/lab.ts';
import { main as benchMain } from '../../bench/run.ts';
import { runOk } from '../../lib/process/index.ts';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const NOBODY = 65534;
const CASE_TIMEOUT_MS = 60_000;

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-bad-input-'));
fs.chmodSync(scratch, 0o755); // the unprivileged cases read the inventory and keys from here
const file = (name: string) => path.join(scratch, name);

// ---- hosts that must never be contacted: listeners on loopback counting connections ----------
interface Listener {
  port: number;
  connections: number;
  server: net.Server;
}
async function listener(): Promise<Listener> {
  const l = { port: 0, connections: 0 } as Listener;
  l.server = net.createServer((socket) => {
    l.connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => l.server.listen(0, '127.0.0.1', resolve));
  l.port = (l.server.address() as net.AddressInfo).port;
  return l;
}
let hostA: Listener;
let hostB: Listener;
const contacts = () => hostA.connections + hostB.connections;

// ---- keys --------------------------------------------------------------------------------------
const KEY = file('id_ed25519'); // good, 0600, owned by root
const NOBODY_KEY = file('nobody_ed25519'); // good, 0600, owned by nobody
const OPEN_KEY = file('open_ed25519'); // 0644
const GROUP_KEY = file('group_ed25519'); // 0640
const ENCRYPTED_KEY = file('encrypted_ed25519');
const NOT_A_KEY = file('not-a-key');
const KEY_DIR = file('key-dir');
const A_FILE = file('a-file');
const KNOWN_HOSTS = file('known_hosts');
const ROOT_ONLY_DIR = file('root-only');

async function keygen(target: string, passphrase = ''): Promise<void> {
  await runOk(['ssh-keygen', '-q', '-t', 'ed25519', '-N', passphrase, '-C', 'bad-input-test', '-f', target], { timeoutMs: 30_000 });
}

// ---- the inventory -----------------------------------------------------------------------------
interface InvOptions {
  defaults?: string;
  hostA?: string;
  hostB?: string;
  tail?: string;
  groups?: string;
  cluster?: string;
}
function inventoryText(o: InvOptions = {}): string {
  return [
    `cluster: { name: lab, k3s_version: v1.31.4+k3s1${o.cluster ?? ''} }`,
    `defaults: { user: admin, ssh_key: ${KEY}, known_hosts: ${KNOWN_HOSTS}${o.defaults ?? ''} }`,
    'hosts:',
    `  s1: { address: 127.0.0.1, port: ${hostA.port}${o.hostA ?? ''} }`,
    `  a1: { address: 127.0.0.1, port: ${hostB.port}${o.hostB ?? ''} }`,
    'groups:',
    o.groups ?? '  servers: [s1]\n  agents: [a1]',
    o.tail ?? '',
  ].join('\n');
}

let caseNo = 0;
/** A fresh directory holding this case's inventory: .clusterseed appearing in it means something was written. */
function inventoryFile(text: string): string {
  const dir = file(`case-${++caseNo}`);
  fs.mkdirSync(dir, { mode: 0o755 });
  const inv = path.join(dir, 'inventory.yaml');
  fs.writeFileSync(inv, text, { mode: 0o644 });
  return inv;
}

// ---- running a CLI -----------------------------------------------------------------------------
type Cli = 'site' | 'reset' | 'idempotency' | 'gitops' | 'lab' | 'bench';
const MAINS: Record<Cli, (argv: string[]) => Promise<number>> = {
  site: siteMain,
  reset: (argv) => resetMain(argv, { stdin: process.stdin, write: (t) => process.stdout.write(t) }),
  idempotency: idempotencyMain,
  gitops: gitopsMain,
  lab: labMain,
  bench: benchMain,
};
const SCRIPTS: Record<Cli, string> = {
  site: 'scripts/site.mjs',
  reset: 'scripts/reset.mjs',
  idempotency: 'scripts/idempotency.mjs',
  gitops: 'scripts/gitops.mjs',
  lab: 'scripts/lab.mjs',
  bench: 'scripts/bench.mjs',
};

interface Outcome {
  code: number;
  output: string;
}

/** main() with stdout and stderr captured (console.* writes through them). */
async function inProcess(cli: Cli, argv: string[], env: NodeJS.ProcessEnv): Promise<Outcome> {
  const chunks: string[] = [];
  const [out, err] = [process.stdout.write, process.stderr.write];
  const saved = { ...process.env };
  const capture = ((chunk: string | Uint8Array) => (chunks.push(String(chunk)), true)) as typeof process.stdout.write;
  process.stdout.write = capture;
  process.stderr.write = capture;
  for (const k of Object.keys(env)) {
    if (env[k] === undefined) delete process.env[k];
    else process.env[k] = env[k];
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>(
      (_, reject) =>
        (timer = setTimeout(() => reject(new Error(`${cli} ${argv.join(' ')}: no answer within ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS)),
    );
    const code = await Promise.race([MAINS[cli](argv), timeout]);
    return { code, output: chunks.join('') };
  } catch (e) {
    // a bug escaping main() is what the CLI would print with its stack trace
    return { code: 99, output: `${chunks.join('')}\n${(e as Error).stack}` };
  } finally {
    clearTimeout(timer);
    process.stdout.write = out;
    process.stderr.write = err;
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

/** true when every directory down to `dir` lets other users through (they are neither owner nor group) */
function othersReach(dir: string): boolean {
  for (let d = dir; ; d = path.dirname(d)) {
    if ((fs.statSync(d).mode & 0o001) === 0) return false;
    if (d === path.dirname(d)) return true;
  }
}
/** an empty directory others can reach, where a child's namespace mounts the checkout */
const CODE_MOUNT = file('code');
fs.mkdirSync(CODE_MOUNT, { mode: 0o755 });
/** $1 checkout, $2 mount point, $3 uid, $4 node, $5 script, then its arguments */
const BOUND_RUN =
  'mount --bind "$1" "$2" && cd "$2" && u=$3 && node=$4 && shift 4 && exec setpriv --reuid "$u" --regid "$u" --clear-groups "$node" --import tsx "$@"';

/** The real script in a child process, optionally as another user. */
function child(cli: Cli, argv: string[], opts: { uid?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const env = { PATH: process.env.PATH, HOME: scratch, ...opts.env };
    const p =
      opts.uid === undefined || othersReach(ROOT)
        ? spawn(process.execPath, ['--import', 'tsx', SCRIPTS[cli], ...argv], {
            cwd: ROOT,
            env,
            uid: opts.uid,
            gid: opts.uid,
            stdio: ['ignore', 'pipe', 'pipe'],
          })
        : // a checkout under a 0700 directory (a fresh `mktemp -d` clone): the user could not even load
          // tsx there, so the code is bind-mounted where it can, in a mount namespace of this child only
          spawn(
            'unshare',
            [
              '--mount',
              '--propagation',
              'private',
              '--',
              'sh',
              '-c',
              BOUND_RUN,
              'sh',
              ROOT,
              CODE_MOUNT,
              String(opts.uid),
              process.execPath,
              SCRIPTS[cli],
              ...argv,
            ],
            { env, stdio: ['ignore', 'pipe', 'pipe'] },
          );
    let output = '';
    p.stdout.on('data', (d) => (output += d));
    p.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), CASE_TIMEOUT_MS);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 137, output });
    });
  });
}

// ---- the cases ---------------------------------------------------------------------------------
interface Case {
  name: string;
  cli?: Cli;
  /** the inventory (default: a valid one) */
  inventory?: InvOptions | string | (() => string);
  /** arguments; INV stands for the inventory path */
  args: string[];
  /** what the message must say */
  expect: RegExp;
  env?: NodeJS.ProcessEnv;
  /** run the real script in a child process, as this user (root bypasses file permissions) */
  as?: 'root' | 'nobody';
  /** prepares the case's directory (where the inventory is) */
  setup?: (dir: string) => void;
}

const INV = '<inventory>';
const siteArgs = (...extra: string[]) => ['-i', INV, ...extra];

const cases: Case[] = [
  // flags
  { name: '--limit ""', args: siteArgs('--limit', ''), expect: /--limit needs a value \(got an empty string\)/ },
  { name: '--limit ,', args: siteArgs('--limit', ','), expect: /--limit names nothing \(got ","\)/ },
  { name: '--limit " , "', args: siteArgs('--limit', ' , '), expect: /--limit names nothing/ },
  {
    name: '--limit unknown name',
    args: siteArgs('--limit', 'nosuch'),
    expect: /--limit: "nosuch" is neither a host nor a group of .*inventory\.yaml; hosts: s1, a1; groups: servers, agents/,
  },
  {
    name: '--limit one good, two unknown',
    args: siteArgs('--limit', 's1,web,db'),
    expect: /--limit: "web", "db" are neither a host nor a group/,
  },
  {
    name: '--limit an empty group',
    inventory: { groups: '  servers: [s1]\n  agents: [a1]\n  gpu: []' },
    args: siteArgs('--limit', 'gpu'),
    expect: /--limit gpu selects no host/,
  },
  { name: '--tags ""', args: siteArgs('--tags', ''), expect: /--tags needs a value/ },
  { name: '--tags ,', args: siteArgs('--tags', ','), expect: /--tags names nothing/ },
  {
    name: '--tags unknown',
    args: siteArgs('--tags', 'sshd'),
    expect:
      /--tags: unknown tag "sshd"; valid tags: facts, base, harden, wireguard-keys, wireguard, k3s-artifacts, k3s-prereq, platform-prereq, k3s-server, k3s-agent, kubeconfig, cluster-registration, argocd-bootstrap/,
  },
  { name: '--tags one good one unknown', args: siteArgs('--tags', 'harden,hardening'), expect: /--tags: unknown tag "hardening"/ },
  {
    name: '--tags a role name in the wrong case',
    args: siteArgs('--tags', 'Harden'),
    expect: /--tags: unknown tag "Harden"; valid tags: facts, base, harden/,
  },
  { name: '--forks 0', args: siteArgs('--forks', '0'), expect: /--forks must be a positive integer \(got 0\)/ },
  { name: '--forks abc', args: siteArgs('--forks', 'abc'), expect: /--forks must be a positive integer \(got abc\)/ },
  { name: '--forks=1.5', args: siteArgs('--forks=1.5'), expect: /--forks must be a positive integer \(got 1\.5\)/ },
  { name: 'unknown flag', args: siteArgs('--limmit', 's1'), expect: /Unknown option '--limmit'/ },
  { name: 'unknown short flag', args: siteArgs('-x'), expect: /Unknown option '-x'/ },
  { name: 'flag value missing at the end', args: siteArgs('--limit'), expect: /Option '--limit <value>' argument missing/ },
  { name: 'flag value missing before another flag', args: siteArgs('--json', '--check'), expect: /Option '--json' argument is ambiguous/ },
  { name: 'boolean flag given a value', args: siteArgs('--check=yes'), expect: /Option '--check' does not take an argument/ },
  { name: 'positional junk', args: siteArgs('converge'), expect: /Unexpected argument 'converge'/ },
  { name: '--inventory ""', args: ['--inventory', ''], expect: /--inventory needs a value/ },
  {
    name: '--k3s-mirror not http(s)',
    args: siteArgs('--k3s-mirror', 'ftp://mirror.lan/k3s'),
    expect: /--k3s-mirror: .*must be an http:\/\/ or https:\/\/ URL/,
  },
  // --json
  { name: '--json ""', args: siteArgs('--json', ''), expect: /--json needs a value/ },
  {
    name: '--json in a missing directory',
    args: siteArgs('--json', file('no-such-dir/report.json')),
    expect: /--json .*no-such-dir\/report\.json: the directory .*no-such-dir does not exist/,
  },
  { name: '--json is a directory', args: siteArgs('--json', scratch), expect: /--json .*: is a directory; give a file name/ },
  {
    name: '--json under a file',
    args: siteArgs('--json', path.join(A_FILE, 'report.json')),
    expect: /--json .*a-file\/report\.json: .*a-file is not a directory/,
  },
  {
    name: '--json in a directory without write permission',
    as: 'nobody',
    args: siteArgs('--json', path.join(ROOT_ONLY_DIR, 'report.json')),
    expect: /--json .*root-only\/report\.json: the directory .*root-only is not writable \(EACCES\)/,
  },
  {
    name: '--json an existing file without write permission',
    as: 'nobody',
    args: siteArgs('--json', A_FILE),
    expect: /--json .*a-file: the file is not writable \(EACCES\)/,
  },
  // the inventory file
  { name: 'inventory missing', args: ['-i', file('missing.yaml')], expect: /missing\.yaml: cannot read the inventory: no such file/ },
  { name: 'inventory is a directory', args: ['-i', scratch], expect: /cannot read the inventory: it is a directory/ },
  {
    name: 'inventory unreadable (as nobody)',
    as: 'nobody',
    setup: (dir) => fs.chmodSync(path.join(dir, 'inventory.yaml'), 0o600),
    args: siteArgs(),
    expect: /inventory\.yaml: cannot read the inventory: EACCES: permission denied/,
  },
  { name: 'inventory empty', inventory: '', args: siteArgs(), expect: /inventory\.yaml.*the inventory is empty/ },
  { name: 'inventory YAML syntax', inventory: 'cluster: { name: lab\nhosts: [', args: siteArgs(), expect: /inventory\.yaml:\d+:\d+: / },
  {
    name: 'inventory unknown top-level key',
    inventory: { tail: 'hostz: {}' },
    args: siteArgs(),
    expect: /inventory\.yaml:\d+:\d+: .*hostz/,
  },
  {
    name: 'inventory user not a string',
    inventory: { hostB: ', user: 7' },
    args: siteArgs(),
    expect: /inventory\.yaml:5:\d+: hosts\.a1\.user/,
  },
  {
    name: 'inventory group names an unknown host',
    inventory: { groups: '  servers: [s1]\n  agents: [a1, a2]' },
    args: siteArgs(),
    expect: /inventory\.yaml:8:\d+: groups\.agents.*a2/,
  },
  // role vars of any host
  {
    name: 'unknown role vars',
    inventory: { tail: 'vars:\n  hardening: { ssh_port: 22 }' },
    args: siteArgs(),
    expect: /inventory\.yaml:10:3: vars\.hardening: unknown host vars "hardening"/,
  },
  {
    name: 'unknown setting of a role',
    inventory: { hostB: ', vars: { harden: { sshd: { permit_root: no } } }' },
    args: siteArgs(),
    expect: /inventory\.yaml:5:\d+: hosts\.a1\.vars\.harden\.sshd\.permit_root: unknown setting "permit_root"/,
  },
  {
    name: 'role var of the wrong type',
    inventory: { tail: 'vars:\n  base: { manage_hostname: "yes" }' },
    args: siteArgs(),
    expect: /inventory\.yaml:10:\d+: vars\.base\.manage_hostname: expected true or false/,
  },
  // values only the role's own reader knows: used to surface on a host after earlier roles changed it
  {
    name: 'harden ssh_port out of range on the second host only',
    inventory: { hostB: ', vars: { harden: { firewall: { ssh_port: 70000 } } }' },
    args: siteArgs(),
    expect: /inventory\.yaml:5:\d+: hosts\.a1\.vars\.harden\.firewall\.ssh_port: expected an integer from 0 to 65535, got number 70000/,
  },
  {
    name: 'k3s-prereq reboot_timeout (read only by the reboot handler)',
    inventory: { tail: 'vars:\n  k3s-prereq: { reboot_timeout: 5 }' },
    args: siteArgs(),
    expect: /inventory\.yaml:10:\d+: vars\.k3s-prereq\.reboot_timeout: expected an integer from 30 to 7200, got number 5/,
  },
  {
    name: 'base timezone not a zone name',
    inventory: { tail: 'vars:\n  base: { timezone: "Mars Base/1" }' },
    args: siteArgs(),
    expect: /vars\.base\.timezone: expected an IANA time zone/,
  },
  {
    name: 'base admin_user root',
    inventory: { tail: 'vars:\n  base: { admin_user: root }' },
    args: siteArgs(),
    expect: /vars\.base\.admin_user: expected a user other than root/,
  },
  {
    name: 'harden sshd setting keyword',
    inventory: { tail: 'vars:\n  harden: { sshd: { settings: { "Permit Root": "no" } } }' },
    args: siteArgs(),
    expect: /vars\.harden\.sshd\.settings(\.|\[")Permit Root.*an sshd_config keyword/,
  },
  {
    name: 'group vars: a sysctl K3s owns',
    inventory: {
      groups: '  servers: [s1]\n  agents: { hosts: [a1], vars: { harden: { sysctl: { values: { net.ipv4.ip_forward: 0 } } } } }',
    },
    args: siteArgs(),
    expect: /inventory\.yaml:8:\d+: groups\.agents\.vars\.harden\.sysctl\.values.*owned by the K3s prerequisites/,
  },
  {
    name: 'base admin_keys not a key line',
    inventory: { tail: 'vars:\n  base: { admin_keys: ["ssh-ed25519 garbage"] }' },
    args: siteArgs(),
    expect: /vars\.base\.admin_keys\[0\]: expected a public key line/,
  },
  {
    name: 'cluster vars.k3s sets the token',
    inventory: { cluster: ', vars: { k3s: { server_config: { token: x } } }' },
    args: siteArgs(),
    expect: /inventory\.yaml:1:\d+: cluster\.vars\.k3s\.server_config\.token: may not be set here/,
  },
  // key files
  {
    name: 'ssh_key missing',
    inventory: { defaults: '', hostA: `, ssh_key: ${file('nope')}` },
    args: siteArgs(),
    expect: /hosts\.s1\.ssh_key: ssh key file does not exist: .*nope/,
  },
  {
    name: 'ssh_key is a directory',
    inventory: { hostA: `, ssh_key: ${KEY_DIR}` },
    args: siteArgs(),
    expect: /hosts\.s1\.ssh_key: ssh key is not a file \(it is a directory\)/,
  },
  {
    name: 'ssh_key mode 0644',
    inventory: { hostB: `, ssh_key: ${OPEN_KEY}` },
    args: siteArgs(),
    expect: /hosts\.a1\.ssh_key: ssh key file .*open_ed25519 has mode 0644: .*refused \(as OpenSSH does\); run chmod 600 .*open_ed25519/,
  },
  {
    name: 'ssh_key mode 0640 (group-readable)',
    inventory: { hostB: `, ssh_key: ${GROUP_KEY}` },
    args: siteArgs(),
    expect: /group_ed25519 has mode 0640: .*chmod 600/,
  },
  {
    name: 'ssh_key is the .pub',
    inventory: { hostA: `, ssh_key: ${KEY}.pub` },
    args: siteArgs(),
    expect:
      /hosts\.s1\.ssh_key: ssh key file is a public key, not the private key: .*id_ed25519\.pub \(the private key is probably .*id_ed25519\)/,
  },
  {
    name: 'ssh_key not a key',
    inventory: { hostA: `, ssh_key: ${NOT_A_KEY}` },
    args: siteArgs(),
    expect: /hosts\.s1\.ssh_key: ssh key file is not a private key clusterseed can read .*not-a-key/,
  },
  {
    name: 'ssh_key encrypted, no ssh-agent',
    inventory: { hostA: `, ssh_key: ${ENCRYPTED_KEY}` },
    args: siteArgs(),
    expect: /ssh key file .*encrypted_ed25519 is encrypted and there is no way to unlock it: .*ssh-add/,
  },
  {
    name: 'no ssh_key and no ssh-agent',
    inventory: inventoryTextWithoutKey,
    args: siteArgs(),
    expect: /hosts\.s1: has no ssh_key and no ssh-agent is running/,
  },
  {
    name: 'become_password_env unset',
    inventory: { defaults: ', become_password_env: CS_TEST_SUDO_PASS' },
    args: siteArgs(),
    expect: /defaults\.become_password_env: environment variable CS_TEST_SUDO_PASS is not set/,
  },
  {
    name: 'ssh_key unreadable (as nobody)',
    as: 'nobody',
    inventory: { defaults: '', hostA: `, ssh_key: ${KEY}` },
    args: siteArgs(),
    expect: /hosts\.s1\.ssh_key: ssh key file is not readable \(permission denied\): .*id_ed25519/,
  },
  // known_hosts
  {
    name: 'known_hosts is a directory',
    inventory: { hostA: `, known_hosts: ${KEY_DIR}` },
    args: siteArgs(),
    expect: /hosts\.s1\.known_hosts: known_hosts .*key-dir is not a file \(it is a directory\)/,
  },
  {
    name: 'known_hosts cannot be created (under a file)',
    inventory: { hostA: `, known_hosts: ${path.join(A_FILE, 'known_hosts')}` },
    args: siteArgs('--accept-new-host-keys'),
    expect: /hosts\.s1\.known_hosts: known_hosts .*cannot be created: .*a-file is not a directory/,
  },
  {
    name: 'known_hosts not writable with --accept-new-host-keys (as nobody)',
    as: 'nobody',
    inventory: { defaults: '', hostA: `, ssh_key: ${NOBODY_KEY}`, hostB: `, ssh_key: ${NOBODY_KEY}` },
    args: siteArgs('--accept-new-host-keys'),
    expect: /defaults\.known_hosts: known_hosts .*known_hosts is not readable and writable \(EACCES\); --accept-new-host-keys/,
  },
  // the state directory next to the inventory
  {
    name: 'state directory cannot be created (as nobody)',
    as: 'nobody',
    setup: (dir) => fs.chownSync(dir, 0, 0),
    inventory: { defaults: '', hostA: `, ssh_key: ${NOBODY_KEY}`, hostB: `, ssh_key: ${NOBODY_KEY}` },
    args: siteArgs(),
    expect: /the state directory .*case-\d+\/\.clusterseed .*cannot be created: .*case-\d+ is not writable \(EACCES\)/,
  },
  {
    name: 'state directory is a file',
    setup: (dir) => fs.writeFileSync(path.join(dir, '.clusterseed'), 'x'),
    args: siteArgs(),
    expect: /the state directory .*\.clusterseed \(next to the inventory\) is not a directory/,
  },
  // the other CLIs
  {
    name: 'reset --limit unknown',
    cli: 'reset',
    args: siteArgs('--limit', 'a2', '--yes'),
    expect: /--limit: "a2" is neither a host nor a group .*hosts: s1, a1/,
  },
  { name: 'reset --limit ,', cli: 'reset', args: siteArgs('--limit', ',', '--yes'), expect: /--limit names nothing/ },
  { name: 'reset --forks 0', cli: 'reset', args: siteArgs('--forks', '0', '--yes'), expect: /--forks must be a positive integer/ },
  { name: 'reset --json is a directory', cli: 'reset', args: siteArgs('--json', scratch, '--yes'), expect: /--json .*: is a directory/ },
  {
    name: 'reset ssh_key mode 0644',
    cli: 'reset',
    inventory: { defaults: '', hostA: `, ssh_key: ${OPEN_KEY}` },
    args: siteArgs('--yes'),
    expect: /open_ed25519 has mode 0644: .*chmod 600/,
  },
  {
    name: 'reset unknown role vars',
    cli: 'reset',
    inventory: { tail: 'vars:\n  hardening: {}' },
    args: siteArgs('--yes'),
    expect: /vars\.hardening: unknown host vars/,
  },
  { name: 'idempotency --tags unknown', cli: 'idempotency', args: siteArgs('--tags', 'nope'), expect: /--tags: unknown tag "nope"/ },
  { name: 'idempotency positional junk', cli: 'idempotency', args: siteArgs('twice'), expect: /Unexpected argument 'twice'/ },
  { name: 'gitops unknown command', cli: 'gitops', args: ['rendr', '-i', INV], expect: /unknown command "rendr"/ },
  { name: 'gitops unknown flag', cli: 'gitops', args: ['check', '-i', INV, '--out', 'x'], expect: /Unknown option '--out'/ },
  { name: 'lab unknown command', cli: 'lab', args: ['frobnicate', '--dir', file('lab')], expect: /unknown command "frobnicate"/ },
  {
    name: 'lab up --servers abc',
    cli: 'lab',
    args: ['up', '--servers', 'abc', '--dir', file('lab')],
    expect: /--servers takes a whole number, got "abc"/,
  },
  { name: 'lab ssh without a VM name', cli: 'lab', args: ['ssh', '--dir', file('lab')], expect: /ssh needs a VM name/ },
  {
    name: 'lab down with positional junk',
    cli: 'lab',
    args: ['down', 'now', '--dir', file('lab')],
    expect: /unexpected argument "now" after "down"/,
  },
  { name: 'lab unknown flag', cli: 'lab', args: ['status', '--dri', file('lab')], expect: /Unknown option '--dri'/ },
  { name: 'bench --rounds 0', cli: 'bench', args: ['--rounds', '0', '--hosts-off'], expect: /--rounds must be an integer ≥ 1 \(got 0\)/ },
  {
    name: 'bench --markdown in a missing directory',
    cli: 'bench',
    args: ['--markdown', file('gone/bench.md'), '--hosts-off'],
    expect: /--markdown .*gone\/bench\.md: the directory .*gone does not exist/,
  },
  { name: 'bench positional junk', cli: 'bench', args: ['fast'], expect: /Unexpected argument 'fast'/ },
  // the real scripts, as root
  { name: 'site.mjs --limit , (child process)', as: 'root', args: siteArgs('--limit', ','), expect: /--limit names nothing/ },
  {
    name: 'site.mjs unknown --limit name (child process)',
    as: 'root',
    args: siteArgs('--limit', 'nosuch'),
    expect: /"nosuch" is neither a host nor a group/,
  },
  {
    name: 'reset.mjs --json in a missing directory (child process)',
    as: 'root',
    cli: 'reset',
    args: siteArgs('--json', file('gone/r.json'), '--yes'),
    expect: /the directory .*gone does not exist/,
  },
];

function inventoryTextWithoutKey(): string {
  return inventoryText().replace(`ssh_key: ${KEY}, `, '');
}

test.before(async () => {
  hostA = await listener();
  hostB = await listener();
  await keygen(KEY);
  await keygen(NOBODY_KEY);
  fs.chownSync(NOBODY_KEY, NOBODY, NOBODY);
  for (const [target, mode] of [
    [OPEN_KEY, 0o644],
    [GROUP_KEY, 0o640],
  ] as const) {
    fs.copyFileSync(KEY, target);
    fs.chmodSync(target, mode);
  }
  await keygen(ENCRYPTED_KEY, 'a passphrase nobody gave');
  fs.writeFileSync(NOT_A_KEY, 'this is not a key\n', { mode: 0o600 });
  fs.mkdirSync(KEY_DIR);
  fs.writeFileSync(A_FILE, 'x', { mode: 0o644 });
  fs.writeFileSync(KNOWN_HOSTS, '', { mode: 0o644 }); // root's: nobody may read, not write
  fs.mkdirSync(ROOT_ONLY_DIR, { mode: 0o755 });
});

test.after(async () => {
  hostA.server.close();
  hostB.server.close();
  fs.rmSync(scratch, { recursive: true, force: true });
});

test(`at least 40 distinct bad-input cases (${cases.length})`, () => {
  assert.ok(cases.length >= 40, `${cases.length} cases`);
  assert.is(new Set(cases.map((c) => c.name)).size, cases.length, 'names are distinct');
});

for (const c of cases) {
  test(`refused up front: ${c.name}`, async () => {
    const text =
      typeof c.inventory === 'string' ? c.inventory : typeof c.inventory === 'function' ? c.inventory() : inventoryText(c.inventory);
    const inv = inventoryFile(text);
    const dir = path.dirname(inv);
    // the unprivileged user may write next to the inventory, unless the case says otherwise
    if (c.as === 'nobody') fs.chownSync(dir, NOBODY, NOBODY);
    c.setup?.(dir);
    const state = path.join(dir, '.clusterseed');
    const hadState = fs.existsSync(state);
    const args = c.args.map((a) => (a === INV ? inv : a));
    const before = contacts();
    const env: NodeJS.ProcessEnv = { SSH_AUTH_SOCK: undefined, CS_TEST_SUDO_PASS: undefined, ...c.env };
    const r = c.as
      ? await child(c.cli ?? 'site', args, { uid: c.as === 'nobody' ? NOBODY : undefined, env: { ...(c.env as Record<string, string>) } })
      : await inProcess(c.cli ?? 'site', args, env);
    assert.is(r.code, 1, `exit code 1 expected:\n${r.output}`);
    assert.match(r.output, c.expect, r.output);
    assert.not.match(r.output, /\n\s+at /, `no stack trace:\n${r.output}`);
    assert.is(contacts(), before, 'no host was contacted');
    if (!hadState) assert.not.ok(fs.existsSync(state), 'nothing was written next to the inventory');
    assert.not.ok(fs.existsSync(path.join(ROOT_ONLY_DIR, 'report.json')) || fs.existsSync(file('gone')), 'no report was written');
  });
}

test('good input gets as far as the hosts: unreachable is exit 2, and the listeners saw it', async () => {
  const inv = inventoryFile(inventoryText());
  const before = contacts();
  const json = file('report.json');
  const r = await inProcess('site', ['-i', inv, '--skip-push', '--json', json], { SSH_AUTH_SOCK: undefined });
  assert.is(r.code, 2, r.output);
  assert.match(r.output, /unreachable/);
  assert.not.match(r.output, /\n\s+at /);
  assert.ok(contacts() > before, 'the run did contact the hosts');
  assert.ok(fs.existsSync(json), 'the report was written');
});

test('an unknown host key is refused (exit 2) and the message names --accept-new-host-keys', async () => {
  const hostKey = file('ssh_host_ed25519_key');
  await keygen(hostKey);
  const server = new ssh2.Server({ hostKeys: [fs.readFileSync(hostKey)] }, (client) => {
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => ctx.reject());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const kh = file('empty_known_hosts');
    fs.writeFileSync(kh, '', { mode: 0o600 });
    const text = [
      'cluster: { name: lab, k3s_version: v1.31.4+k3s1 }',
      `defaults: { user: admin, ssh_key: ${KEY}, known_hosts: ${kh} }`,
      `hosts: { s1: { address: 127.0.0.1, port: ${port} } }`,
      'groups: { servers: [s1] }',
    ].join('\n');
    const r = await inProcess('site', ['-i', inventoryFile(text), '--skip-push', '--tags', 'base'], { SSH_AUTH_SOCK: undefined });
    assert.is(r.code, 2, r.output);
    assert.match(r.output, /host key of s1 .* is not in .*empty_known_hosts.*or trust it on first use with --accept-new-host-keys\./);
    assert.not.match(r.output, /acceptNewHostKeys/);
    assert.is(fs.readFileSync(kh, 'utf8'), '', 'nothing recorded');
  } finally {
    server.close();
  }
});

test.run();
