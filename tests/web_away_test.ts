/**
 * The web page when its agent goes away: it says since when and that it is
 * retrying, and once the agent is back (the same state dir, on the same
 * address) it follows again from the last event it showed, so what was
 * published in between is not missed. A real agent, stopped and started,
 * and the page in a real headless Chromium.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { launchChromium, pageAddress } from "./helpers/browser.ts";
import { haveTools } from "./helpers/tools.ts";

const TOPICS = `[agent]\ntopics = ["alerts"]\n`;

function config(listen: string): string {
  return loopbackConfig([], TOPICS + `[[source]]\ntype = "http"\nlisten = "${listen}"\n`);
}

Deno.test({
  name: "the web page says when the agent is unreachable, retries, and catches up from its last event when it is back",
  ignore: !haveTools("the web page's reconnect test", ["chromium"]),
  // playwright-core keeps its pipes to the browser in this process.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using first = await startAgent({ config: config("127.0.0.1:0") });
    const address = await pageAddress(first);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const streams: URL[] = [];
      page.on("request", (request) => {
        const url = new URL(request.url());
        if (url.pathname.endsWith("/sse")) streams.push(url);
      });
      await page.goto(address);
      await page.getByTestId("live-state").getByText("following").waitFor();
      const away = page.getByTestId("away");
      assert.equal(await away.isHidden(), true);
      const seen = await first.send(["-t", "alerts", "--title", "Before", "seen before the agent went away"]);
      await page.getByTestId("live").getByText("seen before the agent went away").waitFor();

      await t.step("the agent stops: the page says since when, and that it retries", async () => {
        await first.stop();
        await away.waitFor();
        assert.match((await away.textContent())!, /^agent unreachable since \d\d:\d\d, retrying$/);
      });

      await t.step("the agent is back: the page follows from its last event, and the banner goes", async () => {
        // The same state dir on the same address, which the first run chose.
        await using second = await startAgent({
          stateDir: first.stateDir,
          config: config(new URL(address).host),
        });
        // Published as soon as the agent is up: maybe before the page is back, which must not lose it.
        await second.send(["-t", "alerts", "--title", "Meanwhile", "published while the page was away"]);
        await page.getByTestId("live").getByText("published while the page was away").waitFor({ timeout: 30_000 });
        await away.waitFor({ state: "hidden" });
        const reconnect = streams.at(-1)!;
        assert.equal(reconnect.searchParams.get("since"), seen, "the page asked for what came after its last event");
        assert.ok(Number(reconnect.searchParams.get("limit")) > 0, "and for no more than a bounded number");
        await second.send(["-t", "alerts", "--title", "After", "live again"]);
        await page.getByTestId("live").getByText("live again").waitFor();
        assert.equal(await page.getByTestId("live").locator("li").count(), 3, "each event once");
      });
    } finally {
      await browser.close();
    }
  },
});
