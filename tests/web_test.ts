/**
 * The agent's web page in a real headless Chromium (Debian's, driven by
 * playwright-core): the live feed arrives over the browser's EventSource,
 * history filters, the send form publishes into the mesh, and peers and
 * sinks show. `HARK_SCREENSHOT=docs/web.png` also saves the picture in docs/web.md.
 */

import assert from "node:assert/strict";
import { authParam, launchChromium, pageAddress } from "./helpers/browser.ts";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { haveTools } from "./helpers/tools.ts";

const TOPICS = `[agent]\ntopics = ["default", "builds"]\n`;

Deno.test({
  name: "the web page: live feed over EventSource, history filter, send form, peers and sinks, in Chromium",
  ignore: !haveTools("the web page test", ["chromium"]),
  // playwright-core keeps its pipes to the browser in this process.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using server = await startAgent({
      config: loopbackConfig(
        [],
        TOPICS + `host = "laptop"\n[[sink]]\ntype = "file"\n\n[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\n`,
      ),
    });
    // Each its own host name, as two machines would have.
    await using publisher = await startAgent({ config: loopbackConfig(server.addresses, TOPICS + `host = "ci-01"\n`) });
    await server.waitForPeers([publisher.peerId], "builds");
    await publisher.waitForPeers([server.peerId], "builds");
    const stored = await publisher.send(["-t", "builds", "--title", "Build #811 passed", "all green"]);
    await publisher.send(["-t", "builds", "--title", "Build #812 failed", "-p", "urgent", "test_login timed out"]);
    await server.waitForEvents([stored]);

    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 820 } });
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
      await page.goto(await pageAddress(server));

      await t.step("peers and sinks show", async () => {
        await page.getByTestId("peers").getByText(publisher.peerId.slice(-8)).waitFor();
        await page.getByTestId("sinks").getByText("file:").waitFor();
        const sinkRow = await page.getByTestId("sinks").locator("tbody tr").first().textContent();
        assert.match(sinkRow!, /ok/);
      });

      await t.step("the live feed gets an event from another agent through EventSource", async () => {
        await page.getByTestId("live-state").getByText("following").waitFor();
        await publisher.send(["-t", "builds", "--title", "Deploy started", "to production"]);
        await page.getByTestId("live").getByText("Deploy started").waitFor();
        assert.equal(
          await page.getByTestId("live").locator("li").count(),
          1,
          "only what arrived since the page opened",
        );
      });

      await t.step("history lists what is stored and filters by topic and text", async () => {
        await page.getByTestId("history-topic").selectOption("builds");
        await page.getByTestId("history-text").fill("failed");
        await page.getByTestId("history-form").getByRole("button").click();
        await page.getByTestId("history").getByText("Build #812 failed").waitFor();
        assert.equal(await page.getByTestId("history").locator("li").count(), 1);
        await page.getByTestId("history-text").fill("");
        await page.getByTestId("history-form").getByRole("button").click();
        await page.getByTestId("history").getByText("Build #811 passed").waitFor();
        assert.equal(await page.getByTestId("history").locator("li").count(), 3);
      });

      await t.step("the send form publishes into the mesh", async () => {
        await page.getByTestId("send-topic").selectOption("builds");
        await page.getByTestId("send-title").fill("From the browser");
        await page.getByTestId("send-priority").selectOption("4");
        await page.getByTestId("send-message").fill("hello from Chromium");
        await page.getByTestId("send-button").click();
        const result = page.getByTestId("send-result");
        await result.getByText("sent ").waitFor();
        const id = (await result.textContent())!.replace("sent ", "");
        const event = (await publisher.waitForEvents([id])).find((candidate) => candidate.id === id)!;
        assert.equal(event.title, "From the browser");
        assert.equal(event.body, "hello from Chromium");
        assert.equal(event.priority, 4);
        assert.equal(event.source.peer, server.peerId);
        await page.getByTestId("live").getByText("hello from Chromium").waitFor();
      });

      await t.step("event text is shown as text, never run as HTML", async () => {
        await publisher.send(["-t", "builds", "--title", "<img src=x onerror=alert(1)>", "<b>bold?</b>"]);
        await page.getByTestId("live").getByText("<b>bold?</b>").waitFor();
        assert.equal(await page.getByTestId("live").locator("img, b").count(), 0);
      });

      const screenshot = Deno.env.get("HARK_SCREENSHOT");
      if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
      assert.deepEqual(errors, [], "no script errors on the page");
    } finally {
      await browser.close();
    }
  },
});

