import assert from "node:assert/strict";
import { parseActionsHeader, parseActionsJson } from "./ntfy_actions.ts";
import { EventError } from "../errors.ts";

Deno.test("parseActionsHeader reads ntfy's short form, quotes and headers.*", () => {
  assert.deepEqual(
    parseActionsHeader(
      `view, Open portal, https://home.example/, clear=true; http, Turn down, https://api.example/, method=put, headers.Authorization=Bearer x, body='{"temperature": 65, "mode": "eco"}'`,
    ),
    [
      { action: "view", label: "Open portal", url: "https://home.example/", clear: true },
      {
        action: "http",
        label: "Turn down",
        url: "https://api.example/",
        method: "PUT",
        headers: { Authorization: "Bearer x" },
        body: '{"temperature": 65, "mode": "eco"}',
      },
    ],
  );
});

Deno.test("parseActionsHeader reads the long form and a label with a comma in quotes", () => {
  assert.deepEqual(
    parseActionsHeader(`action=view, label="Open, now", url=https://x.example/?a=1&b=2`),
    [{ action: "view", label: "Open, now", url: "https://x.example/?a=1&b=2" }],
  );
});

Deno.test("parseActionsHeader refuses what hark cannot do, naming it", () => {
  const refuses = (text: string, message: RegExp) =>
    assert.throws(
      () => parseActionsHeader(text),
      (error: Error) => error instanceof EventError && message.test(error.message),
    );
  refuses("dial, Call, tel:123", /"dial" is not supported: use "view".*"broadcast"/);
  refuses("broadcast, Take picture, https://x/", /unexpected "https:\/\/x\/"/);
  refuses("broadcast, Go, intent=not an intent", /intent must be an Android action name/);
  refuses("[{nope", /not a JSON list/);
  refuses("view, Open, javascript:alert(1)", /url must be an absolute http, https or mailto URL/);
  refuses("http, Go, file:///etc/passwd", /url must be an absolute http or https URL/);
  refuses("view, a, https://x/; view, b, https://x/; view, c, https://x/; view, d, https://x/", /4 actions/);
  refuses("http, Go, https://x/, method=TRACE", /method must be one of/);
  refuses("http, Go, https://x/, headers.X-A=a\r\nX-B: b", /control characters/);
  refuses("view, Open, https://x/, clear=maybe", /clear must be true or false/);
  refuses("view, Open, 'https://x/", /unbalanced/);
  refuses("view, Open, https://x/, extra", /unexpected "extra"/);
});

Deno.test("parseActionsJson takes ntfy's JSON list", () => {
  assert.deepEqual(
    parseActionsJson([
      { action: "view", label: "Open", url: "https://x.example/", clear: false },
      { action: "http", label: "Ack", url: "https://x.example/ack", headers: { "X-Token": "t" }, body: "ok" },
    ]),
    [
      { action: "view", label: "Open", url: "https://x.example/", clear: false },
      { action: "http", label: "Ack", url: "https://x.example/ack", headers: { "X-Token": "t" }, body: "ok" },
    ],
  );
  assert.throws(() => parseActionsJson("view, x, y"), EventError);
  assert.throws(() => parseActionsJson([{ action: "view", label: "", url: "https://x/" }]), /label/);
});

Deno.test("parseActionsHeader reads ntfy's broadcast with extras, yes/no for clear, and a JSON list", () => {
  assert.deepEqual(parseActionsHeader("broadcast, Take picture, extras.cmd=pic, extras.camera=front"), [
    { action: "broadcast", label: "Take picture", extras: { cmd: "pic", camera: "front" } },
  ]);
  assert.deepEqual(
    parseActionsHeader(
      "action=broadcast, label=Go, intent=io.heckel.ntfy.USER_ACTION, clear=yes; view, V, https://v/, clear=0",
    ),
    [
      { action: "broadcast", label: "Go", intent: "io.heckel.ntfy.USER_ACTION", clear: true },
      { action: "view", label: "V", url: "https://v/", clear: false },
    ],
  );
  // As ntfy's server, a header that starts with [ is the JSON form; ids and empty fields a JSON encoder writes go.
  assert.deepEqual(
    parseActionsHeader(
      '[{"id":"abc","action":"broadcast","label":"Snap","url":"","intent":"","extras":{"cmd":"pic"},"headers":{}}]',
    ),
    [{ action: "broadcast", label: "Snap", extras: { cmd: "pic" } }],
  );
});
