// The handler's script (roles/wireguard/handlers.ts applyLinkScript) run by sh against stand-ins
// of ip, wg, wg-quick, systemctl and sysctl that record their arguments and input: a running link
// gets `wg syncconf` with the host's own private key added inside the pipe (so the kernel keeps
// its sessions) and the key is never an argument of any command; a new tunnel address or a link
// that is down is brought up by the unit instead; the proof lines come out for the runner.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyLinkScript, parseProof } from '../../roles/wireguard/handlers.ts';

const PRIVATE = 'oK56DE9Ue9zK76rAc8pBl6opph+1v36lm7cXXsQKrQM=';
const PEER = 'HIo9cy0AHGzVN8D1mMq1oKfBmETGTJqOHtAGgPc7CWs=';
const CONF = `# Managed by clusterseed
[Interface]
Address = 10.77.0.2/24
ListenPort = 51820
PostUp = wg set %i private-key /x/cs-link.key

# peer hub (hub) 10.77.0.1
[Peer]
PublicKey = ${PEER}
AllowedIPs = 10.77.0.0/24
`;

const STUBS: Record<string, string> = {
  ip: `echo "ip $*" >>"$T/argv"
case "$*" in
  "link show dev cs-link") [ -e "$T/up" ] ;;
  "-o -4 addr show dev cs-link") echo "5: cs-link    inet $(cat "$T/addr") scope global cs-link" ;;
esac`,
  'wg-quick': `echo "wg-quick $*" >>"$T/argv"
[ "$1" = strip ] && grep -v -E '^(Address|PostUp|MTU) ' "$2"`,
  wg: `echo "wg $*" >>"$T/argv"
case "$1 $3" in
  "syncconf /dev/stdin") cat >"$T/syncconf.in" ;;
  "show public-key") echo PUBLIC ;;
  "show listen-port") echo 51820 ;;
  "show peers") echo "${PEER}" ;;
esac`,
  systemctl: 'echo "systemctl $*" >>"$T/argv"',
  sysctl: 'echo "sysctl $*" >>"$T/argv"',
};

function runScript(opts: { up: boolean; addr: string; forwards?: boolean; mtu?: number }) {
  const t = mkdtempSync(path.join(os.tmpdir(), 'cs-wg-handler-'));
  try {
    const bin = path.join(t, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    for (const [name, body] of Object.entries(STUBS)) {
      writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(path.join(bin, name), 0o755);
    }
    writeFileSync(path.join(t, 'cs-link.key'), `${PRIVATE}\n`, { mode: 0o600 });
    writeFileSync(path.join(t, 'cs-link.conf'), CONF, { mode: 0o600 });
    writeFileSync(path.join(t, 'addr'), opts.addr);
    writeFileSync(path.join(t, 'argv'), '');
    if (opts.up) writeFileSync(path.join(t, 'up'), '');
    const script = applyLinkScript({
      iface: 'cs-link',
      cidr: '10.77.0.2/24',
      forwards: opts.forwards ?? false,
      mtu: opts.mtu ?? 0,
      dir: t,
    });
    const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', env: { PATH: `${bin}:/usr/bin:/bin`, T: t } });
    const synced = path.join(t, 'syncconf.in');
    return {
      ...r,
      argv: readFileSync(path.join(t, 'argv'), 'utf8'),
      syncconf: existsSync(synced) ? readFileSync(synced, 'utf8') : undefined,
    };
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
}

test('a running link: wg syncconf gets the stripped config with the own private key added in the pipe; no argument holds the key', () => {
  const r = runScript({ up: true, addr: '10.77.0.2/24', forwards: true, mtu: 1380 });
  assert.is(r.status, 0, r.stderr);
  assert.ok(r.syncconf, r.argv);
  assert.match(r.syncconf!, new RegExp(`^\\[Interface\\]\\nPrivateKey = ${PRIVATE.replace(/[+/]/g, '\\$&')}\\nListenPort = 51820\\n`, 'm'));
  assert.match(r.syncconf!, new RegExp(`PublicKey = ${PEER.replace(/[+/]/g, '\\$&')}`));
  assert.not.match(r.syncconf!, /Address|PostUp/);
  assert.not.ok(r.argv.includes(PRIVATE), r.argv);
  assert.not.ok(r.stdout.includes(PRIVATE));
  assert.not.match(r.argv, /systemctl restart/);
  assert.match(r.argv, /^ip link set dev cs-link mtu 1380$/m);
  assert.match(r.argv, /^sysctl -q -w net\.ipv4\.conf\.cs-link\.forwarding=1$/m);
  assert.equal(parseProof(r.stdout), { pub: 'PUBLIC', port: '51820', peers: [PEER], want: [PEER] });
});

test('a link that is down, or whose tunnel address changed, is brought up by its unit (syncconf does not touch addresses)', () => {
  for (const r of [runScript({ up: false, addr: '' }), runScript({ up: true, addr: '10.77.0.9/24' })]) {
    assert.is(r.status, 0, r.stderr);
    assert.match(r.argv, /^systemctl restart wg-quick@cs-link$/m);
    assert.is(r.syncconf, undefined);
    assert.not.match(r.argv, /sysctl/, 'a spoke does not forward');
  }
});

test.run();
