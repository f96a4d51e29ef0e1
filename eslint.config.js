// The linter CI runs (`npm run lint`): neostandard, the style the Fastify team's own projects use.
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'packages/*/dist/**', 'src/generated/**', 'examples/**', 'coverage/**', '.tap/**']
  }),
  {
    rules: {
      // `void promise` as a statement is how a fire-and-forget call says so on purpose (a timer
      // callback, a hook that must not wait); as an expression it stays an error.
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
