/**
 * Markdown, an icon, an attachment by URL and a broadcast button, published
 * with ntfy's headers to one agent, arrive on another: its ntfy subscribers
 * get them in ntfy's message object (content_type, icon, attachment, the
 * broadcast action), and its desktop (a real dunst) shows the Markdown as
 * plain text, the attachment as a line and an "Open" button, and no
 * broadcast button.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { haveDesktop, startDesktopSession } from "./helpers/desktop_session.ts";
import { waitFor } from "./helpers/wait.ts";
import { curl, httpAddress } from "./helpers/ntfy.ts";

const desktop = haveDesktop("ntfy_media_test: Markdown, icon, attachment and broadcast from ntfy to a desktop");

const CONFIG = `[agent]\ntopics = ["mytopic"]\n\n[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\n`;

/** `curl` that must succeed: its stdout. */
async function curlOk(...args: string[]): Promise<string> {
  const { code, stdout } = await curl("-s", "--fail-with-body", ...args);
  assert.equal(code, 0, `curl ${args.join(" ")}: ${stdout}`);
  return stdout;
}

Deno.test({
  name: "ntfy's Markdown, Icon, Attach and a broadcast reach another agent's ntfy subscribers and its desktop",
  ignore: !desktop,
}, async () => {
  await using screen = await startDesktopSession();
  await using receiver = await startAgent({
    config: loopbackConfig([], `${CONFIG}\n[[sink]]\ntype = "desktop"\n`),
    env: screen.env,
  });
  await using publisher = await startAgent({ config: loopbackConfig(receiver.addresses, CONFIG) });
  await publisher.waitForPeers([receiver.peerId], "mytopic");
  await receiver.waitForPeers([publisher.peerId], "mytopic");

  const reply = JSON.parse(
    await curlOk(
      "-H",
      "Markdown: yes",
      "-H",
      "Title: Doorbell",
      "-H",
      "Icon: https://icons.example/bell.png",
      "-H",
      "Attach: https://cam.example/snap/cam.jpg",
      "-H",
      "Actions: broadcast, Take picture, extras.cmd=pic; view, Open docs, https://docs.example/",
      "-d",
      "Someone is **at the door**, see [the camera](https://cam.example/)",
      `${await httpAddress(publisher)}/mytopic`,
    ),
  );
  assert.equal(reply.content_type, "text/markdown");
  assert.equal(reply.icon, "https://icons.example/bell.png");
  assert.deepEqual(reply.attachment, { name: "cam.jpg", url: "https://cam.example/snap/cam.jpg" });

  // The receiver's ntfy subscribers: ntfy's message object, as the ntfy app's NotificationParser reads it.
  const base = await httpAddress(receiver);
  const message = await waitFor(async () => {
    const lines = (await curlOk(`${base}/mytopic/json?poll=1`)).split("\n").filter((line) => line !== "");
    return lines.map((line) => JSON.parse(line)).find((line) => line.id === reply.id);
  }, { message: "the event in the receiver's store" });
  assert.equal(message.content_type, "text/markdown");
  assert.equal(message.message, "Someone is **at the door**, see [the camera](https://cam.example/)");
  assert.equal(message.icon, "https://icons.example/bell.png");
  assert.deepEqual(message.attachment, { name: "cam.jpg", url: "https://cam.example/snap/cam.jpg" });
  assert.deepEqual(message.actions, [
    { id: `${reply.id}-0`, action: "broadcast", label: "Take picture", extras: { cmd: "pic" }, clear: false },
    { id: `${reply.id}-1`, action: "view", label: "Open docs", url: "https://docs.example/", clear: false },
  ]);

  // The receiver's desktop: plain text, the attachment as a line and a button, no broadcast.
  const popup = await screen.waitForNotification((n) => n.summary === "Doorbell");
  assert.equal(
    popup.body,
    "Someone is at the door, see the camera (https://cam.example/)\n📎 cam.jpg: https://cam.example/snap/cam.jpg",
  );
  const { "hark-ack": _ack, ...buttons } = popup.actions;
  assert.deepEqual(buttons, { "hark-0": "Open docs", "hark-1": "Open cam.jpg" });
});
