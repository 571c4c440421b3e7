/**
 * The web page on a phone, in a real headless Chromium at 390×844 with
 * touch, on a listener with a token: nothing overflows sideways, every
 * control is a finger's size, and each event names the host it came from,
 * marked when the name is not its sender's (another agent calling itself
 * by a name this agent bound to someone else).
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { authParam, launchChromium, pageAddress } from "./helpers/browser.ts";
import { haveTools } from "./helpers/tools.ts";

const TOPICS = `[agent]\ntopics = ["builds"]\n`;
const TOKEN = "tk_phone_test";
/** Touch guidelines' smallest target (44 CSS px), less a pixel of rounding. */
const TAP_PX = 43;

Deno.test({
  name: "the web page on a phone: 390 px wide without sideways scrolling, finger-sized controls, each event's host",
  ignore: !haveTools("the web page's phone test", ["chromium"]),
  // playwright-core keeps its pipes to the browser in this process.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const http = `[[sink]]\ntype = "file"\n\n[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n`;
    await using server = await startAgent({ config: loopbackConfig([], TOPICS + http) });
    await using ci = await startAgent({ config: loopbackConfig(server.addresses, `${TOPICS}host = "ci-01"\n`) });
    await server.waitForPeers([ci.peerId], "builds");
    await ci.waitForPeers([server.peerId], "builds");
    // ci-01 speaks first, so the server binds the name to it.
    const real = await ci.send(["-t", "builds", "--title", "Build #811 passed", "all green"]);
    await server.waitForEvents([real]);
    await using imposter = await startAgent({ config: loopbackConfig(server.addresses, `${TOPICS}host = "ci-01"\n`) });
    await server.waitForPeers([imposter.peerId], "builds");
    await imposter.waitForPeers([server.peerId], "builds");

    const browser = await launchChromium();
    try {
      const context = await browser.newContext({
        viewport: { width: 390, height: 844 },
        isMobile: true,
        hasTouch: true,
        deviceScaleFactor: 3,
      });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(`${await pageAddress(server)}?auth=${authParam(TOKEN)}`);
      await page.getByTestId("live-state").getByText("following").waitFor();
      await page.getByTestId("peers").getByText(imposter.peerId.slice(-8)).waitFor();

      await t.step("each event shows its host; a name that is not its sender's is marked", async () => {
        await ci.send(["-t", "builds", "--title", "Deploy started", "from the real ci-01"]);
        const genuine = page.getByTestId("live").locator("li", { hasText: "Deploy started" });
        await genuine.waitFor();
        assert.equal(await genuine.getByTestId("host").textContent(), "ci-01");
        assert.equal(await genuine.getByTestId("unverified").count(), 0);

        await imposter.send(["-t", "builds", "--title", "Deploy finished", "from someone calling itself ci-01"]);
        const claimed = page.getByTestId("live").locator("li", { hasText: "Deploy finished" });
        await claimed.waitFor();
        assert.equal(await claimed.getByTestId("host").textContent(), "ci-01?");
        await claimed.getByTestId("unverified").waitFor();
        // History (read from the store) shows the same.
        await page.getByTestId("history-form").getByRole("button").click();
        await page.getByTestId("history").locator("li", { hasText: "Deploy finished" }).getByTestId("unverified")
          .waitFor();
      });

      await t.step("nothing is wider than the screen, even a long unbroken word", async () => {
        await ci.send(["-t", "builds", "--title", "x".repeat(250), `https://example.org/${"a".repeat(300)}`]);
        await page.getByTestId("live").getByText("x".repeat(250)).waitFor();
        const width = await page.evaluate<number>("document.documentElement.scrollWidth");
        assert.ok(width <= 390, `the page is ${width} px wide on a 390 px screen`);
      });

      await t.step("buttons, fields and menus are a finger's size, and acknowledging needs no hover", async () => {
        const controls = page.locator("main button:visible, main input:visible, main select:visible");
        const sizes = await controls.evaluateAll((nodes) =>
          nodes.map((node) => ({
            name: node.getAttribute("data-testid") ?? node.textContent ?? node.tagName,
            height: node.getBoundingClientRect().height,
          }))
        );
        assert.ok(sizes.length >= 8, `found ${sizes.length} controls`);
        const small = sizes.filter((size) => size.height < TAP_PX);
        assert.deepEqual(small, [], "controls smaller than a fingertip");
        const item = page.getByTestId("live").locator("li", { hasText: "Deploy started" });
        await item.getByTestId("acknowledge").tap();
        await item.getByText("acknowledged").waitFor();
      });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  },
});
