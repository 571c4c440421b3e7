import assert from "node:assert/strict";
import {
  parseWindowsArguments,
  quoteWindowsArgument,
  taskCommand,
  taskEnabled,
  taskXmlBytes,
  windowsTaskXml,
} from "./windows_task_xml.ts";

Deno.test("quoteWindowsArgument() quotes as the C runtime splits", async (t) => {
  const cases: { name: string; arg: string; quoted: string }[] = [
    { name: "plain", arg: "--state-dir", quoted: "--state-dir" },
    { name: "path without spaces", arg: "C:\\Users\\ann\\hark", quoted: "C:\\Users\\ann\\hark" },
    { name: "space", arg: "C:\\Users\\Ann Lee\\hark", quoted: '"C:\\Users\\Ann Lee\\hark"' },
    { name: "trailing backslash doubles before the closing quote", arg: "C:\\a b\\", quoted: '"C:\\a b\\\\"' },
    { name: "quote", arg: 'say "hi"', quoted: '"say \\"hi\\""' },
    { name: "backslashes before a quote", arg: 'a\\"b', quoted: '"a\\\\\\"b"' },
    { name: "ampersand needs no quoting", arg: "C:\\A&B", quoted: "C:\\A&B" },
    { name: "empty", arg: "", quoted: '""' },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.equal(quoteWindowsArgument(c.arg), c.quoted);
      assert.deepEqual(parseWindowsArguments(quoteWindowsArgument(c.arg)), [c.arg]);
    });
  }
  await t.step("a whole command line round-trips", () => {
    const args = cases.map((c) => c.arg);
    assert.deepEqual(parseWindowsArguments(args.map(quoteWindowsArgument).join(" ")), args);
  });
  await t.step('"" inside quotes is a literal quote', () => {
    assert.deepEqual(parseWindowsArguments('"a""b" c'), ['a"b', "c"]);
  });
});

Deno.test("windowsTaskXml() escapes markup and reads back the same argv", () => {
  const argv = [
    "C:\\Program Files\\hark & co\\hark.exe",
    "run",
    "--state-dir",
    'C:\\Users\\A<B>\\"x"',
    "--log-file",
    "C:\\l",
  ];
  const xml = windowsTaskXml({ argv, userId: "PC\\ann" });
  assert.match(xml, /<Command>C:\\Program Files\\hark &amp; co\\hark\.exe<\/Command>/);
  assert.match(xml, /A&lt;B&gt;/);
  assert.doesNotMatch(xml, /A<B>/);
  assert.deepEqual(taskCommand(xml), argv);
  assert.equal(taskEnabled(xml), true);
});

Deno.test("taskEnabled() reads the Settings' own Enabled, not a trigger's", () => {
  const xml = `<Task><Triggers><LogonTrigger><Enabled>true</Enabled></LogonTrigger></Triggers>
<Settings><IdleSettings><StopOnIdleEnd>true</StopOnIdleEnd></IdleSettings><Enabled>false</Enabled></Settings></Task>`;
  assert.equal(taskEnabled(xml), false);
});

Deno.test("taskXmlBytes() is UTF-16 little-endian with a byte-order mark", () => {
  const bytes = taskXmlBytes("<a>é€</a>");
  assert.deepEqual([...bytes.subarray(0, 4)], [0xff, 0xfe, 0x3c, 0x00]);
  assert.equal(new TextDecoder("utf-16le").decode(bytes), "<a>é€</a>");
});
