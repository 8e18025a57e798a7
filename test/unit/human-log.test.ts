import { describe, expect, it } from 'vitest';
import { createLogger, humanLines } from '../../src/ops/logger.js';

/** What a person reads on stderr from the commands they run: one line a log entry, with its cause. */
describe('human log lines', () => {
  const capture = () => {
    let text = '';
    const stream = { write: (chunk: string) => ((text += chunk), true) } as unknown as NodeJS.WritableStream;
    return { log: createLogger('info', { destination: humanLines(stream) }), text: () => text };
  };

  it('prints the level and message, the reason and the error when given, on one line', () => {
    const { log, text } = capture();
    log.warn({ reason: 'the run moved on' }, 'job failed; BullMQ will retry it');
    log.error({ err: new Error('connect ECONNREFUSED\n    at somewhere') }, 'export run failed');
    log.warn('two\nlines');
    log.warn(new Error('alone'));
    log.info({ secretAccessKey: 'x' }, 'nothing secret here');
    expect(text()).toBe(
      [
        'cognito-export: warning: job failed; BullMQ will retry it: the run moved on',
        'cognito-export: error: export run failed: connect ECONNREFUSED at somewhere',
        'cognito-export: warning: two lines',
        'cognito-export: warning: alone',
        'cognito-export: info: nothing secret here',
        '',
      ].join('\n'),
    );
  });
});
