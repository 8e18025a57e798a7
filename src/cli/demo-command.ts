import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminDeleteUserCommand,
  AdminDisableUserCommand,
  AdminRemoveUserFromGroupCommand,
  AdminUpdateUserAttributesCommand,
  type CognitoIdentityProviderClient,
} from '@aws-sdk/client-cognito-identity-provider';
import { InvalidArgumentError, type Command } from 'commander';
import { CognitoEmulator } from '../emulator/index.js';
import { buildRunSpec } from '../runs/export-request.js';
import { formatDestination, parseDestination } from '../storage/destination.js';
import type { Manifest } from '../storage/manifest.js';
import type { ObjectSink } from '../storage/object-sink.js';
import { DATA_FORMATS } from '../storage/output-layout.js';
import { readLines } from '../storage/record-lines.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE, openContext, quietUnlessAsked, readConfig, type CliContext } from './cli-context.js';
import { cancelRun } from '../../jobs/cancel-run.js';
import { deadRunReason } from '../../jobs/run-liveness.js';
import { isEnded } from '../runs/run-views.js';
import { follow, InlineRun, positiveInteger } from './export-command.js';

interface DemoFlags {
  users: number;
  change: number;
  destination?: string;
  format?: string;
}

/**
 * The demo pool's id: the same pool every time (same id, same seed, same users and groups), so a
 * second demo compares itself with the first one's snapshot and writes change tables.
 */
export const DEMO_POOL_ID = 'us-east-1_Demo0001';
/** The demo run's calls/s against its own emulator (the default limit, 25/s, is for a shared AWS quota). */
const DEMO_RATE_LIMIT_RPS = 100;
/** The exit code of a command stopped by Ctrl-C (as `follow` gives it). */
const INTERRUPTED = 130;
/** Groups seeded into the demo pool (one big group, `everyone`, and a tail). */
const DEMO_GROUPS = 20;

