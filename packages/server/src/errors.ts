/**
 * The one family of errors KeyNest answers with. Each has a stable `code` (documented in
 * docs/errors.md; a test keeps the two lists equal), an HTTP status, and a message that is safe to
 * show: it never carries a secret value, a password or a token.
 */
export const ERROR_CODES = {
  bad_request: 400,
  validation_failed: 400,
  json_too_deep: 400,
  weak_password: 400,
  invalid_reset_token: 400,
  invalid_verification_token: 400,
  invalid_signup_token: 400,
  invalid_invitation_token: 400,
  invalid_secret_key: 400,
  invalid_name: 400,
  invalid_ip_range: 400,
  token_expiry_required: 400,
  token_ttl_too_long: 400,
  permission_not_grantable: 400,
  alert_rule_not_counting: 400,
  invalid_webhook_url: 400,
  webhook_url_not_allowed: 400,
  unauthenticated: 401,
  invalid_credentials: 401,
  invalid_setup_token: 401,
  invalid_refresh_token: 401,
  refresh_token_superseded: 401,
  two_factor_required: 401,
  reauth_required: 401,
  invalid_two_factor_code: 401,
  invalid_emergency_code: 401,
  forbidden: 403,
  two_factor_enrolment_required: 403,
  not_a_member: 403,
  reference_forbidden: 403,
  role_not_grantable: 403,
  ip_not_allowed: 403,
  csrf_failed: 403,
  cors_origin_not_allowed: 403,
  not_found: 404,
  project_not_found: 404,
  environment_not_found: 404,
  secret_not_found: 404,
  version_not_found: 404,
  token_not_found: 404,
  session_not_found: 404,
  invitation_not_found: 404,
  member_not_found: 404,
  role_not_found: 404,
  allowlist_entry_not_found: 404,
  alert_rule_not_found: 404,
  sink_not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  already_set_up: 409,
  version_conflict: 409,
  project_exists: 409,
  environment_exists: 409,
  secret_not_deleted: 409,
  two_factor_enabled: 409,
  two_factor_not_enabled: 409,
  two_factor_not_started: 409,
  already_member: 409,
  last_owner: 409,
  role_exists: 409,
  role_in_use: 409,
  owner_not_overridable: 409,
  token_not_active: 409,
  allowlist_entry_exists: 409,
  allowlist_empty: 409,
  allowlist_locks_you_out: 409,
  value_too_large: 413,
  body_too_large: 413,
  unsupported_media_type: 415,
  reference_not_found: 422,
  reference_cycle: 422,
  account_locked: 423,
  rate_limited: 429,
  headers_too_large: 431,
  internal_error: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Field paths or other non-secret detail for the client. */
  readonly details: unknown;
  /** Sent as Retry-After (seconds) on 423/429 answers. */
  readonly retryAfterS: number | undefined;

  constructor(code: ErrorCode, message: string, details?: unknown, opts: { retryAfterS?: number } = {}) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CODES[code];
    this.details = details;
    this.retryAfterS = opts.retryAfterS;
  }
}

export const notFound = (what: 'project' | 'environment' | 'secret' | 'version' | 'token' | 'session' | 'invitation'): AppError =>
  new AppError(`${what}_not_found`, `${what[0]!.toUpperCase()}${what.slice(1)} not found`);

/** A step-up action without a recent sign-in (see access/policy.ts `stepUpRequired`). */
export const reauthRequired = (): AppError =>
  new AppError('reauth_required', 'This action needs a recent sign-in: re-authenticate (POST /api/v1/auth/reauth, or keynest login) and retry');

/** Raised at start-up for a bad setting; main prints the one line and exits. */
export class ConfigError extends Error {
  constructor(readonly variable: string, reason: string) {
    super(`${variable}: ${reason}`);
    this.name = 'ConfigError';
  }
}
