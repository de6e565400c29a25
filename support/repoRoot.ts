// The repository's root directory, for every part that runs from dist/
// (lab, bench, cli, tests). Compiled, this file is dist/support/repoRoot.js,
// so the root is two levels up; keeping the one definition here means moving
// a file never silently changes what "the root" is for it.
import path from "node:path";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
