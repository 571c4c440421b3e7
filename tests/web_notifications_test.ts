/**
 * Browser notifications from the web page while it is open: none until the
 * user asks, then one per new event, a new version replacing its
 * notification (same tag) and an acknowledgement closing it. A real agent
 * and the real page in headless Chromium with the notification permission
 * granted; only the Notification constructor is replaced, in this test's
 * page, by one that records what the page asked to show (headless Chromium
 * shows nothing to look at).
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { launchChromium, pageAddress } from "./helpers/browser.ts";
import { haveTools } from "./helpers/tools.ts";
import { waitFor } from "./helpers/wait.ts";

/** Runs in the page before its script: the real permission API, a recording constructor. */
const RECORDING_NOTIFICATION = `{
  const Real = window.Notification;
  window.shown = [];
  window.Notification = class {
    static get permission() { return Real.permission; }
    static requestPermission() { return Real.requestPermission(); }
    constructor(title, options = {}) {
      this.tag = options.tag;
      window.shown.push({ title, body: options.body, tag: options.tag });
    }
    close() { window.shown.push({ closed: this.tag }); }
  };
}`;

type Shown = { title?: string; body?: string; tag?: string; closed?: string };

Deno.test({
  name: "the web page raises a browser notification for each new event once asked, and closes it when acknowledged",
  ignore: !haveTools("the web page's notifications test", ["chromium"]),
  // playwright-core keeps its pipes to the browser in this process.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using server = await startAgent({
      config: loopbackConfig(
        [],
        `[agent]\ntopics = ["deploys"]\n[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\n`,
      ),
    });
    const address = await pageAddress(server);
    const browser = await launchChromium();
    try {
      const context = await browser.newContext();
      await context.grantPermissions(["notifications"], { origin: new URL(address).origin });
      await context.addInitScript(RECORDING_NOTIFICATION);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      const shown = async () => await page.evaluate<Shown[]>("window.shown");
      await page.goto(address);
      await page.getByTestId("live-state").getByText("following").waitFor();

      await server.send(["-t", "deploys", "--title", "Quiet", "before anyone asked"]);
      await page.getByTestId("live").getByText("before anyone asked").waitFor();
      assert.deepEqual(await shown(), [], "no notification before the user asks for them");

      await page.getByTestId("notify-button").click();
      await page.getByTestId("notify-button").getByText("Notifications on").waitFor();
      assert.equal(await page.getByTestId("notify-button").getAttribute("aria-pressed"), "true");

      await server.send(["-t", "deploys", "--sequence", "deploy-9", "--title", "Deploy 9", "started"]);
      await page.getByTestId("live").getByText("started").waitFor();
      await server.send(["-t", "deploys", "--sequence", "deploy-9", "--title", "Deploy 9", "live"]);
      await page.getByTestId("live").getByText("version 2").waitFor();
      await page.getByTestId("live").getByTestId("acknowledge").first().click();
      await page.getByTestId("live").getByText("acknowledged").waitFor();
      // Polled from here: the page's Content-Security-Policy forbids the eval a waitForFunction string needs.
      await waitFor(async () => (await shown()).some((entry) => entry.closed), { message: "the notification closed" });
      assert.deepEqual(await shown(), [
        { title: "Deploy 9", body: "started", tag: "deploys/deploy-9" },
        { title: "Deploy 9", body: "live", tag: "deploys/deploy-9" },
        { closed: "deploys/deploy-9" },
      ]);

      await page.reload();
      await page.getByTestId("notify-button").getByText("Notifications on").waitFor();
      await page.getByTestId("notify-button").click();
      await page.getByTestId("notify-button").getByText("Notify me").waitFor();
      await server.send(["-t", "deploys", "--title", "Quiet again", "after they were turned off"]);
      await page.getByTestId("live").getByText("after they were turned off").waitFor();
      assert.deepEqual(await shown(), [], "none after the user turned them off");
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  },
});
