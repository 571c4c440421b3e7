/**
 * The agent's web page, served by the http source on its own listener
 * (loopback by default): a live feed over SSE that says when the agent is
 * away and catches up when it is back, browser notifications while the page
 * is open, history and search that the agent runs (a page of results at a
 * time), each event's host, peers and sink health, and a send form; usable
 * on a phone's screen. Plain HTML, CSS and
 * script kept in this module, so `deno compile` carries them and nothing is
 * read from disk. The page, its script, style and icon hold no data and load
 * without the listener's token; everything with data needs it, and the page
 * asks for it when it is missing or wrong. The page renders every event field as text, never as
 * HTML, and the Content-Security-Policy allows only this origin's script.
 */

export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hark</title>
<link rel="icon" href="/favicon.svg">
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <h1>hark</h1>
  <span id="agent" data-testid="agent"></span>
</header>
<p id="away" data-testid="away" role="status" hidden></p>
<section id="login" data-testid="login" hidden>
  <h2>This page needs the listener's token</h2>
  <p id="login-reason" data-testid="login-reason"></p>
  <form id="login-form" data-testid="login-form">
    <input id="login-token" data-testid="login-token" type="password" autocomplete="current-password" placeholder="token" aria-label="token" required>
    <button type="submit" data-testid="login-button">Open</button>
  </form>
  <p class="hint">The token is the <code>token = "…"</code> of the <code>[[source]]</code> with <code>type = "http"</code>
  in the agent's config file (<code>~/.config/hark/config.toml</code> on Linux, or the file given to <code>--config</code>).
  The page then opens as <code>/?auth=…</code>, ntfy's base64url form of <code>Bearer TOKEN</code>: bookmark it, or make
  it with <code>printf 'Bearer %s' TOKEN | base64 | tr '+/' '-_' | tr -d '='</code>.</p>
</section>
<main id="app">
  <section id="live-section">
    <h2>Live</h2>
    <p class="hint" id="live-state" data-testid="live-state">connecting…</p>
    <p class="row"><button id="notify-button" data-testid="notify-button" type="button" aria-pressed="false">Notify me</button>
    <span id="notify-state" data-testid="notify-state" class="hint"></span></p>
    <ol id="live" data-testid="live" class="events"></ol>
  </section>
  <section id="history-section">
    <h2>History</h2>
    <form id="history-form" data-testid="history-form">
      <select id="history-topic" data-testid="history-topic" aria-label="topic"></select>
      <input id="history-text" data-testid="history-text" type="search" placeholder="text in title or message" aria-label="text">
      <button type="submit">Search</button>
    </form>
    <p class="hint" id="history-state" data-testid="history-state"></p>
    <ol id="history" data-testid="history" class="events"></ol>
    <button id="history-more" data-testid="history-more" type="button" hidden>Older</button>
  </section>
  <section id="send-section">
    <h2>Send</h2>
    <form id="send-form" data-testid="send-form">
      <select id="send-topic" data-testid="send-topic" aria-label="topic"></select>
      <input id="send-title" data-testid="send-title" placeholder="title" aria-label="title">
      <select id="send-priority" data-testid="send-priority" aria-label="priority">
        <option value="1">min</option><option value="2">low</option><option value="3" selected>default</option>
        <option value="4">high</option><option value="5">urgent</option>
      </select>
      <textarea id="send-message" data-testid="send-message" placeholder="message" aria-label="message" required></textarea>
      <button type="submit" data-testid="send-button">Send</button>
    </form>
    <p id="send-result" data-testid="send-result" class="hint"></p>
  </section>
  <section id="health-section">
    <h2>Peers</h2>
    <div class="table-wrap"><table data-testid="peers"><thead><tr><th>host</th><th>peer</th><th>connection</th><th>latency</th></tr></thead><tbody id="peers"></tbody></table></div>
    <h2>Sinks</h2>
    <div class="table-wrap"><table data-testid="sinks"><thead><tr><th>sink</th><th>state</th><th>delivered</th><th>queued</th><th>failed</th><th>last error</th></tr></thead><tbody id="sinks"></tbody></table></div>
  </section>
