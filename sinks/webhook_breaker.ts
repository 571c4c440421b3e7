/**
 * A webhook's circuit breaker. After `failures` failed deliveries in a row
 * the circuit opens: deliveries are refused without a request until
 * `cooldownMs` has passed. Then one delivery, the trial, decides: success
 * closes the circuit, failure opens it for another cooldown. A dead endpoint
 * so costs one request per cooldown, not a round of retries per event.
 */

export type CircuitState = "closed" | "open" | "half-open";

export interface CircuitBreakerInit {
  /** Failed deliveries in a row that open the circuit. */
  failures: number;
  /** How long the circuit stays open before a trial (ms). */
  cooldownMs: number;
  now: () => number;
}

export class CircuitBreaker {
  readonly #init: CircuitBreakerInit;
  #openUntil?: number;
  #trialInFlight = false;
  #consecutiveFailures = 0;

  constructor(init: CircuitBreakerInit) {
    this.#init = init;
  }

  get state(): CircuitState {
    if (this.#openUntil === undefined) return "closed";
    // Half-open: the cooldown is over and the next delivery (or the one in flight) is the trial.
    return this.#trialInFlight || this.#init.now() >= this.#openUntil ? "half-open" : "open";
  }

  /** When an open circuit lets a trial through, or undefined while closed. */
  get openUntil(): number | undefined {
    return this.#openUntil;
  }

  get consecutiveFailures(): number {
    return this.#consecutiveFailures;
  }

  /**
   * Whether a delivery may go ahead now: "trial" for the one that probes a
   * half-open circuit, "go" while closed, undefined while open (refused).
   * A trial must end with `succeeded()`, `failed()` or `endTrial()`.
   */
  admit(): "go" | "trial" | undefined {
    if (this.#openUntil === undefined) return "go";
    if (this.#init.now() >= this.#openUntil && !this.#trialInFlight) {
      this.#trialInFlight = true;
      return "trial";
    }
    return undefined;
  }

  /** The trial ended without a verdict (aborted). */
  endTrial(): void {
    this.#trialInFlight = false;
  }

  /** A delivery worked. Returns true when that closed an open circuit. */
  succeeded(): boolean {
    const wasOpen = this.#openUntil !== undefined;
    this.#openUntil = undefined;
    this.#consecutiveFailures = 0;
    this.#trialInFlight = false;
    return wasOpen;
  }

  /** A delivery failed. Returns true when the circuit (re)opened. */
  failed(): boolean {
    this.#consecutiveFailures++;
    this.#trialInFlight = false;
    if (this.#openUntil === undefined && this.#consecutiveFailures < this.#init.failures) return false;
    this.#openUntil = this.#init.now() + this.#init.cooldownMs;
    return true;
  }
}
