/**
 * Where an address is, as far as a GeoIP database says: a hint for the user reading their sessions
 * or a sign-in notice, never a fact to authorize on (a VPN or a stale database moves it anywhere).
 */
export interface GeoLocation {
  /** ISO 3166-1 alpha-2, upper case (`DE`). */
  countryCode: string | null;
  /** The country's English name (`Germany`). */
  country: string | null;
  /** The city's English name (`Berlin`). */
  city: string | null;
}

/** Names come from a file the operator chose, but still end up in mails and terminals: keep them short. */
const MAX_NAME_LENGTH = 100;

/** The fields of a GeoIP2/GeoLite2/DB-IP City or Country record that we read. */
interface LocationRecord {
  country?: { iso_code?: unknown; names?: Record<string, unknown> };
  city?: { names?: Record<string, unknown> };
}

/**
 * A database record to a location; null when it names neither a country nor a city (an ASN-only
 * entry, or a network the database knows nothing about).
 */
export function locationOfRecord(record: unknown): GeoLocation | null {
  if (typeof record !== 'object' || record === null) return null;
  const r = record as LocationRecord;
  const code = r.country?.iso_code;
  const location: GeoLocation = {
    countryCode: typeof code === 'string' && /^[A-Za-z]{2}$/.test(code) ? code.toUpperCase() : null,
    country: englishName(r.country?.names),
    city: englishName(r.city?.names),
  };
  return location.countryCode === null && location.country === null && location.city === null ? null : location;
}

/** The text kept in `sessions.location`. */
export function storedLocation(location: GeoLocation | null): string | null {
  return location === null ? null : JSON.stringify(location);
}

/**
 * `sessions.location` back to a location. Anything that is not the shape written above reads as
 * unknown rather than failing the sessions list: the column is a hint, not something to trust.
 */
export function parseStoredLocation(text: string | null): GeoLocation | null {
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const field = (k: keyof GeoLocation) => (typeof v[k] === 'string' ? (v[k] as string).slice(0, MAX_NAME_LENGTH) : null);
  const location = { countryCode: field('countryCode'), country: field('country'), city: field('city') };
  return location.countryCode === null && location.country === null && location.city === null ? null : location;
}

/** `Berlin, Germany (DE)`; `Germany (DE)`; `DE`. For mails and other text meant for people. */
export function describeLocation(l: GeoLocation): string {
  const country = l.country !== null && l.countryCode !== null ? `${l.country} (${l.countryCode})` : (l.country ?? l.countryCode);
  return [l.city, country].filter((s) => s !== null).join(', ');
}

function englishName(names: Record<string, unknown> | undefined): string | null {
  const en = names?.en;
  if (typeof en !== 'string' || en.trim() === '') return null;
  return en.trim().slice(0, MAX_NAME_LENGTH);
}
