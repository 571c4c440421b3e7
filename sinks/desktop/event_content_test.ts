import assert from "node:assert/strict";
import { createEvent, type EventDraft } from "../../lib/event/event.ts";
import { desktopBody, desktopButtons } from "./event_content.ts";
import { notificationOf } from "./mod.ts";

const ORIGIN = { id: "01JDQ8ZC5V8Q0W3Z7M9N4T2B6K", now: Date.now(), host: "ci-01", peer: "12D3KooWtest" };
const event = (draft: EventDraft) => createEvent(draft, ORIGIN);
const file = { name: "cam.jpg", url: "https://cam.example/cam.jpg" };

Deno.test("desktopBody() shows Markdown as plain text and the attachment as a line", () => {
  assert.equal(desktopBody(event({ body: "**x** <b>" })), "**x** <b>", "plain text stays as written");
  assert.equal(desktopBody(event({ body: "**x** <b>", markdown: true })), "x <b>");
  assert.equal(desktopBody(event({ body: "door", attachment: file })), "door\n📎 cam.jpg: https://cam.example/cam.jpg");
  assert.equal(desktopBody(event({ title: "t", attachment: file })), "📎 cam.jpg: https://cam.example/cam.jpg");
});

Deno.test("desktopButtons() leaves broadcasts out and adds an Open button for the attachment while there is room", () => {
  const view = { action: "view" as const, label: "V", url: "https://v.example/" };
  const broadcast = { action: "broadcast" as const, label: "B", extras: { cmd: "pic" } };
  assert.deepEqual(desktopButtons(event({ body: "x", actions: [broadcast, view], attachment: file })), [
    view,
    { action: "view", label: "Open cam.jpg", url: file.url },
  ]);
  assert.deepEqual(desktopButtons(event({ body: "x", actions: [view, view, view], attachment: file })), [
    view,
    view,
    view,
  ]);
  const long = event({ body: "x", attachment: { name: "a".repeat(100), url: file.url } });
  assert.equal(desktopButtons(long)[0].label.length, 64);
  // The sink's notification carries them, and no icon: no agent fetches a URL from an event.
  const notification = notificationOf(
    event({ body: "*hi*", markdown: true, icon: "https://i.example/i.png", actions: [broadcast] }),
  );
  assert.equal(notification.body, "hi");
  assert.equal(notification.actions, undefined);
  assert.ok(!JSON.stringify(notification).includes("i.example"));
});
