/**
 * `deno task bench`: hark side by side with Serf and Mosquitto on this
 * machine, in one run, on loopback only. Prints one table; `--json FILE`
 * writes the same table as JSON. Every loop is bounded in count and time.
 *
 *   deno task bench [--json FILE] [--quick]
 */

import { parseArgs } from "node:util";
import { type Cluster, HarkCluster, harkSendArgv, MosquittoCluster, SerfCluster } from "./clusters.ts";
import { measureFanout, measureFanoutOverSocket } from "./fanout.ts";
import { harkThroughput, mosquittoThroughput, type Throughput } from "./throughput.ts";
import { measureSendCost, type SendCost } from "./cost.ts";
import { type Footprint, measureIdle } from "./footprint.ts";
import { describeMachine, ensurePackages } from "./setup.ts";
import type { Latency } from "./stats.ts";
import { FIRST_TRIM_MS } from "../../lib/heap_trim.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { json: { type: "string" }, quick: { type: "boolean" } },
});
const quick = values.quick ?? false;
const SIZES = quick ? [3, 10] : [3, 10, 30];
const FANOUT = { events: quick ? 30 : 100, spacingMs: 100, deadlineMs: 15_000 };
const THROUGHPUT_MS = quick ? 3000 : 10_000;
const IDLE_WINDOW_MS = quick ? 10_000 : 20_000;
const SEND_RUNS = quick ? 5 : 20;

type System = "hark" | "serf" | "mosquitto";

interface Row {
  figure: string;
  unit: string;
  hark?: number;
  serf?: number;
  mosquitto?: number;
  /** "lower" when smaller is better. */
  better: "lower" | "higher";
  target?: string;
  met?: boolean;
}

