import { describe, expect, it } from 'vitest';
import { buildRunSpec, type ExportRequest } from '../../src/runs/export-request.js';
import { RunConflictError } from '../../src/runs/run-conflict.js';
import type { RunStatus } from '../../src/runs/run-views.js';

const defaults = { awsRegion: undefined, fileMaxRecords: 100_000, gzipLevel: 6 };
const base: ExportRequest = { userPoolId: 'eu-west-1_AbC123', destination: 's3://b-1/a', trigger: 'cli' };

/** The pool's run in flight, as requestExport finds it. */
function running(request: Partial<ExportRequest> = {}): RunStatus {
  return { spec: buildRunSpec({ ...base, ...request }, defaults), state: 'running' } as RunStatus;
}

describe('RunConflictError', () => {
  it('tells an HTTP caller to send "queue": true on POST /exports, not a CLI flag', () => {
    const error = new RunConflictError(running(), buildRunSpec({ ...base, trigger: 'http', destination: 's3://b-1/b' }, defaults));
    expect(error.message).toContain('"queue": true');
    expect(error.message).toContain('POST /exports');
    expect(error.message).not.toContain('--queue');
  });

  it('tells a CLI caller to pass --queue', () => {
    const error = new RunConflictError(running(), buildRunSpec({ ...base, destination: 's3://b-1/b' }, defaults));
    expect(error.message).toMatch(/or pass --queue to run after it/);
    expect(error.message).not.toContain('"queue"');
  });

  it('names each option that differs, with the running and the requested value', () => {
    const error = new RunConflictError(running({ shards: 16 }), buildRunSpec({ ...base, shards: 256, gzip: false }, defaults));
    expect(error.message).toMatch(/differs in --shards \(256; the running export has 16\) and --no-gzip \(false; the running export has true\)/);
    expect(error.message).not.toMatch(/destination \(/);
    const http = new RunConflictError(running(), buildRunSpec({ ...base, trigger: 'http', excludeAttributes: 'name' }, defaults));
    expect(http.message).toMatch(/differs in exclude_attributes \(name; the running export has none\)/);
    const cli = new RunConflictError(running(), buildRunSpec({ ...base, excludeAttributes: 'name' }, defaults));
    expect(cli.message).toMatch(/differs in --exclude-attributes \(name; the running export has none\)/);
  });
});
