import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The benchmark figures the docs quote are claims: each one must be in the saved bench result it names.
 *
 * In docs/benchmarks.md (the README links it), every paragraph that quotes a result names it with a link
 * `[JSON](../bench/results/<file>.json)`; the figures of that paragraph and of every paragraph and
 * block after it (up to the next link) are checked against that file:
 * - a fenced block must appear line for line, in order, in what the bench printed (`printed`);
 * - a number in the prose must be one the bench printed (or recorded), at the precision written
 *   ("4.7×" matches 4.69, "about 51,000" matches 51272), unless it is one of SETUP below: the bench's
 *   settings and the targets, which are what was asked for, not what was measured.
 * The file must name the clean commit it measured.
 */

const PAGE = new URL('../../docs/benchmarks.md', import.meta.url);

/** Numbers in the benchmark prose that are settings or targets, not measurements. */
const SETUP = new Set([
  // settings: pool sizes, latency, quota, shards, workers, limits, heap cap, gzip levels, sizes
  '1', '2', '3', '4', '6', '8', '9', '10', '15', '16', '20', '25', '30', '40', '50', '60', '70', '80', '90', '95', '98', '100', '150', '160', '200', '256',
  '1,000', '10,000', '20,000', '100,000', '200,000', '1,000,000', '2,000,000', '1,800', '1,333', '80,000',
  '0.4', '0.3', '1.5', '3.5', '2', '5', '12',
  // targets (≥ 90% of the quota, ≤ 2% throttled, 25 ± 1.5, ≤ 200 MB, ≤ 20 MB, ≤ 15%, ≤ 3%) are among the above
  // design constants: a change partition holds at most 2^17 (about 131,000) keys
  '131,000',
]);

interface Quote {
  readonly file: string;
  readonly blocks: string[];
  readonly prose: string[];
}

/** The page's quotes, each with the saved result it names. */
function quotes(page: string): Quote[] {
  const found: Quote[] = [];
  let current: Quote | undefined;
  let inBlock = false;
  let block: string[] = [];
  for (const line of page.split('\n')) {
    if (line.startsWith('```')) {
      if (inBlock) current?.blocks.push(block.join('\n'));
      inBlock = !inBlock;
      block = [];
      continue;
    }
    if (inBlock) {
      block.push(line);
      continue;
    }
    const link = /\[JSON\]\((\.\.\/bench\/results\/[^)]+\.json)\)/.exec(line);
    if (link) {
      current = { file: link[1] ?? '', blocks: [], prose: [] };
      found.push(current);
    }
    current?.prose.push(line);
  }
  return found;
}

/** Every number written in prose (with thousands commas and decimals), link targets and file names left out. */
function proseNumbers(text: string): string[] {
  const plain = text.replace(/\]\([^)]*\)/g, ']').replace(/`[^`]*`/g, '');
  return [...plain.matchAll(/(?<![\w.-])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.,-])\d+(?:\.\d+)?/g)].map((m) => m[0]);
}

/** Every number in a saved result: its printed text and its recorded values (not its long time series). */
function resultNumbers(record: unknown): number[] {
  const numbers: number[] = [];
  const visit = (value: unknown): void => {
    if (typeof value === 'number') numbers.push(value);
    else if (typeof value === 'string') for (const m of value.matchAll(/-?\d+(?:,\d{3})*(?:\.\d+)?/g)) numbers.push(Number(m[0].replace(/,/g, '')));
    else if (Array.isArray(value)) {
      if (value.length <= 100) value.forEach(visit);
    } else if (typeof value === 'object' && value !== null) Object.values(value).forEach(visit);
  };
  visit(record);
  return numbers;
}

/** Whether `written` (as in the page) is some measured value at the precision it is written. */
function matches(written: string, measured: readonly number[]): boolean {
  const value = Number(written.replace(/,/g, ''));
  const decimals = written.includes('.') ? (written.split('.')[1] ?? '').length : 0;
  // "51,000" is 51272 to two significant figures; "4.7" is 4.69 to one decimal.
  const trailingZeros = decimals === 0 ? (/0+$/.exec(written.replace(/,/g, ''))?.[0].length ?? 0) : 0;
  const step = decimals > 0 ? 10 ** -decimals : 10 ** trailingZeros;
  return measured.some((m) => Math.abs(m - value) <= step / 2 + 1e-9 || Math.abs(Math.abs(m) - value) <= step / 2 + 1e-9);
}

describe('the benchmark figures of docs/benchmarks.md', () => {
  const page = readFileSync(PAGE, 'utf8');
  const found = quotes(page);

  it('name saved results of a clean commit', () => {
    expect(found.length).toBeGreaterThanOrEqual(4);
    for (const quote of found) {
      const path = new URL(quote.file, PAGE);
      expect(existsSync(path), quote.file).toBe(true);
      const record = JSON.parse(readFileSync(path, 'utf8')) as { commit?: string; printed?: string };
      expect(record.commit, quote.file).toMatch(/^[0-9a-f]{40}$/);
      expect(typeof record.printed, quote.file).toBe('string');
      expect(page, 'the page names the commit of each result').toContain(record.commit?.slice(0, 7));
    }
  });

  it('quote what the bench printed, line for line', () => {
    for (const quote of found) {
      const record = JSON.parse(readFileSync(new URL(quote.file, PAGE), 'utf8')) as { printed: string };
      const printed = record.printed.split('\n');
      for (const block of quote.blocks) {
        const lines = block.split('\n');
        const first = printed.indexOf(lines[0] ?? '');
        expect(first, `${quote.file}: ${lines[0] ?? ''}`).toBeGreaterThanOrEqual(0);
        expect(printed.slice(first, first + lines.length), quote.file).toEqual(lines);
      }
    }
  });

  it('write in prose only numbers the bench measured, besides its settings and targets', () => {
    for (const quote of found) {
      const record: unknown = JSON.parse(readFileSync(new URL(quote.file, PAGE), 'utf8'));
      const measured = resultNumbers(record);
      const unknown = proseNumbers(quote.prose.join('\n')).filter((n) => !SETUP.has(n) && !matches(n, measured));
      expect(unknown, quote.file).toEqual([]);
    }
  });

  it('catches a figure that is in no result', () => {
    expect(matches('4.7', [4.69])).toBe(true);
    expect(matches('51,000', [51272])).toBe(true);
    expect(matches('4.8', [4.69])).toBe(false);
    expect(matches('160', [159.4])).toBe(true);
    expect(matches('145', [160, 264])).toBe(false);
    expect(proseNumbers('about 51,000 users/s, 4.7× a [walk](bench/results/x-2026.json), `ADMIN_PORT=9464`')).toEqual(['51,000', '4.7']);
  });
});
