import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseUserAgent } from './user-agent.js';

describe('parseUserAgent', () => {
  it('names common browsers, systems and device kinds', () => {
    const cases: [string | null, ReturnType<typeof parseUserAgent>][] = [
      ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0', { type: 'desktop', browser: 'Edge', os: 'Windows' }],
      ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', { type: 'desktop', browser: 'Safari', os: 'macOS' }],
      ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36', { type: 'mobile', browser: 'Chrome', os: 'Android' }],
      ['Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1', { type: 'tablet', browser: 'Safari', os: 'iOS' }],
      ['keynest-cli/0.1.0 (node v20.20.2; linux x64)', { type: 'cli', browser: 'KeyNest CLI', os: 'Linux' }],
      ['curl/8.5.0', { type: 'cli', browser: 'curl', os: null }],
      ['Googlebot/2.1 (+http://www.google.com/bot.html)', { type: 'bot', browser: null, os: null }],
      [null, { type: 'unknown', browser: null, os: null }],
      ['\u0000garbage', { type: 'unknown', browser: null, os: null }],
    ];
    for (const [ua, expected] of cases) assert.deepEqual(parseUserAgent(ua), expected, String(ua));
  });
});
