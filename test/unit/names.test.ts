/** The distribution-spec grammar: repository names, tags, digests. */
import { describe, expect, it } from 'vitest';
import { digestProblem, isDigest, MAX_NAME_LENGTH, nameProblem, tagProblem } from '../../src/distribution/names.ts';

const HEX64 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const HEX128 = 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';

describe('nameProblem', () => {
  const valid = [
    'a',
    'ubuntu',
    'library/ubuntu',
    'a/b/c/d/e/f/g',
    '0',
    '9lives',
    'my-app',
    'my--app',
    'my---app',
    'my_app',
    'my__app',
    'my.app',
    'a.b.c',
    'a-b_c.d__e',
    'team/app.v2/sub__x/a--b',
    'blobs/manifests/tags/uploads',
    'x'.repeat(MAX_NAME_LENGTH),
    `${'a'.repeat(127)}/${'b'.repeat(127)}`,
  ];
  it.each(valid)('accepts %s', (name) => {
    expect(nameProblem(name)).toBeNull();
  });

  const invalid: [name: string, problem: string][] = [
    ['', 'repository name is empty'],
    ['Ubuntu', 'invalid repository name "Ubuntu"'],
    ['library/Ubuntu', 'invalid repository name "library/Ubuntu"'],
    ['-a', 'invalid repository name "-a"'],
    ['a-', 'invalid repository name "a-"'],
    ['_a', 'invalid repository name "_a"'],
    ['a_', 'invalid repository name "a_"'],
    ['.a', 'invalid repository name ".a"'],
    ['a.', 'invalid repository name "a."'],
    ['a..b', 'invalid repository name "a..b"'],
    ['a___b', 'invalid repository name "a___b"'],
    ['a._b', 'invalid repository name "a._b"'],
    ['a.-b', 'invalid repository name "a.-b"'],
    ['a_-b', 'invalid repository name "a_-b"'],
    ['/a', 'invalid repository name "/a"'],
    ['a/', 'invalid repository name "a/"'],
    ['a//b', 'invalid repository name "a//b"'],
    ['a/../b', 'invalid repository name "a/../b"'],
    ['..', 'invalid repository name ".."'],
    ['.', 'invalid repository name "."'],
    ['a b', 'invalid repository name "a b"'],
    ['a:b', 'invalid repository name "a:b"'],
    ['localhost:5000/a', 'invalid repository name "localhost:5000/a"'],
    ['a+b', 'invalid repository name "a+b"'],
    ['a%2Fb', 'invalid repository name "a%2Fb"'],
    ['a\\b', 'invalid repository name "a\\b"'],
    ['é', 'invalid repository name "é"'],
    ['a\nb', 'invalid repository name "a\nb"'],
    ['x'.repeat(MAX_NAME_LENGTH + 1), 'repository name is longer than 255 characters'],
    [`${'a'.repeat(128)}/${'b'.repeat(127)}`, 'repository name is longer than 255 characters'],
    // the length check comes first, so a huge invalid name is not echoed back
    ['A'.repeat(10_000), 'repository name is longer than 255 characters'],
  ];
  it.each(invalid)('rejects %j', (name, problem) => {
    expect(nameProblem(name)).toBe(problem);
  });

  it('bounds names at 255 characters', () => {
    expect(MAX_NAME_LENGTH).toBe(255);
  });
});

describe('tagProblem', () => {
  const valid = ['latest', 'v1', '1', '_', '_x', 'A', 'V1.2.3', '22.04', 'v1.0.0-rc_1', 'a..b', 'a--', 'x.', 'x'.repeat(128), `_${'-'.repeat(127)}`];
  it.each(valid)('accepts %s', (tag) => {
    expect(tagProblem(tag)).toBeNull();
  });

  const invalid = ['', '.hidden', '-dash', 'x'.repeat(129), 'a+b', 'a:b', 'a/b', 'a b', 'a=b', 'a~b', 'é', `${HEX64}:x`];
  it.each(invalid)('rejects %j', (tag) => {
    expect(tagProblem(tag)).toBe(`invalid tag "${tag}"`);
  });
});

describe('digestProblem', () => {
  const valid = [`sha256:${HEX64}`, `sha512:${HEX128}`, `blake3:${HEX64}`];
  it.each(valid)('accepts %s', (digest) => {
    expect(digestProblem(digest)).toBeNull();
  });

  const malformed = [
    '',
    'sha256',
    HEX64,
    `:${HEX64}`,
    'sha256:',
    `SHA256:${HEX64}`,
    `Sha256:${HEX64}`,
    `sha256_:${HEX64}`,
    `_sha256:${HEX64}`,
    `sha256+:${HEX64}`,
    `sha256:${HEX64}:x`,
    `sha256: ${HEX64}`,
    `sha256:${HEX64} `,
    `sha256:${HEX64}\n`,
    `sha256:${HEX64.slice(0, 32)}+${HEX64.slice(33)}`,
    `sha256:${HEX64.slice(0, 32)}/${HEX64.slice(33)}`,
    `sha 256:${HEX64}`,
  ];
  it.each(malformed)('rejects malformed %j', (digest) => {
    expect(digestProblem(digest)).toBe(`invalid digest "${digest}"`);
  });

  const badEncoding: [digest: string, algorithm: string][] = [
    [`sha256:${HEX64.slice(1)}`, 'sha256'],
    [`sha256:${HEX64}0`, 'sha256'],
    [`sha256:${HEX64.toUpperCase()}`, 'sha256'],
    [`sha256:${HEX64.slice(0, 63)}G`, 'sha256'],
    [`sha256:${HEX64.slice(0, 63)}=`, 'sha256'],
    [`sha512:${HEX64}`, 'sha512'],
    [`sha512:${HEX128}0`, 'sha512'],
    [`sha512:${HEX128.toUpperCase()}`, 'sha512'],
    [`blake3:${HEX128}`, 'blake3'],
  ];
  it.each(badEncoding)('rejects %s as an invalid %s digest', (digest, algorithm) => {
    expect(digestProblem(digest)).toBe(`invalid ${algorithm} digest "${digest}"`);
  });

  const unsupported: [digest: string, algorithm: string][] = [
    ['md5:d41d8cd98f00b204e9800998ecf8427e', 'md5'],
    [`sha-256:${HEX64}`, 'sha-256'],
    [`sha256+b64u:${HEX64}`, 'sha256+b64u'],
    ['multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8', 'multihash+base58'],
  ];
  it.each(unsupported)('rejects %s: algorithm %s is not supported', (digest, algorithm) => {
    expect(digestProblem(digest)).toBe(`unsupported digest algorithm "${algorithm}" in "${digest}"`);
  });
});

describe('isDigest', () => {
  const cases: [reference: string, digest: boolean][] = [
    [`sha256:${HEX64}`, true],
    ['sha256:', true],
    [':', true],
    ['latest', false],
    [HEX64, false],
    ['', false],
  ];
  it.each(cases)('%j -> %s', (reference, digest) => {
    expect(isDigest(reference)).toBe(digest);
  });
});
