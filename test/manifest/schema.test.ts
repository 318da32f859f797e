/**
 * Manifest schemas 1 and 2 (PRODUCT.md section 3.1): both are read into one shape; schema 2
 * carries several images per version with their release fields, and a rollout percent.
 */
import { describe, expect, it } from 'vitest';
import { payloadSchema, serializePayload } from '../../src/manifest/schema.ts';

const image = (path: string, release?: Record<string, string>) => ({
  path,
  size: 8192,
  sha256: 'ab'.repeat(32),
  verity: {
    rootHash: 'cd'.repeat(32),
    salt: '00ff',
    uuid: '0123abcd-4567-89ef-0123-456789abcdef',
    hashAlgorithm: 'sha256',
    dataBlockSize: 4096,
    hashBlockSize: 4096,
  },
  ...(release ? { release } : {}),
});

const header = { serial: 3, issued: '2026-11-26T10:00:00Z', expires: '2026-12-26T10:00:00Z' };

function v2(version: Record<string, unknown>) {
  return {
    schema: 2,
    ...header,
    extensions: { hello: { kind: 'sysext', versions: { '2.1': version } } },
  };
}

describe('manifest schema', () => {
  it('reads schema 1 as one image per version, rollout 100', () => {
    const p = payloadSchema.parse({
      schema: 1,
      ...header,
      extensions: { hello: { kind: 'sysext', versions: { '1.0': image('hello/hello_1.0.raw') } } },
    });
    expect(p.extensions.hello?.versions['1.0']).toEqual({
      images: [image('hello/hello_1.0.raw')],
      rolloutPercent: 100,
    });
  });

  it('reads schema 2: images with release fields, a rollout percent', () => {
    const x86 = image('hello/x86-64/hello_2.1.raw', { ID: '_any', ARCHITECTURE: 'x86-64' });
    const arm = image('hello/arm64/hello_2.1.raw', { ID: '_any', ARCHITECTURE: 'arm64' });
    const p = payloadSchema.parse(v2({ images: [x86, arm], rollout: { percent: 25 } }));
    const entry = p.extensions.hello?.versions['2.1'];
    expect(entry?.images.map((i) => i.release?.ARCHITECTURE)).toEqual(['x86-64', 'arm64']);
    expect(entry?.rolloutPercent).toBe(25);
    expect(p.schema).toBe(2);
  });

  it.each([
    ['no images', { images: [] }],
    ['a rollout above 100', { images: [image('a/a.raw')], rollout: { percent: 101 } }],
    ['a fractional rollout', { images: [image('a/a.raw')], rollout: { percent: 2.5 } }],
    ['a lower-case release field', { images: [image('a/a.raw', { id: 'debian' })] }],
    [
      'a release value that is not a string',
      { images: [{ ...image('a/a.raw'), release: { ID: 1 } }] },
    ],
    ['a schema 1 entry in a schema 2 manifest', image('a/a.raw')],
  ])('refuses %s', (_what, version) => {
    expect(payloadSchema.safeParse(v2(version)).success).toBe(false);
  });

  it('serializes to schema 2, and reads back to the same payload', () => {
    const p = payloadSchema.parse(
      v2({
        images: [image('hello/hello_2.1.raw', { ID: 'debian', VERSION_ID: '12' })],
        rollout: { percent: 10 },
      }),
    );
    const doc = serializePayload(p) as { schema: number };
    expect(doc.schema).toBe(2);
    expect(payloadSchema.parse(doc)).toEqual(p);
  });
});
