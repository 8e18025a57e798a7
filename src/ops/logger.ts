import { pino, type LevelWithSilent, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { redactTokens } from '../limits/error-classification.js';

/**
 * The process logger: JSON lines on stderr (stdout is kept for command output such as the manifest
 * URL), human-readable when stderr is a terminal. Credentials are redacted wherever they appear,
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
  if (usePretty) {
    return pino(settings, pretty({ destination: 2, colorize: true, ignore: 'pid,hostname', sync: true }));
  }
  return pino(settings, pino.destination({ dest: 2, sync: false }));
}

export type { Logger };
