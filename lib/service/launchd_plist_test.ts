import assert from "node:assert/strict";
import { LAUNCHD_LABEL, launchdPlist, plistArguments } from "./launchd_plist.ts";

Deno.test("launchdPlist() writes each argument as an escaped string and reads them back", () => {
  const argv = ["/Applications/A & B/hark", "run", "--state-dir", "/Users/ann/<state> \"x\" 'y'"];
  const plist = launchdPlist({ argv, stdoutPath: "/Users/ann/Library/Logs/hark/stdout.log", stderrPath: "/e" });
  assert.match(plist, /<string>\/Applications\/A &amp; B\/hark<\/string>/);
  assert.match(plist, /&lt;state&gt; &quot;x&quot; &apos;y&apos;/);
  assert.match(plist, new RegExp(`<key>Label</key>\\s*<string>${LAUNCHD_LABEL}</string>`));
  assert.deepEqual(plistArguments(plist), argv);
});

Deno.test("plistArguments() is undefined for a plist without ProgramArguments", () => {
  assert.equal(plistArguments("<plist><dict></dict></plist>"), undefined);
});
