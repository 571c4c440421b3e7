import assert from "node:assert/strict";
import { cleanText, escapeMarkup, LinuxDesktop, notificationFromEvent } from "./linux.ts";
import { createEvent } from "../../lib/event/event.ts";
import { monotonicUlid } from "../../lib/event/ulid.ts";
import { type DesktopSession, haveDesktop, startDesktopSession } from "../../tests/helpers/desktop_session.ts";
import { waitFor } from "../../tests/helpers/wait.ts";

const nextId = monotonicUlid();

function event(draft: Parameters<typeof createEvent>[0]) {
  return createEvent(draft, { id: nextId(), now: Date.now(), host: "ci-01", peer: "12D3KooWtest" });
}

const haveSession = haveDesktop("LinuxDesktop against dunst");

/** Runs `body` against a fresh private desktop; skipped (or failed under .ci/run) without one. */
function desktopTest(name: string, body: (session: DesktopSession, desktop: LinuxDesktop) => Promise<void>) {
  Deno.test({ name, ignore: !haveSession }, async () => {
    await using session = await startDesktopSession();
    await using desktop = new LinuxDesktop({ address: session.address, warn: () => {} });
    await desktop.start();
    assert.equal(desktop.available().ok, true, desktop.available().reason);
    await body(session, desktop);
  });
}

desktopTest("LinuxDesktop.show() maps priority 1-5 to the urgency dunst shows", async (session, desktop) => {
  const expected = { 1: "LOW", 2: "LOW", 3: "NORMAL", 4: "CRITICAL", 5: "CRITICAL" };
  for (const [priority, urgency] of Object.entries(expected)) {
    const notification = notificationFromEvent(
      event({ title: `Build ${priority}`, body: `body ${priority}`, priority: Number(priority), tags: ["ci", "x"] }),
    );
    const id = await desktop.show(notification);
    assert.ok(id > 0);
    const shown = await session.waitForNotification((n) => n.id === id);
    assert.deepEqual(
      { summary: shown.summary, body: shown.body, urgency: shown.urgency, category: shown.category },
      { summary: `Build ${priority}`, body: `body ${priority}`, urgency, category: "ci" },
    );
    assert.equal(shown.appname, "hark");
  }
  assert.match(desktop.available().reason, /^dunst .* \(body markup escaped\)$/);
});

desktopTest("LinuxDesktop.show() registers the click URL as the default action", async (session, desktop) => {
  const withClick = await desktop.show({
    summary: "a",
    body: "b",
    urgency: "normal",
    click: "https://ci.example.org/812",
  });
  const without = await desktop.show({ summary: "c", body: "d", urgency: "normal" });
  assert.deepEqual((await session.waitForNotification((n) => n.id === withClick)).actions, { default: "Open" });
  assert.deepEqual((await session.waitForNotification((n) => n.id === without)).actions, {});
});

desktopTest(
  "LinuxDesktop.show() replaces the popup of an earlier event with the same data.replaces",
  async (session, desktop) => {
    const running = notificationFromEvent(event({ title: "Build #9 running", data: { replaces: "build-9" } }));
    const other = notificationFromEvent(event({ title: "Build #10 running", data: { replaces: "build-10" } }));
    const passed = notificationFromEvent(event({ title: "Build #9 passed", data: { replaces: "build-9" } }));
    const first = await desktop.show(running);
    const second = await desktop.show(other);
    const third = await desktop.show(passed);
    assert.notEqual(first, second);
    assert.equal(third, first);
    await session.waitForNotification((n) => n.id === first && n.summary === "Build #9 passed");
    // A popup the server closed is forgotten: the next event with the key gets a new popup.
    assert.equal((await session.dunstctl("close-all")).code, 0);
    await waitFor(async () => (await desktop.show({ ...other, summary: "Build #10 passed" })) !== second);
  },
);

const HOSTILE = [
  `double " quote`,
  `single ' quote`,
  "back `tick` $(id) ${HOME}",
  `& do shell script "id"`,
  `</text><action id="x">`,
  "%PATH% %%",
  "-- --help",
  "line\nbreak\r\nand\ttab",
  "nul\u0000byte",
  "lone \ud800 surrogate",
  "<b>bold</b> &amp; &#x41; <a href='http://x'>link</a>",
  "é ✓ \u{1F600} \u202e",
  "x".repeat(10 * 1024),
  "<&>".repeat(3000),
];

desktopTest(
  "LinuxDesktop.show() passes hostile text through as data, escaping body markup",
  async (session, desktop) => {
    for (const text of HOSTILE) {
      const id = await desktop.show({ summary: text, body: text, urgency: "normal" });
      assert.ok(id > 0, `no popup for ${JSON.stringify(text.slice(0, 40))}`);
      const shown = await session.waitForNotification((n) => n.id === id);
      // dunst advertises body-markup: the body arrives escaped, the summary (plain text by the spec) as is.
      assert.equal(shown.summary, cleanText(text));
      assert.equal(shown.body, escapeMarkup(cleanText(text)));
    }
    assert.equal(escapeMarkup(cleanText("a\u0000<b>&")), "a\uFFFD&lt;b&gt;&amp;");
  },
);