function log(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

const latency = new Map<string, Latency>();
let sendCost: Partial<Record<System, SendCost>> = {};
let idle: Partial<Record<System, Footprint>> = {};
const throughput: Partial<Record<System, Throughput>> = {};

async function fanoutRound(size: number): Promise<void> {
  const starters: [System, (n: number) => Promise<Cluster>][] = [
    ["hark", HarkCluster.start],
    ["serf", SerfCluster.start],
    ["mosquitto", MosquittoCluster.start],
  ];
  const kept: Cluster[] = [];
  let harkStarted = 0;
  for (const [system, start] of starters) {
    log(`${system}: starting ${size} nodes`);
    const began = performance.now();
    if (system === "hark") harkStarted = began;
    const cluster = await start(size);
    log(`${system}: ${size} nodes up in ${((performance.now() - began) / 1000).toFixed(1)} s; ${FANOUT.events} events`);
    try {
      const result = await measureFanout(cluster, FANOUT);
      latency.set(`${system}/${size}`, result);
      log(`${system} N=${size}: p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, lost ${result.lost}`);
      if (system === "hark") {
        const direct = await measureFanoutOverSocket(cluster as HarkCluster, { ...FANOUT, events: FANOUT.events / 2 });
        latency.set(`hark-socket/${size}`, direct);
        log(`hark over an open socket N=${size}: p50 ${direct.p50.toFixed(1)} ms, p99 ${direct.p99.toFixed(1)} ms`);
      }
    } finally {
      if (size === 10 && system !== "mosquitto") kept.push(cluster);
      else await cluster.stop();
    }
  }
  if (kept.length === 0) return;
  try {
    const [hark, serf] = kept as [HarkCluster, SerfCluster];
    log("send cost");
    sendCost = {
      hark: await measureSendCost(
        () => harkSendArgv(hark.agents[0].stateDir, `cost-${crypto.randomUUID()}`),
        SEND_RUNS,
      ),
      serf: await measureSendCost(() => serf.sendArgv(`cost-${crypto.randomUUID()}`), SEND_RUNS),
    };
    const mosquitto = await MosquittoCluster.start(1);
    try {
      sendCost.mosquitto = await measureSendCost(() => mosquitto.sendArgv("cost"), SEND_RUNS);
    } finally {
      await mosquitto.stop();
    }
    // An idle agent is measured after its first heap trim (lib/heap_trim.ts), which a quick run could otherwise
    // catch in its window: 120 ms of CPU once, not what an idle agent spends.
    const untilTrimmed = harkStarted + FIRST_TRIM_MS + 2000 - performance.now();
    if (untilTrimmed > 0) await new Promise((resolve) => setTimeout(resolve, untilTrimmed));
    log(`idle footprint over ${IDLE_WINDOW_MS / 1000} s`);
    const [harkIdle, serfIdle] = await Promise.all([
      measureIdle(hark.pids(), IDLE_WINDOW_MS),
      measureIdle(serf.pids(), IDLE_WINDOW_MS),
    ]);
    idle = { hark: harkIdle, serf: serfIdle };
  } finally {
    await Promise.all(kept.map((cluster) => cluster.stop()));
  }
}

function rows(): Row[] {
  const out: Row[] = [];
  const get = (system: System, size: number) => latency.get(`${system}/${size}`);
  const fanRow = (size: number, key: "p50" | "p99" | "max", target?: string, met?: (h: number) => boolean) => {
    const hark = get("hark", size)?.[key];
    out.push({
      figure: `fan-out ${key}, N = ${size}`,
      unit: "ms",
      hark,
      serf: get("serf", size)?.[key],
      mosquitto: get("mosquitto", size)?.[key],
      better: "lower",
      target,
      met: target && hark !== undefined && met ? met(hark) : undefined,
    });
  };
  const serf10 = get("serf", 10);
  const mq10 = get("mosquitto", 10);
  fanRow(
    10,
    "p50",
    "≤ 40 ms, ≥ 5× faster than serf, ≤ 1.5× mosquitto",
    (h) => h <= 40 && (!serf10 || h * 5 <= serf10.p50) && (!mq10 || h <= 1.5 * mq10.p50),
  );
  fanRow(10, "p99", "≤ 120 ms, ≥ 5× faster than serf", (h) => h <= 120 && (!serf10 || h * 5 <= serf10.p99));
  fanRow(10, "max");
  const socket = latency.get("hark-socket/10");
  for (const key of ["p50", "p99"] as const) {
    out.push({
      figure: `fan-out ${key}, N = 10, over an open control socket (mosquitto: mosquitto_pub)`,
      unit: "ms",
      hark: socket?.[key],
      mosquitto: mq10?.[key],
      better: "lower",
    });
  }
  for (const size of SIZES.filter((size) => size !== 10)) {
    fanRow(size, "p50");
    const target = size === 30 ? "≤ 2× p99 at N = 10" : undefined;
    fanRow(size, "p99", target, (h) => h <= 2 * (get("hark", 10)?.p99 ?? Infinity));
  }
  const lost = (system: System) => SIZES.reduce((sum, size) => sum + (get(system, size)?.lost ?? 0), 0);
  out.push({
    figure: "fan-out events lost (all N)",
    unit: "events",
    hark: lost("hark"),
    serf: lost("serf"),
    mosquitto: lost("mosquitto"),
    better: "lower",
    target: "0",
    met: lost("hark") === 0,
  });
  const t = throughput;
  out.push({
    figure: "throughput to 4 receivers",
    unit: "events/s",
    hark: t.hark?.perSecond,
    mosquitto: t.mosquitto?.perSecond,
    better: "higher",
    target: "≥ 2,000/s, 0 lost, 0 duplicated",
    met: t.hark ? t.hark.perSecond >= 2000 && Math.max(...t.hark.lost, ...t.hark.duplicated) === 0 : undefined,
  });
  out.push({
    figure: "throughput: sent",
    unit: "events",
    hark: t.hark?.sent,
    mosquitto: t.mosquitto?.sent,
    better: "higher",
  });
  out.push({
    figure: "throughput: lost (worst receiver)",
    unit: "events",
    hark: t.hark && Math.max(...t.hark.lost),
    mosquitto: t.mosquitto && Math.max(...t.mosquitto.lost),
    better: "lower",
  });
  out.push({
    figure: "throughput: duplicated (worst receiver)",
    unit: "events",
    hark: t.hark && Math.max(...t.hark.duplicated),
    mosquitto: t.mosquitto && Math.max(...t.mosquitto.duplicated),
    better: "lower",
  });
  out.push({
    figure: "send: wall time (median)",
    unit: "ms",
    hark: sendCost.hark?.wallMs,
    serf: sendCost.serf?.wallMs,
    mosquitto: sendCost.mosquitto?.wallMs,
    better: "lower",
    target: "≤ 50 ms",
    met: sendCost.hark ? sendCost.hark.wallMs <= 50 : undefined,
  });
  out.push({
    figure: "send: peak RSS",
    unit: "MB",
    hark: sendCost.hark?.rssMb,
    serf: sendCost.serf?.rssMb,
    mosquitto: sendCost.mosquitto?.rssMb,
    better: "lower",
  });
  out.push({
    figure: "idle agent RSS, 9 peers",
    unit: "MB",
    hark: idle.hark?.rssMb,
    serf: idle.serf?.rssMb,
    better: "lower",
    target: "≤ 64 MB",
    met: idle.hark ? idle.hark.rssMb <= 64 : undefined,
  });
  out.push({
    figure: "— of it anonymous (RssAnon: RSS without mapped code)",
    unit: "MB",
    hark: idle.hark?.anonymousMb,
    serf: idle.serf?.anonymousMb,
    better: "lower",
    target: "≤ 40 MB",
    met: idle.hark ? idle.hark.anonymousMb <= 40 : undefined,
  });
  out.push({
    figure: "idle agent CPU",
    unit: "s/min",
    hark: idle.hark?.cpuPerMinute,
    serf: idle.serf?.cpuPerMinute,
    better: "lower",
    target: "≤ 0.5 s/min",
    met: idle.hark ? idle.hark.cpuPerMinute <= 0.5 : undefined,
  });
  return out;
}

function number(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return "–";
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function ratio(hark?: number, peer?: number): number | undefined {
  return hark === undefined || peer === undefined || peer === 0 ? undefined : hark / peer;
}

function render(table: Row[], machine: Record<string, unknown>): string {
  const header = ["figure", "unit", "hark", "serf", "mosquitto", "hark/serf", "hark/mosq", "target", "met"];
  const body = table.map((row) => [
    row.figure,
    row.unit,
    number(row.hark),
    number(row.serf),
    number(row.mosquitto),
    number(ratio(row.hark, row.serf)),
    number(ratio(row.hark, row.mosquitto)),
    row.target ?? "",
    row.met === undefined ? "" : row.met ? "yes" : "NO",
  ]);
  const lines = [header, header.map(() => "---"), ...body].map((cells) => `| ${cells.join(" | ")} |`);
  const about = Object.entries(machine).map(([key, value]) => `${key}: ${value}`).join("; ");
  return `${lines.join("\n")}\n\nMachine: ${about}. Ratios are hark/peer: below 1 means hark is lower.`;
}

await ensurePackages();
const machine = await describeMachine();
const began = performance.now();
for (const size of SIZES) await fanoutRound(size);
log("throughput: hark");
throughput.hark = await harkThroughput(THROUGHPUT_MS);
log("throughput: mosquitto");
throughput.mosquitto = await mosquittoThroughput(THROUGHPUT_MS);
const table = rows();
const report = {
  machine: { ...machine, quick, seconds: Math.round((performance.now() - began) / 1000) },
  rows: table.map((row) => ({
    ...row,
    hark_serf: ratio(row.hark, row.serf),
    hark_mosquitto: ratio(row.hark, row.mosquitto),
  })),
};
console.log(render(table, report.machine));
if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(report, null, 2) + "\n");
