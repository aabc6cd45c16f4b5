/** A bad render target, time, glob or argument: the HTTP layer answers 400 with the message. */
export class QueryError extends Error {
  override name = 'QueryError';
}
