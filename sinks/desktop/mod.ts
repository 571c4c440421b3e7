/**
 * The desktop sink: a native notification per event, through this
 * platform's backend (freedesktop D-Bus on Linux, osascript or
 * terminal-notifier on macOS, a toast or balloon on Windows).
 *
 * Two gates keep a person from being buried: a backlog of stale events
 * (after a sleep) becomes one "while you were away" popup, and a burst of
 * fresh ones over `maxPopups` per window collapses into one summary popup.
 * Without a notification service (a headless server, no session bus) the
 * sink says so once and in `hark status`, and takes events without failing.
 */

import { getLogger } from "@logtape/logtape";
import type { HarkEvent } from "../../lib/event/event.ts";
import type { Sink } from "../sink.ts";
import { isMessage, sequenceOf } from "../../lib/notifications/book.ts";
import type { PopupMemory } from "../../lib/notifications/popups.ts";
import type { SinkMemory } from "../../lib/notifications/sink_memory.ts";
import type { RepeatOption } from "./config.ts";
import { RepeatSchedule } from "./repeat.ts";
import { Coalescer, type Group, groupPopupKey, groupText } from "./coalesce.ts";
import { AwayGate } from "../away.ts";
import { PopupLimit } from "./popup_limit.ts";
import { type Notification, urgencyOf } from "./notification.ts";
import { desktopBody, desktopButtons } from "./event_content.ts";
import { LinuxDesktop } from "./linux.ts";
import { MacDesktop } from "./macos.ts";
import { WindowsDesktop } from "./windows.ts";

const log = getLogger(["hark", "sink", "desktop"]);

/** What every platform's backend offers. */
export interface DesktopBackend {
  /** Which mechanism, for `hark status` and `hark doctor`. */
  readonly name: string;
  start(): Promise<void>;
  available(): { ok: boolean; reason: string };
  show(notification: Notification): Promise<void>;
  /** Closes the notification shown under this replace key, where the platform can. */
  withdraw?(key: string): Promise<void>;
  /** Whether a notification shown under this replace key is still open, where the platform knows. */
  showing?(key: string): boolean;
  close(): Promise<void>;
}

export interface DesktopSinkInit {
  maxAgeMs: number;
  summarizeAfter: number;
  maxPopups: number;
  popupWindowMs: number;
  /** @default this platform's backend */
  backend?: DesktopBackend;
  /** Publishes an acknowledgement (a clear) of the notification (topic, sequence): the popup's "Acknowledge" button. */
  acknowledge?: (topic: string, sequence: string) => Promise<unknown>;
  /** Which popup shows which notification, across restarts (Linux). */
  popups?: PopupMemory;
  /** Re-show unacknowledged popups of this priority or more, every so often (sinks/desktop/repeat.ts). */
  repeat?: RepeatOption;
  /** Events of one topic and title within this window (ms) make one counting popup (sinks/desktop/coalesce.ts). */
  coalesceMs?: number;
  /** Pending repeats and counting popups, kept across restarts. */
  memory?: SinkMemory;
  /** Whether an event is still the newest step of an open notification (the book's answer). */
  isOpen?: (event: HarkEvent) => boolean;
}

/** The sound a repeated reminder plays (freedesktop sound naming). */
const REPEAT_SOUND = "message-new-instant";

/** The replace key of the notification an event belongs to: its topic and sequence (or id). */
export function notificationKey(event: HarkEvent): string {
  return `seq:${event.topic}/${sequenceOf(event)}`;
}

/**
 * The event as a notification: priority to urgency, first tag to category,
 * data.replaces to a replace key, Markdown and the attachment as text (./event_content.ts).
 */
export function notificationOf(event: HarkEvent): Notification {
  const notification: Notification = {
    summary: event.title || event.topic,
    body: desktopBody(event),
    urgency: urgencyOf(event.priority),
  };
  if (event.tags?.length) notification.category = event.tags[0];
  if (event.click) notification.click = event.click;
  const buttons = desktopButtons(event);
  if (buttons.length > 0) notification.actions = buttons;
  const replaces = (event.data as Record<string, unknown> | undefined)?.replaces;
  if (typeof replaces === "string" && replaces !== "") {
    // Scoped by the verified publisher: nobody can replace another agent's popups by guessing keys.
    notification.replacesKey = `${event.source.peer}/${replaces}`;
  } else {
    // Keys are per topic: any publisher on the topic may update or acknowledge it, as in ntfy.
    notification.replacesKey = notificationKey(event);
  }
  return notification;
}

