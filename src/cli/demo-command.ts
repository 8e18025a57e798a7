import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { createGunzip } from 'node:zlib';
import type { Command } from 'commander';
import { CognitoEmulator } from '../emulator/index.js';
import { buildRunSpec } from '../runs/export-request.js';
import { formatDestination, parseDestination } from '../storage/destination.js';
import type { Manifest } from '../storage/manifest.js';
import { CliError, EXIT_USAGE, openContext, quietUnlessAsked, readConfig } from './cli-context.js';
import { follow, InlineRun, positiveInteger } from './export-command.js';

interface DemoFlags {
  users: number;
  destination?: string;
}

/**
 * Adds `demo`: the whole pipeline on local defaults. Starts the Cognito emulator with a seeded pool,
 * exports it through the real queue and an in-process worker (Redis at REDIS_URL) to ./exports,
 * then prints the manifest and three sample lines.
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('export a seeded emulator pool to ./exports through the real queue and worker')
    .option('--users <n>', 'users in the demo pool', positiveInteger, 20_000)
    .option('--destination <url>', 'where to write (default: file://$PWD/exports)')
    .action(async (flags: DemoFlags) => {
      const config = readConfig();
      // Checked before anything starts: a bad destination is a usage error, not a failed run.
      let destination: string;
      try {
        destination = formatDestination(parseDestination(flags.destination ?? pathToFileURL(resolve('exports')).href));
      } catch (error) {
        throw new CliError((error as Error).message, EXIT_USAGE);
      }
      const emulator = await CognitoEmulator.start({ port: 0, faults: { latencyMs: 20, jitterMs: 10 } });
      try {
        const userPoolId = emulator.createPoolWithUsers({ users: flags.users, seed: 42, name: 'demo' });
        process.stderr.write(`emulator at ${emulator.url}: pool ${userPoolId} with ${flags.users} users\n`);
        const context = await openContext(
          { ...quietUnlessAsked(config), cognitoEndpoint: emulator.url },
          { cognito: { credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' } } },
        );
        // Inline: the demo's worker serves its own run only, never a deployment's jobs on the same Redis.
        const inline = new InlineRun(context);
        try {
          const spec = buildRunSpec({ userPoolId, destination, region: emulator.region, trigger: 'demo', inline: true }, config);
          const requested = await inline.request(spec);
          const status = await follow(context, requested.snapshotId, true);
          const manifestUrl = status.manifestUrl ?? '';
          const sink = context.runtime.sink(destination);
          const keyOf = (url: string) => url.slice(sink.rootUrl.replace(/\/$/, '').length + 1);
          const manifest = JSON.parse((await sink.getText(keyOf(manifestUrl))) ?? '{}') as Manifest;
          const shown = { ...manifest, files: [...manifest.files.slice(0, 3), ...(manifest.files.length > 3 ? [`… ${manifest.files.length - 3} more`] : [])] };
          process.stdout.write(`\nmanifest (${manifestUrl}):\n${JSON.stringify(shown, null, 2)}\n`);
          const first = manifest.files[0];
          const sample = first ? await sampleLines(await sink.readStream(keyOf(first.url)), manifest.compression === 'gzip', 3) : '(the pool is empty)\n';
          process.stdout.write(`\nthree sample lines of ${first?.url ?? '(no files)'}:\n${sample}`);
          process.stdout.write(`\n${manifestUrl}\n`);
        } finally {
          await inline.close();
          await context.close();
        }
      } finally {
        await emulator.stop();
      }
    });
}

/** The first `count` lines of a data file, read only as far as they go. */
async function sampleLines(stream: Readable | undefined, gzip: boolean, count: number): Promise<string> {
  if (!stream) return '(the file is missing)\n';
  const lines = createInterface({ input: gzip ? stream.pipe(createGunzip()) : stream, crlfDelay: Infinity });
  const out: string[] = [];
  for await (const line of lines) {
    out.push(line);
    if (out.length >= count) break;
  }
  lines.close();
  stream.destroy();
  return `${out.join('\n')}\n`;
}