desktopTest("LinuxDesktop opens the click URL with xdg-open when the action is invoked", async (session, desktop) => {
  const bin = await Deno.makeTempDir({ prefix: "hark-xdg-" });
  const path = Deno.env.get("PATH");
  try {
    // A fake xdg-open on PATH records its argv, one argument per line.
    await Deno.writeTextFile(
      `${bin}/xdg-open`,
      `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > "$0.argv"\n`,
      {
        mode: 0o755,
      },
    );
    Deno.env.set("PATH", `${bin}:${path}`);
    const url = "https://ci.example.org/812?a=1&b=$(id)#x";
    const id = await desktop.show({ summary: "Build failed", body: "", urgency: "critical", click: url });
    await session.waitForNotification((n) => n.id === id);
    // dunstctl invokes the default action of the popup on top, as a click would.
    assert.equal((await session.dunstctl("action", "0")).code, 0);
    const argv = await waitFor(() => Deno.readTextFile(`${bin}/xdg-open.argv`).catch(() => undefined));
    assert.equal(argv, `${url}\n`);
  } finally {
    if (path === undefined) Deno.env.delete("PATH");
    else Deno.env.set("PATH", path);
    await desktop.close();
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("LinuxDesktop without a session bus explains why, logs once and never throws", async (t) => {
  const cases = [
    { name: "unset", address: "", reason: "no session D-Bus (DBUS_SESSION_BUS_ADDRESS is unset)" },
    {
      name: "missing socket",
      address: "unix:path=/nonexistent/hark-test/bus",
      reason: /^no session D-Bus at unix:path=\/nonexistent\/hark-test\/bus /,
    },
    { name: "abstract only", address: "unix:abstract=/tmp/dbus-x", reason: /has no unix:path=/ },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const logged: string[] = [];
      let now = 0;
      await using desktop = new LinuxDesktop({ address: c.address, warn: (m) => logged.push(m), now: () => now });
      await desktop.start();
      await desktop.start();
      for (let i = 0; i < 5; i++) assert.equal(await desktop.show({ summary: "s", body: "b", urgency: "normal" }), 0);
      now += 61_000; // the next attempt, still failing, says nothing new
      assert.equal(await desktop.show({ summary: "s", body: "b", urgency: "normal" }), 0);
      assert.equal(desktop.available().ok, false);
      if (typeof c.reason === "string") assert.equal(desktop.available().reason, c.reason);
      else assert.match(desktop.available().reason, c.reason);
      assert.equal(logged.length, 1, logged.join("\n"));
      assert.match(logged[0], /^Desktop notifications are unavailable: /);
    });
  }
});

Deno.test("notificationFromEvent() maps fields and scopes data.replaces by topic and host", () => {
  const n = notificationFromEvent(event({ topic: "builds", body: "b", priority: 4, click: "https://x.org/" }));
  assert.deepEqual(n, { summary: "builds", body: "b", urgency: "critical", click: "https://x.org/" });
  const keyed = notificationFromEvent(event({ topic: "builds", title: "t", data: { replaces: "k" } }));
  assert.equal(keyed.replacesKey, "builds\u0000ci-01\u0000k");
  assert.equal(notificationFromEvent(event({ title: "t", data: { replaces: 7 } })).replacesKey, undefined);
});

desktopTest(
  "LinuxDesktop shows ntfy's action buttons; clicking them opens the URL or makes the request",
  async (session, desktop) => {
    const bin = await Deno.makeTempDir({ prefix: "hark-xdg-" });
    const path = Deno.env.get("PATH");
    const requests: { method: string; url: string; auth: string | null; body: string }[] = [];
    await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
      requests.push({
        method: request.method,
        url: request.url,
        auth: request.headers.get("authorization"),
        body: await request.text(),
      });
      return new Response("ok");
    });
    try {
      await Deno.writeTextFile(`${bin}/xdg-open`, `#!/bin/sh\nprintf '%s\\n' "$@" > "$0.argv"\n`, { mode: 0o755 });
      Deno.env.set("PATH", `${bin}:${path}`);
      const api = `http://127.0.0.1:${server.addr.port}/thermostat`;
      const notification = notificationFromEvent(event({
        title: "Too warm",
        body: "28 °C in the server room",
        actions: [
          { action: "view", label: "Open dashboard", url: "https://dash.example.org/room?a=1&b=$(id)" },
          {
            action: "http",
            label: "Turn down",
            url: api,
            method: "PUT",
            headers: { Authorization: "Bearer t0k" },
            body: '{"temperature": 20}',
            clear: true,
          },
        ],
      }));
      const id = await desktop.show(notification);
      const shown = await session.waitForNotification((n) => n.id === id);
      assert.deepEqual(shown.actions, { "hark-0": "Open dashboard", "hark-1": "Turn down" });

      await session.clickButton("Open dashboard");
      const argv = await waitFor(() => Deno.readTextFile(`${bin}/xdg-open.argv`).catch(() => undefined));
      assert.equal(argv, "https://dash.example.org/room?a=1&b=$(id)\n", "the URL is one argument, never a shell word");

      assert.equal(
        (await session.dunstctl("count", "displayed")).stdout.trim(),
        "1",
        "a view button without clear keeps it",
      );
      await session.clickButton("Turn down");
      await waitFor(() => requests.length === 1, { message: "the button's request" });
      assert.deepEqual(requests[0], {
        method: "PUT",
        url: api,
        auth: "Bearer t0k",
        body: '{"temperature": 20}',
      });
      // clear=true: the popup closes after the click.
      await waitFor(async () => !(await session.dunstctl("count", "displayed")).stdout.trim().startsWith("1"), {
        message: "the popup to close",
      });
    } finally {
      if (path === undefined) Deno.env.delete("PATH");
      else Deno.env.set("PATH", path);
      await desktop.close();
      await Deno.remove(bin, { recursive: true });
    }
  },
);