export class DesktopSink implements Sink {
  readonly name = "desktop";
  readonly showsNotifications = true;
  #acknowledge?: DesktopSinkInit["acknowledge"];
  #backend: DesktopBackend;
  #started?: Promise<void>;
  #away: AwayGate;
  #limit: PopupLimit;
  #summaryTimer?: ReturnType<typeof setTimeout>;
  #shown = 0;
  #collapsed = 0;
  #closed = false;
  #coalescer: Coalescer;
  #repeats?: RepeatSchedule;
  #isOpen: (event: HarkEvent) => boolean;

  constructor(init: DesktopSinkInit) {
    this.#backend = init.backend ?? platformBackend(init.popups);
    this.#acknowledge = init.acknowledge;
    this.#isOpen = init.isOpen ?? (() => true);
    this.#coalescer = new Coalescer({ windowMs: init.coalesceMs, memory: init.memory });
    if (init.repeat) {
      this.#repeats = new RepeatSchedule({
        ...init.repeat,
        isOpen: this.#isOpen,
        show: (event) => this.#remind(event),
        memory: init.memory,
      });
    }
    this.#limit = new PopupLimit({ limit: init.maxPopups, windowMs: init.popupWindowMs });
    this.#away = new AwayGate({ maxAgeMs: init.maxAgeMs, summarizeAfter: init.summarizeAfter }, {
      events: async (events) => {
        for (const event of events) await this.#popUp(event);
      },
      summary: (text) => this.#show({ summary: "hark", body: text, urgency: "normal" }),
    });
  }

  /** Brings back the repeats pending before a restart. Idempotent. */
  start(): void {
    this.#repeats?.start();
  }

  async deliver(event: HarkEvent): Promise<void> {
    this.#started ??= this.#backend.start();
    await this.#started;
    // No notification service: the backend has said so once; the event is not an error.
    if (!this.#backend.available().ok) return;
    // An acknowledgement or deletion closes the popup; it never pops up itself.
    if (!isMessage(event)) return await this.#close(notificationKey(event));
    await this.#away.offer(event);
  }

  stats(): Record<string, unknown> {
    const { ok, reason } = this.#backend.available();
    return {
      backend: this.#backend.name,
      available: ok,
      reason,
      shown: this.#shown,
      collapsed: this.#collapsed,
      ...this.#repeats?.stats(),
      ...this.#coalescer.stats(),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#repeats?.close();
    await this.#away.flush();
    clearTimeout(this.#summaryTimer);
    const summary = this.#limit.flush(true);
    if (summary) await this.#show({ summary: "hark", body: summary, urgency: "normal" });
    await this.#backend.close();
  }

  /** The notification `key` was acknowledged or deleted: its popup (or its counting popup) closes, its repeats stop. */
  async #close(key: string): Promise<void> {
    const group = this.#coalescer.groupOf(key);
    if (group) this.#coalescer.drop(group);
    const popup = group ? groupPopupKey(group) : key;
    this.#repeats?.cancel(popup);
    await this.#backend.withdraw?.(popup);
  }

  /** The popup of `event`: its own, or the counting popup of its group. */
  #notificationFor(event: HarkEvent, group = this.#coalescer.groupOf(notificationKey(event))): Notification {
    const notification = notificationOf(event);
    const targets: [string, string][] = group ? group.targets : [[event.topic, sequenceOf(event)]];
    if (group) Object.assign(notification, groupText(group, event), { replacesKey: groupPopupKey(group) });
    const acknowledge = this.#acknowledge;
    if (acknowledge) {
      // A counting popup acknowledges every event it counts.
      notification.acknowledge = () => {
        for (const [topic, sequence] of targets) {
          acknowledge(topic, sequence).catch((error) =>
            log.warn("Cannot acknowledge {key}: {error}", { key: sequence, error: error.message })
          );
        }
      };
    }
    return notification;
  }

  /** A repeat of an unacknowledged popup, in place, with a sound. */
  async #remind(event: HarkEvent): Promise<void> {
    if (this.#closed) return;
    // After a restart a repeat may come before any event: the backend starts here then.
    this.#started ??= this.#backend.start();
    await this.#started;
    if (!this.#backend.available().ok) return;
    await this.#show({ ...this.#notificationFor(event), urgency: "critical", sound: REPEAT_SOUND });
  }

  /** Shows the popup and, for a high enough priority, starts its repeats. */
  async #showTracked(event: HarkEvent, notification: Notification, group?: Group): Promise<void> {
    await this.#show(notification);
    this.#repeats?.track(group ? groupPopupKey(group) : notificationKey(event), event);
  }

  async #popUp(event: HarkEvent): Promise<void> {
    await this.#showDueSummary();
    // Asked again here: the "while you were away" gate may have held the event
    // while its acknowledgement or a newer version arrived (the router asked before).
    if (!this.#isOpen(event)) return;
    const group = this.#coalescer.offer(event, notificationKey(event), [event.topic, sequenceOf(event)]);
    // Another host reporting the same problem updates the counting popup in place: no new popup to limit.
    if (group && group.count > 1) return await this.#showTracked(event, this.#notificationFor(event, group), group);
    const notification = this.#notificationFor(event, group);
    // A new version of a popup still on screen changes it in place: no new popup to limit, and
    // folding it into the summary would leave the old version showing.
    const inPlace = notification.replacesKey !== undefined && this.#backend.showing?.(notification.replacesKey);
    if (inPlace || this.#limit.offer(event.topic)) return await this.#showTracked(event, notification, group);
    this.#collapsed++;
    // The summary pops up when the window ends, even if no further event comes.
    const due = this.#limit.dueAt();
    if (due !== undefined && this.#summaryTimer === undefined) {
      this.#summaryTimer = setTimeout(() => {
        this.#summaryTimer = undefined;
        this.#showDueSummary().catch((error) => log.warn("Cannot show a summary: {error}", { error: error.message }));
      }, Math.max(0, due - Date.now()));
    }
  }

  async #showDueSummary(): Promise<void> {
    const summary = this.#limit.flush();
    if (summary) await this.#show({ summary: "hark", body: summary, urgency: "normal" });
  }

  async #show(notification: Notification): Promise<void> {
    await this.#backend.show(notification);
    this.#shown++;
  }
}

