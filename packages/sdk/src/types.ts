/**
 * The shapes of docs/api.md, one type per documented shape. Times are ISO-8601 strings, exactly as the
 * server sends them: the SDK does not convert them, so a caller can print or compare what it received.
 */

export interface User {
  id: string;
  email: string;
}

export interface Org {
  id: string;
  name: string;
}

export interface Session {
  id: string;
  /** The absolute end of the session: refreshing never extends it. */
  expiresAt: string;
}

/**
 * What a sign-in or a refresh hands out: a short-lived access token (a JWT, sent as the bearer
 * token) and the single-use refresh token that gets the next one. The refresh token is absent when
 * it was delivered as a browser cookie instead.
 */
export interface SessionCredentials {
  session: Session;
  accessToken: string;
  accessTokenExpiresAt: string;
  tokenType: 'Bearer';
  refreshToken?: string;
}

/** What `setup` and `login` answer. */
export interface AuthResult extends SessionCredentials {
  user: User;
  org: Org;
}

export interface SetupStatus {
  setupRequired: boolean;
}

export interface SetupInput {
  setupToken: string;
  email: string;
  password: string;
  orgName: string;
}

export interface LoginInput {
  email: string;
  password: string;
  /** A long session (30 days by default, idle-out after 7) instead of a 12-hour one. */
  rememberMe?: boolean;
  /** For an account with two-factor authentication: a current code from its authenticator app. */
  totp?: string;
  /** Instead of `totp`: one of the account's backup codes (each works once). */
  backupCode?: string;
  /** For a member of several organizations: the one to sign in to (id or name); default the first joined. */
  org?: string;
}

/** `POST /auth/signup`: asks for a sign-up link by mail (only if the org's open sign-up admits the email). */
export interface SignupInput {
  email: string;
  /** The password of the account-to-be; it is needed again to use the mailed link. */
  password: string;
  /** The organization (id or name); needed only on an instance with more than one. */
  org?: string;
}

/** The one answer to every sign-up request: it never says whether anything was sent. */
export interface SignupRequested {
  status: 'sent_if_allowed';
}

/** `POST /auth/signup/verify`: the mailed token and the password chosen when signing up. */
export interface VerifySignupInput {
  token: string;
  password: string;
  rememberMe?: boolean;
}

export type Role = 'owner' | 'admin' | 'developer' | 'viewer';

/** A pending invitation (never its token: that goes only to the invitee's mailbox). */
export interface Invitation {
  id: string;
  email: string;
  role: MemberRole;
  customRole: { id: string; name: string } | null;
  invitedBy: User | null;
  createdAt: string;
  expiresAt: string;
}

/** A member of your organization (`GET /org/members`); never a password hash or a token. */
export interface Member {
  userId: string;
  email: string;
  /** A built-in role, or `custom` (then `customRole` names it). */
  role: MemberRole;
  customRole: { id: string; name: string } | null;
  joinedAt: string;
  twoFactorEnabled: boolean;
  /** Newest activity of their sessions in this organization (to the minute); null if none. */
  lastActiveAt: string | null;
}

/** What removing a member did, and the secrets they could read the values of: rotate them. */
/** The role a member holds: built-in, or `custom`. */
export type MemberRole = Role | 'custom';

/** A role to give: `{ role }` for a built-in one, `{ roleId }` (id or name) for a custom one. */
export type RoleChoice = { role: Role } | { roleId: string };

/** One rule of a custom role (docs/permissions.md). */
export interface RoleRule {
  permissions: string[];
  /** Every project, or these. */
  projects: '*' | { id: string; name: string }[];
  /** Every environment, or these names (in every chosen project). */
  environments: '*' | string[];
}

/** A rule as sent: projects by name or id; an omitted selector means every one. */
export interface RoleRuleInput {
  permissions: string[];
  projects?: '*' | string[];
  environments?: '*' | string[];
}

/** A custom role of your organization (`/roles`). */
export interface CustomRole {
  id: string;
  name: string;
  description: string | null;
  rules: RoleRule[];
  createdAt: string;
  updatedAt: string;
}

/** A role template KeyNest ships (`GET /role-templates`). */
export interface RoleTemplate {
  id: string;
  name: string;
  description: string;
  rules: { permissions: string[]; projects: '*' | string[]; environments: '*' | string[] }[];
  /** The environments are chosen when a role is made from it (`environments` is then required). */
  choosesEnvironments: boolean;
}

export type CreateRoleInput =
  | { name: string; description?: string | null; rules: RoleRuleInput[] }
  | { name: string; description?: string | null; template: string; projects?: string[]; environments?: string[] };

export interface UpdateRoleInput {
  name?: string;
  description?: string | null;
  rules?: RoleRuleInput[];
}

