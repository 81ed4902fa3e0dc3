// A minimal DER (ASN.1 Distinguished Encoding Rules) writer: just the types an X.509 v3
// certificate needs. node:crypto can parse certificates but not build them, and pulling in a
// full ASN.1 library for one self-signed certificate is not worth the dependency.

/** Encodes the length octets: short form below 128, long form (0x80 | n, then n bytes) above. */
function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Tag-length-value with a single-byte tag. */
export function tlv(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export function sequence(...items: Uint8Array[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

export function set(...items: Uint8Array[]): Buffer {
  return tlv(0x31, Buffer.concat(items));
}

export function boolean(value: boolean): Buffer {
  return tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
}

export function nullValue(): Buffer {
  return tlv(0x05, Buffer.alloc(0));
}

/**
 * A non-negative INTEGER from its big-endian magnitude. DER wants the shortest form: leading
 * zero bytes are dropped, and one is put back when the top bit would otherwise read as a sign.
 */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  let body = Buffer.from(magnitude.subarray(start));
  if (body.length === 0) body = Buffer.from([0]);
  if (body[0] & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return tlv(0x02, body);
}

export function smallInteger(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`smallInteger: ${value} is not a 32-bit non-negative integer`);
  }
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return unsignedInteger(bytes);
}

/** OBJECT IDENTIFIER from dotted form: first two arcs packed as 40*a+b, the rest base-128. */
export function objectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => {
    if (!/^\d+$/.test(arc)) throw new Error(`objectIdentifier: bad arc "${arc}" in ${dotted}`);
    return Number(arc);
  });
  if (arcs.length < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39)) {
    throw new Error(`objectIdentifier: ${dotted} is not a valid OID`);
  }
  const out: number[] = [];
  for (const arc of [arcs[0] * 40 + arcs[1], ...arcs.slice(2)]) {
    const chunk: number[] = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) {
      chunk.unshift(0x80 | (rest & 0x7f));
    }
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** BIT STRING; `unusedBits` is how many low bits of the last byte are padding. */
export function bitString(content: Uint8Array, unusedBits = 0): Buffer {
  if (unusedBits < 0 || unusedBits > 7) throw new RangeError('bitString: unusedBits must be 0..7');
  return tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), content]));
}

export function octetString(content: Uint8Array): Buffer {
  return tlv(0x04, content);
}

export function utf8String(text: string): Buffer {
  return tlv(0x0c, Buffer.from(text, 'utf8'));
}

/** [n] EXPLICIT wrapper (context-specific, constructed). */
export function explicit(tagNumber: number, content: Uint8Array): Buffer {
  if (tagNumber < 0 || tagNumber > 30) throw new RangeError('explicit: tag number must be 0..30');
  return tlv(0xa0 | tagNumber, content);
}

function twoDigits(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * X.509 Time (RFC 5280 4.1.2.5): UTCTime (YYMMDDHHMMSSZ) for years 1950-2049, GeneralizedTime
 * (YYYYMMDDHHMMSSZ) otherwise. Sub-second precision is dropped, as DER requires.
 */
export function x509Time(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const rest =
    twoDigits(date.getUTCMonth() + 1) +
    twoDigits(date.getUTCDate()) +
    twoDigits(date.getUTCHours()) +
    twoDigits(date.getUTCMinutes()) +
    twoDigits(date.getUTCSeconds()) +
    'Z';
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(twoDigits(year % 100) + rest, 'ascii'));
  return tlv(0x18, Buffer.from(String(year).padStart(4, '0') + rest, 'ascii'));
}
