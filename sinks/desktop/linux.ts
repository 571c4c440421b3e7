/**
 * Linux desktop popups: the freedesktop Notifications spec spoken over the
 * session D-Bus from TypeScript, so the compiled binary needs no
 * `notify-send`.
 *
 * Library choice (evaluated under Deno 2.9.6 against dunst 1.9 on a private
 * `dbus-daemon`, `unix:path=` address, EXTERNAL auth):
 * - `npm:dbus-next@0.10.2` works (sessionBus, GetCapabilities, Notify,
 *   signals), but its optional `usocket` dependency drags node-gyp and the
 *   deprecated `request` into the graph (117 packages), it pins xml2js 0.4
 *   (prototype-pollution advisory) and was last released in 2021.
 * - `npm:@homebridge/dbus-native@0.7.9` works as well, with 16 small packages
 *   and no native add-ons, and is maintained. Chosen. Its rough edges are
 *   handled here: its typings lack `createClient`, so a narrow interface is
 *   declared below; replies never arrive after a disconnect, so every call
 *   has its own deadline and pending calls fail on `end`/`error`; a string
 *   with NUL throws inside its marshaller, so text is cleaned first; an
 *   unhandled `error` event would kill the process, so one is always
 *   attached. Only `bus.invoke` and raw messages are used: no introspection,
 *   so no XML from the bus is parsed.
 * - Neither library (nor Deno's unix sockets) can reach `unix:abstract=`
 *   addresses; such a bus is reported as unreachable. systemd user sessions,
 *   dbus-broker and Debian's `dbus-daemon --session` all use `unix:path=`.
 * - Compile safety: one static import, no computed dynamic imports, no files
 *   read next to the source.
 *
 * Security: event text is data. Control over the popup text is limited to
 * what the server renders: NUL (which D-Bus forbids) and lone surrogates are
 * replaced, and `& < >` are escaped when the server advertises
 * `body-markup`. A click opens the event's URL with `xdg-open URL` as argv
 * (no shell), and only http, https and mailto URLs, as the event model
 * already guarantees. A button (ntfy's actions) opens its URL the same way,
 * or makes its HTTP request (http or https only, no redirects followed, a
 * deadline). Any client on the session bus can emit ActionInvoked, but it can
 * only make us open a URL or make a request of a popup we showed.
 */

import dbusNative from "@homebridge/dbus-native";
import { getLogger } from "@logtape/logtape";
import type { HarkEvent } from "../../lib/event/event.ts";
import { type Notification, urgencyOf } from "./notification.ts";
import type { DesktopAction } from "../../lib/event/actions.ts";
import { desktopBody, desktopButtons } from "./event_content.ts";
import { runHttpAction } from "./action_request.ts";
import type { PopupMemory } from "../../lib/notifications/popups.ts";

const log = getLogger(["hark", "sink", "desktop"]);

/** The spec's `urgency` hint is a byte: 0 low, 1 normal, 2 critical. */
const URGENCY_BYTE = { low: 0, normal: 1, critical: 2 } as const;