/** A member's role inside one project, replacing their organization role's project permissions. */
export interface ProjectMemberRole {
  userId: string;
  email: string;
  role: MemberRole;
  customRole: { id: string; name: string } | null;
  setAt: string;
}

export interface MemberRemoval {
  revokedSessions: number;
  revokedTokens: number;
  /** Keys only, never values. */
  readableSecrets: { project: string; environment: string; key: string }[];
}

/** At most your own access: only an owner invites an owner. A custom role as `roleId` (id or name). */
export type CreateInvitationInput = { email: string; role: Role } | { email: string; roleId: string };

/**
 * `POST /auth/invitations/accept`. For an address without an account, `password` is the new
 * account's; for one that has an account, it is that account's password (and `totp` or
 * `backupCode` when it has two-factor authentication).
 */
export interface AcceptInvitationInput {
  token: string;
  password: string;
  rememberMe?: boolean;
  totp?: string;
  backupCode?: string;
}

/** `GET /me/2fa`. */
export interface TwoFactorStatus {
  enabled: boolean;
  backupCodesRemaining: number;
}

/** A started TOTP enrolment: the seed (shown only now), its `otpauth://` URI, and QR codes as data URLs. */
export interface TotpEnrolment {
  secret: string;
  uri: string;
  qr: { png: string; svg: string };
}

/** Re-authentication for turning 2FA off or replacing backup codes: the password and one current code. */
export interface TwoFactorProof {
  password: string;
  totp?: string;
  backupCode?: string;
}

export interface SessionInfo {
  id: string;
  current: boolean;
  createdAt: string;
  lastActiveAt: string;
  expiresAt: string;
  idleExpiresAt: string;
  rememberMe: boolean;
  /** The second factor the sign-in used: the session's 2FA level. */
  secondFactor: 'none' | 'totp' | 'backup_code';
  ip: string | null;
  userAgent: string | null;
  device: { type: 'desktop' | 'mobile' | 'tablet' | 'cli' | 'bot' | 'unknown'; browser: string | null; os: string | null };
  /** Where the sign-in came from, when the server has a GeoIP database that knows the address. */
  location: SessionLocation | null;
}

/** An estimate from the client's IP address, not a fact. */
export interface SessionLocation {
  /** ISO 3166-1 alpha-2 (`DE`). */
  countryCode: string | null;
  /** English names (`Germany`, `Berlin`). */
  country: string | null;
  city: string | null;
}

export type Principal =
  | { type: 'user'; user: User; org: Org }
  | { type: 'token'; token: { id: string; name: string }; org: Org };

export interface MeResult {
  principal: Principal;
}

export interface Environment {
  id: string;
  name: string;
  createdAt: string;
}

export interface Project {
  id: string;
  name: string;
  createdAt: string;
  environments: Environment[];
}

/** Who made a change: a user or an API token. */
export interface Actor {
  type: string;
  id: string;
  name: string;
}

export interface Secret {
  key: string;
  /** Present only when values were asked for. */
  value?: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  updatedBy: Actor;
  deletedAt: string | null;
}

export type VersionAction = 'set' | 'rollback' | 'restore' | 'delete';

export interface Version {
  version: number;
  action: VersionAction;
  createdAt: string;
  createdBy: Actor;
}

export interface SecretVersions {
  key: string;
  versions: Version[];
}

/** `restored` is what `restoreSecret` answers; batch writes answer only the other three. */
export type WriteStatus = 'added' | 'changed' | 'unchanged' | 'restored';

/** The answer to every single-secret write (set, restore, rollback). */
export interface WriteResult {
  key: string;
  version: number;
  status: WriteStatus;
}

export interface SecretWrite {
  key: string;
  value: string;
  /** Refuse the write unless the current version equals this (0: must not exist yet). */
  ifVersion?: number;
}

export interface BatchWriteResult {
  results: WriteResult[];
}

export interface ListSecretsOptions {
  /** false: keys and metadata only (needs only `secret:read_keys`). Default true. */
  values?: boolean;
  /** true: leave `${...}` references unresolved. */
  raw?: boolean;
  includeDeleted?: boolean;
  /** What the values are read for (`run`, `export:dotenv`, …): kept in the server's audit record. */
  purpose?: 'run' | 'export:dotenv' | 'export:json' | 'export:yaml' | 'export:shell' | 'export:docker' | 'export:k8s';
}

export interface GetSecretOptions {
  raw?: boolean;
}

export interface IfVersionOption {
  ifVersion?: number;
}

export type TokenAccess = 'read' | 'write';
export type TokenType = 'read-only' | 'deploy' | 'admin' | 'custom';

