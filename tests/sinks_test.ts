/**
 * Sinks that act, end to end: an event published on one agent pops up as a
 * native notification on another (a real dunst on a private D-Bus under
 * Xvfb), runs a script there and reaches a webhook, each filtered by its
 * own `when` expression and topic globs.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { haveDesktop, startDesktopSession } from "./helpers/desktop_session.ts";
import { waitFor } from "./helpers/wait.ts";
import { haveTools } from "./helpers/tools.ts";
import type { HarkEvent } from "../lib/event/event.ts";

const desktop = haveDesktop("sinks_test desktop end to end");

Deno.test({
  name: "an event from another agent pops up, runs a script and reaches a webhook, each as filtered",
  ignore: !desktop,
}, async (t) => {
  await using session = await startDesktopSession();
  const dir = await Deno.makeTempDir({ prefix: "hark-sinks-" });
  const hooks: { headers: Headers; body: HarkEvent }[] = [];
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    hooks.push({ headers: request.headers, body: await request.json() });
    return new Response("ok");
  });
  const script = `${dir}/on-event.sh`;
  await Deno.writeTextFile(script, `#!/bin/sh\nprintf '%s|%s' "$HARK_TITLE" "$HARK_TAGS" > "${dir}/ran-$HARK_ID"\n`);
  await Deno.chmod(script, 0o755);

  await using publisher = await startAgent({
    config: loopbackConfig([], `[agent]\ntopics = ["builds.web", "chat"]\nhost = "ci-01"`),
  });
  const sinks = `
[agent]
topics = ["builds.web", "chat"]
host = "desk-01"

[[sink]]
type = "file"

[[sink]]
type = "desktop"
topics = ["builds.*"]
when = 'priority >= 4'

[[sink]]
type = "exec"
command = ["${script}"]
when = 'tags contains "deploy"'

[[sink]]
type = "webhook"
url = "http://127.0.0.1:${server.addr.port}/hook"
secret = "s3cret"
when = 'source.host matches "ci-*"'
`;
  await using receiver = await startAgent({ config: loopbackConfig(publisher.addresses, sinks), env: session.env });
  await receiver.waitForPeers([publisher.peerId], "builds.web");

  const send = (args: string[]) => publisher.send(args);
  const urgent = await send(["-t", "builds.web", "-p", "5", "--title", "Build #812 failed", "test timed out"]);
  const quiet = await send(["-t", "builds.web", "-p", "2", "--title", "Build #813 queued", "no popup"]);
  const deploy = await send(["-t", "chat", "--tag", "deploy", "--title", "Deploying", "to prod"]);
  // From the receiver itself (host desk-01): its own sinks see it, but the webhook wants ci-* hosts.
  const local = await receiver.send(["-t", "builds.web", "-p", "4", "--title", "Local", "from desk-01"]);
  // Sinks deliver in order: once this pops up, every event before it has been judged.
  const last = await send(["-t", "builds.web", "-p", "4", "--title", "Last", "the end"]);
  await receiver.waitForEvents([urgent, quiet, deploy, local, last]);

  await t.step("the desktop popup: builds.* at priority 4 or more only", async () => {
    const popup = await session.waitForNotification((n) => n.summary === "Build #812 failed");
    assert.equal(popup.body, "test timed out");
    assert.equal(popup.urgency, "CRITICAL");
    await session.waitForNotification((n) => n.summary === "Last");
    assert.ok(!session.notifications().some((n) => n.summary === "Build #813 queued"), "priority 2 did not pop up");
    assert.ok(!session.notifications().some((n) => n.summary === "Deploying"), "chat is not builds.*");
  });

  await t.step("the script: tagged deploy only", async () => {
    const ran = await waitFor(() => Deno.readTextFile(`${dir}/ran-${deploy}`).catch(() => undefined), {
      message: "the exec sink to run for the deploy event",
    });
    assert.equal(ran, "Deploying|deploy");
    const runs = [...Deno.readDirSync(dir)].filter((entry) => entry.name.startsWith("ran-"));
    assert.deepEqual(runs.map((entry) => entry.name), [`ran-${deploy}`]);
  });

  await t.step("the webhook: every event from ci-* hosts, signed", async () => {
    await waitFor(() => hooks.some((hook) => hook.body.id === last), { message: "the last webhook call" });
    assert.deepEqual(hooks.map((hook) => hook.body.id), [urgent, quiet, deploy, last], "not the local event");
    for (const hook of hooks) {
      assert.equal(hook.headers.get("x-hark-id"), hook.body.id);
      assert.match(hook.headers.get("x-hark-signature") ?? "", /^sha256=[0-9a-f]{64}$/);
    }
  });

  await t.step("hark status shows each sink's state and what it reports", async () => {
    const status = await receiver.request({ op: "status" });
    const sinks = (status.status as { sinks: { name: string; state: string; details?: Record<string, unknown> }[] })
      .sinks;
    assert.deepEqual(sinks.map((sink) => sink.state), ["ok", "ok", "ok", "ok"]);
    const desktop = sinks.find((sink) => sink.name === "desktop")!;
    assert.equal(desktop.details?.available, true);
    assert.match(String(desktop.details?.reason), /dunst/);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("without a session bus the desktop sink says so once and the agent carries on", async () => {
  const config = `[[sink]]\ntype = "desktop"\n\n[[sink]]\ntype = "file"\n`;
  await using agent = await startAgent({
    config: loopbackConfig([], config),
    env: { DBUS_SESSION_BUS_ADDRESS: "unix:path=/nonexistent/hark-test-bus" },
  });
  const ids = [await agent.send(["one"]), await agent.send(["two"])];
  await agent.waitForEvents(ids);
  const status = await agent.request({ op: "status" });
  const desktop = (status.status as { sinks: { name: string; state: string; details?: Record<string, unknown> }[] })
    .sinks.find((sink) => sink.name === "desktop")!;
  assert.equal(desktop.state, "ok", "no failure per event");
  assert.equal(desktop.details?.available, false);
  assert.match(String(desktop.details?.reason), /no session D-Bus/);
  await waitFor(() => /no session D-Bus/.test(agent.stderr), { message: "the log line" });
  assert.equal(agent.stderr.match(/no session D-Bus/g)?.length, 1, "said once");
  const doctor = await agent.cli(["doctor"], { env: { DBUS_SESSION_BUS_ADDRESS: "unix:path=/nonexistent/bus" } });
  assert.match(
    doctor.stdout,
    /^warn {2}desktop notifications: freedesktop notifications over the session D-Bus: no session D-Bus/m,
  );
  assert.match(doctor.stdout, /fix: run hark inside a desktop session/);
});

Deno.test({ name: "a burst of events becomes a few popups and one summary popup", ignore: !desktop }, async () => {
  await using session = await startDesktopSession();
  const config = `[[sink]]\ntype = "file"\n\n[[sink]]\ntype = "desktop"\nmax_popups = 3\npopup_window = "10s"\n`;
  await using agent = await startAgent({ config: loopbackConfig([], config), env: session.env });
  const ids: string[] = [];
  for (let i = 1; i <= 8; i++) ids.push(await agent.send(["--title", `burst ${i}`, "a busy minute"]));
  await agent.waitForEvents(ids);
  // The summary comes when the window ends, even though no further event arrives.
  const summary = await session.waitForNotification((n) => /^5 more events: default 5$/.test(n.body), 20_000);
  assert.equal(summary.summary, "hark");
  const shown = session.notifications().filter((n) => n.summary.startsWith("burst ")).map((n) => n.summary);
  assert.deepEqual(shown, ["burst 1", "burst 2", "burst 3"]);
});

Deno.test({
  name: "ntfy's Actions header becomes buttons on the receiver's popup; a click makes the request",
  ignore: !desktop || !haveTools("the actions end-to-end test", ["curl"]),
}, async () => {
  await using session = await startDesktopSession();
  const requests: { method: string; path: string; body: string }[] = [];
  await using api = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    requests.push({ method: request.method, path: new URL(request.url).pathname, body: await request.text() });
    return new Response("done");
  });
  await using receiver = await startAgent({
    config: loopbackConfig([], `[[sink]]\ntype = "desktop"\n`),
    env: session.env,
  });
  await using publisher = await startAgent({
    config: loopbackConfig(receiver.addresses, `[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\n`),
  });
  await publisher.waitForPeers([receiver.peerId]);
  const status = await publisher.request({ op: "status" });
  const listen = (status.status as { sources: { listen: string }[] }).sources[0].listen;
  // As ntfy's docs write it, with a local API standing in for the thermostat.
  const output = await new Deno.Command("curl", {
    args: [
      "-s",
      "-d",
      "The server room is at 28 °C",
      "-H",
      `Actions: view, Open dashboard, https://dash.example.org/; http, Turn down, http://127.0.0.1:${api.addr.port}/turn-down, body='{"temperature": 20}'`,
      `http://${listen}/default`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const sent = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.equal(sent.actions.length, 2, JSON.stringify(sent));
  const popup = await session.waitForNotification((n) => n.body.includes("28 °C"));
  // Every popup of the desktop sink can also be acknowledged on every agent.
  assert.deepEqual(popup.actions, { "hark-0": "Open dashboard", "hark-1": "Turn down", "hark-ack": "Acknowledge" });
  await session.clickButton("Turn down");
  await waitFor(() => requests.length === 1, { message: "the Turn down request" });
  assert.deepEqual(requests[0], { method: "POST", path: "/turn-down", body: '{"temperature": 20}' });
});
