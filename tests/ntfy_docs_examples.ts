/**
 * ntfy's documented curl examples, each with the doc and section it comes
 * from and the command line verbatim (binwiederhier/ntfy docs/publish.md and
 * docs/subscribe/api.md, as of 2025-07, commit 81a486a), and what ntfy's
 * server answers it (server/server.go, server/types.go, server/errors.go).
 * tests/ntfy_docs_test.ts runs each with the real curl against a real agent
 * (`ntfy.sh` and `https://ntfy.example.com` pointing at it) and checks the answer.
 *
 * Where ntfy's answer depends on the server's configuration, the reference is
 * an ntfy server without e-mail, phone calls or an attachment cache, which is
 * what hark is. Examples run elsewhere (scheduled delivery, whose answers
 * depend on the clock) or needing what hark lacks are listed as skipped, with
 * the reason, so the list stays complete.
 */

/** A field of ntfy's message object; `undefined` means the field must be absent. */
export type Fields = Record<string, unknown>;

/** One HTTP answer of a curl call in the example. */
export interface Answer {
  status: number;
  /** Fields of the reply's JSON object that must be so (a publish: ntfy's message object). */
  reply?: Fields;
}

/** A line the subscription writes: exactly this text, or a JSON message (after `data: ` in SSE) with these fields. */
export type Line = string | Fields;

/** Something published to the agent while a subscription runs, or before it. */
export interface Publish {
  topic: string;
  message: string;
  headers?: Record<string, string>;
}

export interface DocExample {
  doc: "docs/publish.md" | "docs/subscribe/api.md";
  section: string;
  /** Verbatim from the doc, with its `$ ` prompt if it has one. */
  command: string;
  /** The token the agent must have: the password or token the example sends. */
  token?: string;
  /** Published before the command runs. */
  before?: Publish[];
  /** For commands that return: one answer per curl call, in order. */
  answers?: Answer[];
  /** For a subscription that keeps streaming or returns lines: what it writes, in order. */
  lines?: Line[];
  /** For a streaming subscription: published once its first line (the `open`) arrived. */
  publish?: Publish[];
  /** The subscription returns by itself (`poll=1`); `lines` are then its last lines, and `only` says they are all. */
  returns?: { only: boolean };
  /** Where hark answers otherwise on purpose: why. The test checks hark's answer. */
  differs?: string;
  /** Not run: why. */
  skip?: string;
}

const PUBLISH = "docs/publish.md";
const API = "docs/subscribe/api.md";
const message = (fields: Fields): Answer => ({ status: 200, reply: { event: "message", ...fields } });

