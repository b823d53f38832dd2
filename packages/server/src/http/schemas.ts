/**
 * JSON-schema pieces shared by routes. Every object schema closes itself
 * (`additionalProperties: false`) so unknown fields are rejected, and every string is bounded.
 */
export const NAME_MAX = 63;
export const REF_MAX = 100;

/**
 * No control characters (NUL above all: PostgreSQL cannot store it in text and would fail the
 * query), and no lone UTF-16 surrogate (a JSON "\ud800" alone: it has no UTF-8 form, so what the
 * database stored would differ from what the audit chain hashed). Matched as a Unicode pattern,
 * where a surrogate pair is one character outside that range. For strings that reach the database
 * as text or a lookup key; secret values are exempt, since they are stored encrypted.
 */
export const PRINTABLE = '^[^\\u0000-\\u001f\\u007f\\ud800-\\udfff]*$';

/** A bounded string without control characters. */
export const text = (minLength: number, maxLength: number) => ({ type: 'string', minLength, maxLength, pattern: PRINTABLE }) as const;

export const projectParams = {
  type: 'object',
  additionalProperties: false,
  required: ['project'],
  properties: { project: text(1, REF_MAX) },
} as const;

export const envParams = {
  type: 'object',
  additionalProperties: false,
  required: ['project', 'env'],
  properties: {
    project: text(1, REF_MAX),
    env: text(1, REF_MAX),
  },
} as const;

export const secretParams = {
  type: 'object',
  additionalProperties: false,
  required: ['project', 'env', 'key'],
  properties: {
    project: text(1, REF_MAX),
    env: text(1, REF_MAX),
    // Longer than any valid key on purpose: the service then answers invalid_secret_key, the same
    // code a too-long key gets in a body. The router caps parameters at 2048 characters.
    key: { type: 'string', minLength: 1, maxLength: 2048 },
  },
} as const;

export const isoTime = { type: 'string', format: 'date-time' } as const;
export const nullableIsoTime = { type: ['string', 'null'], format: 'date-time' } as const;

export const environment = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'createdAt'],
  properties: { id: { type: 'string' }, name: { type: 'string' }, createdAt: isoTime },
} as const;

export const project = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'createdAt', 'environments'],
  properties: { id: { type: 'string' }, name: { type: 'string' }, createdAt: isoTime, environments: { type: 'array', items: environment } },
} as const;

export const actor = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'id', 'name'],
  properties: { type: { type: 'string' }, id: { type: 'string' }, name: { type: ['string', 'null'] } },
} as const;

export const secret = {
  type: 'object',
  additionalProperties: false,
  required: ['key', 'version', 'createdAt', 'updatedAt', 'updatedBy', 'deletedAt'],
  properties: {
    key: { type: 'string' },
    value: { type: 'string' },
    version: { type: 'integer' },
    createdAt: isoTime,
    updatedAt: isoTime,
    updatedBy: actor,
    deletedAt: nullableIsoTime,
  },
} as const;

export const writeResult = {
  type: 'object',
  additionalProperties: false,
  required: ['key', 'version', 'status'],
  properties: { key: { type: 'string' }, version: { type: 'integer' }, status: { type: 'string', enum: ['added', 'changed', 'unchanged', 'restored'] } },
} as const;

export const ifVersion = { type: 'integer', minimum: 0, maximum: 2_147_483_647 } as const;

export const errorResponse = {
  type: 'object',
  required: ['error', 'requestId'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
    },
    requestId: { type: 'string' },
  },
} as const;

export const noContent = { type: 'null', description: 'No content' } as const;
