# syntax=docker/dockerfile:1
# authd container image: build with dev dependencies, run with production dependencies only.
#   docker build -t authd .
#   docker run --init -p 3000:3000 -v authd-data:/data -v "$PWD/secrets:/run/secrets:ro" --env-file authd.env \
#     -e SIGNING_KEYS_FILE=/run/secrets/signing-keys.json -e SMTP_URL=smtp://user:pass@mail.example.com:587 \
#     -e PUBLIC_URL=https://auth.example.com authd
#   (authd.env holding REFRESH_TOKEN_SECRET=…; the key file mode 0600, owned by uid 1000)
#   (NODE_ENV=production: signing keys and REFRESH_TOKEN_SECRET from configuration, or
#   -e ALLOW_GENERATED_KEYS=true to generate them into /data/keys for a try-out; SMTP_URL for
#   verification/reset mail, or -e EMAIL_VERIFICATION=none: no mail at all; PUBLIC_URL, the tokens'
#   issuer. docs/operations.md "Docker".)
# Migrate only, then exit (e.g. with MIGRATE_ON_START=false), with the service's settings:
#   docker run --rm --env-file authd.env authd node dist/cli.js migrate
# With PostgreSQL and Redis: compose.yaml (docker compose up).
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: install everything, generate the Prisma client, compile TypeScript ----------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
# Dependency install scripts are skipped (as this project's npm allowScripts list does): the
# npm in the Node image would otherwise run @prisma/engines' postinstall, which downloads engine
# binaries that the Rust-free client (engineType "client") never uses. Our own postinstall,
# `prisma generate`, is then run explicitly; it needs only the schema and prisma.config.ts.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npx prisma generate
COPY tsconfig.json ./
COPY src ./src
# The verifier package: src/ takes its types from it (the link npm ci made, node_modules/@authd/verifier,
# points here), and `npm run build` compiles it as well, for dist/verifier's re-exports.
COPY packages/verifier ./packages/verifier
COPY scripts/build.mjs ./scripts/build.mjs
# tsc compiles src/ including the generated client (src/generated -> dist/generated), so the
# runtime stage needs neither the Prisma CLI nor the schema. The build also makes
# dist/pglite-template (src/db/pglite.ts): the migrated embedded store that a first start copies
# instead of running initdb (a few seconds and ~900 MB of memory, paid here once, not at every
# first start of a container).
RUN npm run build

# ---- runtime: production dependencies, compiled code, migrations --------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production DATA_DIR=/data HOST=0.0.0.0 PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the postinstall `prisma generate` needs the prisma CLI, a devDependency; the
# generated client is already compiled into dist/generated. --omit=optional: npm would otherwise
# keep the prisma CLI and TypeScript (~120 MB) as optional peers of @prisma/client; the only other
# optional package, pg-cloudflare, is for Cloudflare Workers. bcrypt is then rebuilt alone: its
# install script only checks that its prebuilt native binding (shipped in the package) loads.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
 && npm rebuild bcrypt \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
# @node-rs/argon2 (to verify the argon2 hashes of users imported from Django) loads its native
# binding from a platform package (@node-rs/argon2-linux-x64-gnu, …), an optional dependency that
# --omit=optional leaves out: take the build stage's copy (same base image, same lockfile).
COPY --from=build /app/node_modules/@node-rs ./node_modules/@node-rs
# src/db/migrate.ts (dist/db/migrate.js) reads ../../prisma/migrations, i.e. /app/prisma/migrations:
# the server applies them at start (MIGRATE_ON_START=true), or `node dist/cli.js migrate` does.
COPY prisma/migrations ./prisma/migrations
# /app stays root-owned (the process cannot change its own code). DATA_DIR holds the embedded
# database and, with ALLOW_GENERATED_KEYS=true, the generated keys (DATA_DIR/keys), owned by the
# unprivileged user before it becomes a volume, so a new named volume inherits that ownership.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
# node:20 slim images have no curl: probe /healthz with Node's fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node is the container's main process and gets SIGTERM itself; src/server.ts then
# closes gracefully (close-with-grace: in-flight requests finish, at most 10 s), so give
# `docker stop` more than that (-t 15; compose.yaml sets stop_grace_period). `--init` (compose:
# init: true) adds a tiny init as PID 1 that forwards signals and reaps zombies.
STOPSIGNAL SIGTERM
CMD ["node", "dist/server.js"]
