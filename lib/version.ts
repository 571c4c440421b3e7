/** hark's own version, shown by `hark --version` and in identify's agent string. */
export const VERSION = "0.1.0";
