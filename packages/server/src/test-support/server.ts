/** Kept as the one import every server test uses, so a test-only wrapper can return here if needed. */
export { startTestServer as startServer } from '../testing.js';
