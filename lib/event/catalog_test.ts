import assert from "node:assert/strict";
import { Catalog } from "./catalog.ts";
import { fieldName } from "./catalog_errors.ts";
import { createEvent, type EventDraft, type HarkEvent } from "./event.ts";
import { ConfigError, HarkError } from "../errors.ts";

const BUILDS = {
  type: "object",
  required: ["status"],
  additionalProperties: false,
  properties: {
    status: { enum: ["ok", "failed"] },
    tags: { type: "array", items: { type: "string" } },
    minutes: { type: "integer", minimum: 0 },
  },
};

function event(draft: EventDraft, peer = "12D3KooWAlice"): HarkEvent {
  return createEvent({ title: "t", ...draft }, {
    id: "01JDQ8ZC5V8Q0W3Z7M9N4T2B6K",
    now: Date.now(),
    host: "alice",
    peer,
  });
}

Deno.test("catalog: data that fits the schema passes, and each misfit names its field", () => {
  const catalog = new Catalog({ builds: { description: "CI builds", schema: BUILDS } });
  assert.equal(catalog.problem("builds", { status: "ok", tags: ["x"], minutes: 3 }), undefined);
  const cases: [unknown, string][] = [
    [{ status: "late" }, `data.status must be one of "ok", "failed"`],
    [{}, "data.status is required"],
    [{ status: "ok", extra: 1 }, "data.extra is not allowed"],
    [{ status: "ok", tags: ["a", 2] }, "data.tags[1] must be string, not number"],
    [{ status: "ok", minutes: -1 }, "data.minutes: -1 is less than 0"],
    ["done", "data must be object, not string"],
  ];
  for (const [data, expected] of cases) {
    assert.equal(
      catalog.problem("builds", data),
      `data does not match the schema of topic "builds": ${expected}`,
      JSON.stringify(data),
    );
  }
  assert.equal(catalog.problem("builds", undefined), `data is missing: topic "builds" has a schema`);
  assert.equal(catalog.problem("other", "anything"), undefined, "a topic without a schema takes any data");
});

Deno.test("catalog: check refuses an off-schema event as off_schema; checkDraft throws for the sender", () => {
  const catalog = new Catalog({ builds: { schema: BUILDS } });
  assert.equal(catalog.check(event({ topic: "builds", data: { status: "ok" } })), undefined);
  const refusal = catalog.check(event({ topic: "builds", data: { status: 1 } }));
  assert.equal(refusal?.reason, "off_schema");
  assert.match(refusal!.detail, /data\.status must be one of/);
  assert.throws(
    () => catalog.checkDraft("builds", { status: "maybe" }),
    (error: Error) => error instanceof HarkError && /data\.status must be one of "ok", "failed"/.test(error.message),
  );
});

Deno.test("catalog: a schema whose $ref leads nowhere is a config error at start", () => {
  assert.throws(
    () => new Catalog({ builds: { schema: { $ref: "#/$defs/missing" } } }),
    (error: Error) => error instanceof ConfigError && error.message.startsWith("topic.builds.schema cannot be used"),
  );
});

Deno.test("catalog: the draft named by $schema is the one applied", () => {
  // Draft 4 reads exclusiveMinimum as a flag; 2020-12 as a number.
  const catalog = new Catalog({
    t: {
      schema: {
        $schema: "http://json-schema.org/draft-04/schema#",
        properties: { n: { minimum: 1, exclusiveMinimum: true } },
      },
    },
  });
  assert.match(catalog.problem("t", { n: 1 }) ?? "", /data\.n/);
  assert.equal(catalog.problem("t", { n: 2 }), undefined);
});

Deno.test("catalog: the announcement drops schemas, then everything, to fit the size it is given", () => {
  const rules = { builds: { description: "CI builds", schema: BUILDS }, deploys: { description: "deploys" } };
  assert.deepEqual(new Catalog(rules).announcement(), rules);
  assert.deepEqual(new Catalog(rules, { maxAnnouncementBytes: 80 }).announcement(), {
    builds: { description: "CI builds" },
    deploys: { description: "deploys" },
  });
  assert.equal(new Catalog(rules, { maxAnnouncementBytes: 10 }).announcement(), undefined);
  assert.equal(new Catalog({ builds: { publishers: [] } }).announcement(), undefined, "nothing to announce");
});

