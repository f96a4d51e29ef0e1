// `authd/verifier/fastify` (package.json "exports"): re-exports @authd/verifier/fastify
// (packages/verifier), the Fastify plugin, with its request.authd / app.requireAuthd types.
export * from '@authd/verifier/fastify'
export { default } from '@authd/verifier/fastify'
