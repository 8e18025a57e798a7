import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { contextFilter, contextMatches, instructions, parseDockerfile, words } from '../../.ci/dockerfile.mjs';

/**
 * The container image's build, read statically (the full replay is `.ci/image-check.mjs`): the
 * Dockerfile copies what the production build needs and nothing it must not need, the production
 * build (tsconfig.build.json) holds only the product, and the product imports only production
 * dependencies.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const stages = parseDockerfile(read('Dockerfile'));
const build = stages[0];
const final = stages.at(-1);

interface Tsconfig {
  readonly include?: readonly string[];
  readonly compilerOptions?: Record<string, unknown>;
}
const buildConfig = JSON.parse(read('tsconfig.build.json')) as Tsconfig;
const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string>; scripts: Record<string, string> };

/** Every .ts file under the directories tsconfig.build.json includes. */
function productionSources(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) out.push(path);
    }
  };
  for (const dir of buildConfig.include ?? []) walk(dir);
  return out;
}

/**
 * The module specifiers a TypeScript file loads at run time: imports and re-exports (static and
 * dynamic), without `import type` / `export type`, which the build erases.
 */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)(\s+type)?\s[^'";]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    if (match[1] === undefined) out.push(match[2] ?? match[3] ?? match[4] ?? '');
  }
  return out;
}

describe('the Dockerfile', () => {
  it('builds and runs on Node 24 (pinned by major, the same in every stage)', () => {
    expect(stages.map((stage) => stage.image)).toEqual(['node:24-bookworm-slim', 'node:24-bookworm-slim']);
  });

  it('copies only sources that are in the build context (tracked by git, not in .dockerignore)', () => {
    const keep = contextFilter(read('.dockerignore'));
    const tracked = execFileSync('git', ['ls-files', '-z', '--cached'], { cwd: ROOT, encoding: 'utf8' })
      .split('\0')
      .filter((path) => path !== '' && keep(path));
    const copies = stages.flatMap((stage) => stage.steps.flatMap((step) => (step.kind === 'COPY' && step.copy.from === undefined ? step.copy.sources : [])));
    expect(copies).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'tsconfig.build.json', 'src', 'jobs', 'examples']));
    for (const source of copies) expect(contextMatches(tracked, source).length, `COPY ${source}`).toBeGreaterThan(0);
  });

  it('copies every directory the production build compiles, and neither bench nor test', () => {
    const copied = build?.steps.flatMap((step) => (step.kind === 'COPY' ? step.copy.sources : [])) ?? [];
    expect(buildConfig.include).toEqual(['src', 'jobs']);
    for (const dir of buildConfig.include ?? []) expect(copied).toContain(dir);
    expect(copied.filter((source) => /^(\.\/)?(bench|test)(\/|$)/.test(source))).toEqual([]);
  });

  it('builds with `npm run build`, whose tsconfig emits the declarations the package exports', () => {
    const runs = build?.steps.flatMap((step) => (step.kind === 'RUN' ? step.command : [])) ?? [];
    expect(runs.join('\n')).toMatch(/npm ci\b/);
    expect(runs.join('\n')).toMatch(/npm run build\b/);
    expect(runs.join('\n')).toMatch(/npm prune --omit=dev\b/);
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    expect(buildConfig.compilerOptions?.declaration).toBe(true);
  });

  it('runs the CLI with the production ENV and probes the admin port ADMIN_PORT names', () => {
    expect(final?.entrypoint).toEqual(['node', 'dist/src/cli.js']);
    expect(final?.cmd).toEqual(['worker']);
    expect(final?.env).toMatchObject({ NODE_ENV: 'production', NODE_OPTIONS: '--max-old-space-size=160' });
    expect(final?.healthcheck).toMatch(/process\.env\.ADMIN_PORT \|\| '9464'/);
    expect(final?.healthcheck).not.toMatch(/127\.0\.0\.1:9464/);
  });
});

describe('the production build (tsconfig.build.json)', () => {
  const sources = productionSources();

  it('imports nothing outside src and jobs (no test support, no bench)', () => {
    expect(sources.length).toBeGreaterThan(50);
    const outside: string[] = [];
    for (const file of sources) {
      for (const specifier of specifiers(read(file)).filter((s) => s.startsWith('.'))) {
        const target = relative(ROOT, resolve(dirname(join(ROOT, file)), specifier)).split(sep).join('/');
        if (!/^(src|jobs)\//.test(target)) outside.push(`${file} → ${specifier}`);
      }
    }
    expect(outside).toEqual([]);
  });

  it('imports only Node built-ins and production dependencies (npm prune --omit=dev keeps them)', () => {
    const builtins = new Set(builtinModules);
    const dev: string[] = [];
    const unknown: string[] = [];
    const seen = new Set<string>();
    for (const file of sources) {
      for (const specifier of specifiers(read(file)).filter((s) => !s.startsWith('.'))) {
        if (specifier.startsWith('node:') || builtins.has(specifier)) continue;
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] ?? '');
        // A development dependency the code loads only where it is installed (pino-pretty, by
        // createRequire in a try) is not an import: it does not show here.
        seen.add(name);
        if (pkg.dependencies[name] !== undefined) continue;
        (pkg.devDependencies[name] !== undefined ? dev : unknown).push(`${file} → ${specifier}`);
      }
    }
    expect([...seen]).toEqual(expect.arrayContaining(['bullmq', 'commander', 'ioredis', '@aws-sdk/client-s3']));
    expect(dev).toEqual([]);
    expect(unknown).toEqual([]);
  });

  it('leaves bench to its own build (npm run bench), which may use test support', () => {
    const benchConfig = JSON.parse(read('tsconfig.bench.json')) as Tsconfig;
    expect(benchConfig.include).toEqual(expect.arrayContaining(['src', 'jobs', 'bench']));
    expect(pkg.scripts.bench).toMatch(/^npm run build:bench\b/);
    expect(pkg.scripts['build:bench']).toBe('tsc -p tsconfig.bench.json');
  });
});

