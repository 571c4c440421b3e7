import assert from "node:assert/strict";
import { parseDelay, parseFutureTime } from "./future_time.ts";

// Wednesday 10 December 2025, 9:00 local time: ntfy's examples assume "today is 12/10/2021, 9am".
const NOW = new Date(2025, 11, 10, 9, 0, 0, 0).getTime();
const local = (day: number, hours: number, minutes = 0) => new Date(2025, 11, day, hours, minutes, 0, 0).getTime();

Deno.test("parseFutureTime() reads the forms ntfy's docs show", async (t) => {
  const cases: [string, number][] = [
    ["30m", NOW + 30 * 60_000],
    ["30min", NOW + 30 * 60_000],
    ["2 hours", NOW + 2 * 3_600_000],
    ["1 day", NOW + 86_400_000],
    ["3 days", NOW + 3 * 86_400_000],
    ["1h30m", NOW + 90 * 60_000],
    ["in 10 minutes", NOW + 10 * 60_000],
    ["45s", NOW + 45_000],
    ["10am", local(10, 10)],
    ["8am", local(11, 8)], // already past today: tomorrow
    ["8:30pm", local(10, 20, 30)],
    ["17:45", local(10, 17, 45)],
    ["noon", local(10, 12)],
    ["tomorrow, 10am", local(11, 10)],
    ["tomorrow 3pm", local(11, 15)],
    ["Tomorrow, 3PM", local(11, 15)],
    ["Friday, 7pm", local(12, 19)],
    ["tuesday, 7am", local(16, 7)],
    ["Wednesday, 10am", local(10, 10)], // today, still ahead
    ["wednesday, 8am", local(17, 8)], // today, past: a week on
    ["at 10am", local(10, 10)],
    ["1639194738", 1639194738_000],
    ["2025-12-10T12:00:00Z", Date.UTC(2025, 11, 10, 12)],
    ["2025-12-10T12:00:00+02:00", Date.UTC(2025, 11, 10, 10)],
    ["2025-12-10 12:00", local(10, 12)],
    ["2025-12-11 08:30:15", local(11, 8, 30) + 15_000],
  ];
  for (const [text, expected] of cases) {
    await t.step(text, () => assert.equal(parseFutureTime(text, NOW), expected));
  }
});

Deno.test("parseFutureTime() refuses what it cannot read, naming the forms", async (t) => {
  const unreadable = [
    ...["", "soon", "25:00", "13pm", "blursday, 10am", "tomorrow, later", "2025-12-10T12:00:00"],
    ...["2025-02-30 12:00", "2025-12-10 24:00", "2025-12-10 12:00:61"],
  ];
  for (const text of unreadable) {
    await t.step(JSON.stringify(text), () => {
      assert.throws(
        () => parseFutureTime(text, NOW),
        /cannot read the time .*use a duration.*RFC 3339 \(2026-12-07T12:00:00Z\), a local date and time \("2026-12-07 12:00"\)/,
      );
    });
  }
});

Deno.test("parseDelay() takes durations only", () => {
  assert.equal(parseDelay("30m"), 30 * 60_000);
  assert.equal(parseDelay("2 days"), 2 * 86_400_000);
  assert.equal(parseDelay("10am"), undefined);
  assert.equal(parseDelay("1639194738"), undefined);
});
