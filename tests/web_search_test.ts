/**
 * The web page's history and search run on the agent: against a real agent
 * whose store holds 3,000 events, the page in a real headless Chromium finds
 * the one event that holds a word, and pages back through many matches, while
 * what it downloads stays a small bounded part of the store (counted from
 * the browser's own record of each response).
 */

import assert from "node:assert/strict";
import type { Request } from "playwright-core";
import { loopbackConfig, startAgent, TEST_NETWORK } from "./helpers/hark.ts";
import { launchChromium, pageAddress } from "./helpers/browser.ts";
import { haveTools } from "./helpers/tools.ts";
import { saveNetwork } from "../lib/mesh/network.ts";
import { EventStore } from "../lib/store/store.ts";
import { createEvent } from "../lib/event/event.ts";
import { monotonicUlid } from "../lib/event/ulid.ts";

const STORED = 3_000;
/** Every 25th event holds this word: 120 matches, more than one page of 50. */
const COMMON = "flaky";
const RARE = "needle-7e3";
const BODY = "log line ".repeat(60);

/** A state dir whose store holds STORED events on builds, written before the agent starts (a send each takes minutes). */
async function seededStateDir(): Promise<{ stateDir: string; storeBytes: number }> {
  const stateDir = await Deno.makeTempDir({ prefix: "hark-test-" });
  await saveNetwork(stateDir, TEST_NETWORK);
  const store = EventStore.open(stateDir);
  const nextId = monotonicUlid();
  const now = Date.now() - 60_000;
  let storeBytes = 0;
  try {
    for (let i = 0; i < STORED; i++) {
      const word = i === 1234 ? RARE : i % 25 === 0 ? COMMON : "passed";
      const event = createEvent(
        { topic: "builds", title: `Build #${i} ${word}`, body: BODY },
        { id: nextId(), now: now + i, host: "ci-01", peer: "12D3KooWSeedPublisher" },
      );
      store.append(event, i);
      storeBytes += JSON.stringify(event).length;
    }
    store.commit();
  } finally {
    store.close();
  }
  return { stateDir, storeBytes };
}

Deno.test({
  name: "the web page searches 3,000 stored events on the agent and downloads only the results, a page at a time",
  ignore: !haveTools("the web page's search test", ["chromium"]),
  // playwright-core keeps its pipes to the browser in this process.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const { stateDir, storeBytes } = await seededStateDir();
    await using server = await startAgent({
      stateDir,
      removeStateDir: true,
      config: loopbackConfig([], `[agent]\ntopics = ["builds"]\n[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\n`),
    });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      // Every history request the page makes, and the bytes of each answer.
      const reads: { url: URL; bytes: number }[] = [];
      const pending: Promise<void>[] = [];
      page.on("requestfinished", (request: Request) => {
        const url = new URL(request.url());
        if (!url.pathname.endsWith("/json")) return;
        pending.push(
          request.sizes().then((sizes) => {
            reads.push({ url, bytes: sizes.responseBodySize + sizes.responseHeadersSize });
          }),
        );
      });
      const settled = async () => (await Promise.all(pending), reads.splice(0));
      const history = page.getByTestId("history");
      const state = page.getByTestId("history-state");

      await page.goto(await pageAddress(server));
      await t.step("the page opens on the newest page of history, not the whole store", async () => {
        await history.getByText(`Build #${STORED - 1} `).waitFor();
        await state.getByText("newest first").waitFor();
        assert.equal(await history.locator("li").count(), 50);
        const [read, ...more] = await settled();
        assert.equal(more.length, 0);
        assert.equal(read.url.searchParams.get("limit"), "50");
        assert.ok(read.bytes > 50 * BODY.length, `the browser counted ${read.bytes} bytes for 50 events`);
        assert.ok(read.bytes < storeBytes / 20, `read ${read.bytes} bytes of a ${storeBytes}-byte store`);
      });

      await t.step("a search for a word in one event asks the agent and gets that event alone", async () => {
        await page.getByTestId("history-text").fill(RARE);
        await page.getByTestId("history-form").getByRole("button").click();
        await history.getByText(`Build #1234 ${RARE}`).waitFor();
        await state.getByText("all there are").waitFor();
        assert.equal(await history.locator("li").count(), 1);
        const [read, ...more] = await settled();
        assert.equal(more.length, 0, "one request");
        assert.equal(read.url.searchParams.get("q"), RARE);
        assert.ok(read.bytes < 4_000, `the answer to a search with one result was ${read.bytes} bytes`);
      });

      await t.step("a word in many events comes a page at a time, newest first, Older for the rest", async () => {
        await page.getByTestId("history-text").fill(COMMON.toUpperCase());
        await page.getByTestId("history-form").getByRole("button").click();
        await history.getByText(`Build #2975 ${COMMON}`).waitFor();
        await state.getByText("newest first").waitFor();
        assert.equal(await history.locator("li").count(), 50);
        await page.getByTestId("history-more").click();
        await history.locator("li").nth(99).waitFor();
        await page.getByTestId("history-more").click();
        await state.getByText("all there are").waitFor();
        const titles = await history.locator(".title").allTextContents();
        const expected = Array.from({ length: STORED / 25 }, (_, i) => `Build #${STORED - 25 - i * 25} ${COMMON}`);
        assert.deepEqual(titles, expected, "every match once, newest first");
        assert.equal(await page.getByTestId("history-more").isHidden(), true);
        const reads = await settled();
        assert.equal(reads.length, 3);
        assert.deepEqual(reads.map((read) => read.url.searchParams.has("before")), [false, true, true]);
        const bytes = reads.reduce((sum, read) => sum + read.bytes, 0);
        assert.ok(bytes < storeBytes / 10, `read ${bytes} bytes of a ${storeBytes}-byte store for 120 matches`);
      });
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  },
});

Deno.test("q= also filters a live subscription: only messages that hold the text come", async () => {
  await using server = await startAgent({
    config: loopbackConfig([], `[agent]\ntopics = ["alerts"]\n[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\n`),
  });
  const response = await fetch(`${await pageAddress(server)}alerts/json?q=DISK`);
  const lines = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let text = "";
    const next = async (): Promise<{ event: string; message?: string }> => {
      while (!text.includes("\n")) {
        const { done, value } = await lines.read();
        if (done) throw new Error("the stream ended");
        text += value;
      }
      const line = text.slice(0, text.indexOf("\n"));
      text = text.slice(line.length + 1);
      return JSON.parse(line);
    };
    assert.equal((await next()).event, "open");
    await server.send(["-t", "alerts", "backup finished"]);
    await server.send(["-t", "alerts", "--title", "Disk", "95% full on /var"]);
    const message = await next();
    assert.equal(message.message, "95% full on /var", "the message without the text never came");
  } finally {
    await lines.cancel();
  }
});
