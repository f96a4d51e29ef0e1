// Lets the Prisma CLI (migrate diff/deploy/status) run offline: it uses the WebAssembly
// schema engine through a driver adapter instead of downloading a native engine.
import path from 'node:path'
import type { PrismaConfig } from 'prisma'

export default {
  schema: path.join('prisma', 'schema.prisma'),
  experimental: { adapter: true },
  engine: 'js',
  async adapter () {
    // Like authd's own migrations (and Prisma's directUrl): around a connection pooler when one is set.
    const url = process.env.DIRECT_DATABASE_URL || process.env.DATABASE_URL
    if (url && /^postgres(ql)?:/.test(url)) {
      const { PrismaPg } = await import('@prisma/adapter-pg')
      return new PrismaPg({ connectionString: url })
    }
    const { PGlite } = await import('@electric-sql/pglite')
    const { PrismaPGlite } = await import('pglite-prisma-adapter')
    return new PrismaPGlite(new PGlite(url?.replace(/^pglite:\/\//, '') || './data/pglite'))
  }
} satisfies PrismaConfig
