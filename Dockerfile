# syntax=docker/dockerfile:1
# authd container image: build with dev dependencies, run with production dependencies only.
#   docker build -t authd .
#   docker run -p 3000:3000 -v authd-data:/data authd
# Migrate only, then exit (e.g. with MIGRATE_ON_START=false):  docker run --rm -e DATABASE_URL=postgresql://… authd node dist/cli.js migrate

# ---- build: install everything, generate the Prisma client, compile TypeScript ----------------
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
# Dependency install scripts are skipped (as this project's npm allowScripts list does): the
# npm in node:20-slim would otherwise run @prisma/engines' postinstall, which downloads engine
# binaries that the Rust-free client (engineType "client") never uses. Our own postinstall,
# `prisma generate`, is then run explicitly; it needs only the schema and prisma.config.ts.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npx prisma generate
COPY tsconfig.json ./
COPY src ./src
# tsc compiles src/ including the generated client (src/generated -> dist/generated).
RUN npm run build

# ---- runtime: production dependencies, compiled code, migrations --------------------------------
FROM node:20-slim AS runtime
ENV NODE_ENV=production DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the postinstall `prisma generate` needs the prisma CLI, a devDependency; the
# generated client is already compiled into dist/generated. --omit=optional: npm would otherwise
# keep the prisma CLI and TypeScript (~120 MB) as optional peers of @prisma/client; the only other
# optional package, pg-cloudflare, is for Cloudflare Workers. bcrypt is then rebuilt alone so its
# native binding (shipped prebuilt in the package) is in place.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
 && npm rebuild bcrypt \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
# The server applies these at start (MIGRATE_ON_START=true), or `node dist/cli.js migrate` does.
COPY prisma/migrations ./prisma/migrations
# DATA_DIR holds the embedded database and the generated development keys; owned by the
# unprivileged user before it becomes a volume.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
# node:20-slim has no curl: probe /healthz with Node's fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/server.js"]