export interface TokenInfo {
  id: string;
  name: string;
  prefix: string;
  type: TokenType;
  /** The original read/write shorthand the token was created with, else null. */
  access: TokenAccess | null;
  permissions: string[];
  /** `org`: a service token, which outlives its creator's membership. */
  owner: 'user' | 'org';
  /** Grants: a whole project (environment null) or one environment. */
  scope: { project: { id: string; name: string }; environment: { id: string; name: string } | null }[];
  /** The first grant. */
  project: { id: string; name: string };
  environment: { id: string; name: string } | null;
  allowedIps: string[] | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  useCount: number;
  revokedAt: string | null;
  rotatedAt: string | null;
  replacedBy: string | null;
  /** SHA-256 (hex) of the client certificate the token is bound to (mutual TLS); null: none. */
  clientCertSha256: string | null;
}

/** The original shorthand: one environment, read or write. */
export interface CreateAccessTokenInput {
  name: string;
  project: string;
  environment: string;
  access: TokenAccess;
  /** Omitted: the server's maximum; null ("never") is refused (token_expiry_required). */
  expiresInSeconds?: number | null;
  /** Bind the token to this client certificate (SHA-256 of its DER, hex). */
  clientCertSha256?: string;
}

export interface CreateTypedTokenInput {
  name: string;
  type: TokenType;
  /** Only for `custom`: catalog permissions (see docs/permissions.md). */
  permissions?: string[];
  /** An omitted environment grants the whole project. */
  scope: { project: string; environment?: string }[];
  owner?: 'user' | 'org';
  allowedIps?: string[];
  expiresInSeconds: number;
  /** Bind the token to this client certificate (SHA-256 of its DER, hex). */
  clientCertSha256?: string;
}

export type CreateTokenInput = CreateAccessTokenInput | CreateTypedTokenInput;

export interface CreatedToken {
  /** The bearer token (`kn_api_…`); the server shows it only in this answer. */
  token: string;
  info: TokenInfo;
}

export interface RotateKeysResult {
  keyVersion: number;
}

export interface ReencryptResult {
  reencrypted: number;
  remaining: number;
  keyVersion: number;
}

export interface AuditEvent {
  /** Opaque; pass it back as `before` to page. */
  id: string | number;
  at: string;
  action: string;
  /** `name`: who that was at the time (an email, a token's name). */
  actor: { type: string; id: string; name: string | null };
  target: { type: string; id: string; name: string | null };
  /** The project and environment concerned, by name at the time. */
  project: string | null;
  environment: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  outcome: string;
  details: unknown;
}

export interface ListAuditOptions {
  /** 1..500 */
  limit?: number;
  /** An event id: answer only events older than it (for paging: the `next` of the previous page). */
  before?: string | number;
  /** ISO-8601: events at or after. */
  from?: string;
  /** ISO-8601: events before. */
  to?: string;
  /** A user or token id, or an email or token name. */
  actor?: string;
  /** An action and every action under it (`secret` matches `secret.read`, …). */
  action?: string;
  project?: string;
  environment?: string;
  /** A secret key (also finds reads of several values that included it). */
  key?: string;
  ip?: string;
  outcome?: 'success' | 'failure';
  /** A sign-in name: the failed sign-ins and lockouts where it was typed (the log keeps only a keyed digest of it). */
  login?: string;
}

/** A security alert (docs/alerts.md): repeats within the de-duplication period add to `count`. */
export interface SecurityAlert {
  id: string;
  rule: string;
  subject: string;
  summary: string;
  details: Record<string, string | number | boolean | null>;
  firstAt: string;
  lastAt: string;
  count: number;
  /** The audit record that fired it first. */
  auditId: number;
}

/** An alert rule as it applies to the org. */
export interface AlertRuleView {
  rule: string;
  description: string;
  enabled: boolean;
  threshold: number | null;
  windowS: number | null;
  /** Whether the org changed it from the shipped default. */
  custom: boolean;
}

export interface AlertRuleChange {
  enabled?: boolean;
  threshold?: number;
  windowS?: number;
}

