// Tests that need a program from outside node (shellcheck, systemd-analyze,
// ssh-keygen, ...). On a workstation a missing program skips the test and
// says which package brings it. Under CI=true scripts/setup.sh has installed
// every one of them, so a missing program is a broken setup: the test fails
// instead of passing quietly with nothing checked.
import fs from "node:fs";
import path from "node:path";
import type { TestContext } from "node:test";

/** "X is not installed (apt-get install Y)" when `tool` is not on PATH, else undefined. */
export function missingTool(tool: string, debianPackage: string): string | undefined {
  const found = (process.env.PATH ?? "").split(path.delimiter).some((dir) => isExecutable(path.join(dir || ".", tool)));
  return found ? undefined : `${tool} is not installed (apt-get install ${debianPackage})`;
}

/**
 * True when `tool` is on PATH. Otherwise skips the test with the reason and
 * returns false, or, under CI=true, throws the reason so the test fails.
 */
export function requireTool(t: TestContext, tool: string, debianPackage: string): boolean {
  const reason = missingTool(tool, debianPackage);
  if (reason === undefined) return true;
  if (process.env.CI === "true") throw new Error(reason);
  t.skip(reason);
  return false;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
