// tap "coverage-map": what every test file's coverage counts, so the figures (and the floor in
// package.json) are about authd itself: src/ and the verifier package that services install
// (packages/verifier, which the tests import from its source), without Prisma's generated client,
// test helpers, examples or bench code that the tests also load.
export default () => ['src/*.ts', 'src/!(generated)/**/*.ts', 'packages/verifier/src/**/*.ts']
