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
export function createLogger(level: LevelWithSilent, options: { pretty?: boolean; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
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

export type { Logger };