</main>
</body>
</html>
`;

export const APP_CSS =
  `:root { color-scheme: light dark; --line: #8884; --accent: #3b82f6; font: 14px/1.4 system-ui, sans-serif; }
body { margin: 0; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .2rem 1rem; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
h1 { margin: 0; font-size: 1.3rem; }
h2 { font-size: 1rem; margin: .2rem 0 .5rem; }
#agent { opacity: .7; min-width: 0; overflow-wrap: anywhere; }
#away { margin: 0; padding: .5rem 1rem; background: #d97706; color: white; font-weight: 600; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(22rem, 100%), 1fr)); gap: 1rem; padding: 1rem; }
section { border: 1px solid var(--line); border-radius: .5rem; padding: .7rem; min-width: 0; }
.events { list-style: none; margin: 0; padding: 0; max-height: 24rem; overflow: auto; }
.events li { border-top: 1px solid var(--line); padding: .35rem 0; overflow-wrap: anywhere; }
.events .meta { font-size: .8rem; opacity: .7; }
.events .unverified { color: #dc2626; font-weight: 600; }
.events .title { font-weight: 600; }
.events .p4 .title, .events .p4 .message { color: #d97706; }
.events .p5 .title, .events .p5 .message { color: #dc2626; }
.events .message { white-space: pre-wrap; }
.events .cleared { opacity: .55; }
.events button.ack { margin-top: .3rem; font-size: .8rem; padding: .1rem .5rem; }
form { display: flex; flex-wrap: wrap; gap: .4rem; margin-bottom: .5rem; }
form input, form select { flex: 1 1 8rem; min-width: 0; }
form textarea { flex-basis: 100%; min-height: 3.5rem; }
input, select, textarea, button { font: inherit; padding: .25rem .4rem; max-width: 100%; box-sizing: border-box; }
button { background: var(--accent); color: white; border: 0; border-radius: .3rem; padding: .3rem .8rem; }
button:disabled { opacity: .6; }
.row { display: flex; flex-wrap: wrap; align-items: center; gap: .4rem; margin: .2rem 0 .5rem; }
#history-more { margin-top: .5rem; }
#health-section { grid-column: 1 / -1; }
.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; margin-bottom: .8rem; }
th { white-space: nowrap; }
th, td { text-align: left; padding: .2rem .3rem; border-top: 1px solid var(--line); overflow-wrap: anywhere; }
.hint { opacity: .7; margin: .2rem 0; }
#login { max-width: 40rem; margin: 2rem auto; padding: 1rem; border: 1px solid var(--line); border-radius: .5rem; overflow-wrap: anywhere; }
#login input { flex: 1; }
[hidden] { display: none !important; }
.state-ok { color: #16a34a; } .state-retrying { color: #d97706; } .state-suspended { color: #dc2626; }
/* A phone: one column, and controls a finger can hit (44 px, as touch guidelines ask). */
@media (max-width: 40rem) {
  main { padding: .5rem; gap: .5rem; }
  header { padding: .5rem; }
  #login { margin: .5rem; }
}
@media (max-width: 40rem), (pointer: coarse) {
  button, input, select { min-height: 44px; }
  .events button.ack { font-size: inherit; padding: .3rem .8rem; }
}
`;

export const APP_JS = `"use strict";
// With a token (a listener off loopback), open the page as /?auth=… (ntfy's
// form of the Authorization header): every request below passes it on.
const auth = new URLSearchParams(location.search).get("auth");
const PRIORITIES = { 1: "min", 2: "low", 3: "default", 4: "high", 5: "urgent" };
/** Items the live list keeps, and the most a reconnect catches up on. */
const LIMIT = 200;
/** Stored events one history or search request asks for; "Older" asks for the next ones. */
const PAGE = 50;
/** Longest wait between reconnects while the agent is away. */
const MAX_RETRY_MS = 5000;

function url(path, params = {}) {
  const target = new URL(path, location.href);
  for (const [key, value] of Object.entries(params)) target.searchParams.set(key, value);
  if (auth) target.searchParams.set("auth", auth);
  return target;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function clock(date) {
  return String(date.getHours()).padStart(2, "0") + ":" + String(date.getMinutes()).padStart(2, "0");
}

// A notification's key: its topic and sequence id (ntfy's), or its own id.
function keyOf(message) {
  return message.topic + "/" + (message.sequence_id ?? message.id);
}

function itemOf(list, key) {
  return [...list.children].find((item) => item.dataset.key === key);
}

// Acknowledges the notification on every agent (ntfy's PUT /<topic>/<sequence_id>/clear).
function acknowledgeButton(message) {
  const button = element("button", "Acknowledge", "ack");
  button.type = "button";
  button.dataset.testid = "acknowledge";
  button.addEventListener("click", async () => {
    button.disabled = true;
    const path = "/" + message.topic + "/" + (message.sequence_id ?? message.id) + "/clear";
    const response = await fetch(url(path), { method: "PUT" }).catch(() => undefined);
    if (!response?.ok) button.disabled = false;
  });
  return button;
}

// A clear or delete that arrived: the notification shows as acknowledged, or goes.
function closeItem(item, message) {
  if (message.event === "message_delete") return item.remove();
  if (item.classList.contains("cleared")) return;
  item.classList.add("cleared");
  item.querySelector("button.ack")?.remove();
  item.append(element("div", "acknowledged " + new Date(message.time * 1000).toLocaleString(), "meta"));
}

function setVersions(item, versions) {
  item.dataset.versions = String(versions);
  item.querySelector(".versions").textContent = " · version " + versions;
}

// Who published it: the host, and a mark when the name is not its signer's (ci-01?).
function hostOf(source) {
  const host = element("span", source.host, "host");
  host.dataset.testid = "host";
  if (source.host_verified !== false) return [host];
  const mark = element("span", "⚠ unverified", "unverified");
  mark.dataset.testid = "unverified";
  mark.title = "Another peer holds this host name here: the sender is not who it says.";
  return [host, " ", mark];
}

function eventItem(message) {
  const item = element("li", undefined, "p" + (message.priority ?? 3));
  item.dataset.id = message.id;
  item.dataset.key = keyOf(message);
  const when = new Date(message.time * 1000).toLocaleString();
  const tags = message.tags?.length ? " · " + message.tags.join(", ") : "";
  const meta = element("div", undefined, "meta");
  meta.append(message.topic + " · ");
  if (message.source?.host) meta.append(...hostOf(message.source), " · ");
  meta.append(when + " · " + PRIORITIES[message.priority ?? 3] + tags, element("span", "", "versions"));
  item.append(meta);
  if (message.title) item.append(element("div", message.title, "title"));
  item.append(element("div", message.message ?? "", "message"));
  if (message.click) {
    const link = element("a", message.click);
    link.href = message.click;
    link.rel = "noopener noreferrer";
    item.append(link);
  }
  item.append(acknowledgeButton(message));
  return item;
}

// Browser notifications while the page is open, once the user asked for them.
const alerts = { on: false, shown: new Map() };

function setUpNotifications() {
  const button = document.getElementById("notify-button");
  const state = document.getElementById("notify-state");
  const show = () => {
    button.textContent = alerts.on ? "Notifications on" : "Notify me";
    button.setAttribute("aria-pressed", String(alerts.on));
  };
  if (!("Notification" in window) || !window.isSecureContext) {
    button.disabled = true;
    state.textContent = "This browser gives notifications only to https pages or localhost; the ntfy app can follow this agent.";
    return;
  }
  alerts.on = Notification.permission === "granted" && localStorage.getItem("hark.notify") === "on";
  show();
  button.addEventListener("click", async () => {
    if (alerts.on) alerts.on = false;
    else {
      alerts.on = (await Notification.requestPermission()) === "granted";
      state.textContent = alerts.on
        ? "New events raise a notification while this page is open."
        : "The browser refused: allow notifications for this site in its settings, then try again.";
    }
    localStorage.setItem("hark.notify", alerts.on ? "on" : "off");
    show();
  });
}

function notify(message) {
  if (!alerts.on) return;
  const key = keyOf(message);
  try {
    // The tag makes a new version replace the notification of its key.
    const shown = new Notification(message.title || message.topic, { body: message.message ?? "", tag: key });
    shown.onclick = () => {
      window.focus();
      shown.close();
    };
    alerts.shown.set(key, shown);
  } catch {
    // Phone browsers show notifications only from an installed app.
    alerts.on = false;
    document.getElementById("notify-state").textContent =
      "This browser shows no notifications from a page; the ntfy app can follow this agent.";
  }
}

function unnotify(message) {
  alerts.shown.get(keyOf(message))?.close();
  alerts.shown.delete(keyOf(message));
}

// The live feed: follows the agent, and when it goes away says so, retries,
// and on its return asks for what came in between (since the last id).
const live = { topics: [], source: undefined, lastId: undefined, openedAt: Math.floor(Date.now() / 1000), downSince: undefined, retryMs: 1000, timer: undefined };

function showAway() {
  const away = document.getElementById("away");
  away.hidden = live.downSince === undefined;
  if (live.downSince) away.textContent = "agent unreachable since " + clock(live.downSince) + ", retrying";
}

function follow() {
  const list = document.getElementById("live");
  const state = document.getElementById("live-state");
  const params = {};
  if (live.downSince !== undefined) {
    params.since = live.lastId ?? String(live.openedAt);
    params.limit = String(LIMIT);
  }
  const source = new EventSource(url("/" + live.topics.join(",") + "/sse", params));
  live.source = source;
  source.addEventListener("open", () => {
    if (live.downSince !== undefined) refresh();
    live.downSince = undefined;
    live.retryMs = 1000;
    showAway();
    state.textContent = "following " + live.topics.join(", ");
  });
  source.addEventListener("error", () => {
    source.close();
    if (live.source !== source) return;
    live.downSince ??= new Date();
    showAway();
    state.textContent = "reconnecting…";
    clearTimeout(live.timer);
    live.timer = setTimeout(follow, live.retryMs);
    live.retryMs = Math.min(live.retryMs * 2, MAX_RETRY_MS);
  });
  source.onmessage = (event) => {
    const message = JSON.parse(event.data);
    live.lastId = message.id;
    if ([...list.children].some((item) => item.dataset.id === message.id)) return;
    const old = itemOf(list, keyOf(message));
    const item = eventItem(message);
    if (old) {
      setVersions(item, Number(old.dataset.versions ?? 1) + 1);
      old.remove();
    }
    list.prepend(item);
    while (list.children.length > LIMIT) list.lastChild.remove();
    notify(message);
  };
  for (const name of ["message_clear", "message_delete"]) {
    source.addEventListener(name, (event) => {
      const message = JSON.parse(event.data);
      live.lastId = message.id;
      const item = itemOf(list, keyOf(message));
      if (item) closeItem(item, message);
      unnotify(message);
    });
  }
}

// History and search run on the agent (q=, limit=, before=): the page asks
// for a page of results at a time and shows each as it arrives.
const history = { batch: 0, oldest: undefined, closed: new Map(), request: undefined };

async function* messagesOf(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const lines = (rest + value).split("\\n");
    rest = lines.pop();
    for (const line of lines) if (line !== "") yield JSON.parse(line);
  }
  if (rest !== "") yield JSON.parse(rest);
}

// Each batch is older than the one before and goes below it; within a batch, oldest first as stored, so
// each notification ends as its latest version, and a clear from a newer batch still closes an older item.
function placeHistory(list, message, batch, anchor) {
  const key = keyOf(message);
  const existing = itemOf(list, key);
  const fromNewer = existing && Number(existing.dataset.batch) < batch;
  if (message.event !== "message") {
    if (fromNewer) return;
    history.closed.set(key, { message, batch });
    if (existing) closeItem(existing, message);
    return;
  }
  if (fromNewer) return setVersions(existing, Number(existing.dataset.versions ?? 1) + 1);
  const item = eventItem(message);
  item.dataset.batch = String(batch);
  if (existing) {
    setVersions(item, Number(existing.dataset.versions ?? 1) + 1);
    existing.remove();
  }
  const closed = history.closed.get(key);
  if (closed?.batch === batch) history.closed.delete(key);
  if (anchor) anchor.after(item);
  else list.prepend(item);
  if (closed && closed.batch < batch) closeItem(item, closed.message);
}

async function loadHistory(older) {
  history.request?.abort();
  const request = new AbortController();
  history.request = request;
  const list = document.getElementById("history");
  const state = document.getElementById("history-state");
  const more = document.getElementById("history-more");
  const topics = document.getElementById("history-topic").value;
  const text = document.getElementById("history-text").value.trim();
  if (!older) {
    history.batch = 0;
    history.oldest = undefined;
    history.closed.clear();
    list.replaceChildren();
  }
  const batch = ++history.batch;
  const params = { poll: "1", since: "all", limit: String(PAGE) };
  if (text) params.q = text;
  if (older) params.before = history.oldest;
  more.hidden = true;
  state.textContent = text ? "searching the agent for “" + text + "”…" : "reading the agent's history…";
  const anchor = list.lastElementChild;
  let count = 0;
  try {
    const response = await fetch(url("/" + topics + "/json", params), { signal: request.signal });
    if (!response.ok) {
      state.textContent = "the agent refused: " + ((await response.json().catch(() => ({}))).error ?? response.status);
      return;
    }
    for await (const message of messagesOf(response)) {
      if (count++ === 0) history.oldest = message.id;
      placeHistory(list, message, batch, anchor);
    }
  } catch (error) {
    if (!request.signal.aborted) state.textContent = "the agent did not answer (" + error.message + "): try again";
    return;
  }
  const shown = list.children.length;
  more.hidden = count < PAGE;
  state.textContent = shown === 0
    ? (text ? "nothing stored matches “" + text + "”" : "nothing stored")
    : shown + (text ? " matching “" + text + "”" : " stored") + (more.hidden ? ", all there are" : ", newest first: Older for more");
}

function search(event) {
  event?.preventDefault();
  return loadHistory(false);
}

async function send(event) {
  event.preventDefault();
  const result = document.getElementById("send-result");
  const body = {
    topic: document.getElementById("send-topic").value,
    title: document.getElementById("send-title").value,
    priority: Number(document.getElementById("send-priority").value),
    message: document.getElementById("send-message").value,
  };
  try {
    const response = await fetch(url("/"), { method: "POST", body: JSON.stringify(body) });
    const reply = await response.json();
    if (response.ok) {
      result.textContent = "sent " + reply.id;
      document.getElementById("send-message").value = "";
    } else {
      result.textContent = "not sent: " + reply.error;
    }
  } catch (error) {
    result.textContent = "not sent: the agent did not answer (" + error.message + ")";
  }
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) tr.append(cell instanceof Node ? cell : element("td", cell ?? ""));
  return tr;
}

// ntfy's ?auth= is the base64url of the Authorization header the page would send.
function authParam(token) {
  const bytes = new TextEncoder().encode("Bearer " + token);
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

// The page and its assets load without the token; its data does not. Ask for
// the token instead of showing an empty page stuck at "connecting…".
function askForToken() {
  if (!document.getElementById("login").hidden) return;
  document.getElementById("app").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-reason").textContent = auth
    ? "The token in this address is not the listener's token. Enter the right one."
    : "This agent's http source has a token: enter it to open the page.";
  document.getElementById("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    location.assign("/?auth=" + authParam(document.getElementById("login-token").value));
  });
}

async function refresh() {
  // Away: the live feed says so and retries; this tries again on its next round.
  const response = await fetch(url("/v1/hark/status")).catch(() => undefined);
  if (response?.status === 401) return askForToken();
  if (!response?.ok) return;
  const status = await response.json();
  document.getElementById("agent").textContent = status.host + " · " + status.peer + " · network " + (status.network ?? "");
  const topics = document.getElementById("history-topic");
  if (!topics.options.length && status.topics.length > 1) topics.append(new Option("all topics", status.topics.join(",")));
  fillTopics(topics, status.topics);
  fillTopics(document.getElementById("send-topic"), status.topics);
  document.getElementById("peers").replaceChildren(...status.peers.map((peer) =>
    row([peer.host ?? "", peer.peer.slice(-8), peer.connection, peer.latencyMs === undefined ? "" : peer.latencyMs + " ms"])
  ));
  document.getElementById("sinks").replaceChildren(...status.sinks.map((sink) =>
    row([sink.name, element("td", sink.state, "state-" + sink.state), sink.delivered, sink.queued, sink.failed, sink.last_error ?? ""])
  ));
  return status;
}

function fillTopics(select, topics) {
  if ([...select.options].some((option) => option.value === topics[0])) return;
  for (const topic of topics) select.append(new Option(topic, topic));
}

async function start() {
  const status = await refresh();
  if (!status) return;
  setUpNotifications();
  live.topics = status.topics;
  follow();
  document.getElementById("history-form").addEventListener("submit", search);
  document.getElementById("history-more").addEventListener("click", () => loadHistory(true));
  document.getElementById("send-form").addEventListener("submit", send);
  await search();
  setInterval(refresh, 5000);
}

start();
`;

/** A bell, so browsers find an icon (and log no 404) for the tab. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">
<path fill="#3b82f6" d="M8 1a4 4 0 0 0-4 4v3L2.5 11h11L12 8V5a4 4 0 0 0-4-4zM6.5 12.5a1.5 1.5 0 0 0 3 0z"/>
</svg>
`;
