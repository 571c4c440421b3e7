/**
 * The web page and notifications with a life, in a real headless Chromium:
 * a new version replaces its item in the live feed, the Acknowledge button
 * publishes a clear that reaches the other agent, and history shows each
 * notification once, as its latest version, acknowledged.
 */

import assert from "node:assert/strict";
import { launchChromium, pageAddress } from "./helpers/browser.ts";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { haveTools } from "./helpers/tools.ts";
import { waitFor } from "./helpers/wait.ts";

const TOPICS = `[agent]\ntopics = ["deploys"]\n`;

Deno.test({
  name: "the web page replaces a notification's item with its new version and acknowledges it on every agent",
  ignore: !haveTools("the web page's notifications test", ["chromium"]),
  // playwright-core keeps its pipes to the browser in this process.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const http = `[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\n`;
    await using server = await startAgent({ config: loopbackConfig([], TOPICS + http) });
    await using publisher = await startAgent({
      config: loopbackConfig(server.addresses, TOPICS + `[[sink]]\ntype = "file"\n`),
    });
    await server.waitForPeers([publisher.peerId], "deploys");
    await publisher.waitForPeers([server.peerId], "deploys");

    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
      await page.goto(await pageAddress(server));
      await page.getByTestId("live-state").getByText("following").waitFor();

      await publisher.send(["-t", "deploys", "--sequence", "deploy-9", "--title", "Deploy 9", "started"]);
      await page.getByTestId("live").getByText("started").waitFor();
      await publisher.send(["-t", "deploys", "--sequence", "deploy-9", "--title", "Deploy 9", "live"]);
      const live = page.getByTestId("live");
      await live.getByText("version 2").waitFor();
      assert.equal(await live.locator("li").count(), 1, "one item per notification");
      assert.match((await live.locator("li").textContent())!, /live/);

      await live.getByTestId("acknowledge").click();
      await live.getByText("acknowledged").waitFor();
      // The clear went into the mesh, signed by the page's agent.
      const clear = await waitFor(async () => (await publisher.events()).find((event) => event.kind === "clear"), {
        message: "the clear to reach the other agent",
      });
      assert.equal(clear.sequence, "deploy-9");
      assert.equal(clear.source.peer, server.peerId);

      await page.getByTestId("history-topic").selectOption("deploys");
      await page.getByTestId("history-form").getByRole("button").click();
      const history = page.getByTestId("history");
      await history.getByText("acknowledged").waitFor();
      assert.equal(await history.locator("li").count(), 1);
      assert.match((await history.locator("li").textContent())!, /version 2.*Deploy 9.*live.*acknowledged/s);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  },
});
