// A script that hangs on a real box is stopped at host.commandTimeoutSeconds,
// with every process it started (issue 15, item 3): the run fails naming the
// step and the limit, and nothing of it is left running on the gateway.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Lab, labUp } from "../../lab/lab";
import { ScriptError, SshPool } from "../../provider/ssh";

let lab: Lab;
const pool = new SshPool({ connectTimeoutMs: 10_000 });

before(async () => {
  lab = await labUp({ guard: true, log: () => {} });
});

after(async () => {
  await pool.close();
  await lab?.down();
});

test("a hung script and its children are stopped at the limit, and the error says so", { timeout: 60_000 }, async () => {
  const conn = {
    ...lab.providerConnection(),
    commandTimeoutSeconds: 5,
  };
  // A child that would outlive its shell, and the shell itself hanging: a stuck `nft`, say.
  const hung = "sleep 333 &\nsleep 334\n";
  const err = await pool.runChecked(conn, hung, "apply Hung thing").then(
    () => assert.fail("the hung script returned"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ScriptError, String(err));
  assert.match(
    err.message,
    /step "apply Hung thing" did not finish within 5 s \(host\.commandTimeoutSeconds\); its processes on the box were stopped/,
  );
  const left = await lab.exec("gw", "ps -eo args | grep -c '^sleep 33[34]' || true", { check: true });
  assert.equal(left.stdout.trim(), "0", "no process of the script is left on the gateway");
});