Deno.test("catalog: list merges config, subscriptions, stored publishers and peers' announcements", () => {
  const catalog = new Catalog({ builds: { description: "CI builds", schema: BUILDS } }, { self: "self" });
  catalog.observe(event({
    topic: "hark.node.status",
    data: { peer: "peer-b", host: "b", catalog: { builds: { description: "CI builds", schema: { type: "object" } } } },
  }));
  catalog.observe(event({
    topic: "hark.node.join",
    data: {
      peer: "peer-c",
      host: "c",
      catalog: { deploys: { description: "deploys" }, "hark.x": { description: "no" } },
    },
  }));
  catalog.observe(event({ topic: "hark.node.status", data: { peer: "self", host: "me", catalog: { mine: {} } } }));
  const last = Date.parse("2026-12-06T10:00:00Z");
  const listing = catalog.list(["default", "builds"], [
    { topic: "builds", peer: "peer-b", host: "b", events: 3, last },
    { topic: "builds", peer: "peer-c", host: "c", events: 2, last: last - 1000 },
  ]);
  assert.deepEqual(listing.map((t) => t.topic), ["builds", "default", "deploys"]);
  const [builds, fallback, deploys] = listing;
  assert.equal(builds.defined_by, "config");
  assert.deepEqual(builds.schema, BUILDS);
  assert.equal(builds.subscribed, true);
  assert.deepEqual(builds.announced_by, [{ peer: "peer-b", host: "b" }]);
  assert.equal(builds.disagree, true, "peer-b's schema differs from this agent's");
  assert.equal(builds.events, 5);
  assert.equal(builds.last, "2026-12-06T10:00:00.000Z");
  assert.deepEqual(builds.publishers.map((p) => p.host), ["b", "c"]);
  assert.equal(fallback.defined_by, null);
  assert.equal(fallback.events, 0);
  assert.equal(fallback.last, null);
  assert.equal(deploys.defined_by, "peer");
  assert.equal(deploys.description, "deploys");
  assert.equal(deploys.subscribed, false);
  assert.equal(deploys.disagree, false);

  catalog.observe(event({ topic: "hark.node.leave", data: { peer: "peer-c", host: "c", reason: "unreachable" } }));
  assert.deepEqual(catalog.list([], []).map((t) => t.topic), ["builds"], "a departed peer's topics are forgotten");
});

Deno.test("catalog: two announcements of one schema with keys in another order agree", () => {
  const catalog = new Catalog({ builds: { schema: { type: "object", required: ["a"] } } });
  catalog.learn("peer-b", "b", { builds: { schema: { required: ["a"], type: "object" } } });
  assert.equal(catalog.list([], [])[0].disagree, false);
});

Deno.test("catalog: a hostile announcement is bounded and its junk dropped", () => {
  const catalog = new Catalog({});
  const huge: Record<string, unknown> = { "bad topic!": { description: "x" }, list: [1], number: 5 };
  for (let i = 0; i < 1000; i++) {
    huge[`t${i}`] = { description: "d".repeat(10_000), schema: i % 2 ? [1] : { type: "object" } };
  }
  catalog.learn("peer-b", "b", huge);
  catalog.learn("peer-c", "c", "not an object");
  const listing = catalog.list([], []);
  assert.equal(listing.length, 256, "at most 256 topics from one peer");
  assert.ok(listing.every((t) => (t.description?.length ?? 0) <= 500));
  assert.equal(listing[1].schema, undefined, "a schema that is not an object is dropped");
  assert.ok(!listing.some((t) => t.topic === "bad topic!"));
});

Deno.test("catalog: field names follow JavaScript paths", () => {
  assert.equal(fieldName("#"), "data");
  assert.equal(fieldName("#/a/0/b"), "data.a[0].b");
  assert.equal(fieldName("#/with%20space/x~1y"), `data["with space"]["x/y"]`);
});