export const NTFY_DOC_EXAMPLES: DocExample[] = [
  {
    doc: PUBLISH,
    section: "Publishing",
    command: String.raw`curl -d "Backup successful 😀" ntfy.sh/mytopic`,
    answers: [message({ topic: "mytopic", message: "Backup successful 😀" })],
  },
  {
    doc: PUBLISH,
    section: "Publishing (title, priority, tags)",
    command: String.raw`curl \
  -H "Title: Unauthorized access detected" \
  -H "Priority: urgent" \
  -H "Tags: warning,skull" \
  -d "Remote access to phils-laptop detected. Act right away." \
  ntfy.sh/phil_alerts`,
    answers: [message({
      topic: "phil_alerts",
      title: "Unauthorized access detected",
      priority: 5,
      tags: ["warning", "skull"],
      message: "Remote access to phils-laptop detected. Act right away.",
    })],
  },
  {
    doc: PUBLISH,
    section: "Publishing (multi-line, click, attachment, action, e-mail)",
    command: String.raw`curl \
  -H "Click: https://home.nest.com/" \
  -H "Attach: https://nest.com/view/yAxkasd.jpg" \
  -H "Actions: http, Open door, https://api.nest.com/open/yAxkasd, clear=true" \
  -H "Email: phil@example.com" \
  -d "There's someone at the door. 🐶

Please check if it's a good boy or a hooman. 
Doggies have been known to ring the doorbell." \
  ntfy.sh/mydoorbell`,
    // An ntfy server without SMTP refuses it the same way (40001 "e-mail notifications are not enabled").
    answers: [{ status: 400 }],
  },
  {
    doc: PUBLISH,
    section: "Message title",
    command: String.raw`curl -H "X-Title: Dogs are better than cats" -d "Oh my ..." ntfy.sh/controversial
curl -H "Title: Dogs are better than cats" -d "Oh my ..." ntfy.sh/controversial
curl -H "t: Dogs are better than cats" -d "Oh my ..." ntfy.sh/controversial`,
    answers: Array(3).fill(
      message({ topic: "controversial", title: "Dogs are better than cats", message: "Oh my ..." }),
    ),
  },
  {
    doc: PUBLISH,
    section: "Message priority",
    command: String.raw`curl -H "X-Priority: 5" -d "An urgent message" ntfy.sh/phil_alerts
curl -H "Priority: low" -d "Low priority message" ntfy.sh/phil_alerts
curl -H p:4 -d "A high priority message" ntfy.sh/phil_alerts`,
    answers: [
      message({ topic: "phil_alerts", priority: 5, message: "An urgent message" }),
      message({ topic: "phil_alerts", priority: 2, message: "Low priority message" }),
      message({ topic: "phil_alerts", priority: 4, message: "A high priority message" }),
    ],
  },
  {
    doc: PUBLISH,
    section: "Tags & emojis",
    command: String.raw`curl -H "X-Tags: warning,mailsrv13,daily-backup" -d "Backup of mailsrv13 failed" ntfy.sh/backups
curl -H "Tags: horse,unicorn" -d "Unicorns are just horses with unique horns" ntfy.sh/backups
curl -H ta:dog -d "Dogs are awesome" ntfy.sh/backups`,
    answers: [
      message({
        topic: "backups",
        tags: ["warning", "mailsrv13", "daily-backup"],
        message: "Backup of mailsrv13 failed",
      }),
      message({ topic: "backups", tags: ["horse", "unicorn"], message: "Unicorns are just horses with unique horns" }),
      message({ topic: "backups", tags: ["dog"], message: "Dogs are awesome" }),
    ],
  },
  {
    doc: PUBLISH,
    section: "Markdown formatting",
    command: String.raw`curl \
    -d "Look ma, **bold text**, *italics*, ..." \
    -H "Markdown: yes" \
    ntfy.sh/mytopic`,
    answers: [
      message({ topic: "mytopic", message: "Look ma, **bold text**, *italics*, ...", content_type: "text/markdown" }),
    ],
  },
  {
    doc: PUBLISH,
    section: "Scheduled delivery",
    command: String.raw`curl -H "At: tomorrow, 10am" -d "Good morning" ntfy.sh/hello
curl -H "In: 30min" -d "It's 30 minutes later now" ntfy.sh/reminder
curl -H "Delay: 1639194738" -d "Unix timestamps are awesome" ntfy.sh/itsaunixsystem`,
    skip: "run in tests/ntfy_schedule_test.ts, which waits for the due time with a shorter test-only minimum delay",
  },
  {
    doc: PUBLISH,
    section: "Webhooks (publish via GET)",
    command: String.raw`curl ntfy.sh/mywebhook/trigger`,
    answers: [message({ topic: "mywebhook", message: "triggered" })],
  },
  {
    doc: PUBLISH,
    section: "Webhooks (publish via GET), with parameters",
    command: String.raw`curl "ntfy.sh/mywebhook/publish?message=Webhook+triggered&priority=high&tags=warning,skull"`,
    answers: [message({ topic: "mywebhook", message: "Webhook triggered", priority: 4, tags: ["warning", "skull"] })],
  },
  {
    doc: PUBLISH,
    section: "Message templating",
    command: String.raw`# To use { and } in the URL without encoding, we need to turn off
# curl's globbing using --globoff

curl \
    --globoff \
    -d '{"hostname": "phil-pc", "error": {"level": "severe", "desc": "Disk has run out of space"}}' \
    'ntfy.sh/mytopic?tpl=yes&t={{.hostname}}:+A+{{.error.level}}+error+has+occurred&m=Error+message:+{{.error.desc}}'`,
    answers: [message({
      topic: "mytopic",
      title: "phil-pc: A severe error has occurred",
      message: "Error message: Disk has run out of space",
    })],
  },
  {
    doc: PUBLISH,
    section: "Publish as JSON",
    command: String.raw`curl ntfy.sh \
  -d '{
    "topic": "mytopic",
    "message": "Disk space is low at 5.1 GB",
    "title": "Low disk space alert",
    "tags": ["warning","cd"],
    "priority": 4,
    "attach": "https://filesrv.lan/space.jpg",
    "filename": "diskspace.jpg",
    "click": "https://homecamera.lan/xasds1h2xsSsa/",
    "actions": [{ "action": "view", "label": "Admin panel", "url": "https://filesrv.lan/admin" }]
  }'`,
    answers: [message({
      topic: "mytopic",
      message: "Disk space is low at 5.1 GB",
      title: "Low disk space alert",
      tags: ["warning", "cd"],
      priority: 4,
      attachment: { name: "diskspace.jpg", url: "https://filesrv.lan/space.jpg" },
      click: "https://homecamera.lan/xasds1h2xsSsa/",
      actions: [{ action: "view", label: "Admin panel", url: "https://filesrv.lan/admin", clear: false }],
    })],
  },
  {
    doc: PUBLISH,
    section: "Action buttons: Using a header",
    command: String.raw`body='{"temperature": 65}'
curl \
    -d "You left the house. Turn down the A/C?" \
    -H "Actions: view, Open portal, https://home.nest.com/, clear=true; \
                 http, Turn down, https://api.nest.com/, body='$body'" \
    ntfy.sh/myhome`,
    answers: [message({
      topic: "myhome",
      message: "You left the house. Turn down the A/C?",
      actions: [
        { action: "view", label: "Open portal", url: "https://home.nest.com/", clear: true },
        { action: "http", label: "Turn down", url: "https://api.nest.com/", body: '{"temperature": 65}', clear: false },
      ],
    })],
  },
  {
    doc: PUBLISH,
    section: "Action buttons: Using a JSON array",
    command: String.raw`curl ntfy.sh \
  -d '{
    "topic": "myhome",
    "message": "You left the house. Turn down the A/C?",
    "actions": [
      {
        "action": "view",
        "label": "Open portal",
        "url": "https://home.nest.com/",
        "clear": true
      },
      {
        "action": "http",
        "label": "Turn down",
        "url": "https://api.nest.com/",
        "body": "{\"temperature\": 65}"
      }
    ]
  }'`,
    answers: [message({
      topic: "myhome",
      message: "You left the house. Turn down the A/C?",
      actions: [
        { action: "view", label: "Open portal", url: "https://home.nest.com/", clear: true },
        { action: "http", label: "Turn down", url: "https://api.nest.com/", body: '{"temperature": 65}', clear: false },
      ],
    })],
  },
  {
    doc: PUBLISH,
    section: "Open website/app",
    command: String.raw`curl \
    -d "Somebody retweeted your tweet." \
    -H "Actions: view, Open Twitter, https://twitter.com/binwiederhier/status/1467633927951163392" \
ntfy.sh/myhome`,
    answers: [message({
      topic: "myhome",
      message: "Somebody retweeted your tweet.",
      actions: [{
        action: "view",
        label: "Open Twitter",
        url: "https://twitter.com/binwiederhier/status/1467633927951163392",
        clear: false,
      }],
    })],
  },
  {
    doc: PUBLISH,
    section: "Open website/app (JSON)",
    command: String.raw`curl ntfy.sh \
  -d '{
    "topic": "myhome",
    "message": "Somebody retweeted your tweet.",
    "actions": [
      {
        "action": "view",
        "label": "Open Twitter",
        "url": "https://twitter.com/binwiederhier/status/1467633927951163392"
      }
    ]
  }'`,
    answers: [message({
      topic: "myhome",
      message: "Somebody retweeted your tweet.",
      actions: [{
        action: "view",
        label: "Open Twitter",
        url: "https://twitter.com/binwiederhier/status/1467633927951163392",
        clear: false,
      }],
    })],
  },
  {
    doc: PUBLISH,
    section: "Send Android broadcast",
    command: String.raw`curl \
    -d "Your wife requested you send a picture of yourself." \
    -H "Actions: broadcast, Take picture, extras.cmd=pic, extras.camera=front" \
ntfy.sh/wifey`,
    answers: [message({
      topic: "wifey",
      message: "Your wife requested you send a picture of yourself.",
      actions: [{ action: "broadcast", label: "Take picture", extras: { cmd: "pic", camera: "front" }, clear: false }],
    })],
  },
  {
    doc: PUBLISH,
    section: "Send Android broadcast (JSON)",
    command: String.raw`curl ntfy.sh \
  -d '{
    "topic": "wifey",
    "message": "Your wife requested you send a picture of yourself.",
    "actions": [
      {
        "action": "broadcast",
        "label": "Take picture",
        "extras": {
            "cmd": "pic",
            "camera": "front"
        }
      }
    ]
  }'`,
    answers: [message({
      topic: "wifey",
      message: "Your wife requested you send a picture of yourself.",
      actions: [{ action: "broadcast", label: "Take picture", extras: { cmd: "pic", camera: "front" }, clear: false }],
    })],
  },
  {
    doc: PUBLISH,
    section: "Send HTTP request",
    command: String.raw`curl \
    -d "Garage door has been open for 15 minutes. Close it?" \
    -H "Actions: http, Close door, https://api.mygarage.lan/, method=PUT, headers.Authorization=Bearer zAzsx1sk.., body={\"action\": \"close\"}" \
    ntfy.sh/myhome`,
    answers: [message({
      topic: "myhome",
      message: "Garage door has been open for 15 minutes. Close it?",
      actions: [{
        action: "http",
        label: "Close door",
        url: "https://api.mygarage.lan/",
        method: "PUT",
        headers: { Authorization: "Bearer zAzsx1sk.." },
        body: '{"action": "close"}',
        clear: false,
      }],
    })],
  },
  {
    doc: PUBLISH,
    section: "Send HTTP request (JSON)",
    command: String.raw`curl ntfy.sh \
  -d '{
    "topic": "myhome",
    "message": "Garage door has been open for 15 minutes. Close it?",
    "actions": [
      {
        "action": "http",
        "label": "Close door",
        "url": "https://api.mygarage.lan/",
        "method": "PUT",
        "headers": {
            "Authorization": "Bearer zAzsx1sk.."
        },
        "body": "{\"action\": \"close\"}"
      }
    ]
  }'`,
    answers: [message({
      topic: "myhome",
      message: "Garage door has been open for 15 minutes. Close it?",
      actions: [{
        action: "http",
        label: "Close door",
        url: "https://api.mygarage.lan/",
        method: "PUT",
        headers: { Authorization: "Bearer zAzsx1sk.." },
        body: '{"action": "close"}',
        clear: false,
      }],
    })],
  },
  {
    doc: PUBLISH,
    section: "Click action",
    command: String.raw`curl \
    -d "New messages on Reddit" \
    -H "Click: https://www.reddit.com/message/messages" \
    ntfy.sh/reddit_alerts`,
    answers: [message({
      topic: "reddit_alerts",
      message: "New messages on Reddit",
      click: "https://www.reddit.com/message/messages",
    })],
  },
  {
    doc: PUBLISH,
    section: "Attach local file",
    command: String.raw`curl \
    -T flower.jpg \
    -H "Filename: flower.jpg" \
    ntfy.sh/flowers`,
    // An ntfy server without an attachment cache: 40014 "invalid request: attachments not allowed".
    answers: [{ status: 400, reply: { code: 40014, http: 400 } }],
  },
  {
    doc: PUBLISH,
    section: "Attach file from a URL",
    command: String.raw`curl \
    -X POST \
    -H "Attach: https://f-droid.org/F-Droid.apk" \
    ntfy.sh/mydownloads`,
    answers: [message({
      topic: "mydownloads",
      message: "You received a file: F-Droid.apk",
      attachment: { name: "F-Droid.apk", url: "https://f-droid.org/F-Droid.apk" },
    })],
  },
  {
    doc: PUBLISH,
    section: "Icons",
    command: String.raw`curl \
    -H "Icon: https://styles.redditmedia.com/t5_32uhe/styles/communityIcon_xnt6chtnr2j21.png" \
    -H "Title: Kodi: Resuming Playback" \
    -H "Tags: arrow_forward" \
    -d "The Wire, S01E01" \
    ntfy.sh/tvshows`,
    answers: [message({
      topic: "tvshows",
      icon: "https://styles.redditmedia.com/t5_32uhe/styles/communityIcon_xnt6chtnr2j21.png",
      title: "Kodi: Resuming Playback",
      tags: ["arrow_forward"],
      message: "The Wire, S01E01",
    })],
  },
  {
    doc: PUBLISH,
    section: "E-mail notifications",
    command: String.raw`curl \
    -H "Email: phil@example.com" \
    -H "Tags: warning,skull,backup-host,ssh-login" \
    -H "Priority: high" \
    -d "Unknown login from 5.31.23.83 to backups.example.com" \
    ntfy.sh/alerts
curl -H "Email: phil@example.com" -d "You've Got Mail" 
curl -d "You've Got Mail" "ntfy.sh/alerts?email=phil@example.com"`,
    skip:
      "needs e-mail (hark refuses Email with 400, as an ntfy server without SMTP does); its second line names no URL",
  },
  {
    doc: PUBLISH,
    section: "Phone calls",
    command: String.raw`curl \
    -u :tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2 \
    -H "Call: +12223334444" \
    -d "Your garage seems to be on fire. You should probably check that out." \
    ntfy.sh/alerts`,
    skip: "needs phone calls (hark refuses Call with 400, as an ntfy server without Twilio does)",
  },
  {
    doc: PUBLISH,
    section: "Authentication: Username + password",
    command: String.raw`curl \
  -u testuser:fakepassword \
  -d "Look ma, with auth" \
  https://ntfy.example.com/mysecrets`,
    token: "fakepassword",
    differs: "hark has no users: the password is the listener's token, whatever the user name",
    answers: [message({ topic: "mysecrets", message: "Look ma, with auth" })],
  },
  {
    doc: PUBLISH,
    section: "Authentication: Access tokens",
    command: String.raw`curl \
  -H "Authorization: Bearer tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2" \
  -d "Look ma, with auth" \
  https://ntfy.example.com/mysecrets`,
    token: "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2",
    answers: [message({ topic: "mysecrets", message: "Look ma, with auth" })],
  },
  {
    doc: PUBLISH,
    section: "Authentication: Access tokens (as a password)",
    command: String.raw`curl \
  -u :tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2 \
  -d "Look ma, with auth" \
  https://ntfy.example.com/mysecrets`,
    token: "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2",
    answers: [message({ topic: "mysecrets", message: "Look ma, with auth" })],
  },
  {
    doc: PUBLISH,
    section: "Authentication: Query param",
    command: String.raw`curl \
  -d "Look ma, with auth" \
  "https://ntfy.example.com/mysecrets?auth=QmFzaWMgZEdWemRIVnpaWEk2Wm1GclpYQmhjM04zYjNKaw"`,
    token: "fakepassword",
    answers: [message({ topic: "mysecrets", message: "Look ma, with auth" })],
  },
  {
    doc: PUBLISH,
    section: "Message caching",
    command: String.raw`curl -H "X-Cache: no" -d "This message won't be stored server-side" ntfy.sh/mytopic
curl -H "Cache: no" -d "This message won't be stored server-side" ntfy.sh/mytopic`,
    answers: Array(2).fill(
      message({ topic: "mytopic", message: "This message won't be stored server-side", expires: undefined }),
    ),
  },
  {
    doc: PUBLISH,
    section: "Disable Firebase",
    command: String.raw`curl -H "X-Firebase: no" -d "This message won't be forwarded to FCM" ntfy.sh/mytopic
curl -H "Firebase: no" -d "This message won't be forwarded to FCM" ntfy.sh/mytopic`,
    answers: Array(2).fill(message({ topic: "mytopic", message: "This message won't be forwarded to FCM" })),
  },

  {
    doc: API,
    section: "Subscribe as JSON stream",
    command: String.raw`$ curl -s ntfy.sh/disk-alerts/json`,
    publish: [{ topic: "disk-alerts", message: "Disk full" }],
    lines: [
      { event: "open", topic: "disk-alerts" },
      { event: "message", topic: "disk-alerts", message: "Disk full" },
    ],
  },
  {
    doc: API,
    section: "Subscribe as SSE stream",
    command: String.raw`$ curl -s ntfy.sh/mytopic/sse`,
    publish: [{ topic: "mytopic", message: "Hi!" }],
    lines: ["event: open", { event: "open", topic: "mytopic" }, "", {
      event: "message",
      topic: "mytopic",
      message: "Hi!",
    }],
  },
  {
    doc: API,
    section: "Subscribe as raw stream",
    command: String.raw`$ curl -s ntfy.sh/disk-alerts/raw`,
    publish: [{ topic: "disk-alerts", message: "Disk full" }],
    lines: ["", "Disk full"],
  },
  {
    doc: API,
    section: "Poll for messages",
    command: String.raw`curl -s "ntfy.sh/mytopic/json?poll=1"`,
    before: [{ topic: "mytopic", message: "polled" }],
    returns: { only: false },
    lines: [{ event: "message", topic: "mytopic", message: "polled" }],
  },
  {
    doc: API,
    section: "Fetch cached messages",
    command: String.raw`curl -s "ntfy.sh/mytopic/json?since=10m"
curl -s "ntfy.sh/mytopic/json?since=1645970742"
curl -s "ntfy.sh/mytopic/json?since=nFS3knfcQ1xe"`,
    skip: "three streams in one command: each runs alone below",
  },
  {
    doc: API,
    section: "Fetch cached messages (since a duration)",
    command: String.raw`curl -s "ntfy.sh/mytopic/json?since=10m"`,
    before: [{ topic: "mytopic", message: "cached 1" }],
    lines: [{ event: "open", topic: "mytopic" }, { event: "message", message: "cached 1" }],
  },
  {
    doc: API,
    section: "Fetch cached messages (since unix seconds)",
    command: String.raw`curl -s "ntfy.sh/mytopic/json?since=1645970742"`,
    before: [{ topic: "mytopic", message: "cached 2" }],
    lines: [{ event: "open", topic: "mytopic" }, { event: "message", message: "cached 2" }],
  },
  {
    doc: API,
    section: "Fetch cached messages (since a message id)",
    command: String.raw`curl -s "ntfy.sh/mytopic/json?since=nFS3knfcQ1xe"`,
    // An id the server does not hold: ntfy answers with everything it has.
    before: [{ topic: "mytopic", message: "cached 3" }],
    lines: [{ event: "open", topic: "mytopic" }, { event: "message", message: "cached 3" }],
  },
  {
    doc: API,
    section: "Fetch latest message",
    command: String.raw`curl -s "ntfy.sh/mytopic/json?poll=1&since=latest"`,
    before: [{ topic: "mytopic", message: "older" }, { topic: "mytopic", message: "the latest" }],
    returns: { only: true },
    lines: [{ event: "message", topic: "mytopic", message: "the latest" }],
  },
  {
    doc: API,
    section: "Fetch scheduled messages",
    command: String.raw`curl -s "ntfy.sh/mytopic/json?poll=1&sched=1"`,
    before: [{ topic: "mytopic", message: "polled with sched" }],
    returns: { only: false },
    lines: [{ event: "message", topic: "mytopic", message: "polled with sched" }],
  },
  {
    doc: API,
    section: "Filter messages",
    command: String.raw`$ curl "ntfy.sh/alerts/json?priority=high&tags=zfs-error"`,
    publish: [
      { topic: "alerts", message: "not this one", headers: { Priority: "high", Tags: "error" } },
      { topic: "alerts", message: "ZFS pool corruption detected", headers: { Priority: "4", Tags: "error,zfs-error" } },
    ],
    lines: [
      { event: "open", topic: "alerts" },
      {
        event: "message",
        topic: "alerts",
        priority: 4,
        tags: ["error", "zfs-error"],
        message: "ZFS pool corruption detected",
      },
    ],
  },
  {
    doc: API,
    section: "Subscribe to multiple topics",
    command: String.raw`$ curl -s ntfy.sh/mytopic1,mytopic2/json`,
    publish: [{ topic: "mytopic1", message: "for topic 1" }, { topic: "mytopic2", message: "for topic 2" }],
    lines: [
      { event: "open", topic: "mytopic1,mytopic2" },
      { event: "message", topic: "mytopic1", message: "for topic 1" },
      { event: "message", topic: "mytopic2", message: "for topic 2" },
    ],
  },
];
