import type { TestServer } from '../testing.js';
import type { ApiAnswer } from './api.js';

/**
 * A browser's cookie jar for one KeyNest origin: keeps what `Set-Cookie` sets (a `Max-Age=0`
 * removes), and gives the headers a page of that origin sends with `fetch`: its cookies, its
 * `Origin`, `Sec-Fetch-Site: same-origin`, and `X-CSRF-Token` read from the CSRF cookie.
 */
export class BrowserJar {
  readonly cookies = new Map<string, string>();

  constructor(private readonly srv: Pick<TestServer, 'url'>) {}

  /** Stores the cookies an answer sets; returns the answer. */
  take(res: ApiAnswer): ApiAnswer {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      if (attrs.some((a) => a.trim().toLowerCase() === 'max-age=0')) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1).trim());
    }
    return res;
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** What a same-origin page sends: cookies, Origin, and the CSRF token echoed from its cookie. */
  sameOrigin(extra: Record<string, string> = {}): Record<string, string> {
    const csrf = this.cookies.get('__Host-keynest_csrf');
    return {
      cookie: this.cookieHeader(),
      origin: new URL(this.srv.url).origin,
      'sec-fetch-site': 'same-origin',
      ...(csrf ? { 'x-csrf-token': csrf } : {}),
      ...extra,
    };
  }
}
