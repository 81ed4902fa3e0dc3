// Reading an adopted cluster's kubeconfig like kubectl: context choice, relative paths, token files,
// client certificates, exec plugins; refusals name the file and context and never quote a credential.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { loadKubeconfig } from '../../lib/clusters/kubeconfig.ts';
import { mask, MASK } from '../../lib/report/mask.ts';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const TOKEN = 'kubeconfig-secret-token-4242';

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'kubeconfig-test-'));
}

function write(dir: string, doc: unknown, name = 'config'): string {
  const file = path.join(dir, name);
  writeFileSync(file, typeof doc === 'string' ? doc : stringify(doc));
  return file;
}

function config(user: Record<string, unknown>, cluster: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'b',
    clusters: [
      { name: 'ca', cluster: { server: 'https://a.example:6443', 'certificate-authority-data': Buffer.from(CA).toString('base64') } },
      {
        name: 'cb',
        cluster: { server: 'https://b.example:6443/', 'certificate-authority-data': Buffer.from(CA).toString('base64'), ...cluster },
      },
    ],
    users: [
      { name: 'ua', user: { token: 'other-user-token' } },
      { name: 'ub', user },
    ],
    contexts: [
      { name: 'a', context: { cluster: 'ca', user: 'ua' } },
      { name: 'b', context: { cluster: 'cb', user: 'ub' } },
    ],
    ...extra,
  };
}

async function rejects(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected a rejection');
}

