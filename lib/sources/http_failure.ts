/** A request to the http source that ends with an error reply in ntfy's shape. */

/** A request that ends with an error reply. */
export class HttpFailure extends Error {
  override name = "HttpFailure";
  constructor(readonly status: number, readonly code: number, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
