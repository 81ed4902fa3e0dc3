import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import {
  appendKnownHost,
  checkHostKey,
  entryMatches,
  fingerprint,
  formatEntry,
  keyTypeOf,
  knownKeyTypes,
  lookupName,
  parseKnownHosts,
  readKnownHosts,
} from '../../lib/ssh/known-hosts.ts';

// Known-answer vectors made with OpenSSH 9.2: `ssh-keygen -t ed25519`, `ssh-keygen -lf` for the
// fingerprints, `ssh-keygen -H` for the hashed entries (K1 as [10.1.2.3]:2222, K2 as web1.lan).
const K1_B64 = 'AAAAC3NzaC1lZDI1NTE5AAAAIFyHb/XE7FDaoa3ewkyVygsHe+SEZPjKe6XyGHo6bZEV';
const K1_FP = 'SHA256:mCXnq99EGdrD7SEk/I85Un52V6bcHn83XsDnFxQamCk';
const K2_B64 = 'AAAAC3NzaC1lZDI1NTE5AAAAIGsgDgLhEIy3QXbtTGaDa6XD5/fuzm8Mt27tVMgPEY7I';
const K2_FP = 'SHA256:TD9XSulG4KCuf4nzKegBQRfkBOZVbynmhQJa96bfW20';
const HASHED_K1 = '|1|jcAzZPeWdLZ5HSYZnN28eRgUccQ=|RAZdnx5WOAcuZmGT9NH56w+k+Nk=';
const HASHED_K2 = '|1|7YRDN5Zf/REuNkgr4COw3ofzVmc=|RJ23Y4990eaRqiswI9Gnb03J8SQ=';
const K1 = Buffer.from(K1_B64, 'base64');
const K2 = Buffer.from(K2_B64, 'base64');

test('fingerprints match ssh-keygen -l', () => {
  assert.is(fingerprint(K1), K1_FP);
  assert.is(fingerprint(K2), K2_FP);
  assert.is(keyTypeOf(K1), 'ssh-ed25519');
});

test('lookup name uses [host]:port except on port 22', () => {
  assert.is(lookupName('Web1.LAN', 22), 'web1.lan');
  assert.is(lookupName('10.0.0.1', 2222), '[10.0.0.1]:2222');
});

test('parse skips comments, blank lines, unknown markers and corrupt keys, keeps line numbers', () => {
  const text = [
    '# comment',
    '',
    `web1.lan ssh-ed25519 ${K1_B64} root@web1`,
    `@bogus web2 ssh-ed25519 ${K1_B64}`,
    `web3 ssh-rsa ${K1_B64}`, // type in the blob does not match the field
    `web4 ssh-ed25519 not*base64`,
    `@revoked * ssh-ed25519 ${K2_B64}`,
  ].join('\n');
  const entries = parseKnownHosts(text);
  assert.equal(
    entries.map((e) => [e.line, e.hosts, e.marker]),
    [
      [3, 'web1.lan', undefined],
      [7, '*', 'revoked'],
    ],
  );
});

test('hashed entries from ssh-keygen -H match their host and port only', () => {
  const [e1, e2] = parseKnownHosts(`${HASHED_K1} ssh-ed25519 ${K1_B64}\n${HASHED_K2} ssh-ed25519 ${K2_B64}\n`);
  assert.ok(entryMatches(e1, '10.1.2.3', 2222));
  assert.not.ok(entryMatches(e1, '10.1.2.3', 22));
  assert.not.ok(entryMatches(e1, '10.1.2.4', 2222));
  assert.ok(entryMatches(e2, 'web1.lan', 22));
  assert.ok(entryMatches(e2, 'WEB1.lan', 22));
  assert.not.ok(entryMatches(e2, 'web1.lan', 2200));
});

test('patterns: comma lists, wildcards, negation, bracketed ports', () => {
  const [e] = parseKnownHosts(`*.lan,!db.lan,[10.0.0.?]:2222 ssh-ed25519 ${K1_B64}`);
  assert.ok(entryMatches(e, 'web1.lan', 22));
  assert.not.ok(entryMatches(e, 'db.lan', 22), 'negated pattern wins');
  assert.ok(entryMatches(e, '10.0.0.7', 2222));
  assert.not.ok(entryMatches(e, '10.0.0.7', 22));
  assert.not.ok(entryMatches(e, '10.0.0.17', 2222));
  assert.not.ok(entryMatches(e, 'web1.lan', 2222), 'plain names only apply to port 22');
});

test('verdicts: known, unknown, changed (with the line), revoked', () => {
  const entries = parseKnownHosts(
    [`# hosts`, `web1.lan ssh-ed25519 ${K1_B64}`, `[web2.lan]:2222 ssh-ed25519 ${K2_B64}`, `@revoked * ssh-ed25519 ${K2_B64}`].join('\n'),
  );
  assert.equal(checkHostKey(entries, 'web1.lan', 22, K1), { status: 'known', line: 2 });
  assert.equal(checkHostKey(entries, 'web9.lan', 22, K1), { status: 'unknown' });
  const changed = checkHostKey(entries, 'web1.lan', 22, K2);
  assert.is(changed.status, 'revoked', 'K2 is revoked everywhere');
  const changed2 = checkHostKey(parseKnownHosts(`web1.lan ssh-ed25519 ${K1_B64}`), 'web1.lan', 22, K2);
  assert.is(changed2.status, 'changed');
  if (changed2.status === 'changed') {
    assert.is(changed2.entry.line, 1);
    assert.is(fingerprint(changed2.entry.key), K1_FP);
  }
});

test('a host known only under another key type counts as changed, not new', () => {
  const rsaLike = Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-rsa'), Buffer.from([0, 0, 0, 1, 1])]);
  const entries = parseKnownHosts(`web1.lan ssh-rsa ${rsaLike.toString('base64')}`);
  assert.equal(knownKeyTypes(entries, 'web1.lan', 22), ['ssh-rsa']);
  assert.is(checkHostKey(entries, 'web1.lan', 22, K1).status, 'changed');
});

test('append creates the file 0600, adds a missing newline, and the entry is then known', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-kh-'));
  try {
    const file = path.join(dir, 'sub', 'known_hosts');
    assert.equal(readKnownHosts(file), [], 'a missing file is empty');
    appendKnownHost(file, '10.1.2.3', 2222, K1);
    assert.is(fs.statSync(file).mode & 0o777, 0o600);
    fs.appendFileSync(file, `web1.lan ssh-ed25519 ${K2_B64}`); // no trailing newline
    appendKnownHost(file, 'web2.lan', 22, K1);
    const text = fs.readFileSync(file, 'utf8');
    assert.is(text, `${formatEntry('10.1.2.3', 2222, K1)}\nweb1.lan ssh-ed25519 ${K2_B64}\nweb2.lan ssh-ed25519 ${K1_B64}\n`);
    const entries = readKnownHosts(file);
    assert.equal(checkHostKey(entries, '10.1.2.3', 2222, K1), { status: 'known', line: 1 });
    assert.equal(checkHostKey(entries, 'web2.lan', 22, K1), { status: 'known', line: 3 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
