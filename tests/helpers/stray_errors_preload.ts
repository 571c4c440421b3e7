/**
 * Loaded with `deno run --preload` before hark's main.ts (tests/uncaught_test.ts),
 * never by hark itself: on SIGUSR2 it does what a library's stray callback
 * does, from inside a real `hark run` process. It leaves two rejections
 * unhandled (one with `null`, as the 300-agent simulation died of, and one
 * with an Error) and throws `null` out of a timer.
 */

Deno.addSignalListener("SIGUSR2", () => {
  Promise.reject(null);
  Promise.reject(new TypeError("a stray rejection the test left unhandled"));
  setTimeout(() => {
    throw null;
  }, 0);
});
