import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync, existsSync, readdirSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildModel, prepareSecrets, renderModel, requiredSecrets, sealingKeyDir, writeRepo } from '../../lib/gitops/index.ts';
import { loadOrCreateSealingKeys, unsealSecret, type SealedSecret } from '../../lib/gitops/sealed-secrets.ts';
import { scanTree } from '../../lib/gitops/secret-scan.ts';
import { everything, homelab } from '../fixtures/gitops/inventories.ts';
import { TEST_KEY_OPTIONS, tempDir } from '../fixtures/gitops/state.ts';

const run = promisify(execFile);
const mode = (file: string) => statSync(file).mode & 0o777;

test('credentials are generated once (0600, git-ignored) and sealed for the right cluster', async () => {
  const state = tempDir('gitops-secrets');
  const model = buildModel(homelab());
  const first = await prepareSecrets(model, { stateDir: state, sealingKeyOptions: TEST_KEY_OPTIONS });
  assert.equal(first.newKeys, ['homelab']);
  assert.is(readFileSync(path.join(state, '.gitignore'), 'utf8').trim().split('\n').at(-1), '*');
  const credFile = path.join(state, 'homelab', 'credentials.json');
  assert.is(mode(credFile), 0o600);
  const creds = JSON.parse(readFileSync(credFile, 'utf8'));
  assert.is(creds.minio.user, 'admin');
  assert.ok(creds.minio.password.length >= 32);
  assert.is(creds['mlflow-db'].user, 'mlflow');

  const key = readFileSync(path.join(state, 'homelab', 'sealing', 'sealed-secrets.key'), 'utf8');
  const minio = first.sealed.get('clusters/homelab/minio/manifests/sealed-minio-root.yaml') as unknown as SealedSecret;
  assert.equal(unsealSecret(minio, key), { rootPassword: creds.minio.password, rootUser: 'admin' });
  // the same MinIO credentials reach MLflow's S3 secret, and the PostgreSQL user password MLflow's DB secret
  const s3 = first.sealed.get('clusters/homelab/mlflow/manifests/sealed-mlflow-s3.yaml') as unknown as SealedSecret;
  assert.equal(unsealSecret(s3, key), { AWS_ACCESS_KEY_ID: 'admin', AWS_SECRET_ACCESS_KEY: creds.minio.password });
  // the CloudNativePG Cluster creates the MLflow database owner from a basic-auth Secret
  const pgSealed = first.sealed.get('clusters/homelab/postgresql/manifests/sealed-postgresql-mlflow.yaml') as unknown as SealedSecret;
  assert.is(pgSealed.spec.template.type, 'kubernetes.io/basic-auth');
  const pg = unsealSecret(pgSealed, key);
  const db = unsealSecret(first.sealed.get('clusters/homelab/mlflow/manifests/sealed-mlflow-db.yaml') as unknown as SealedSecret, key);
  assert.equal(pg, { password: creds['mlflow-db'].password, username: 'mlflow' });
  assert.equal(db, pg);
  assert.is(first.resealed.length, requiredSecrets(model).length);
});

test('unchanged plaintext reuses the sealed file byte for byte; a changed credential reseals only its secrets', async () => {
  const state = tempDir('gitops-secrets');
  const model = buildModel(homelab());
  const first = await prepareSecrets(model, { stateDir: state, sealingKeyOptions: TEST_KEY_OPTIONS });
  const again = await prepareSecrets(model, { stateDir: state, sealingKeyOptions: TEST_KEY_OPTIONS });
  assert.equal(again.resealed, []);
  assert.equal(again.newKeys, []);
  assert.equal(renderModel(model, { sealedSecrets: again.sealed }), renderModel(model, { sealedSecrets: first.sealed }));

  const credFile = path.join(state, 'homelab', 'credentials.json');
  const creds = JSON.parse(readFileSync(credFile, 'utf8'));
  creds.redis = { password: 'rotated-by-hand-0123456789' };
  creds.grafana = { user: 'admin', password: 'rotated-by-hand-0123456789' };
  writeFileSync(credFile, JSON.stringify(creds), { mode: 0o600 });
  const model2 = buildModel(homelab({ redis: { enabled: true }, 'kube-prometheus-stack': { enabled: true } }));
  const third = await prepareSecrets(model2, { stateDir: state, sealingKeyOptions: TEST_KEY_OPTIONS });
  assert.equal(third.resealed.sort(), ['homelab:monitoring/grafana-admin', 'homelab:redis/redis-auth']);
  const key = readFileSync(path.join(state, 'homelab', 'sealing', 'sealed-secrets.key'), 'utf8');
  const redis = third.sealed.get('clusters/homelab/redis/manifests/sealed-redis-auth.yaml') as unknown as SealedSecret;
  assert.equal(unsealSecret(redis, key), { 'redis-password': 'rotated-by-hand-0123456789' });
});

