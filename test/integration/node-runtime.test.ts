import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI } from '../support/worker-process.js';

/**
 * The Node the tests run on, and the one their child processes get. `.ci/node24` sets
 * CE_EXPECT_NODE_MAJOR so a run that silently fell back to another Node fails here.
 */
const expected = process.env.CE_EXPECT_NODE_MAJOR;
const major = Number(process.versions.node.split('.')[0]);

describe('the Node runtime', () => {
  it.runIf(expected !== undefined)('is the major version the CI step asked for', () => {
    expect(String(major)).toBe(expected);
  });

  it('satisfies package.json engines', () => {
    const { engines } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
    const minimum = Number(/^>=(\d+)$/.exec(engines.node)?.[1]);
    expect(minimum).toBe(20);
    expect(major).toBeGreaterThanOrEqual(minimum);
  });

  it('starts the built CLI on the same Node (process.execPath)', () => {
    const env = { ...process.env, NODE_OPTIONS: '' };
    const child = execFileSync(process.execPath, ['-p', 'process.versions.node'], { encoding: 'utf8', env }).trim();
    expect(child).toBe(process.versions.node);
    const version = execFileSync(process.execPath, [CLI, '--version'], { encoding: 'utf8', env }).trim();
    expect(version).toBe('0.1.0');
  });
});
