/** A stream that is not one we wrote: wrong identifier or version, truncated, or malformed. */
export class StateFormatError extends Error {
  override name = "StateFormatError";
}
