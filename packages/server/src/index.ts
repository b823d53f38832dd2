export { runServer } from './main.js';
export { createKeyNest, type KeyNest } from './server.js';
export { loadConfig, type Config } from './config.js';
export { startTestServer, type TestServer, type TestServerOptions } from './testing.js';
export { ERROR_CODES, AppError, type ErrorCode } from './errors.js';
