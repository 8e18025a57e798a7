# syntax=docker/dockerfile:1
# cognito-export: the worker, CLI and emulator in one image.
#   docker build -t cognito-export .
#   docker run --rm -e REDIS_URL=redis://redis:6379 cognito-export worker
# No Docker at hand? `npm run check:image` (.ci/image-check.mjs) replays this file's COPY, RUN and ENV
# lines in temporary directories and runs the entrypoint; CI runs it, so keep this file within what it
# understands (FROM … AS, WORKDIR, COPY [--from] [--chown], RUN, ENV, USER, EXPOSE, HEALTHCHECK,
# ENTRYPOINT, CMD).

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
# The product only: tsconfig.build.json compiles src and jobs (bench and test have their own builds).
COPY src ./src
COPY jobs ./jobs
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    # Keeps a busy worker near 150 MB of RSS; V8 otherwise grows the heap with the allocation rate.
    NODE_OPTIONS=--max-old-space-size=160 \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node examples ./examples
USER node
EXPOSE 9464
# The worker's admin port: ADMIN_PORT when the container sets it, else the default. ADMIN_PORT=off
# (no admin port) leaves nothing to probe, so it counts as healthy.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
  CMD node -e "const p = process.env.ADMIN_PORT || '9464'; if (p === 'off') process.exit(0); fetch('http://127.0.0.1:' + p + '/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["worker"]
