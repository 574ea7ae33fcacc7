// Which compiled test files make up `npm run test:unit`: the tests that need no root, no daemons
// (Docker, QEMU, PostgreSQL), no `shoal serve` process and no tools beyond Node and /bin/sh, and
// run in seconds as any user. `npm test` runs every test file; this only picks a subset.
//
// A file is a unit test when its path (below dist/, without ".test.js") starts with one of
// UNIT_PATHS and with none of NOT_UNIT. So a new test file in a unit folder is a unit test: if it
// needs a daemon or root, add it to NOT_UNIT (and `npm run test:unit` as a non-root user without
// daemons says so by failing). test/test-groups.test.ts checks that every entry still matches a file.

/** Folders (ending in "/") and files whose tests need nothing but Node. */
export const UNIT_PATHS = [
  'src/contract/contract',
  'src/lib/',
  'src/client/',
  'src/cli/',
  'src/api/',
  'src/core/',
  'src/main/',
  'src/store/open-store',
  'src/store/testing/',
  'src/drivers/shared/',
  'src/drivers/test/',
  'src/drivers/native/cgroups', // a fake cgroup v2 tree
  'src/drivers/native/docs',
  'test/import-rules',
  'test/readme',
  'test/test-groups',
  'test/security/fuzz-schema',
];

/** Inside those, what needs more: a real node process, PostgreSQL, or tools (xz, zstd). */
export const NOT_UNIT = [
  'src/api/api-user-keys', // OpenSSH's ssh-keygen (openssh-client)
  'src/cli/cli-e2e', // `shoal serve` processes
  'src/core/core-cluster', // PostgreSQL
  'src/core/lifecycle-store-failures', // SQLite and PostgreSQL
  'src/core/nodes/lost-nodes', // SQLite and PostgreSQL
  'src/core/users/user-lifecycle', // PostgreSQL (revocation across two nodes)
  'src/drivers/shared/image-cache', // xz and zstd
];

/** `rel`: a test file's path below dist/, e.g. src/cli/cli.test.js. */
export function isUnitTest(rel) {
  const stem = rel.replace(/\.test\.js$/, '');
  return UNIT_PATHS.some((p) => stem.startsWith(p)) && !NOT_UNIT.some((p) => stem.startsWith(p));
}