const NOTIFICATIONS = {
  destination: "org.freedesktop.Notifications",
  path: "/org/freedesktop/Notifications",
  interface: "org.freedesktop.Notifications",
};
const DBUS = { destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus" };
const SIGNAL_MATCH = "type='signal',interface='org.freedesktop.Notifications',path='/org/freedesktop/Notifications'";
const OPENABLE = new Set(["http:", "https:", "mailto:"]);
/** The freedesktop convention: the "default" action runs when the popup itself is clicked. */
const CLICK_ACTION = "default";
/** Keys of the event's own buttons: "hark-0", "hark-1", … (the index into its actions). */
const BUTTON_PREFIX = "hark-";
/** The button that acknowledges the notification on every agent (`hark ack`). */
const ACK_ACTION = "hark-ack";
/** Popups remembered for clicks and replacement; older ones are forgotten first. */
const MAX_TRACKED = 1024;

export interface Availability {
  ok: boolean;
  reason: string;
}

export interface LinuxDesktopInit {
  /** The session bus. @default Deno.env DBUS_SESSION_BUS_ADDRESS */
  address?: string;
  /** Shown as the sending application. @default "hark" */
  appName?: string;
  /** After a failed connection, the next attempt waits this long. @default 60000 */
  retryMs?: number;
  /** Deadline of each D-Bus call. @default 5000 */
  callTimeoutMs?: number;
  /** The program that opens a clicked URL. @default "xdg-open" */
  openCommand?: string;
  /** Where "unavailable" and other warnings go. @default the hark logger */
  warn?: (message: string) => void;
  now?: () => number;
  /** Which popup shows which key, kept across restarts, so a new version after one replaces the old popup. */
  popups?: PopupMemory;
}

/** Maps an event to a popup: priority → urgency, first tag → category, `data.replaces` → replacesKey. */
export function notificationFromEvent(event: HarkEvent): Notification {
  const notification: Notification = {
    summary: event.title || event.topic,
    body: desktopBody(event),
    urgency: urgencyOf(event.priority),
  };
  if (event.tags.length > 0) notification.category = event.tags[0];
  if (event.click) notification.click = event.click;
  const buttons = desktopButtons(event);
  if (buttons.length > 0) notification.actions = buttons;
  const data = event.data as Record<string, unknown> | undefined;
  if (data && typeof data === "object" && typeof data.replaces === "string" && data.replaces !== "") {
    // Scoped by topic and host, so a publisher cannot replace another's popups by guessing keys.
    notification.replacesKey = `${event.topic}\u0000${event.source.host}\u0000${data.replaces}`;
  }
  return notification;
}

/**
 * The spec's actions array, key then label: the click (default action)
 * first, then the event's buttons, then "Acknowledge" when the popup can be
 * acknowledged.
 */
export function actionList(click: string | undefined, actions: DesktopAction[] = [], acknowledge = false): string[] {
  const list = click ? [CLICK_ACTION, "Open"] : [];
  actions.forEach((action, index) => {
    if (action.action === "http" || isOpenable(action.url)) {
      list.push(`${BUTTON_PREFIX}${index}`, cleanText(action.label));
    }
  });
  if (acknowledge) list.push(ACK_ACTION, "Acknowledge");
  return list;
}

/** What D-Bus can carry: no NUL, well-formed UTF-16 (so valid UTF-8 on the wire). */
export function cleanText(text: string): string {
  return text.toWellFormed().replaceAll("\u0000", "\uFFFD");
}

/** Escapes the characters that mean something in the spec's body markup. */
export function escapeMarkup(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

// The parts of dbus-native used here; its bundled typings lack createClient.
interface DbusMessage {
  type?: number;
  serial?: number;
  destination?: string;
  path?: string;
  interface?: string;
  member?: string;
  signature?: string;
  body?: unknown[];
}
interface DbusConnection {
  on(event: "error", listener: (error: Error) => void): void;
  on(event: "end" | "connect", listener: () => void): void;
  on(event: "message", listener: (message: DbusMessage) => void): void;
  end(): void;
}
interface DbusBus {
  connection: DbusConnection;
  invoke(
    message: DbusMessage,
    callback: (error: { name?: string; message?: string } | null | undefined, ...values: unknown[]) => void,
  ): void;
}
const dbus = dbusNative as unknown as { createClient(options: { busAddress: string }): DbusBus };
const SIGNAL = 4;

class CallError extends Error {
  override name = "CallError";
}

/** The server answered with a D-Bus error: about that call, not the connection. */
class ReplyError extends CallError {
  override name = "ReplyError";
  constructor(readonly dbusName: string, message: string) {
    super(message);
  }
}

interface Connection {
  bus: DbusBus;
  closed: boolean;
  pending: Set<(error: Error) => void>;
}

interface Tracked {
  key?: string;
  click?: string;
  actions?: DesktopAction[];
  acknowledge?: () => void;
}

export class LinuxDesktop implements AsyncDisposable {
  #init: Required<Omit<LinuxDesktopInit, "address" | "popups">> & { address?: string; popups?: PopupMemory };
  /** Who gave the popup ids: the bus's id and the server's unique name on it. */
  #serverIdentity = "";
  #conn?: Connection;
  #connecting?: Promise<void>;
  #started = false;
  #closed = false;
  #lastAttempt = -Infinity;
  #availability: Availability = { ok: false, reason: "not started" };
  /** The unavailable reason last logged, so each outage is logged once. */
  #logged?: string;
  #markup = false;
  #server = "";
  #actions = false;
  #byKey = new Map<string, number>();
  #byId = new Map<number, Tracked>();
  #openers = new Set<Promise<void>>();

  constructor(init: LinuxDesktopInit = {}) {
    this.#init = {
      appName: "hark",
      retryMs: 60_000,
      callTimeoutMs: 5_000,
      openCommand: "xdg-open",
      warn: (message) => log.warn(message),
      now: Date.now,
      ...init,
    };
  }

  /** Connects to the session bus; never throws. Idempotent. */
  async start(): Promise<void> {
    if (this.#closed) return;
    if (!this.#started) {
      this.#started = true;
      this.#availability = { ok: false, reason: "connecting to the session D-Bus" };
    }
    await this.#connect(true);
  }

  /** Whether popups can be shown, and if not, why: for logs, `hark status` and `hark doctor`. */
  available(): Availability {
    return { ...this.#availability };
  }

  /**
   * Shows a popup and resolves with the server's id for it, or 0 when no
   * notification service is reachable. Never throws: a failed popup must not
   * fail the event.
   */
  async show(notification: Notification): Promise<number> {
    if (this.#closed) return 0;
    if (!this.#started) await this.start();
    else if (!this.#conn) await this.#connect(false);
    const conn = this.#conn;
    if (!conn) return 0;
    const key = notification.replacesKey;
    const replaces = key === undefined ? 0 : this.#popupOf(key) ?? 0;
    const body = cleanText(notification.body);
    const click = notification.click && isOpenable(notification.click) ? notification.click : undefined;
    const hints: [string, [string, unknown]][] = [["urgency", ["y", URGENCY_BYTE[notification.urgency] ?? 1]]];
    if (notification.category) hints.push(["category", ["s", cleanText(notification.category)]]);
    if (notification.sound) hints.push(["sound-name", ["s", cleanText(notification.sound)]]);
    try {
      const [id] = await this.#call(conn, {
        ...NOTIFICATIONS,
        member: "Notify",
        signature: "susssasa{sv}i",
        body: [
          this.#init.appName,
          replaces,
          "",
          cleanText(notification.summary),
          this.#markup ? escapeMarkup(body) : body,
          this.#actions ? actionList(click, notification.actions, notification.acknowledge !== undefined) : [],
          hints,
          notification.expireMs ?? -1,
        ],
      });
      if (typeof id !== "number") throw new CallError(`Notify returned ${JSON.stringify(id)}, not an id`);
      if (!this.#availability.ok) this.#up();
      if (replaces !== 0 && replaces !== id) this.#forget(replaces);
      this.#track(id, { key, click, actions: notification.actions, acknowledge: notification.acknowledge });
      return id;
    } catch (error) {
      this.#fail(conn, error as Error);
      return 0;
    }
  }

  /** Whether a popup shown under `key` is open, so that a new version replaces it in place. */
  showing(key: string): boolean {
    return this.#popupOf(key) !== undefined;
  }

  /**
   * Closes the popup shown under `key` (CloseNotification), when it is
   * still open; resolves whether there was one. Never throws.
   */
  async withdraw(key: string): Promise<boolean> {
    if (!this.#started) await this.start();
    const id = this.#popupOf(key);
    const conn = this.#conn;
    if (id === undefined || !conn || this.#closed) return false;
    this.#forget(id);
    this.#init.popups?.forget(key);
    try {
      await this.#call(conn, { ...NOTIFICATIONS, member: "CloseNotification", signature: "u", body: [id] });
      return true;
    } catch (error) {
      this.#fail(conn, error as Error);
      return false;
    }
  }

  /** Disconnects and waits for URL openers it started. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#connecting;
    if (this.#conn) this.#drop(this.#conn, new CallError("closed"));
    this.#availability = { ok: false, reason: "closed" };
    await Promise.all(this.#openers);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #connect(force: boolean): Promise<void> {
    if (this.#conn || this.#closed) return Promise.resolve();
    // A missing bus costs one failed connect per retry period, not one per event.
    if (!force && this.#init.now() - this.#lastAttempt < this.#init.retryMs) return Promise.resolve();
    this.#connecting ??= this.#open().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async #open(): Promise<void> {
    this.#lastAttempt = this.#init.now();
    const address = this.#init.address ?? Deno.env.get("DBUS_SESSION_BUS_ADDRESS");
    if (!address) return this.#unavailable("no session D-Bus (DBUS_SESSION_BUS_ADDRESS is unset)");
    const usable = address.split(";").filter((part) => /^unix:(.*,)?path=/.test(part) || part.startsWith("tcp:"));
    if (usable.length === 0) {
      return this.#unavailable(`no session D-Bus this agent can reach (address "${address}" has no unix:path=)`);
    }
    let conn: Connection;
    try {
      const bus = dbus.createClient({ busAddress: usable.join(";") });
      conn = { bus, closed: false, pending: new Set() };
      bus.connection.on("error", (error) => this.#fail(conn, error));
      bus.connection.on("end", () => this.#fail(conn, new CallError("the session D-Bus closed the connection")));
      bus.connection.on("message", (message) => this.#onMessage(message));
    } catch (error) {
      return this.#unavailable(`no session D-Bus (${(error as Error).message})`);
    }
    try {
      await this.#call(conn, {
        ...DBUS,
        member: "AddMatch",
        signature: "s",
        body: [SIGNAL_MATCH],
      });
      // The capabilities decide once per connection (a new server may differ) whether to escape and offer actions.
      const [capabilities] = await this.#call(conn, { ...NOTIFICATIONS, member: "GetCapabilities" });
      const [server, , version] = await this.#call(conn, { ...NOTIFICATIONS, member: "GetServerInformation" });
      const caps = new Set(Array.isArray(capabilities) ? capabilities.map(String) : []);
      const [busId] = await this.#call(conn, { ...DBUS, member: "GetId" });
      const [owner] = await this.#call(conn, {
        ...DBUS,
        member: "GetNameOwner",
        signature: "s",
        body: [NOTIFICATIONS.destination],
      });
      this.#serverIdentity = `${busId}/${owner}`;
      if (conn.closed || this.#closed) throw new CallError("closed while connecting");
      this.#markup = caps.has("body-markup");
      this.#actions = caps.has("actions");
      this.#conn = conn;
      this.#server = `${server} ${version}`;
      this.#up();
    } catch (error) {
      this.#drop(conn, error as Error);
      const message = describe(error as Error, address);
      this.#unavailable(message);
    }
  }

  #onMessage(message: DbusMessage): void {
    if (message.type !== SIGNAL || message.interface !== NOTIFICATIONS.interface) return;
    const [id, arg] = message.body ?? [];
    if (typeof id !== "number") return;
    if (message.member === "ActionInvoked" && arg === ACK_ACTION) {
      // The acknowledgement comes back through the mesh and closes this popup, as on every other agent.
      this.#byId.get(id)?.acknowledge?.();
    } else if (message.member === "ActionInvoked" && arg === CLICK_ACTION) {
      const click = this.#byId.get(id)?.click;
      if (click) this.#openUrl(click);
    } else if (message.member === "ActionInvoked" && typeof arg === "string" && arg.startsWith(BUTTON_PREFIX)) {
      const action = this.#byId.get(id)?.actions?.[Number(arg.slice(BUTTON_PREFIX.length))];
      if (action) this.#runAction(id, action);
    } else if (message.member === "NotificationClosed") {
      const key = this.#byId.get(id)?.key;
      this.#forget(id);
      if (key !== undefined) this.#init.popups?.forget(key);
    }
  }

  #openUrl(url: string): void {
    if (!isOpenable(url) || this.#closed) return;
    // argv, never a shell: the URL stays one argument whatever it contains.
    const run = (async () => {
      try {
        const child = new Deno.Command(this.#init.openCommand, {
          args: [url],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn();
        const status = await child.status;
        if (!status.success) this.#init.warn(`${this.#init.openCommand} exited with code ${status.code}`);
      } catch (error) {
        this.#init.warn(`Cannot open ${url} with ${this.#init.openCommand}: ${(error as Error).message}`);
      }
    })();
    this.#openers.add(run);
    run.finally(() => this.#openers.delete(run));
  }

  /** A button was clicked: open its URL or make its request, then close the popup if it asks to. */
  #runAction(id: number, action: DesktopAction): void {
    if (this.#closed) return;
    if (action.action === "view") this.#openUrl(action.url);
    else {
      const run = runHttpAction(action).then(
        (outcome) => log.info("Action {label}: {outcome}", { label: action.label, outcome }),
        (error) => this.#init.warn(`Action "${action.label}" (${action.url}) failed: ${(error as Error).message}`),
      );
      this.#openers.add(run);
      run.finally(() => this.#openers.delete(run));
    }
    const conn = this.#conn;
    if (action.clear && conn) {
      this.#call(conn, { ...NOTIFICATIONS, member: "CloseNotification", signature: "u", body: [id] }).catch(() => {});
    }
  }

  /** The open popup shown under `key`: this run's, or one a run before it showed on the same server. */
  #popupOf(key: string): number | undefined {
    return this.#byKey.get(key) ?? this.#init.popups?.recall(this.#serverIdentity, key);
  }

  #track(id: number, tracked: Tracked): void {
    this.#forget(id);
    this.#byId.set(id, tracked);
    if (tracked.key !== undefined) {
      this.#byKey.set(tracked.key, id);
      this.#init.popups?.remember(this.#serverIdentity, tracked.key, id);
    }
    if (this.#byId.size > MAX_TRACKED) this.#forget(this.#byId.keys().next().value!);
  }

  #forget(id: number): void {
    const tracked = this.#byId.get(id);
    this.#byId.delete(id);
    if (tracked?.key !== undefined && this.#byKey.get(tracked.key) === id) this.#byKey.delete(tracked.key);
  }

  /** One D-Bus method call with a deadline; rejects when the connection goes. */
  #call(conn: Connection, message: DbusMessage): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      if (conn.closed) return reject(new CallError("not connected"));
      const settle = (error?: Error, values?: unknown[]) => {
        clearTimeout(timer);
        conn.pending.delete(fail);
        if (error) reject(error);
        else resolve(values!);
      };
      const fail = (error: Error) => settle(error);
      const timer = setTimeout(
        () => settle(new CallError(`${message.member} got no reply within ${this.#init.callTimeoutMs} ms`)),
        this.#init.callTimeoutMs,
      );
      conn.pending.add(fail);
      try {
        conn.bus.invoke(message, (error, ...values) => {
          if (error) {
            const name = error.name ?? "org.freedesktop.DBus.Error.Failed";
            settle(new ReplyError(name, `${message.member}: ${name}: ${error.message ?? ""}`));
          } else settle(undefined, values);
        });
      } catch (error) {
        settle(error as Error);
      }
    });
  }

  /** A call failed or the connection broke: drop it; the next show() reconnects (bounded). */
  #fail(conn: Connection, error: Error): void {
    if (conn.closed) return;
    // A D-Bus error reply to one Notify (a server that refuses it) is about that popup, not the bus.
    if (error instanceof ReplyError) {
      if (/ServiceUnknown|NameHasNoOwner/.test(error.dbusName)) this.#unavailable(describe(error, ""));
      return;
    }
    const wasUp = this.#conn === conn;
    this.#drop(conn, error);
    if (wasUp && !this.#closed) this.#unavailable(`lost the session D-Bus: ${error.message}`);
  }

  #drop(conn: Connection, error: Error): void {
    if (this.#conn === conn) this.#conn = undefined;
    if (conn.closed) return;
    conn.closed = true;
    for (const fail of [...conn.pending]) fail(error);
    try {
      conn.bus.connection.end();
    } catch {
      // Already gone.
    }
    this.#byId.clear();
    this.#byKey.clear();
  }

  #up(): void {
    this.#logged = undefined;
    const markup = this.#markup ? " (body markup escaped)" : "";
    this.#availability = { ok: true, reason: `${this.#server} on the session D-Bus${markup}` };
  }

  #unavailable(reason: string): void {
    this.#availability = { ok: false, reason };
    if (this.#logged === reason) return;
    this.#logged = reason;
    this.#init.warn(
      `Desktop notifications are unavailable: ${reason}; retrying at most every ${
        Math.round(this.#init.retryMs / 1000)
      } s`,
    );
  }
}

function isOpenable(url: string): boolean {
  const parsed = URL.parse(url);
  return parsed !== null && OPENABLE.has(parsed.protocol);
}

function describe(error: Error, address: string): string {
  const text = error.message;
  if (/ServiceUnknown|NameHasNoOwner/.test(text)) {
    return "no notification service on the session D-Bus (is a notification daemon such as dunst running?)";
  }
  if (/ENOENT|ECONNREFUSED|NotFound|No such file/i.test(text)) {
    return `no session D-Bus at ${address.split(",")[0]} (${text})`;
  }
  return `session D-Bus: ${text}`;
}
