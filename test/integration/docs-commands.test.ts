import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * Every `cognito-export` command the README and docs/ show still exists, with every flag it is shown
 * with: each command line in a shell block or an inline code span (`cognito-export …`,
 * `node dist/src/cli.js …`, `npm run cli -- …`) is checked against that command's own `--help` of
 * the built CLI. A renamed command or flag fails here, not for a reader.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const run = promisify(execFile);

const pages = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];

/** The CLI invocations of a page: what follows the program name, up to a pipe, `&`, `;`, `#` or a line's end. */
export function invocations(text: string): string[] {
  const found: string[] = [];
  // `cognito-export` at a line's start, after a backtick or `npx`; the other two forms anywhere.
  const program = /(?:(?:^[ \t]*|`|npx\s+)cognito-export|node dist\/src\/cli\.js|npm run cli --)[ \t]+([a-z][^\n`|&;#)]*)/gm;
  for (const [, rest = ''] of text.replace(/\\\n\s*/g, ' ').matchAll(program)) found.push(rest.trim().replace(/\s+/g, ' '));
  return found;
}

/** The command path (`schedule apply`) and the flags (`--config`) of an invocation. */
export function parse(invocation: string): { path: string[]; flags: string[] } {
  const words = invocation.split(/\s+/).filter((word) => word !== '');
  const path: string[] = [];
  for (const word of words) {
    if (!/^[a-z][a-z-]*$/.test(word) || path.length === 2) break;
    path.push(word);
  }
  const flags = words.filter((word) => word.startsWith('--')).map((word) => word.replace(/=.*$/, ''));
  return { path, flags };
}

const helps = new Map<string, Promise<string>>();
/** The `--help` of a command path, or of the nearest existing parent (`export eu-west-1_x` → `export`). */
async function helpOf(path: readonly string[]): Promise<{ path: string[]; help: string }> {
  for (let n = path.length; n >= 1; n--) {
    const key = path.slice(0, n).join(' ');
    if (!helps.has(key)) helps.set(key, run(process.execPath, [CLI, ...path.slice(0, n), '--help']).then((r) => r.stdout, () => ''));
    const help = (await helps.get(key)) ?? '';
    if (help.startsWith(`Usage: cognito-export ${key}`)) return { path: path.slice(0, n), help };
  }
  return { path: [], help: '' };
}

describe('the commands the docs show', () => {
  it('finds command lines in the docs (the extraction works)', () => {
    expect(invocations('```sh\nnode dist/src/cli.js export --user-pool-id eu-west-1_A \\\n  --destination s3://b/p --wait  # note\n```')).toEqual([
      'export --user-pool-id eu-west-1_A --destination s3://b/p --wait',
    ]);
    expect(parse('schedule apply --config schedules.yaml').path).toEqual(['schedule', 'apply']);
    const all = pages.flatMap((page) => invocations(readFileSync(join(ROOT, page), 'utf8')));
    expect(all.length).toBeGreaterThanOrEqual(10);
  });

  it.each(pages)('%s: every command exists, with every flag it is shown with', async (page) => {
    const problems: string[] = [];
    for (const invocation of invocations(readFileSync(join(ROOT, page), 'utf8'))) {
      const { path, flags } = parse(invocation);
      if (path.length === 0) continue;
      const { path: found, help } = await helpOf(path);
      if (found.length === 0) {
        problems.push(`${invocation}: no command ${path[0] ?? ''}`);
        continue;
      }
      for (const flag of flags) {
        if (flag === '--help' || flag === '--version') continue;
        if (!new RegExp(`(^|[\\s,])${flag}(\\b|$)`, 'm').test(help)) problems.push(`${invocation}: ${found.join(' ')} has no ${flag}`);
      }
    }
    expect(problems).toEqual([]);
  }, 60_000);
});