Deno.test("the page refuses to be read or driven by another site", async () => {
  await using server = await startAgent({
    config: loopbackConfig([], TOPICS + `[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\n`),
  });
  const base = await pageAddress(server);
  const page = await fetch(base);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-security-policy")!, /script-src 'self'/);
  assert.match(page.headers.get("content-security-policy")!, /frame-ancestors 'none'/);
  await page.body?.cancel();
  const foreign = await fetch(`${base}v1/hark/status`, { headers: { "sec-fetch-site": "cross-site" } });
  assert.equal(foreign.status, 403);
  await foreign.body?.cancel();
  const send = await fetch(base, {
    method: "POST",
    headers: { origin: "https://evil.example", "sec-fetch-site": "cross-site" },
    body: JSON.stringify({ topic: "default", message: "forged" }),
  });
  assert.equal(send.status, 403);
  await send.body?.cancel();
  const same = await fetch(base, {
    method: "POST",
    headers: { "sec-fetch-site": "same-origin" },
    body: JSON.stringify({ topic: "default", message: "from the page" }),
  });
  assert.equal(same.status, 200);
  await same.body?.cancel();
});

Deno.test({
  name: "the web page on a listener with a token: styled, connected and live with ?auth, a login page without it",
  ignore: !haveTools("the web page test", ["chromium"]),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const token = "tk_page_test";
    await using server = await startAgent({
      config: loopbackConfig(
        [],
        TOPICS + `[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\ntoken = "${token}"\n`,
      ),
    });
    const base = await pageAddress(server);
    const auth = authParam(token);
    const browser = await launchChromium();
    try {
      await t.step("with ?auth the page is styled, follows the live feed and shows a published event", async () => {
        const page = await browser.newPage();
        const failed: string[] = [];
        page.on("response", (response) => response.status() >= 400 && failed.push(response.url()));
        page.on("pageerror", (error) => failed.push(error.message));
        await page.goto(`${base}?auth=${auth}`);
        await page.getByTestId("live-state").getByText("following").waitFor();
        // app.css applied: the header is a flex row, which the browser's default style is not.
        const display = await page.locator("header").evaluate((header) =>
          (globalThis as unknown as { getComputedStyle(node: unknown): { display: string } }).getComputedStyle(header)
            .display
        );
        assert.equal(display, "flex");
        await server.send(["-t", "builds", "--title", "Seen through the token", "hello"]);
        await page.getByTestId("live").getByText("Seen through the token").waitFor();
        assert.equal(await page.getByTestId("login").isHidden(), true);
        assert.deepEqual(failed, [], "nothing the page loads is refused");
        await page.close();
      });

      await t.step("without the token the page says how to log in, and logging in opens it", async () => {
        const page = await browser.newPage();
        await page.goto(base);
        await page.getByTestId("login").getByText("This agent's http source has a token").waitFor();
        await page.getByTestId("login").getByText("[[source]]").waitFor();
        assert.equal(await page.locator("#app").isHidden(), true);
        await page.getByTestId("login-token").fill(token);
        await page.getByTestId("login-button").click();
        await page.getByTestId("live-state").getByText("following").waitFor();
        assert.equal(new URL(page.url()).searchParams.get("auth"), auth);
        await page.close();
      });

      await t.step("a wrong token in the address asks again", async () => {
        const page = await browser.newPage();
        await page.goto(`${base}?auth=${btoa("Bearer tk_wrong")}`);
        await page.getByTestId("login").getByText("not the listener's token").waitFor();
        await page.close();
      });
    } finally {
      await browser.close();
    }
  },
});

Deno.test("the page's files load without the token; its data and the ntfy API still need it", async () => {
  await using server = await startAgent({
    config: loopbackConfig([], TOPICS + `[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\ntoken = "tk_files"\n`),
  });
  const base = await pageAddress(server);
  for (const path of ["", "app.js", "app.css", "favicon.svg"]) {
    const response = await fetch(`${base}${path}`);
    assert.equal(response.status, 200, path);
    await response.body?.cancel();
  }
  for (const path of ["v1/hark/status", "builds/json?poll=1", "metrics"]) {
    const refused = await fetch(`${base}${path}`);
    assert.equal(refused.status, 401, path);
    await refused.body?.cancel();
  }
  const publish = await fetch(`${base}builds`, { method: "POST", body: "no token" });
  assert.equal(publish.status, 401);
  await publish.body?.cancel();
  const authorized = await fetch(`${base}builds`, {
    method: "POST",
    headers: { authorization: "Bearer tk_files" },
    body: "with the token",
  });
  assert.equal(authorized.status, 200);
  assert.equal((await authorized.json()).message, "with the token");
});
