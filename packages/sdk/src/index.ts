/**
 * @keynest/sdk: a typed, fetch-based client for the KeyNest HTTP API (docs/api.md). Zero runtime
 * dependencies, so anything from a CI job to the web dashboard can use it.
 */
export { KeyNestClient, type KeyNestClientOptions } from './client.js';
export {
  KeyNestApiError,
  isKeyNestApiError,
  SERVER_UNREACHABLE,
  UNEXPECTED_RESPONSE,
  type KeyNestApiErrorInit,
} from './errors.js';
export type { FetchInit, FetchLike, FetchResponse } from './transport.js';
export type * from './types.js';
