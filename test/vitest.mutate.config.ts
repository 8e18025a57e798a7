import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The tests `npm run mutate` (Stryker, see stryker.config.json and docs/mutation-testing.md) runs
 * against each mutant: the unit tests and the fast integration tests that reach the data-loss modules.
 * It lives in test/ so that tsconfig.json (and so `npm run lint`'s typed ESLint) covers it.
 *
 * - No globalSetup: none of these tests starts the built CLI, so `dist/` is not built (a mutant is
 *   never compiled into it, and each run saves the tsc build).
 * - Stryker's vitest runner forces the `threads` pool, and a worker thread rejects
 *   `--openssl-legacy-provider` in `execArgv` (ERR_WORKER_INVALID_EXEC_ARGV). Under Stryker the flag is
 *   given to the whole test-runner process instead (`testRunnerNodeArgs`), which the threads share;
 *   run by hand (`npx vitest run -c test/vitest.mutate.config.ts`, forks pool) it stays in `execArgv`.
 */
const underStryker = process.env.STRYKER_MUTATOR_WORKER !== undefined;

export default defineConfig({
  // The project root, not test/ (where this file is).
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: [
      'test/unit/**/*.test.ts',
      // Fast integration tests (seconds each) that exercise the scoped modules.
      'test/integration/limiter-script.test.ts',
      'test/integration/retention.test.ts',
      'test/integration/support-pointer-invariant.test.ts',
    ],
    // It sets process.umask, which throws in the worker threads Stryker's vitest runner forces: the
    // whole-scope run would stop at its initial test run. It checks file modes, not the modules in scope.
    exclude: ['test/unit/file-modes.test.ts'],
    maxWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    // s3rver encrypts listing continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider.
    execArgv: underStryker ? [] : ['--openssl-legacy-provider'],
  },
});
