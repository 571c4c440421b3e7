import assert from "node:assert/strict";
import { execLine, execStartOf, parseExecLine, quoteExecArgument, quoteUnitPath, systemdUnit } from "./systemd_unit.ts";
import type { ServicePlan } from "./manager.ts";

Deno.test("quoteExecArgument() writes words systemd reads back unchanged", async (t) => {
  const cases: { name: string; arg: string; quoted: string }[] = [
    { name: "plain path", arg: "/usr/bin/hark", quoted: "/usr/bin/hark" },
    { name: "option", arg: "--state-dir", quoted: "--state-dir" },
    { name: "space", arg: "/home/ann/My State", quoted: '"/home/ann/My State"' },
    { name: "ampersand", arg: "/srv/a&b", quoted: '"/srv/a&b"' },
    { name: "percent is a specifier", arg: "/srv/100%", quoted: "/srv/100%%" },
    { name: "dollar is an environment variable", arg: "/srv/$HOME", quoted: "/srv/$$HOME" },
    { name: "quote and backslash", arg: 'a "b" \\c', quoted: '"a \\"b\\" \\\\c"' },
    { name: "single quote", arg: "Ann's", quoted: '"Ann\'s"' },
    { name: "newline", arg: "a\nb", quoted: '"a\\nb"' },
    { name: "empty", arg: "", quoted: '""' },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.equal(quoteExecArgument(c.arg), c.quoted);
      assert.deepEqual(parseExecLine(`/bin/program ${quoteExecArgument(c.arg)}`), ["/bin/program", c.arg]);
    });
  }
  await t.step("a whole command line round-trips", () => {
    const argv = cases.map((c) => c.arg);
    assert.deepEqual(parseExecLine(execLine(argv)), argv);
  });
  await t.step("the program is taken literally: its $ stays single", () => {
    assert.equal(quoteExecArgument("/opt/$x/hark", true), "/opt/$x/hark");
    assert.equal(execLine(["/opt/$x/hark", "$y"]), "/opt/$x/hark $$y");
    assert.deepEqual(parseExecLine("/opt/$x/hark $$y"), ["/opt/$x/hark", "$y"]);
  });
});

Deno.test("quoteUnitPath() quotes and marks optional paths", async (t) => {
  const cases: { name: string; path: string; optional: boolean; quoted: string }[] = [
    { name: "plain", path: "/home/ann/.local/state/hark", optional: false, quoted: "/home/ann/.local/state/hark" },
    { name: "space", path: "/srv/my logs", optional: false, quoted: '"/srv/my logs"' },
    { name: "optional", path: "/srv/logs", optional: true, quoted: "-/srv/logs" },
    { name: "optional with space", path: "/srv/a b", optional: true, quoted: '-"/srv/a b"' },
    { name: "percent", path: "/srv/100%", optional: false, quoted: "/srv/100%%" },
    // Path lists expand no environment variables: a $ stays single.
    { name: "dollar", path: "/srv/$x", optional: false, quoted: "/srv/$x" },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.equal(quoteUnitPath(c.path, c.optional), c.quoted));
  }
});

const plan: ServicePlan = {
  argv: ["/usr/bin/hark", "run", "--state-dir", "/home/ann/st", "--log-file", "/home/ann/st/hark.log"],
  stateDir: "/home/ann/st",
  logFile: "/home/ann/st/hark.log",
  sandbox: { writable: [], sharedTmp: [] },
};

Deno.test("systemdUnit() writes a user unit and a system unit", async (t) => {
  await t.step("user: session bus, default.target, no User=", () => {
    const unit = systemdUnit(plan, "user");
    assert.match(unit, /^Environment=DBUS_SESSION_BUS_ADDRESS=unix:path=%t\/bus$/m);
    assert.match(unit, /^WantedBy=default\.target$/m);
    assert.doesNotMatch(unit, /^User=/m);
    assert.match(unit, /^ReadWritePaths=\/home\/ann\/st$/m);
    assert.match(unit, /^PrivateTmp=yes$/m);
    assert.doesNotMatch(unit, /^ProtectHome=/m);
    assert.deepEqual(execStartOf(unit), plan.argv);
  });
  await t.step("system: its account, multi-user.target, no session bus", () => {
    const unit = systemdUnit({ ...plan, account: { name: "ann", uid: 1000, gid: 1000, home: "/home/ann" } }, "system");
    assert.match(unit, /^User=ann$/m);
    assert.match(unit, /^WantedBy=multi-user\.target$/m);
    assert.match(unit, /^After=network-online\.target$/m);
    assert.doesNotMatch(unit, /DBUS_SESSION_BUS_ADDRESS/);
  });
  await t.step("config paths open the sandbox, and /tmp ones keep /tmp shared", () => {
    const unit = systemdUnit(
      { ...plan, sandbox: { writable: ["/tmp", "/srv/a b"], sharedTmp: ["/tmp/alert"] } },
      "user",
    );
    assert.match(unit, /^ReadWritePaths=\/home\/ann\/st -\/tmp -"\/srv\/a b"$/m);
    assert.doesNotMatch(unit, /^PrivateTmp=/m);
    assert.match(unit, /^# PrivateTmp= is off: the config uses \/tmp\/alert/m);
  });
});