test('current-context by default, the named context when given; trailing slash of server dropped', async () => {
  const dir = tmp();
  try {
    const file = write(dir, config({ token: TOKEN }));
    const cur = await loadKubeconfig(file);
    assert.equal([cur.context, cur.server, cur.caPem, cur.credentials.token], ['b', 'https://b.example:6443', CA, TOKEN]);
    const a = await loadKubeconfig(file, 'a');
    assert.equal([a.server, a.credentials.token], ['https://a.example:6443', 'other-user-token']);
    assert.is(mask(`x ${TOKEN} y`), `x ${MASK} y`, 'the token is registered as a secret');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('relative certificate-authority, tokenFile and client certificate files resolve from the kubeconfig directory', async () => {
  const dir = tmp();
  try {
    mkdirSync(path.join(dir, 'kube', 'pki'), { recursive: true });
    writeFileSync(path.join(dir, 'kube', 'pki', 'ca.crt'), CA);
    writeFileSync(path.join(dir, 'kube', 'token'), `${TOKEN}\n`);
    writeFileSync(path.join(dir, 'kube', 'pki', 'c.crt'), 'CERT');
    writeFileSync(path.join(dir, 'kube', 'pki', 'c.key'), 'KEY-material');
    const cluster = { 'certificate-authority-data': undefined, 'certificate-authority': 'pki/ca.crt', 'tls-server-name': 'kubernetes' };
    const file = write(
      path.join(dir, 'kube'),
      config({ tokenFile: 'token', 'client-certificate': 'pki/c.crt', 'client-key': 'pki/c.key' }, cluster),
    );
    const cwd = process.cwd();
    process.chdir(tmpdir()); // resolution must not depend on the working directory
    try {
      const r = await loadKubeconfig(file);
      assert.equal(
        [r.caPem, r.tlsServerName, r.credentials],
        [CA, 'kubernetes', { token: TOKEN, clientCertPem: 'CERT', clientKeyPem: 'KEY-material' }],
      );
    } finally {
      process.chdir(cwd);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('refusals name the kubeconfig and context, never the credential', async () => {
  const dir = tmp();
  try {
    const insecure = write(dir, config({ token: TOKEN }, { 'insecure-skip-tls-verify': true }), 'insecure');
    const m1 = await rejects(loadKubeconfig(insecure));
    assert.match(m1, `${insecure} (context b): cluster "cb": insecure-skip-tls-verify`);
    const missing = await rejects(loadKubeconfig(insecure, 'nope'));
    assert.match(missing, `${insecure} (context nope): no context named "nope" in contexts (there: a, b)`);
    const noCreds = await rejects(loadKubeconfig(write(dir, config({}), 'nocreds')));
    assert.match(noCreds, /user "ub": no credentials/);
    const http = await rejects(loadKubeconfig(write(dir, config({ token: TOKEN }, { server: 'http://b.example' }), 'http')));
    assert.match(http, /is not https/);
    const basic = await rejects(loadKubeconfig(write(dir, config({ username: 'u', password: TOKEN }), 'basic')));
    assert.match(basic, /basic authentication/);
    const halfCert = await rejects(
      loadKubeconfig(write(dir, config({ 'client-key-data': Buffer.from('KEY-material').toString('base64') }), 'half')),
    );
    assert.match(halfCert, /client-certificate and client-key go together/);
    const noCurrent = await rejects(loadKubeconfig(write(dir, config({ token: TOKEN }, {}, { 'current-context': '' }), 'nocur')));
    assert.match(noCurrent, /no context given and no current-context/);
    // YAML errors: the parser would quote the line, which holds the token
    const broken = write(dir, `users:\n- name: ub\n  user: {token: ${TOKEN}\n`, 'broken');
    const m2 = await rejects(loadKubeconfig(broken));
    assert.match(m2, new RegExp(`^${broken}:\\d+:\\d+: not valid YAML`));
    for (const m of [m1, missing, noCreds, http, basic, halfCert, m2]) assert.not.ok(m.includes(TOKEN) || m.includes('KEY-material'), m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exec plugin: runs with args and env, gets KUBERNETES_EXEC_INFO, command relative to the kubeconfig; v1beta1 too', async () => {
  const dir = tmp();
  try {
    mkdirSync(path.join(dir, 'bin'));
    const plugin = path.join(dir, 'bin', 'cred');
    // prints its argument, an env value and whether it was told it is non-interactive, as the token
    writeFileSync(
      plugin,
      `#!/bin/sh\ninteractive=$(printf '%s' "$KUBERNETES_EXEC_INFO" | grep -c '"interactive":false')\n` +
        `printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s-%s-%s"}}' "$API" "$1" "$EXTRA" "$interactive"\n`,
    );
    chmodSync(plugin, 0o755);
    for (const api of ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1']) {
      const exec = {
        apiVersion: api,
        command: './bin/cred',
        args: ['tok'],
        env: [
          { name: 'EXTRA', value: 'xyz' },
          { name: 'API', value: api },
        ],
        interactiveMode: 'Never',
      };
      const file = write(dir, config({ exec }), `config-${api.split('/')[1]}`);
      const r = await loadKubeconfig(file);
      assert.is(r.credentials.token, 'tok-xyz-1', api);
    }
    const mismatch = write(
      dir,
      config({
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: './bin/cred',
          env: [{ name: 'API', value: 'client.authentication.k8s.io/v1beta1' }],
        },
      }),
      'mismatch',
    );
    assert.match(await rejects(loadKubeconfig(mismatch)), /answered apiVersion client.authentication.k8s.io\/v1beta1/);
    const absent = write(
      dir,
      config({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'no-such-plugin-xyz', installHint: 'install it' } }),
      'absent',
    );
    assert.match(await rejects(loadKubeconfig(absent)), /command "no-such-plugin-xyz" not found \(install it\)/);
    const absentPath = write(
      dir,
      config({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: './bin/no-such-cred' } }),
      'absent-path',
    );
    assert.match(await rejects(loadKubeconfig(absentPath)), /command "\.\/bin\/no-such-cred" not found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exec plugin failure reports its stderr, never its stdout', async () => {
  const dir = tmp();
  try {
    const plugin = path.join(dir, 'fail');
    writeFileSync(plugin, `#!/bin/sh\necho '{"status":{"token":"${TOKEN}"}}'\necho 'not logged in' >&2\nexit 3\n`);
    chmodSync(plugin, 0o755);
    const file = write(dir, config({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin } }));
    const m = await rejects(loadKubeconfig(file));
    assert.match(m, `${file} (context b): user "ub": exec: "${plugin}" failed (exit 3): not logged in`);
    assert.not.ok(m.includes(TOKEN));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
