// The session key of a sealed value opened by openssl itself, not by lib/gitops: RSA-OAEP with
// SHA-256 as OAEP and MGF1 digest and the scope as label (bitnami sealed-secrets). Needs openssl.
import { runCollectSync } from '../../lib/process/index.ts';

/** `openssl pkeyutl -decrypt` of `input` with the private key in `keyFile`; an empty label is left out. */
export function opensslOaepDecrypt(keyFile: string, label: string, input: Buffer): Buffer {
  return runCollectSync(
    [
      'openssl',
      'pkeyutl',
      '-decrypt',
      '-inkey',
      keyFile,
      '-pkeyopt',
      'rsa_padding_mode:oaep',
      '-pkeyopt',
      'rsa_oaep_md:sha256',
      '-pkeyopt',
      'rsa_mgf1_md:sha256',
      ...(label ? ['-pkeyopt', `rsa_oaep_label:${Buffer.from(label).toString('hex')}`] : []),
    ],
    { input, check: true },
  ).stdoutBytes;
}
