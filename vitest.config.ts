import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Child-process tests run the built CLI: build it first, so a plain `npx vitest run` works too.
    globalSetup: ['test/global-setup.ts'],
    // Integration tests start servers and child processes; keep two files at a time on two cores.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    // s3rver encrypts listing continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider.
    execArgv: ['--openssl-legacy-provider'],
  },
});
