/**
 * The agent's web page, served by the http source on its own listener
 * (loopback by default): a live feed over SSE, history with a topic and a
 * text filter, peers and sink health, and a send form. Plain HTML, CSS and
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
    <ol id="live" data-testid="live" class="events"></ol>
  </section>
  <section id="history-section">
    <h2>History</h2>
    <form id="history-form" data-testid="history-form">
      <select id="history-topic" data-testid="history-topic" aria-label="topic"></select>
      <input id="history-text" data-testid="history-text" type="search" placeholder="text in title or message" aria-label="text">
      <button type="submit">Search</button>
    </form>
    <ol id="history" data-testid="history" class="events"></ol>
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
    <table data-testid="peers"><thead><tr><th>host</th><th>peer</th><th>connection</th><th>latency</th></tr></thead><tbody id="peers"></tbody></table>
    <h2>Sinks</h2>
    <table data-testid="sinks"><thead><tr><th>sink</th><th>state</th><th>delivered</th><th>queued</th><th>failed</th><th>last error</th></tr></thead><tbody id="sinks"></tbody></table>
  </section>
</main>
</body>
</html>
`;

export const APP_CSS =
  `:root { color-scheme: light dark; --line: #8884; --accent: #3b82f6; font: 14px/1.4 system-ui, sans-serif; }
body { margin: 0; }
header { display: flex; align-items: baseline; gap: 1rem; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
h1 { margin: 0; font-size: 1.3rem; }
h2 { font-size: 1rem; margin: .2rem 0 .5rem; }
#agent { opacity: .7; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; padding: 1rem; }
section { border: 1px solid var(--line); border-radius: .5rem; padding: .7rem; min-width: 0; }
.events { list-style: none; margin: 0; padding: 0; max-height: 24rem; overflow: auto; }
.events li { border-top: 1px solid var(--line); padding: .35rem 0; }
.events .meta { font-size: .8rem; opacity: .7; }
.events .title { font-weight: 600; }
.events .p4 .title, .events .p4 .message { color: #d97706; }
.events .p5 .title, .events .p5 .message { color: #dc2626; }
.events .message { white-space: pre-wrap; overflow-wrap: anywhere; }
.events .cleared { opacity: .55; }
.events button.ack { margin-top: .3rem; font-size: .8rem; padding: .1rem .5rem; }
form { display: flex; flex-wrap: wrap; gap: .4rem; margin-bottom: .5rem; }
form textarea { flex-basis: 100%; min-height: 3.5rem; }
input, select, textarea, button { font: inherit; padding: .25rem .4rem; }
button { background: var(--accent); color: white; border: 0; border-radius: .3rem; padding: .3rem .8rem; }
#health-section { grid-column: 1 / -1; }
table { width: 100%; border-collapse: collapse; margin-bottom: .8rem; }
th { white-space: nowrap; }
th, td { text-align: left; padding: .2rem .3rem; border-top: 1px solid var(--line); overflow-wrap: anywhere; }
.hint { opacity: .7; margin: .2rem 0; }
#login { max-width: 40rem; margin: 2rem auto; padding: 1rem; border: 1px solid var(--line); border-radius: .5rem; }
#login input { flex: 1; }
[hidden] { display: none !important; }
.state-ok { color: #16a34a; } .state-retrying { color: #d97706; } .state-suspended { color: #dc2626; }
`;

export const APP_JS = `"use strict";
// With a token (a listener off loopback), open the page as /?auth=… (ntfy's
// form of the Authorization header): every request below passes it on.
const auth = new URLSearchParams(location.search).get("auth");
const PRIORITIES = { 1: "min", 2: "low", 3: "default", 4: "high", 5: "urgent" };
const LIMIT = 200;

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

// A notification's key: its topic and sequence id (ntfy's), or its own id.
function keyOf(message) {
  return message.topic + "/" + (message.sequence_id ?? message.id);
}

// Acknowledges the notification on every agent (ntfy's PUT /<topic>/<sequence_id>/clear).
function acknowledgeButton(message) {
  const button = element("button", "Acknowledge", "ack");
  button.type = "button";
  button.dataset.testid = "acknowledge";
  button.addEventListener("click", async () => {
    button.disabled = true;
    const path = "/" + message.topic + "/" + (message.sequence_id ?? message.id) + "/clear";
    const response = await fetch(url(path), { method: "PUT" });
    if (!response.ok) button.disabled = false;
  });
  return button;
}

// A clear or delete that arrived: the notification shows as acknowledged, or goes.
function closeItems(list, message) {
  for (const item of list.querySelectorAll("li")) {
    if (item.dataset.key !== keyOf(message)) continue;
    if (message.event === "message_delete") item.remove();
    else {
      item.classList.add("cleared");
      item.querySelector("button.ack")?.remove();
      item.append(element("div", "acknowledged " + new Date(message.time * 1000).toLocaleString(), "meta"));
    }
  }
}

// Puts a message in the list: a new version replaces the item of its notification, which keeps its count.
function placeItem(list, message) {
  const old = [...list.querySelectorAll("li")].find((item) => item.dataset.key === keyOf(message));
  const item = eventItem(message);
  if (old) {
    const versions = Number(old.dataset.versions ?? 1) + 1;
    item.dataset.versions = String(versions);
    item.querySelector(".meta").textContent += " · version " + versions;
    old.remove();
  }
  list.prepend(item);
}

function eventItem(message) {
  const item = element("li", undefined, "p" + (message.priority ?? 3));
  item.dataset.id = message.id;
  item.dataset.key = keyOf(message);
  const when = new Date(message.time * 1000).toLocaleString();
  const tags = message.tags?.length ? " · " + message.tags.join(", ") : "";
  item.append(element("div", message.topic + " · " + when + " · " + PRIORITIES[message.priority ?? 3] + tags, "meta"));
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

function fillTopics(select, topics) {
  if (select.options.length) return;
  for (const topic of topics) select.append(new Option(topic, topic));
}

function follow(topics) {
  const list = document.getElementById("live");
  const state = document.getElementById("live-state");
  const source = new EventSource(url("/" + topics.join(",") + "/sse"));
  source.addEventListener("open", () => { state.textContent = "following " + topics.join(", "); });
  source.addEventListener("error", () => { state.textContent = "reconnecting…"; });
  source.onmessage = (message) => {
    placeItem(list, JSON.parse(message.data));
    while (list.children.length > LIMIT) list.lastChild.remove();
  };
  for (const name of ["message_clear", "message_delete"]) {
    source.addEventListener(name, (message) => closeItems(list, JSON.parse(message.data)));
  }
}

async function search(event) {
  event?.preventDefault();
  const topic = document.getElementById("history-topic").value;
  const text = document.getElementById("history-text").value.trim().toLowerCase();
  const response = await fetch(url("/" + topic + "/json", { poll: "1", since: "all" }));
  const lines = (await response.text()).split("\\n").filter((line) => line !== "").map((line) => JSON.parse(line));
  const matching = lines.filter((message) =>
    message.event !== "message" ||
    !text || (message.title ?? "").toLowerCase().includes(text) || (message.message ?? "").toLowerCase().includes(text)
  );
  const list = document.getElementById("history");
  // Oldest first, as stored: each notification ends as its latest version, acknowledged or not.
  list.replaceChildren();
  for (const message of matching) {
    if (message.event === "message") placeItem(list, message);
    else closeItems(list, message);
  }
  while (list.children.length > LIMIT) list.lastChild.remove();
  if (list.children.length === 0) list.append(element("li", "nothing stored matches", "hint"));
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
  const response = await fetch(url("/"), { method: "POST", body: JSON.stringify(body) });
  const reply = await response.json();
  if (response.ok) {
    result.textContent = "sent " + reply.id;
    document.getElementById("send-message").value = "";
  } else {
    result.textContent = "not sent: " + reply.error;
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
  const response = await fetch(url("/v1/hark/status"));
  if (response.status === 401) return askForToken();
  if (!response.ok) return;
  const status = await response.json();
  document.getElementById("agent").textContent = status.host + " · " + status.peer + " · network " + (status.network ?? "");
  fillTopics(document.getElementById("history-topic"), status.topics);
  fillTopics(document.getElementById("send-topic"), status.topics);
  document.getElementById("peers").replaceChildren(...status.peers.map((peer) =>
    row([peer.host ?? "", peer.peer.slice(-8), peer.connection, peer.latencyMs === undefined ? "" : peer.latencyMs + " ms"])
  ));
  document.getElementById("sinks").replaceChildren(...status.sinks.map((sink) =>
    row([sink.name, element("td", sink.state, "state-" + sink.state), sink.delivered, sink.queued, sink.failed, sink.last_error ?? ""])
  ));
  return status;
}

async function start() {
  const status = await refresh();
  if (!status) return;
  follow(status.topics);
  document.getElementById("history-form").addEventListener("submit", search);
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