/** One page of audit search. */
export interface AuditPage {
  events: AuditEvent[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  next: number | null;
}

/** The body of every error answer (docs/api.md, "Errors"). */
export interface ApiErrorBody {
  error: { code: string; message: string; details?: unknown };
  requestId?: string;
}

/** `GET /org/allowlist`: the org's IP allowlist, and where you are calling from. */
export interface IpAllowlist {
  enabled: boolean;
  /** Ranges in canonical form (`203.0.113.0/24`, `2001:db8::/48`; single addresses as /32 or /128). */
  entries: { cidr: string; label: string | null; createdAt: string }[];
  /** Your address as the server sees it. */
  yourIp: string | null;
  /** Whether the list admits `yourIp`. */
  yourIpAllowed: boolean;
}

/** What a confirmed emergency-access code granted: the address, until when, in which orgs. */
export interface EmergencyAccessGrant {
  ip: string;
  expiresAt: string;
  orgs: { id: string; name: string }[];
}

/** The result of checking an audit hash chain (GET /audit/verify). */
export interface AuditVerification {
  ok: boolean;
  records: number;
  head: { seq: number; hash: string };
  checkpoints: number;
  /** Where the chain starts after a retention purge. */
  anchor: { seq: number; hash: string; at: string } | null;
  /** The first record verified: where an export of a period begins. */
  firstSeq?: number | null;
  broken: {
    reason: 'hash_mismatch' | 'link_mismatch' | 'missing_records' | 'truncated' | 'checkpoint_mismatch' | 'bad_signature' | 'unchained';
    recordId: number | null;
    seq: number | null;
    message: string;
  } | null;
}

export interface AuditCheckpoint {
  seq: number;
  hash: string;
  at: string;
  kind: 'checkpoint' | 'anchor';
  keyId: string;
  signature: string;
}

export interface AuditKey {
  id: string;
  algorithm: 'Ed25519';
  /** SPKI DER, base64. */
  publicKey: string;
  createdAt: string;
}

/** Why a live API token deserves a look (security status). */
export type StaleTokenReason = 'unused_90d' | 'never_used' | 'expires_7d';

/** `GET /security/status`: an org's security at a glance (docs/metrics.md). */
export interface SecurityStatus {
  generatedAt: string;
  /** The last 24 hours: what `failedSignIns` and `lockouts` cover. */
  window: { from: string; to: string };
  /** Wrong passwords and codes against the org's members, by client address (most first, top 10). */
  failedSignIns: { total: number; byIp: { ip: string | null; attempts: number; accounts: number; lastAt: string }[] };
  lockouts: { total: number; recent: { at: string; userId: string | null; email: string | null; ip: string | null }[] };
  /** Attempts refused before being checked, counted by this server instance since `since` (not audited). */
  rateLimits: { scope: 'instance'; since: string; refused: number; byLimit: Record<string, number> };
  twoFactor: {
    members: number;
    enabled: number;
    /** enabled / members, 0 – 1. */
    rate: number;
    required: 'off' | 'admins' | 'all';
    /** Members whose role runs the org, without two-factor authentication. */
    adminsWithout: { userId: string; email: string; role: MemberRole; customRole: { id: string; name: string } | null }[];
  };
  /** Live API tokens unused for 90 days, never used in their first 30, or expiring within 7. Never the token. */
  staleTokens: {
    id: string;
    name: string;
    owner: 'user' | 'org';
    createdBy: { id: string; email: string | null };
    createdAt: string;
    lastUsedAt: string | null;
    expiresAt: string | null;
    reasons: StaleTokenReason[];
  }[];
  activeSessions: number;
}

/** An org's audit webhook (`GET /audit/sinks`): where it sends, and how delivery is going. */
export interface AuditSink {
  id: string;
  kind: 'webhook';
  url: string;
  label: string | null;
  createdAt: string;
  status: AuditSinkDelivery;
}

/** How a sink's deliveries are going, read from its cursor (any instance answers the same). */
export interface AuditSinkDelivery {
  /** The last record delivered; null before the first. */
  lastDeliveredId: number | null;
  lastDeliveredAt: string | null;
  /** Records committed and not yet delivered. */
  recordsBehind: number;
  /** Age of the oldest record waiting (0: none). */
  secondsBehind: number;
  consecutiveFailures: number;
  /** An HTTP status, a network error code or a timeout. */
  lastError: string | null;
  lastErrorAt: string | null;
}

/** A new sink and its signing secret: the only time the secret is shown. */
export interface CreatedAuditSink {
  sink: AuditSink;
  /** The HMAC-SHA256 key of X-KeyNest-Signature (docs/audit.md). */
  secret: string;
}

/** How a sink's receiver answered a test delivery. */
export interface AuditSinkTest {
  delivered: boolean;
  status: number | null;
  error: string | null;
  durationMs: number;
}

/** An org's plan (docs/rate-limits.md#plans). */
export type PlanName = 'free' | 'team' | 'unlimited';

/** What an org may hold and how fast it may call; `null` is unlimited. */
export interface PlanLimits {
  members: number | null;
  projects: number | null;
  secrets: number | null;
  tokens: number | null;
  requestsPerMinute: number | null;
}

/** `GET /org/plan`, `GET|PUT /orgs/{org}/plan`: an org's plan, its limits and what it uses now. */
export interface OrgPlan {
  org: { id: string; name: string };
  plan: PlanName;
  /** True when the org has no plan of its own and follows the instance's (KEYNEST_DEFAULT_PLAN). */
  isDefault: boolean;
  limits: PlanLimits;
  /** Members count pending invitations too; secrets and tokens, the live ones. */
  usage: { members: number; projects: number; secrets: number; tokens: number };
}
