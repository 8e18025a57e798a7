import { createRequire } from 'node:module';
import { pino, type LevelWithSilent, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import { redactTokens } from '../limits/error-classification.js';

/**
 * pino-pretty, where it is installed: a development dependency (a checkout after `npm ci`), not in
 * the production image (`npm prune --omit=dev`), whose logs go to a collector as JSON anyway.
 */
function prettyPrinter(): typeof PinoPretty | undefined {
  try {
    return createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  } catch {
    return undefined;
  }
}

/**
 * The process logger: JSON lines on stderr (stdout is kept for command output such as the manifest
 * URL), human-readable when stderr is a terminal and pino-pretty is installed. Credentials are redacted wherever they appear,
 * and nothing logs attribute values.
 */
export function createLogger(level: LevelWithSilent, options: { pretty?: boolean; name?: string; destination?: { write(line: string): unknown } } = {}): Logger {
  const usePretty = options.pretty ?? process.stderr.isTTY;
  const settings = {
    level,
    name: options.name ?? 'cognito-export',
    redact: {
      paths: ['*.secretAccessKey', '*.sessionToken', '*.credentials', '*.authorization', '*.token', '*.adminToken'],
      censor: '[redacted]',
    },
    // An error's message and stack can quote a pagination token (Cognito's invalid-marker message does).
    serializers: {
      err: (error: Error) => {
        const serialized = pino.stdSerializers.err(error);
        return { ...serialized, message: redactTokens(serialized.message), ...(serialized.stack ? { stack: redactTokens(serialized.stack) } : {}) };
      },
    },
  };
  if (options.destination) return pino(settings, options.destination);
  const pretty = usePretty ? prettyPrinter() : undefined;
  if (pretty !== undefined) {
    return pino(settings, pretty({ destination: 2, colorize: true, ignore: 'pid,hostname', sync: true }));
  }
  return pino(settings, pino.destination({ dest: 2, sync: false }));
}

/**
 * A destination that turns each JSON log line into one line for a person:
 * `cognito-export: warning: <msg>` (`: <error message>` when one is logged). For the commands a
 * person reads, where a JSON line amid their output is noise (see quietUnlessAsked).
 */
export function humanLines(stream: NodeJS.WritableStream): { write(line: string): boolean } {
  const names: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warning', 50: 'error', 60: 'fatal' };
  return {
    write(line: string): boolean {
      let entry: { level?: number; msg?: string; reason?: unknown; err?: { message?: string } };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return stream.write(line);
      }
      const level = names[entry.level ?? 30] ?? 'info';
      // The cause, where a log line names one: a `reason` field, an error's first line. One line always.
      const reason = typeof entry.reason === 'string' ? `: ${entry.reason}` : '';
      const error = entry.err?.message && entry.err.message !== entry.msg ? `: ${entry.err.message}` : '';
      return stream.write(`cognito-export: ${level}: ${`${entry.msg ?? ''}${reason}${error}`.replace(/\s*\n\s*/g, ' ')}\n`);
    },
  };
}

export type { Logger };
