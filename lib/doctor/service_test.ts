import assert from "node:assert/strict";
import { checkService } from "./service.ts";
import type { ServiceState } from "../service/mod.ts";
import { UnsupportedServiceError } from "../service/mod.ts";

function state(overrides: Partial<ServiceState>): () => Promise<ServiceState> {
  return () =>
    Promise.resolve({
      manager: "systemd",
      scope: "user",
      name: "hark.service",
      path: "/home/u/.config/systemd/user/hark.service",
      installed: true,
      enabled: true,
      running: true,
      status: "active (running)",
      command: null,
      stateDir: "/home/u/.local/state/hark",
      logFile: null,
      logs: [],
      notes: [],
      ...overrides,
    });
}

const hint = () => "systemctl --user start hark.service";
const STATE_DIR = "/home/u/.local/state/hark";

Deno.test("the service check: not installed, stopped, another state dir, not enabled, running", async () => {
  let finding = await checkService(STATE_DIR, state({ installed: false, enabled: null, running: null }), hint);
  assert.equal(finding.verdict, "warn");
  assert.match(finding.detail, /^not installed \(\/home\/u\/.config\/systemd\/user\/hark.service\)/);
  assert.equal(finding.fix, "hark service install");

  finding = await checkService(STATE_DIR, state({ running: false, status: "failed (failed)" }), hint);
  assert.equal(finding.verdict, "warn");
  assert.match(finding.detail, /but not running \(failed \(failed\)\)/);
  assert.match(finding.fix!, /^start it: systemctl --user start hark.service; `hark service status`/);

  finding = await checkService("/srv/other", state({}), hint);
  assert.equal(finding.verdict, "warn");
  assert.match(finding.detail, /for state dir \/home\/u\/.local\/state\/hark, not \/srv\/other/);

  finding = await checkService(STATE_DIR, state({ enabled: false }), hint);
  assert.equal(finding.verdict, "warn");
  assert.match(finding.detail, /not enabled at login/);

  finding = await checkService(STATE_DIR + "/", state({ notes: ["lingering is off"] }), hint);
  assert.equal(finding.verdict, "ok");
  assert.equal(finding.detail, "installed (/home/u/.config/systemd/user/hark.service), running; lingering is off");
});

Deno.test("on a platform without a service manager the check says so and passes", async () => {
  const finding = await checkService(
    STATE_DIR,
    () => Promise.reject(new UnsupportedServiceError("hark service supports Linux, macOS and Windows, not freebsd")),
    hint,
  );
  assert.equal(finding.verdict, "ok");
  assert.match(finding.detail, /not freebsd/);
});
