import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSink } from '../../src/storage/file-sink.js';
import { manifestOfPointer } from '../../src/storage/manifest.js';

let directory: string;
let sink: FileSink;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'ce-pointer-'));
  sink = new FileSink(directory);
});

afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

describe('the manifest a pointer names', () => {
  it('is read with its key, or says why there is none to compare with', async () => {
    await sink.putText('manifests/m.json', '{"snapshot_id":"A"}');
    await sink.putText('manifests/broken.json', '{"snapshot_');
    const pointer = (url: string) => JSON.stringify({ manifest_url: url });
    expect(await manifestOfPointer(sink, pointer(sink.urlOf('manifests/m.json')), 'latest.json')).toEqual({ manifest: { snapshot_id: 'A' }, key: 'manifests/m.json' });
    expect(await manifestOfPointer(sink, undefined, 'latest.json')).toEqual({ reason: 'no previous complete snapshot of this dataset' });
    expect(await manifestOfPointer(sink, '{oops', 'latest.json')).toEqual({ reason: 'latest.json could not be read as JSON' });
    expect(await manifestOfPointer(sink, pointer('s3://elsewhere/m.json'), 'latest.json')).toEqual({ reason: "the previous snapshot's manifest s3://elsewhere/m.json is not under this destination" });
    expect(await manifestOfPointer(sink, pointer(sink.urlOf('manifests/gone.json')), 'latest.json')).toMatchObject({ reason: expect.stringMatching(/gone\.json is gone$/) as unknown });
    expect(await manifestOfPointer(sink, pointer(sink.urlOf('manifests/broken.json')), 'latest.json')).toMatchObject({ reason: expect.stringMatching(/could not be read as JSON$/) as unknown });
  });
});
