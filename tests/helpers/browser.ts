/** Debian's Chromium, driven by playwright-core, for the tests of the agent's web page. */

import { type Browser, chromium } from "playwright-core";
import type { AgentProcess } from "./hark.ts";

/** Headless, and quiet: no calls home, no updates, so the only traffic is the page's. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** The address of the agent's page: its http source's bound listener. */
export async function pageAddress(agent: AgentProcess): Promise<string> {
  const reply = await agent.request({ op: "status" });
  const sources = (reply.status as { sources: { name: string; listen: string }[] }).sources;
  return `http://${sources.find((source) => source.name === "http")!.listen}/`;
}

/** ntfy's `?auth=`: the base64url of `Bearer <token>`. */
export function authParam(token: string): string {
  return btoa(`Bearer ${token}`).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
