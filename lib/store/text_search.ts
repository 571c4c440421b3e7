/**
 * The web page's search (`q=` on the ntfy subscribe API), run by the store
 * so a browser never downloads the store to look through it: notifications
 * whose title or body holds the text (SQLite's LIKE, which ignores the case
 * of ASCII letters only), and the clears and deletes of those notifications,
 * so a result shows as acknowledged or goes. Readers bound it with a limit
 * and a time range; this is a scan of the rows they cover, not an index.
 */

/** Longest search text: a search is words, not a document. */
export const MAX_SEARCH_CHARS = 200;

/** LIKE's wildcards and its escape character, taken literally. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}

const IS_MESSAGE = `IFNULL(json_extract(json, '$.kind'), 'message') = 'message'`;
const HOLDS_TEXT =
  `(json_extract(json, '$.title') LIKE ? ESCAPE '\\' OR json_extract(json, '$.body') LIKE ? ESCAPE '\\')`;

/** SQL (to follow a WHERE) for events that match `text`, and its parameters. */
export function textFilter(text: string): { filter: string; params: string[] } {
  const pattern = likePattern(text);
  return {
    filter:
      `AND ((${IS_MESSAGE} AND ${HOLDS_TEXT}) OR (NOT ${IS_MESSAGE} AND (topic, json_extract(json, '$.sequence')) IN
      (SELECT topic, json_extract(json, '$.sequence') FROM events
        WHERE json_extract(json, '$.sequence') IS NOT NULL AND ${IS_MESSAGE} AND ${HOLDS_TEXT})))`,
    params: [pattern, pattern, pattern, pattern],
  };
}

/**
 * The same test for one live event, as the store would answer it: title or
 * body holds the text, ignoring the case of ASCII letters only, as LIKE does.
 * A clear or delete passes (a live follower cannot tell whose it is cheaply;
 * closing what the reader does not show changes nothing).
 */
export function holdsText(event: { title?: string; body?: string; kind?: string }, text: string): boolean {
  if (event.kind !== undefined && event.kind !== "message") return true;
  const wanted = foldAscii(text);
  return foldAscii(event.title ?? "").includes(wanted) || foldAscii(event.body ?? "").includes(wanted);
}

function foldAscii(text: string): string {
  return text.replace(/[A-Z]/g, (char) => char.toLowerCase());
}
