/** `hark run --log-file`: how the service runs the agent. Logs go to the file, not stderr. */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";

Deno.test("hark run --log-file writes the log to that file instead of stderr", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hark-logfile-" });
  try {
    const file = `${dir}/hark.log`;
    await using agent = await startAgent({ config: loopbackConfig(), args: ["--log-file", file] });
    const log = await waitFor(async () => {
      const text = await Deno.readTextFile(file).catch(() => "");
      return text.includes(`running as ${agent.peerId}`) && text;
    }, { message: "the start-up line in the log file" });
    assert.match(log, /^\S+ \[INF\] hark·agent: hark \S+ running as /m);
    await agent.stop();
    assert.equal(agent.stderr, "", "nothing on stderr");
    assert.match(await Deno.readTextFile(file), /\[INF\] hark·agent: Stopped\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