describe('docker-compose.yml', () => {
  it('pins every image by version (no :latest, no bare major)', () => {
    const compose = parse(read('docker-compose.yml')) as { services: Record<string, { image?: string; build?: unknown }> };
    const images = Object.entries(compose.services).flatMap(([name, service]) => (service.image ? [[name, service.image] as const] : []));
    expect(images.length).toBeGreaterThan(0);
    for (const [name, image] of images) {
      const tag = /:([^/:@]+)$/.exec(image)?.[1] ?? '';
      expect(tag, `${name}: ${image}`).not.toBe('latest');
      // A full version (7.4.6-alpine) or a dated release (RELEASE.2025-…), not a moving major (7-alpine).
      expect(tag, `${name}: ${image}`).toMatch(/^(\d+\.\d+\.\d+|RELEASE\.\d{4}-\d{2}-\d{2}T)/);
    }
  });
});

describe('.ci/dockerfile.mjs reads Dockerfiles the way BuildKit does', () => {
  it('joins continuations and drops comment lines inside them', () => {
    const parsed = instructions('FROM a\n# c\nENV A=1 \\\n    # inside\n    B="two words"\nRUN echo \\\n  hi\n');
    expect(parsed.map(({ keyword, args }) => [keyword, args])).toEqual([
      ['FROM', 'a'],
      ['ENV', 'A=1 B="two words"'],
      ['RUN', 'echo hi'],
    ]);
    expect(parseDockerfile('FROM a\nENV A=1 \\\n  # x\n  B="two words" C=${A}x\n')[0]?.env).toEqual({ A: '1', B: 'two words', C: '1x' });
  });

  it('splits words with quotes', () => {
    expect(words(`a "b c" 'd e' f\\ g`)).toEqual(['a', 'b c', 'd e', 'f g']);
  });

  it('follows WORKDIR, COPY --from and exec-form ENTRYPOINT', () => {
    const [, second] = parseDockerfile('FROM x AS b\nWORKDIR /app\nFROM y\nWORKDIR /srv\nWORKDIR sub\nCOPY --from=b --chown=u:u /app/dist ./dist\nENTRYPOINT ["node", "a.js"]\n');
    expect(second?.workdir).toBe('/srv/sub');
    expect(second?.steps).toEqual([{ kind: 'COPY', copy: { from: 'b', sources: ['/app/dist'], dest: './dist', line: 6 }, workdir: '/srv/sub' }]);
    expect(second?.entrypoint).toEqual(['node', 'a.js']);
  });

  it('refuses instructions it cannot replay', () => {
    expect(() => parseDockerfile('FROM x\nADD https://example.com/a /a\n')).toThrow(/ADD is not supported/);
    expect(() => parseDockerfile('FROM x\nRUN --mount=type=cache,target=/root/.npm npm ci\n')).toThrow(/RUN --mount/);
  });

  it('applies .dockerignore like Docker: root-relative patterns, directories with their contents, ! exceptions', () => {
    const keep = contextFilter('node_modules\ndist\nbench/results\n*.log\n**/*.tmp\n!keep.tmp\n');
    expect(keep('src/cli.ts')).toBe(true);
    expect(keep('node_modules/x/index.js')).toBe(false);
    expect(keep('bench/results/a.json')).toBe(false);
    expect(keep('bench/run.ts')).toBe(true);
    expect(keep('a.log')).toBe(false);
    expect(keep('src/a.log')).toBe(true);
    expect(keep('src/deep/x.tmp')).toBe(false);
    expect(keep('keep.tmp')).toBe(true);
  });

  it('resolves COPY sources: a file by its name, a directory by its contents', () => {
    const files = ['package.json', 'src/cli.ts', 'src/a/b.ts', 'srcx/c.ts'];
    expect(contextMatches(files, 'package.json')).toEqual([{ path: 'package.json', relative: 'package.json' }]);
    expect(contextMatches(files, './src')).toEqual([
      { path: 'src/cli.ts', relative: 'cli.ts' },
      { path: 'src/a/b.ts', relative: 'a/b.ts' },
    ]);
    expect(contextMatches(files, 'src/*.ts')).toEqual([{ path: 'src/cli.ts', relative: 'cli.ts' }]);
  });
});