test('the rendered tree passes the secret scan; writeRepo writes exactly the tree', async () => {
  const state = tempDir('gitops-secrets');
  const out = tempDir('gitops-out');
  const model = buildModel(everything());
  const secrets = await prepareSecrets(model, { stateDir: state, sealingKeyOptions: TEST_KEY_OPTIONS });
  const files = renderModel(model, { sealedSecrets: secrets.sealed });
  const res = await writeRepo(files, out);
  assert.is(res.written.length, files.size);
  assert.equal(await scanTree(out), []);

  // stale files go, .git stays, unchanged files are not rewritten
  mkdirSync(path.join(out, '.git'));
  writeFileSync(path.join(out, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  mkdirSync(path.join(out, 'clusters', 'gone'), { recursive: true });
  writeFileSync(path.join(out, 'clusters', 'gone', 'old.yaml'), 'x: 1\n');
  const res2 = await writeRepo(files, out);
  assert.equal(res2.written, []);
  assert.equal(res2.removed, ['clusters/gone/old.yaml']);
  assert.not.ok(existsSync(path.join(out, 'clusters', 'gone')));
  assert.ok(existsSync(path.join(out, '.git', 'HEAD')));

  // a directory that holds something else is not wiped
  const foreign = tempDir('gitops-foreign');
  writeFileSync(path.join(foreign, 'thesis.tex'), 'important');
  await writeRepo(files, foreign).then(
    () => assert.unreachable('wrote over a foreign directory'),
    (err: Error) => assert.match(err.message, /refusing to replace it/),
  );
  await writeRepo(new Map([['../escape.yaml', 'x']]), tempDir('gitops-escape')).then(
    () => assert.unreachable(),
    (err: Error) => assert.match(err.message, /outside the repository/),
  );
});

test(
  'CLI: render writes a valid repo offline, a second run changes nothing, check reports up to date',
  { timeoutSeconds: 300 },
  async () => {
    const work = tempDir('gitops-cli');
    copyFileSync(path.resolve('inventory.yaml'), path.join(work, 'inventory.yaml'));
    const out = path.join(work, 'repo');
    // small pre-made keys keep the test fast; the CLI finds and uses them like real ones
    await loadOrCreateSealingKeys(sealingKeyDir(path.join(work, '.clusterseed'), 'homelab'), TEST_KEY_OPTIONS);
    const cli = (...args: string[]) =>
      run(process.execPath, ['scripts/gitops.mjs', ...args, '-i', path.join(work, 'inventory.yaml')], { timeout: 120_000 });
    const first = await cli('render', '-o', out);
    assert.match(first.stdout, /valid, no plaintext secrets/);
    assert.ok(existsSync(path.join(out, 'bootstrap', 'root.yaml')));
    assert.ok(existsSync(path.join(work, '.clusterseed', 'homelab', 'sealing', 'sealed-secrets.key')));
    const second = await cli('render', '-o', out);
    assert.match(second.stdout, /unchanged/);
    const check = await cli('check', '-o', out);
    assert.match(check.stdout, /up to date/);
    assert.ok(readdirSync(out).includes('README.md'));
    const usage = await run(process.execPath, ['scripts/gitops.mjs', 'render'], { timeout: 60_000 }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    assert.is((usage as { code: number }).code, 1);
    assert.match((usage as { stderr: string }).stderr, /render needs -o DIR/);
  },
);

test.run();
