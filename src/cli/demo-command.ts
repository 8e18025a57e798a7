import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { Command } from 'commander';
import { CognitoEmulator } from '../emulator/index.js';
import { buildRunSpec } from '../runs/export-request.js';
import type { Manifest } from '../storage/manifest.js';
import { openContext, quietUnlessAsked, readConfig } from './cli-context.js';
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
      const destination = flags.destination ?? pathToFileURL(resolve('exports')).href;
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
          const manifest = JSON.parse(await readFile(fileURLToPath(manifestUrl), 'utf8')) as Manifest;
          const shown = { ...manifest, files: [...manifest.files.slice(0, 3), ...(manifest.files.length > 3 ? [`… ${manifest.files.length - 3} more`] : [])] };
          process.stdout.write(`\nmanifest (${manifestUrl}):\n${JSON.stringify(shown, null, 2)}\n`);
          process.stdout.write(`\nthree sample lines of ${manifest.files[0]?.url ?? '(no files)'}:\n${await sampleLines(manifest, 3)}`);
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

async function sampleLines(manifest: Manifest, count: number): Promise<string> {
  const first = manifest.files[0];
  if (!first) return '(the pool is empty)\n';
  const raw = await readFile(fileURLToPath(first.url));
  const text = (manifest.compression === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
  return `${text.split('\n').slice(0, count).join('\n')}\n`;
}
