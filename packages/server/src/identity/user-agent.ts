/** What a sessions list shows about the client behind a session. */
export interface Device {
  type: 'desktop' | 'mobile' | 'tablet' | 'cli' | 'bot' | 'unknown';
  browser: string | null;
  os: string | null;
}

// Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
const BROWSERS: readonly [RegExp, string][] = [
  [/\bkeynest-cli\b/i, 'KeyNest CLI'],
  [/\bEdg(?:e|A|iOS)?\/[\d.]+/, 'Edge'],
  [/\b(?:OPR|Opera)\/[\d.]+/, 'Opera'],
  [/\b(?:Firefox|FxiOS)\/[\d.]+/, 'Firefox'],
  [/\b(?:Chrome|CriOS|Chromium)\/[\d.]+/, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
  [/\bcurl\/[\d.]+/i, 'curl'],
  [/\bnode(?:-fetch)?\b|\bundici\b/i, 'Node.js'],
];

const SYSTEMS: readonly [RegExp, string][] = [
  [/\bWindows NT\b/, 'Windows'],
  [/\b(?:iPhone|iPad|iPod)\b.*\bOS [\d_]+/, 'iOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bMac OS X\b|\bdarwin\b/i, 'macOS'],
  [/\bLinux\b|\blinux\b/, 'Linux'],
];

/**
 * A small, deliberately coarse parser: enough to tell a user "Firefox on Linux" from "your phone"
 * in a sessions list. The header is client-controlled, so it is shown as a hint, never trusted.
 */
export function parseUserAgent(ua: string | null): Device {
  if (!ua) return { type: 'unknown', browser: null, os: null };
  const browser = BROWSERS.find(([re]) => re.test(ua))?.[1] ?? null;
  const os = SYSTEMS.find(([re]) => re.test(ua))?.[1] ?? null;
  let type: Device['type'] = 'unknown';
  if (/bot|crawler|spider/i.test(ua)) type = 'bot';
  else if (browser === 'KeyNest CLI' || browser === 'curl' || browser === 'Node.js') type = 'cli';
  else if (/\biPad\b|\bTablet\b/.test(ua) || (/\bAndroid\b/.test(ua) && !/\bMobile\b/.test(ua))) type = 'tablet';
  else if (/\bMobi|\biPhone\b|\biPod\b/.test(ua)) type = 'mobile';
  else if (browser !== null || os !== null) type = 'desktop';
  return { type, browser, os };
}
