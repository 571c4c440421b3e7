/** hark's own version, shown by `hark --version` and in identify's agent string. */
export const VERSION = "0.1.0";

/**
 * The libp2p release this build speaks, for `hark --version`. Written here
 * rather than read from deno.json, which a compiled binary does not carry;
 * `lib/version_test.ts` keeps the two in step.
 */
export const LIBP2P_VERSION = "3.3.11";
export const GOSSIPSUB_VERSION = "17.1.1";

/** The line `hark --version` prints. */
export function versionLine(): string {
  return `hark ${VERSION} (libp2p ${LIBP2P_VERSION}, gossipsub ${GOSSIPSUB_VERSION}, deno ${Deno.version.deno})`;
}