/** This platform's backend; `hark doctor` asks it the same questions the sink does. */
export function platformBackend(popups?: PopupMemory): DesktopBackend {
  switch (Deno.build.os) {
    case "darwin":
      return macBackend();
    case "windows":
      return windowsBackend();
    default:
      return linuxBackend(new LinuxDesktop({ popups }));
  }
}

/** The freedesktop backend, over `desktop` (tests pass one on a private session bus). */
export function linuxBackend(desktop = new LinuxDesktop()): DesktopBackend {
  return {
    name: "freedesktop notifications over the session D-Bus",
    start: () => desktop.start(),
    available: () => desktop.available(),
    show: async (n) => {
      await desktop.show(n);
    },
    withdraw: async (key) => {
      await desktop.withdraw(key);
    },
    showing: (key) => desktop.showing(key),
    close: () => desktop.close(),
  };
}

function macBackend(): DesktopBackend {
  const desktop = new MacDesktop();
  return {
    name: "macOS notifications (terminal-notifier when installed, else osascript)",
    start: () => desktop.start(),
    available: () => desktop.available(),
    show: (n) => desktop.show(n),
    withdraw: (key) => desktop.withdraw(key),
    close: () => desktop.close(),
  };
}

function windowsBackend(): DesktopBackend {
  const desktop = new WindowsDesktop();
  return {
    name: "Windows toast through PowerShell (a tray balloon where WinRT is missing)",
    start: () => desktop.start(),
    available: () => desktop.available(),
    show: (n) => desktop.show(n),
    withdraw: (key) => desktop.withdraw(key),
    close: () => desktop.close(),
  };
}
