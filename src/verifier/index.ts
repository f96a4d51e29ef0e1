// `authd/verifier` (package.json "exports"): the verifier is the workspace package @authd/verifier
// (packages/verifier), which services install alone; this path stays for those who imported it here.
export * from '@authd/verifier'
