/**
 * ntfy's JavaScript examples from a page on another origin, in a real
 * headless Chromium against a real agent with a token: the browser makes
 * its own CORS preflight and checks the answer, so this is what a web
 * client of an agent meets. Without the token the same page gets nothing.
 */

import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { haveTools } from "./helpers/tools.ts";

const TOKEN = "tk_browser_secret";
const CONFIG = `[agent]\ntopics = ["default", "mytopic"]\n\n[[sink]]\ntype = "file"\n\n` +
  `[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n`;

async function httpBase(agent: AgentProcess): Promise<string> {
  const reply = await agent.request({ op: "status" });
  const sources = (reply.status as { sources: { name: string; listen: string }[] }).sources;
  return `http://${sources.find((source) => source.name === "http")!.listen}`;
}

/** A page on another loopback port: another origin than the agent's. */
function otherOrigin(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () =>
      new Response("<!doctype html><title>another site</title><p>another site</p>", {
        headers: { "content-type": "text/html; charset=utf-8" },
      }),
  );
}

Deno.test({
  name: "ntfy's JavaScript examples from another origin work with the token and get nothing without it, in Chromium",
  ignore: !haveTools("the browser CORS test", ["chromium"]),
  // playwright-core keeps its pipes to the browser in this process.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using agent = await startAgent({ config: loopbackConfig([], CONFIG) });
    const base = await httpBase(agent);
    const site = otherOrigin();
    const browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${site.addr.port}/`);
      const auth = btoa(`Bearer ${TOKEN}`).replaceAll("=", "");

      await t.step("fetch() publishes with the token (a preflighted PUT) and reads ntfy's reply", async () => {
        const reply = await page.evaluate(async ({ base, token }) => {
          const response = await fetch(`${base}/mytopic`, {
            method: "PUT",
            headers: { Authorization: `Bearer ${token}`, Title: "From another site" },
            body: "Backup successful 😀",
          });
          return { status: response.status, json: await response.json() };
        }, { base, token: TOKEN });
        assert.equal(reply.status, 200);
        assert.equal(reply.json.event, "message");
        assert.equal(reply.json.message, "Backup successful 😀");
        assert.equal(reply.json.title, "From another site");
        const [event] = (await agent.waitForEvents([reply.json.id])).filter((e) => e.id === reply.json.id);
        assert.equal(event.body, "Backup successful 😀");
      });

      await t.step("EventSource with ?auth= gets a live event", async () => {
        const waiting = page.evaluate(({ base, auth }) =>
          new Promise<string>((resolve, reject) => {
            const source = new EventSource(`${base}/mytopic/sse?auth=${auth}`);
            source.onopen = () => (globalThis as unknown as { sseOpen: boolean }).sseOpen = true;
            source.onmessage = (message) => {
              source.close();
              resolve(JSON.parse(message.data).message);
            };
            source.onerror = () => {
              source.close();
              reject(new Error("EventSource failed"));
            };
          }), { base, auth });
        await page.waitForFunction(() => (globalThis as unknown as { sseOpen?: boolean }).sseOpen === true);
        await agent.send(["-t", "mytopic", "live to the page"]);
        assert.equal(await waiting, "live to the page");
      });

      await t.step("fetch() polls with the token; a WebSocket with ?auth= gets the stored events", async () => {
        const polled = await page.evaluate(async ({ base, token }) => {
          const response = await fetch(`${base}/mytopic/json?poll=1`, {
            headers: { Authorization: `Bearer ${token}` },
          });
          return (await response.text()).trim().split("\n").map((line) => JSON.parse(line).message);
        }, { base, token: TOKEN });
        assert.deepEqual(polled, ["Backup successful 😀", "live to the page"]);
        const frames = await page.evaluate(({ base, auth }) =>
          new Promise<string[]>((resolve, reject) => {
            const messages: string[] = [];
            const socket = new WebSocket(`${base.replace("http", "ws")}/mytopic/ws?poll=1&auth=${auth}`);
            socket.onmessage = (message) => messages.push(JSON.parse(message.data).message);
            socket.onclose = () => resolve(messages);
            socket.onerror = () => reject(new Error("WebSocket failed"));
          }), { base, auth });
        assert.deepEqual(frames, ["Backup successful 😀", "live to the page"]);
      });

      await t.step("without the token, the same page can neither publish nor read", async () => {
        const before = (await agent.events()).length;
        const outcome = await page.evaluate(async ({ base }) => {
          const result: Record<string, string> = {};
          try {
            await fetch(`${base}/mytopic`, { method: "POST", body: "forged" });
            result.publish = "answered";
          } catch (error) {
            result.publish = (error as Error).name;
          }
          try {
            await fetch(`${base}/mytopic/json?poll=1`);
            result.poll = "answered";
          } catch (error) {
            result.poll = (error as Error).name;
          }
          result.sse = await new Promise<string>((resolve) => {
            const source = new EventSource(`${base}/mytopic/sse`);
            source.onmessage = () => resolve("message");
            source.onerror = () => {
              source.close();
              resolve("error");
            };
          });
          result.ws = await new Promise<string>((resolve) => {
            const socket = new WebSocket(`${base.replace("http", "ws")}/mytopic/ws?poll=1`);
            socket.onmessage = () => resolve("message");
            socket.onerror = () => resolve("error");
          });
          return result;
        }, { base });
        // The browser hides the 403 from the page: a network error is all it sees.
        assert.deepEqual(outcome, { publish: "TypeError", poll: "TypeError", sse: "error", ws: "error" });
        assert.equal((await agent.events()).length, before, "nothing was published");
      });
    } finally {
      await browser.close();
      await site.shutdown();
    }
  },
});
