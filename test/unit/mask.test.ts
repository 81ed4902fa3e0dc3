// The one masker (lib/report/mask.ts): the registry, secrets a caller holds, URL credentials and
// the scanner's preview all hide with the same MASK.
import { test } from '../support/uvu.ts';
import * as assert from 'uvu/assert';
import { clearSecrets, mask, MASK, maskPreview, maskSecrets, redactUrl, registerSecret, urlSecrets } from '../../lib/report/mask.ts';

test.after.each(() => clearSecrets());

test('mask: every registered secret of 4 characters or more, every occurrence', () => {
  registerSecret('s3cr3t-token');
  registerSecret('abc'); // too short to mask without hiding ordinary words
  registerSecret(undefined);
  assert.is(mask('a s3cr3t-token and s3cr3t-token, abc'), `a ${MASK} and ${MASK}, abc`);
  clearSecrets();
  assert.is(mask('s3cr3t-token'), 's3cr3t-token');
});

test('maskSecrets: the secrets given, not the registry', () => {
  registerSecret('registered-one');
  assert.is(maskSecrets('ghp_token123 registered-one', ['ghp_token123', undefined, 'x']), `${MASK} registered-one`);
});

test('maskPreview: a few leading characters and half a MASK', () => {
  assert.is(maskPreview('ghp_abcdefghijklmnop'), 'ghp_****');
  assert.is(maskPreview('hunter'), 'h****');
  assert.is(maskPreview('abc'), '****');
  assert.ok(MASK.startsWith('****'));
});

test('redactUrl and urlSecrets: credentials in a URL', () => {
  assert.is(redactUrl('https://x-access-token:ghs_abcd@github.com/a/b.git'), `https://${MASK}@github.com/a/b.git`);
  assert.is(redactUrl('ssh://git:pa55word@host/repo.git'), `ssh://git:${MASK}@host/repo.git`);
  assert.is(redactUrl('git@github.com:a/b.git'), 'git@github.com:a/b.git');
  assert.is(redactUrl('https://github.com/a/b.git'), 'https://github.com/a/b.git');
  assert.equal(urlSecrets('https://user%40x:p%40ss@host/r'), ['user%40x:p%40ss', 'user%40x', 'p%40ss', 'user@x', 'p@ss']);
  assert.equal(urlSecrets('https://host/r'), []);
});

test.run();
