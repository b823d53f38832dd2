import type { Generated } from 'kysely';

/**
 * The tables, as Kysely sees them. Times are epoch milliseconds (INTEGER in SQLite, BIGINT in
 * PostgreSQL) so both databases compare and sort them the same way. Every tenant table carries
 * `org_id`, and every store query filters on it; on PostgreSQL, row-level security enforces the same
 * (migration 010 and docs/tenant-isolation.md: a new table with `org_id` needs `isolateByOrg`).
 */
export interface Database {
  /** Which migrations have run (storage/migrate.ts). */
  keynest_migrations: { name: string; applied_at: number };
  instance_settings: { name: string; value: string; updated_at: number };
  orgs: {
    id: string;
    name: string;
    created_at: number;
    require_2fa: 'off' | 'admins' | 'all';
    session_limit: number | null;
    password_min_length: number | null;
    password_min_score: number | null;
    password_require_classes: number | null;
    /** 1 when strangers may sign up (open sign-up), else 0. */
    open_signup: number;
    /** Comma-separated lower-case domains open sign-up admits; null = any. */
    signup_domains: string | null;
    /** The role a self-signed-up member gets (never one that manages members or settings). */
    signup_role: string;
    /** Days audit records are kept; null = the deployment's (an org may only keep them longer). */
    audit_retention_days: number | null;
    /** The org's plan (orgs/plans.ts); null = the instance default (KEYNEST_DEFAULT_PLAN). */
    plan: Generated<string | null>;
  };
  users: { id: string; email: string; password_hash: string; created_at: number; email_verified_at: number | null };
  user_tokens: { token_digest: string; user_id: string; purpose: 'password_reset' | 'email_verification'; created_at: number; expires_at: number; used_at: number | null };
  /** `role` is a built-in role, or `custom` with the custom role in `role_id`. */
  memberships: { org_id: string; user_id: string; role: string; role_id: Generated<string | null>; created_at: number };
  /** An org's own roles (issue 4); `rules` is JSON (access/member-access.ts). */
  custom_roles: {
    id: string;
    org_id: string;
    name: string;
    description: string | null;
    rules: string;
    created_at: number;
    created_by: string | null;
    updated_at: number;
    updated_by: string | null;
  };
  /** A member's role inside one project, replacing their org role's project permissions there. */
  member_project_roles: { org_id: string; user_id: string; project_id: string; role: string; role_id: string | null; created_at: number; created_by: string | null };
  /** Open sign-ups waiting for their mailed link; the account is created only when it is used. */
  signup_requests: { token_digest: string; org_id: string; email: string; password_hash: string; created_at: number; expires_at: number; used_at: number | null };
  invitations: {
    id: string;
    org_id: string;
    email: string;
    role: string;
    /** The custom role given, when `role` is `custom`. */
    role_id: Generated<string | null>;
    token_digest: string;
    invited_by: string | null;
    created_at: number;
    expires_at: number;
    accepted_at: number | null;
    accepted_by: string | null;
    revoked_at: number | null;
  };
  data_keys: {
    org_id: string;
    version: number;
    /** The org's data key, AES-256-GCM-wrapped by the root key (ciphertext || tag). */
    wrapped_key: Buffer;
    nonce: Buffer;
    state: 'active' | 'retired';
    created_at: number;
  };
  sessions: {
    id: string;
    org_id: string;
    user_id: string;
    /** Digest of the session's current refresh token (rotated on every refresh). */
    token_digest: string;
    created_at: number;
    expires_at: number;
    last_active_at: number;
    revoked_at: number | null;
    ip: string | null;
    user_agent: string | null;
    idle_timeout_ms: number;
    /** 1 when made with "remember me" (the long lifetime), else 0. */
    remember_me: number;
    /** Sign-in or the last re-authentication: sensitive actions need it to be recent. */
    authenticated_at: number;
    second_factor: 'none' | 'totp' | 'backup_code';
    /** JSON `{countryCode, country, city}` from the GeoIP database at sign-in; null when unknown. */
    location: string | null;
  };
  signing_keys: {
    kid: string;
    alg: 'EdDSA' | 'ES256' | 'RS256';
    /** The public key as a JWK (what the JWKS publishes). */
    public_jwk: string;
    /** PKCS#8 DER, sealed by the root key (ciphertext || tag), bound to the kid. */
    private_key: Buffer;
    nonce: Buffer;
    created_at: number;
    /** When a newer key took over signing; published until the tokens it signed have expired. */
    retired_at: number | null;
  };
  used_refresh_tokens: { token_digest: string; session_id: string; used_at: number };
  user_totp: {
    user_id: string;
    secret_ciphertext: Buffer;
    secret_nonce: Buffer;
    state: 'pending' | 'active';
    last_used_step: number | null;
    created_at: number;
    confirmed_at: number | null;
  };
  backup_codes: { code_digest: string; user_id: string; created_at: number; used_at: number | null };
  login_throttle: {
    /** SHA-256 of the normalized email, for known and unknown accounts alike. */
    subject: string;
    failures: number;
    locked_until: number | null;
    updated_at: number;
  };
  api_tokens: {
    id: string;
    org_id: string;
    name: string;
    token_digest: string;
    /** The first characters of the token, safe to show, so a user can tell tokens apart. */
    prefix: string;
    created_by: string;
    /** `org`: a service token, which outlives its creator's membership. */
    owner: 'user' | 'org';
    type: 'read-only' | 'deploy' | 'admin' | 'custom';
    /** The original read/write shorthand, for tokens created with it. */
    access: 'read' | 'write' | null;
    /** JSON array of catalog permissions. */
    permissions: string;
    /** JSON array of canonical CIDR ranges; null: any address. */
    allowed_ips: string | null;
    created_at: number;
    expires_at: number | null;
    revoked_at: number | null;
    rotated_at: number | null;
    replaced_by: string | null;
    last_used_at: number | null;
    last_used_ip: string | null;
    use_count: number;
    /** SHA-256 (hex) of the client certificate the token is bound to (mutual TLS; docs/tls.md); null: none. */
    client_cert_sha256: string | null;
  };
  /** What a token reaches: a project (environment_id null: all its environments) or one environment. */
  api_token_grants: { token_id: string; project_id: string; environment_id: string | null };
  projects: { id: string; org_id: string; name: string; created_at: number };
  environments: { id: string; org_id: string; project_id: string; name: string; created_at: number };
  secrets: {
    id: string;
    org_id: string;
    project_id: string;
    environment_id: string;
    key: string;
    current_version: number;
    deleted_at: number | null;
    created_at: number;
    updated_at: number;
    updated_by_type: string;
    updated_by_id: string;
  };
  secret_versions: {
    org_id: string;
    secret_id: string;
    version: number;
    action: 'set' | 'rollback';
    /** AES-256-GCM ciphertext || tag, bound by associated data to org/project/env/key/version. */
    ciphertext: Buffer;
    nonce: Buffer;
    key_version: number;
    created_at: number;
    created_by_type: string;
    created_by_id: string;
  };
  /** Per-org IP allowlist switch (orgs/allowlist.ts); no row = off. */
  ip_allowlists: { org_id: string; enabled: number; updated_at: number };
  /** `cidr` in canonical form (access/ip-ranges.ts `formatRange`). */
  ip_allowlist_entries: { org_id: string; cidr: string; label: string | null; created_by: string | null; created_at: number };
  /** Mailed emergency-access codes, as SHA-256 digests; single use. */
  emergency_access_codes: { code_digest: string; user_id: string; created_at: number; expires_at: number; used_at: number | null };
  /** Addresses an owner proved themselves from with an emergency code, admitted for them until expiry. */
  emergency_allowances: { org_id: string; user_id: string; ip: string; created_at: number; expires_at: number };
  audit_events: {
    id: Generated<number>;
    org_id: string | null;
    at: number;
    action: string;
    outcome: 'success' | 'failure';
    actor_type: string;
    actor_id: string | null;
    target_type: string | null;
    target_id: string | null;
    target_name: string | null;
    ip: string | null;
    request_id: string | null;
    /** JSON object; never holds a secret value. */
    details: string;
    /** Who acted, by name at the time (a user's email, a token's name); their client. */
    actor_name: string | null;
    user_agent: string | null;
    /** The project and environment the event concerns, by name at the time (for search). */
    project: string | null;
    environment: string | null;
    /** The hash chain (audit/chain.ts): the org id ('' for instance events), position, links. */
    chain: string | null;
    seq: number | null;
    prev_hash: string | null;
    hash: string | null;
  };
  alert_rules: {
    org_id: string;
    rule: string;
    /** 0 or 1. */
    enabled: number;
    threshold: number | null;
    window_s: number | null;
    updated_at: number;
    updated_by: string | null;
  };
  alerts: {
    id: string;
    org_id: string;
    rule: string;
    subject: string;
    summary: string;
    /** JSON: what the rule saw (counts, names, the address): never a secret. */
    details: string;
    first_at: number;
    last_at: number;
    count: number;
    audit_id: number;
  };
  alert_countries: {
    org_id: string;
    user_id: string;
    country_code: string;
    first_at: number;
  };
  audit_checkpoints: {
    id: Generated<number>;
    org_id: string | null;
    chain: string;
    seq: number;
    hash: string;
    at: number;
    kind: 'checkpoint' | 'anchor';
    key_id: string;
    /** Ed25519 over the statement (audit/chain.ts), base64. */
    signature: string;
  };
  /** An org's audit webhook sinks; the signing secret sealed with the org's data key (audit/sinks). */
  audit_sinks: {
    id: string;
    org_id: string;
    kind: 'webhook';
    url: string;
    label: string | null;
    secret_ciphertext: Buffer;
    secret_nonce: Buffer;
    key_version: number;
    created_at: number;
    created_by: string | null;
  };
  /** How far each sink (an org's, or the instance's configured ones: org null) has been delivered. */
  audit_sink_cursors: {
    sink_id: string;
    org_id: string | null;
    last_id: number;
    /** For an org sink: the seq of `last_id` in the org's chain (0 before the first delivery). */
    last_seq: number;
    updated_at: number;
    lease_owner: string | null;
    lease_until: number | null;
    failures: Generated<number>;
    last_error: string | null;
    last_error_at: number | null;
    last_delivered_at: number | null;
  };
  audit_signing_keys: {
    id: string;
    /** SPKI DER, base64. */
    public_key: string;
    /** PKCS#8 DER sealed by the root key, bound to the key id. */
    private_key: Buffer;
    nonce: Buffer;
    created_at: number;
  };
}