/**
 * Adds `demo`: the whole pipeline on local defaults. Starts the Cognito emulator with a seeded pool
 * (users, groups, memberships), optionally changes some of it through Cognito's Admin* calls
 * (`--change N`), exports it through the real queue and an in-process worker (Redis at REDIS_URL) to
 * ./exports, then prints the manifest and the first lines of every table, change tables included.
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('export a seeded emulator pool to ./exports through the real queue and worker')
    .option('--users <n>', 'users in the demo pool', positiveInteger, 20_000)
    .option('--change <n>', "before exporting, change n users of the demo pool through Cognito's Admin* calls (update, disable, delete, create, join or leave a group): the change tables then show them", nonNegativeInteger, 0)
    .option('--destination <url>', 'where to write (default: file://$PWD/exports)')
    .option('--format <format>', 'ndjson (the default) or parquet')
    .action(async (flags: DemoFlags) => {
      const config = readConfig();
      // Each change takes a user of its own (deleted ones are not picked again).
      if (flags.change >= flags.users) throw new CliError(`--change ${flags.change} must be below --users ${flags.users}: each change takes a user of its own`, EXIT_USAGE);
      if (flags.format !== undefined && !(DATA_FORMATS as readonly string[]).includes(flags.format)) {
        throw new CliError(`--format ${JSON.stringify(flags.format)} is not supported: expected ${DATA_FORMATS.join(' or ')}`, EXIT_USAGE);
      }
      // Checked before anything starts: a bad destination is a usage error, not a failed run.
      let destination: string;
      try {
        destination = formatDestination(parseDestination(flags.destination ?? pathToFileURL(resolve('exports')).href));
      } catch (error) {
        throw new CliError((error as Error).message, EXIT_USAGE);
      }
      const emulator = await CognitoEmulator.start({ port: 0, faults: { latencyMs: 20, jitterMs: 10 } });
      try {
        const userPoolId = emulator.createPoolWithUsers({ users: flags.users, seed: 42, name: 'demo', id: DEMO_POOL_ID, groups: Math.min(DEMO_GROUPS, flags.users) });
        process.stderr.write(`emulator at ${emulator.url}: pool ${userPoolId} with ${flags.users} users in ${emulator.listAllGroups(userPoolId).length} groups\n`);
        const context = await openContext(
          { ...quietUnlessAsked(config), cognitoEndpoint: emulator.url },
          { cognito: { credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' } } },
        );
        // Inline: the demo's worker serves its own run only, never a deployment's jobs on the same Redis.
        const inline = new InlineRun(context);
        try {
          await clearEarlierDemo(context, userPoolId);
          if (flags.change > 0) {
            const done = await changeUsers(context.runtime.cognito(emulator.region), emulator, userPoolId, flags.change);
            process.stderr.write(`changed ${flags.change} users through Cognito's Admin* calls: ${Object.entries(done).map(([kind, n]) => `${n} ${kind}`).join(', ')}\n`);
          }
          // The emulator has no quota and no apps to leave room for: the demo's run may go faster than COGNITO_RATE_LIMIT_RPS.
          const spec = buildRunSpec({ userPoolId, destination, format: flags.format, region: emulator.region, trigger: 'demo', inline: true, rateLimitRps: DEMO_RATE_LIMIT_RPS }, config);
          const requested = await inline.request(spec);
          let status;
          try {
            status = await follow(context, requested.snapshotId, true);
          } catch (error) {
            // Ctrl-C: nothing to resume (the emulator and its pool stop with this process), so the run ends here.
            if (!(error instanceof CliError) || error.exitCode !== INTERRUPTED) throw error;
            await cancelRun(context.runtime, requested.snapshotId);
            throw new CliError(`interrupted: the demo's export ${requested.snapshotId} was cancelled (its emulator stops with this process); run the demo again to start over`, INTERRUPTED);
          }
          const manifestUrl = status.manifestUrl ?? '';
          const sink = context.runtime.sink(destination);
          const keyOf = (url: string) => url.slice(sink.rootUrl.replace(/\/$/, '').length + 1);
          const manifest = JSON.parse((await sink.getText(keyOf(manifestUrl))) ?? '{}') as Manifest;
          process.stdout.write(`\nmanifest (${manifestUrl}):\n${JSON.stringify(shortened(manifest), null, 2)}\n`);
          for (const [table, { record_count: records, files }] of Object.entries(manifest.tables)) {
            const first = files.find((file) => file.records > 0);
            const sample = first ? await sampleLines(sink, keyOf(first.url), 2) : '';
            process.stdout.write(`\n${table}: ${records} records in ${files.length} files${first ? `; the first lines of ${first.url}:\n${sample}` : '\n'}`);
          }
          if (manifest.changes_since === null) {
            process.stdout.write(`\nno change tables: ${manifest.changes_reason ?? ''}; run \`npm run demo -- --change 25\` to change 25 users and export again\n`);
          }
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

/**
 * The demo pool's run in flight on this Redis, if any: another demo running now is refused (its
 * emulator holds another process's pool); one whose process stopped is cancelled, since its emulator
 * went with it and resuming it would mix two emulators' users in one snapshot.
 */
async function clearEarlierDemo(context: CliContext, userPoolId: string): Promise<void> {
  const active = (await context.runtime.runs.activeRuns())[userPoolId];
  if (active === undefined) return;
  const status = await context.runtime.runs.status(active);
  if (!status || isEnded(status.state)) return;
  const reason = await deadRunReason(context.runtime, context.queues, active);
  if (reason === undefined) {
    throw new CliError(`another demo is exporting pool ${userPoolId} on this Redis (export ${active}): wait for it to end, or cancel it with \`cognito-export cancel ${active}\``, EXIT_FAILURE);
  }
  await cancelRun(context.runtime, active);
  process.stderr.write(`cancelled export ${active}, an earlier demo that was stopped: its emulator went with it\n`);
}

