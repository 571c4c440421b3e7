/** What one `hark doctor` check found. */

export type Verdict = "ok" | "warn" | "fail";

export interface Finding {
  check: string;
  verdict: Verdict;
  detail: string;
  /** What to do about a warning or failure. */
  fix?: string;
}
