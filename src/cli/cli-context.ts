import { ConfigError, loadConfig, type AppConfig } from '../config/app-config.js';
import { ExportRuntime, type RuntimeOptions } from '../../jobs/export-runtime.js';
import { createLogger, humanLines } from '../ops/logger.js';
import { connectRedis, evictionWarning, RedisDatabaseError, RedisUnavailableError, silenceBullmqEvictionWarnings, type RedisClient } from '../redis/redis-connection.js';
import { ExportQueues } from '../../jobs/queues.js';

/** Exit code for bad flags, arguments or environment values. */
export const EXIT_USAGE = 2;
/** Exit code for a run or command that failed. */
export const EXIT_FAILURE = 1;

/** A command failed in a way the user can act on: printed as one line, then the process exits. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
  }
}

/** What a command that talks to Redis works with. */
export interface CliContext {
  readonly config: AppConfig;
  readonly redis: RedisClient;
  readonly runtime: ExportRuntime;
  readonly queues: ExportQueues;
  close(): Promise<void>;
}

/** Reads the environment, or fails with exit code 2 naming the bad variable. */
export function readConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, EXIT_USAGE);
    throw error;
  }
}

/**
 * For every command but `worker`: their output is for a person or a script (a progress bar, a
 * manifest URL, a status table), and info log lines (JSON when stderr is not a terminal) would be
 * mixed into it, so they log warnings only unless LOG_LEVEL says otherwise.
 */
export function quietUnlessAsked(config: AppConfig, env: NodeJS.ProcessEnv = process.env): AppConfig {
  return env.LOG_LEVEL ? config : { ...config, logLevel: 'warn', humanLog: true };
}

/** Opens Redis, the runtime and the queues for a command. */
export async function openContext(config: AppConfig, options: RuntimeOptions = {}): Promise<CliContext> {
  let redis: RedisClient;
  try {
    redis = await connectRedis(config);
  } catch (error) {
    if (error instanceof RedisUnavailableError) throw new CliError(error.message);
    if (error instanceof RedisDatabaseError) throw new CliError(error.message, EXIT_USAGE);
    throw error;
  }
  const log = createLogger(config.logLevel, config.humanLog ? { destination: humanLines(process.stderr) } : {});
  const warning = await evictionWarning(redis);
  // Said once here, in the log; BullMQ would print it again for each of its connections.
  silenceBullmqEvictionWarnings();
  if (warning) log.warn(warning);
  const runtime = new ExportRuntime(config, redis, log, options);
  const queues = new ExportQueues(runtime);
  return {
    config,
    redis,
    runtime,
    queues,
    close: async () => {
      await queues.close();
      runtime.destroy();
      await redis.quit().catch(() => redis.disconnect());
      log.flush();
    },
  };
}