/** An integer from 0. */
function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected an integer from 0, got ${JSON.stringify(value)}`);
  return n;
}

/** The manifest with at most three files listed per table (the rest counted), for reading on a terminal. */
function shortened(manifest: Manifest): unknown {
  const few = <T>(files: readonly T[]) => [...files.slice(0, 3), ...(files.length > 3 ? [`… ${files.length - 3} more`] : [])];
  return {
    ...manifest,
    files: few(manifest.files),
    tables: Object.fromEntries(Object.entries(manifest.tables).map(([table, entry]) => [table, { ...entry, files: few(entry.files) }])),
  };
}

/**
 * Changes `count` users of the pool the way an application does, through Cognito's Admin* calls on
 * the emulator's endpoint, in turn: an attribute updated, disabled, deleted, a new user created, added
 * to a group, removed from one. Deterministic: the same pool and count make the same changes (the
 * new users' subs aside, which Cognito draws). Returns how many of each it made.
 */
async function changeUsers(cognito: CognitoIdentityProviderClient, emulator: CognitoEmulator, userPoolId: string, count: number): Promise<Record<string, number>> {
  const users = emulator.listAllUsers(userPoolId);
  const groups = emulator.listAllGroups(userPoolId).map((group) => group.GroupName ?? '');
  const done: Record<string, number> = { updated: 0, disabled: 0, deleted: 0, created: 0, 'added to a group': 0, 'removed from a group': 0 };
  const step = Math.max(1, Math.floor(users.length / (count + 1)));
  for (let i = 0; i < count; i++) {
    const Username = users[(i * step) % Math.max(1, users.length)]?.Username ?? `demo-user-${i}`;
    const group = groups[i % Math.max(1, groups.length)] ?? '';
    switch (i % 6) {
      case 0:
        await cognito.send(new AdminUpdateUserAttributesCommand({ UserPoolId: userPoolId, Username, UserAttributes: [{ Name: 'given_name', Value: `Changed${i}` }] }));
        done.updated = (done.updated ?? 0) + 1;
        break;
      case 1:
        await cognito.send(new AdminDisableUserCommand({ UserPoolId: userPoolId, Username }));
        done.disabled = (done.disabled ?? 0) + 1;
        break;
      case 2:
        await cognito.send(new AdminDeleteUserCommand({ UserPoolId: userPoolId, Username }));
        done.deleted = (done.deleted ?? 0) + 1;
        break;
      case 3:
        await cognito.send(new AdminCreateUserCommand({ UserPoolId: userPoolId, Username: `demo-new-${i}`, MessageAction: 'SUPPRESS', UserAttributes: [{ Name: 'email', Value: `demo-new-${i}@example.com` }] }));
        done.created = (done.created ?? 0) + 1;
        break;
      case 4: {
        // A group the user is not in yet: adding a member twice changes nothing.
        const joins = groups.find((name) => !emulator.listAllMembers(userPoolId, name).some((member) => member.Username === Username));
        if (!joins) break;
        await cognito.send(new AdminAddUserToGroupCommand({ UserPoolId: userPoolId, Username, GroupName: joins }));
        done['added to a group'] = (done['added to a group'] ?? 0) + 1;
        break;
      }
      default: {
        const member = group ? emulator.listAllMembers(userPoolId, group)[0]?.Username : undefined;
        if (!member) break;
        await cognito.send(new AdminRemoveUserFromGroupCommand({ UserPoolId: userPoolId, Username: member, GroupName: group }));
        done['removed from a group'] = (done['removed from a group'] ?? 0) + 1;
      }
    }
  }
  return Object.fromEntries(Object.entries(done).filter(([, n]) => n > 0));
}

/** The first `count` records of a data file as NDJSON lines (a Parquet file's too), read only as far as they go. */
async function sampleLines(sink: ObjectSink, key: string, count: number): Promise<string> {
  const out: string[] = [];
  try {
    for await (const line of readLines(sink, key)) {
      out.push(line);
      if (out.length >= count) break;
    }
  } catch (error) {
    return `(${(error as Error).message})\n`;
  }
  return `${out.join('\n')}\n`;
}
