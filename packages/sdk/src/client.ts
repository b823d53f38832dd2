/**
 * A typed client for every route of docs/api.md. One method per route; `project` and `env` arguments
 * accept a name or an id, as the routes do. The client holds only its options and never changes them:
 * `withToken` gives a new client, so one client can be shared without surprises.
 */
import { KeyNestApiError } from './errors.js';
import { send, sendForStream, segment, type FetchLike, type RequestSpec, type TransportOptions } from './transport.js';
import type {
  AcceptInvitationInput,
  AuditEvent,
  AlertRuleChange,
  AlertRuleView,
  AuditPage,
  SecurityAlert,
  AuditCheckpoint,
  AuditKey,
  AuditSink,
  AuditSinkTest,
  CreatedAuditSink,
  AuditVerification,
  AuthResult,
  BatchWriteResult,
  CreatedToken,
  CreateInvitationInput,
  CreateTokenInput,
  Invitation,
  Member,
  MemberRemoval,
  CreateRoleInput,
  CustomRole,
  ProjectMemberRole,
  Role,
  RoleChoice,
  RoleTemplate,
  UpdateRoleInput,
  IpAllowlist,
  OrgPlan,
  PlanName,
  EmergencyAccessGrant,
  Environment,
  GetSecretOptions,
  IfVersionOption,
  ListAuditOptions,
  ListSecretsOptions,
  LoginInput,
  MeResult,
  Project,
  ReencryptResult,
  RotateKeysResult,
  Secret,
  SecretVersions,
  SecretWrite,
  SecurityStatus,
  SetupInput,
  SetupStatus,
  SignupInput,
  SignupRequested,
  TokenInfo,
  VerifySignupInput,
  WriteResult,
  SessionCredentials,
  SessionInfo,
  TotpEnrolment,
  TwoFactorProof,
  TwoFactorStatus,
} from './types.js';

export interface KeyNestClientOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:8200`. */
  server: string;
  /** A signed-in user's access token (a JWT from login or refresh) or an API token (`kn_api_…`). */
  token?: string | undefined;
  /**
   * Called when the server refuses a token as expired or revoked (401 unauthenticated), with that
   * token: returns a fresh access token (usually by `refresh`), or null to give up. The request is
   * then sent once more with it. Authentication is checked before anything runs, so a refused
   * request did nothing. Requests refused at the same time share one call (a refresh token works
   * once), and a request refused after another already renewed the token just uses the new one.
   */
  renewToken?: ((refused: string) => Promise<string | null>) | undefined;
  /** Defaults to the global fetch; tests and proxies may pass their own. */
  fetch?: FetchLike;
}

const API = '/api/v1';

export class KeyNestClient {
  readonly server: string;
  #token: string | undefined;
  readonly #renewToken: ((refused: string) => Promise<string | null>) | undefined;
  /** The renewal under way, for the token it replaces. */
  #renewal: { refused: string; next: Promise<string | null> } | null = null;
  readonly #fetch: FetchLike;

  constructor(options: KeyNestClientOptions) {
    if (!options.server) throw new TypeError('KeyNestClient needs a server URL');
    this.server = options.server.replace(/\/+$/, '');
    this.#token = options.token;
    this.#renewToken = options.renewToken;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** The bearer token requests carry now (it changes when `renewToken` supplied a new one). */
  get token(): string | undefined {
    return this.#token;
  }

  /** The same client, authenticated with another token (and without renewal). */
  withToken(token: string | undefined): KeyNestClient {
    return new KeyNestClient({ server: this.server, token, fetch: this.#fetch });
  }

  #call<T>(spec: RequestSpec): Promise<T> {
    return this.#withRenewal((transport) => send<T>(transport, spec));
  }

  /** Sends with the current token; on an expired one, renews once (when it can) and sends again. */
  async #withRenewal<T>(exchange: (transport: TransportOptions) => Promise<T>): Promise<T> {
    const sentWith = this.#token;
    try {
      return await exchange({ server: this.server, token: sentWith, fetch: this.#fetch });
    } catch (err) {
      if (!this.#renewToken || sentWith === undefined || !(err instanceof KeyNestApiError) || err.status !== 401 || err.code !== 'unauthenticated') throw err;
      const renewed = this.#token !== sentWith ? this.#token : await this.#renew(sentWith);
      if (renewed === null || renewed === undefined) throw err;
      return exchange({ server: this.server, token: renewed, fetch: this.#fetch });
    }
  }

  #renew(refused: string): Promise<string | null> {
    if (this.#renewal?.refused !== refused) {
      const next = this.#renewToken!(refused).then((token) => {
        if (token !== null && this.#token === refused) this.#token = token;
        return token;
      });
      this.#renewal = { refused, next };
    }
    return this.#renewal.next;
  }

  // Public routes.

  async health(): Promise<{ status: string }> {
    return this.#call({ method: 'GET', path: '/healthz' });
  }

  async setupStatus(): Promise<SetupStatus> {
    return this.#call({ method: 'GET', path: `${API}/setup` });
  }

  async setup(input: SetupInput): Promise<AuthResult> {
    return this.#call({ method: 'POST', path: `${API}/setup`, body: input });
  }

  async login(input: LoginInput): Promise<AuthResult> {
    const body = {
      email: input.email,
      password: input.password,
      ...(input.rememberMe !== undefined && { rememberMe: input.rememberMe }),
      ...(input.org !== undefined && { org: input.org }),
      ...secondFactorFields(input),
    };
    return this.#call({ method: 'POST', path: `${API}/auth/login`, body });
  }

  /**
   * Exchanges a refresh token (single use) for a new access token and the next refresh token.
   * Keep only the new one: presenting a used refresh token again ends the session.
   */
  async refresh(refreshToken: string): Promise<SessionCredentials> {
    return this.#call({ method: 'POST', path: `${API}/auth/refresh`, body: { refreshToken } });
  }

  /** Asks for a sign-up link; the answer is the same whether or not one is sent. */
  async signup(input: SignupInput): Promise<SignupRequested> {
    const body = { email: input.email, password: input.password, ...(input.org !== undefined && { org: input.org }) };
    return this.#call({ method: 'POST', path: `${API}/auth/signup`, body });
  }

  /** Finishes a sign-up with the mailed token: creates the account and signs in. */
  async verifySignup(input: VerifySignupInput): Promise<AuthResult> {
    const body = { token: input.token, password: input.password, ...(input.rememberMe !== undefined && { rememberMe: input.rememberMe }) };
    return this.#call({ method: 'POST', path: `${API}/auth/signup/verify`, body });
  }

  /** Accepts an invitation (creating the account, or joining with an existing one) and signs in. */
  async acceptInvitation(input: AcceptInvitationInput): Promise<AuthResult> {
    const body = {
      token: input.token,
      password: input.password,
      ...(input.rememberMe !== undefined && { rememberMe: input.rememberMe }),
      ...secondFactorFields(input),
    };
    return this.#call({ method: 'POST', path: `${API}/auth/invitations/accept`, body });
  }
  /** Mails an emergency-access code to an owner shut out by the IP allowlist; answers the same for any email. */
  async requestEmergencyAccess(email: string): Promise<void> {
    await this.#call({ method: 'POST', path: `${API}/auth/emergency-access`, body: { email } });
  }

  /** Lets the address this is sent from past the allowlist, for the owner the code was mailed to. */
  async confirmEmergencyAccess(input: { email: string; code: string }): Promise<EmergencyAccessGrant> {
    return this.#call({ method: 'POST', path: `${API}/auth/emergency-access/confirm`, body: input });
  }


  // Identity.

  async logout(): Promise<void> {
    await this.#call({ method: 'POST', path: `${API}/auth/logout` });
  }

  async me(): Promise<MeResult> {
    return this.#call({ method: 'GET', path: `${API}/me` });
  }

  // Projects and environments.

  async listProjects(): Promise<Project[]> {
    const answer = await this.#call<{ projects: Project[] }>({ method: 'GET', path: `${API}/projects` });
    return answer.projects;
  }

  async createProject(name: string, environments?: string[]): Promise<Project> {
    const body = environments === undefined ? { name } : { name, environments };
    const answer = await this.#call<{ project: Project }>({ method: 'POST', path: `${API}/projects`, body });
    return answer.project;
  }

  async getProject(project: string): Promise<Project> {
    const answer = await this.#call<{ project: Project }>({ method: 'GET', path: projectPath(project) });
    return answer.project;
  }

  async deleteProject(project: string): Promise<void> {
    await this.#call({ method: 'DELETE', path: projectPath(project) });
  }

  async listEnvironments(project: string): Promise<Environment[]> {
    const answer = await this.#call<{ environments: Environment[] }>({
      method: 'GET',
      path: `${projectPath(project)}/environments`,
    });
    return answer.environments;
  }

  async createEnvironment(project: string, name: string): Promise<Environment> {
    const answer = await this.#call<{ environment: Environment }>({
      method: 'POST',
      path: `${projectPath(project)}/environments`,
      body: { name },
    });
    return answer.environment;
  }

  async deleteEnvironment(project: string, env: string): Promise<void> {
    await this.#call({ method: 'DELETE', path: envPath(project, env) });
  }

  // Secrets.

  async listSecrets(project: string, env: string, options: ListSecretsOptions = {}): Promise<Secret[]> {
    const answer = await this.#call<{ secrets: Secret[] }>({
      method: 'GET',
      path: `${envPath(project, env)}/secrets`,
      query: {
        values: options.values === false ? false : undefined,
        raw: options.raw ? true : undefined,
        includeDeleted: options.includeDeleted ? true : undefined,
        purpose: options.purpose,
      },
    });
    return answer.secrets;
  }

  async getSecret(project: string, env: string, key: string, options: GetSecretOptions = {}): Promise<Secret> {
    return this.#call({
      method: 'GET',
      path: secretPath(project, env, key),
      query: { raw: options.raw ? true : undefined },
    });
  }

  async setSecret(
    project: string,
    env: string,
    key: string,
    value: string,
    options: IfVersionOption = {},
  ): Promise<WriteResult> {
    const body = options.ifVersion === undefined ? { value } : { value, ifVersion: options.ifVersion };
    return this.#call({ method: 'PUT', path: secretPath(project, env, key), body });
  }

  /** Writes all of `secrets` in one transaction: either every write lands or none does. */
  async setSecrets(project: string, env: string, secrets: SecretWrite[]): Promise<WriteResult[]> {
    const answer = await this.#call<BatchWriteResult>({
      method: 'PATCH',
      path: `${envPath(project, env)}/secrets`,
      body: { secrets: secrets.map(withoutUndefinedIfVersion) },
    });
    return answer.results;
  }

  async deleteSecret(project: string, env: string, key: string, options: IfVersionOption = {}): Promise<void> {
    await this.#call({
      method: 'DELETE',
      path: secretPath(project, env, key),
      query: { ifVersion: options.ifVersion },
    });
  }

  async restoreSecret(project: string, env: string, key: string): Promise<WriteResult> {
    return this.#call({ method: 'POST', path: `${secretPath(project, env, key)}/restore` });
  }

  async secretVersions(project: string, env: string, key: string): Promise<SecretVersions> {
    return this.#call({ method: 'GET', path: `${secretPath(project, env, key)}/versions` });
  }

  async rollbackSecret(
    project: string,
    env: string,
    key: string,
    version: number,
    options: IfVersionOption = {},
  ): Promise<WriteResult> {
    const body = options.ifVersion === undefined ? { version } : { version, ifVersion: options.ifVersion };
    return this.#call({ method: 'POST', path: `${secretPath(project, env, key)}/rollback`, body });
  }

  // Your own sessions.

  async listSessions(): Promise<SessionInfo[]> {
    const answer = await this.#call<{ sessions: SessionInfo[] }>({ method: 'GET', path: `${API}/me/sessions` });
    return answer.sessions;
  }

  async revokeSession(id: string): Promise<void> {
    await this.#call({ method: 'DELETE', path: `${API}/me/sessions/${segment(id)}` });
  }

  /** Ends every other session of yours; returns how many. */
  async revokeOtherSessions(): Promise<number> {
    return (await this.#call<{ revoked: number }>({ method: 'POST', path: `${API}/me/sessions/revoke-others` })).revoked;
  }

  /** Ends all your sessions, the one in use included; returns how many. */
  async revokeAllSessions(): Promise<number> {
    return (await this.#call<{ revoked: number }>({ method: 'DELETE', path: `${API}/me/sessions` })).revoked;
  }

  // Your own two-factor authentication (session only: an API token cannot change it).

  async twoFactorStatus(): Promise<TwoFactorStatus> {
    return this.#call({ method: 'GET', path: `${API}/me/2fa` });
  }

  /** Starts (or restarts) TOTP enrolment; it takes effect only once `confirmTotp` gets a code from it. */
  async beginTotpEnrolment(): Promise<TotpEnrolment> {
    return this.#call({ method: 'POST', path: `${API}/me/2fa/totp` });
  }

  /** Turns TOTP on with a code from the new authenticator; returns the backup codes (shown only here). */
  async confirmTotp(code: string): Promise<string[]> {
    const answer = await this.#call<{ backupCodes: string[] }>({
      method: 'POST',
      path: `${API}/me/2fa/totp/confirm`,
      body: { code },
    });
    return answer.backupCodes;
  }

  async disableTwoFactor(proof: TwoFactorProof): Promise<void> {
    await this.#call({ method: 'POST', path: `${API}/me/2fa/disable`, body: proofBody(proof) });
  }

  /** New backup codes (shown only here); the old ones stop working. */
  async regenerateBackupCodes(proof: TwoFactorProof): Promise<string[]> {
    const answer = await this.#call<{ backupCodes: string[] }>({
      method: 'POST',
      path: `${API}/me/2fa/backup-codes`,
      body: proofBody(proof),
    });
    return answer.backupCodes;
  }

  // Invitations into your organization (needs member:manage).

  async listInvitations(): Promise<Invitation[]> {
    return (await this.#call<{ invitations: Invitation[] }>({ method: 'GET', path: `${API}/org/invitations` })).invitations;
  }

  /** Mails the invitation; its token is never answered here. */
  async createInvitation(input: CreateInvitationInput): Promise<Invitation> {
    const body = 'roleId' in input ? { email: input.email, roleId: input.roleId } : { email: input.email, role: input.role };
    return (await this.#call<{ invitation: Invitation }>({ method: 'POST', path: `${API}/org/invitations`, body })).invitation;
  }

  async revokeInvitation(id: string): Promise<void> {
    await this.#call({ method: 'DELETE', path: `${API}/org/invitations/${segment(id)}` });
  }

  // Members of your organization (listing needs member:read; changes member:manage and a recent sign-in).

  async listMembers(): Promise<Member[]> {
    return (await this.#call<{ members: Member[] }>({ method: 'GET', path: `${API}/org/members` })).members;
  }

  /**
   * At most your own access, of someone whose role you could give; the last owner stays owner.
   * A built-in role by name, or a custom one as `{ roleId }`.
   */
  async setMemberRole(userId: string, role: Role | RoleChoice): Promise<Member> {
    const body = typeof role === 'string' ? { role } : role;
    return (await this.#call<{ member: Member }>({ method: 'PATCH', path: `${API}/org/members/${segment(userId)}`, body })).member;
  }

  // Per-project member roles (listing needs member:read; changes member:manage and a recent sign-in).

  async listProjectMemberRoles(project: string): Promise<ProjectMemberRole[]> {
    return (await this.#call<{ memberRoles: ProjectMemberRole[] }>({ method: 'GET', path: `${API}/projects/${segment(project)}/member-roles` })).memberRoles;
  }

  /** Inside `project`, the member acts with `role` instead of their organization role (never for owners). */
  async setProjectMemberRole(project: string, userId: string, role: Role | RoleChoice): Promise<ProjectMemberRole> {
    const body = typeof role === 'string' ? { role } : role;
    return (await this.#call<{ memberRole: ProjectMemberRole }>({ method: 'PUT', path: `${API}/projects/${segment(project)}/member-roles/${segment(userId)}`, body })).memberRole;
  }

  async clearProjectMemberRole(project: string, userId: string): Promise<void> {
    await this.#call({ method: 'DELETE', path: `${API}/projects/${segment(project)}/member-roles/${segment(userId)}` });
  }

  // Custom roles (reading needs member:read; changes role:manage and a recent sign-in).

  async listRoleTemplates(): Promise<RoleTemplate[]> {
    return (await this.#call<{ templates: RoleTemplate[] }>({ method: 'GET', path: `${API}/role-templates` })).templates;
  }

  async listRoles(): Promise<CustomRole[]> {
    return (await this.#call<{ roles: CustomRole[] }>({ method: 'GET', path: `${API}/roles` })).roles;
  }

  /** By id or name. */
  async getRole(role: string): Promise<CustomRole> {
    return (await this.#call<{ role: CustomRole }>({ method: 'GET', path: `${API}/roles/${segment(role)}` })).role;
  }

  /** Never more than you hold (403 role_not_grantable). */
  async createRole(input: CreateRoleInput): Promise<CustomRole> {
    return (await this.#call<{ role: CustomRole }>({ method: 'POST', path: `${API}/roles`, body: input })).role;
  }

  async updateRole(role: string, change: UpdateRoleInput): Promise<CustomRole> {
    return (await this.#call<{ role: CustomRole }>({ method: 'PATCH', path: `${API}/roles/${segment(role)}`, body: change })).role;
  }

  /** A role someone holds is not deleted (409 role_in_use). */
  async deleteRole(role: string): Promise<void> {
    await this.#call({ method: 'DELETE', path: `${API}/roles/${segment(role)}` });
  }

  /** Ends the member's sessions and API tokens in the organization; answers the secrets to rotate. */
  async removeMember(userId: string): Promise<MemberRemoval> {
    return this.#call<MemberRemoval>({ method: 'DELETE', path: `${API}/org/members/${segment(userId)}` });
  }

  // The org's IP allowlist (needs settings:manage; changes need a recent sign-in).

  async getIpAllowlist(): Promise<IpAllowlist> {
    return this.#call({ method: 'GET', path: `${API}/org/allowlist` });
  }

  /** Adds an address or CIDR range; `label` says what it is. */
  async addIpAllowlistEntry(input: { cidr: string; label?: string }): Promise<IpAllowlist> {
    return this.#call({ method: 'POST', path: `${API}/org/allowlist/entries`, body: input });
  }

  /** Refused with 409 allowlist_locks_you_out when it would shut out your address, unless `confirmLockout`. */
  async removeIpAllowlistEntry(cidr: string, options: { confirmLockout?: boolean } = {}): Promise<IpAllowlist> {
    return this.#call({ method: 'DELETE', path: `${API}/org/allowlist/entries/${segment(cidr)}`, query: { confirmLockout: options.confirmLockout === true ? true : undefined } });
  }

  /** Turning it on is refused (409 allowlist_locks_you_out) when it would shut out your address, unless `confirmLockout`. */
  async setIpAllowlistEnabled(enabled: boolean, options: { confirmLockout?: boolean } = {}): Promise<IpAllowlist> {
    const body = options.confirmLockout === true ? { enabled, confirmLockout: true } : { enabled };
    return this.#call({ method: 'PATCH', path: `${API}/org/allowlist`, body });
  }

  // Plans and quotas (docs/rate-limits.md#plans).

  /** Your organization's plan, its limits and what it uses now (needs settings:manage). */
  async getOrgPlan(): Promise<OrgPlan> {
    return this.#call({ method: 'GET', path: `${API}/org/plan` });
  }

  /** Any organization's plan (by id or exact name): the instance operator only (an owner of the org made at setup). */
  async getPlanOf(org: string): Promise<OrgPlan> {
    return this.#call({ method: 'GET', path: `${API}/orgs/${segment(org)}/plan` });
  }

  /** Puts an organization on `plan`, or back on the instance default with null: the instance operator only, after a recent sign-in. */
  async setOrgPlan(org: string, plan: PlanName | null): Promise<OrgPlan> {
    return this.#call({ method: 'PUT', path: `${API}/orgs/${segment(org)}/plan`, body: { plan } });
  }

  // API tokens.

  async listTokens(): Promise<TokenInfo[]> {
    const answer = await this.#call<{ tokens: TokenInfo[] }>({ method: 'GET', path: `${API}/tokens` });
    return answer.tokens;
  }

  async createToken(input: CreateTokenInput): Promise<CreatedToken> {
    const { expiresInSeconds, ...rest } = input;
    const body = expiresInSeconds === undefined ? rest : { ...rest, expiresInSeconds };
    return this.#call({ method: 'POST', path: `${API}/tokens`, body });
  }

  /** A new token with the same settings; the old one works for `graceSeconds` more. */
  async rotateToken(id: string, graceSeconds = 0): Promise<CreatedToken> {
    return this.#call({ method: 'POST', path: `${API}/tokens/${segment(id)}/rotate`, body: { graceSeconds } });
  }

  /**
   * Binds a token to a client certificate (SHA-256 of its DER, hex): over mutual TLS the
   * certificate then authenticates as the token, and the token works only with the certificate.
   */
  async bindTokenClientCert(id: string, sha256: string): Promise<TokenInfo> {
    const answer = await this.#call<{ info: TokenInfo }>({ method: 'PUT', path: `${API}/tokens/${segment(id)}/client-cert`, body: { sha256 } });
    return answer.info;
  }

  async unbindTokenClientCert(id: string): Promise<void> {
    await this.#call({ method: 'DELETE', path: `${API}/tokens/${segment(id)}/client-cert` });
  }

  async revokeToken(id: string): Promise<void> {
    await this.#call({ method: 'DELETE', path: `${API}/tokens/${segment(id)}` });
  }

  // Administration and audit.

  async rotateKeys(): Promise<RotateKeysResult> {
    return this.#call({ method: 'POST', path: `${API}/admin/rotate-keys` });
  }

  /** Signs access tokens with a new key from now on (the old key verifies until its tokens expire). */
  async rotateSigningKey(): Promise<{ kid: string }> {
    return this.#call({ method: 'POST', path: `${API}/admin/rotate-signing-key` });
  }

  async reencrypt(batchSize?: number): Promise<ReencryptResult> {
    const body = batchSize === undefined ? {} : { batchSize };
    return this.#call({ method: 'POST', path: `${API}/admin/reencrypt`, body });
  }

  async listAudit(options: ListAuditOptions = {}): Promise<AuditEvent[]> {
    return (await this.searchAudit(options)).events;
  }

  /** Audit events matching every given filter, newest first, one page at a time. */
  async searchAudit(options: ListAuditOptions = {}): Promise<AuditPage> {
    const { limit, before, from, to, actor, action, project, environment, key, ip, outcome, login } = options;
    return this.#call<AuditPage>({ method: 'GET', path: `${API}/audit`, query: { limit, before, from, to, actor, action, project, environment, key, ip, outcome, login } });
  }

  /** The org's security alerts, newest first (needs audit:read). */
  async listAlerts(options: { since?: string; rule?: string; limit?: number } = {}): Promise<SecurityAlert[]> {
    return (await this.#call<{ alerts: SecurityAlert[] }>({ method: 'GET', path: `${API}/alerts`, query: { since: options.since, rule: options.rule, limit: options.limit } })).alerts;
  }

  async listAlertRules(): Promise<AlertRuleView[]> {
    return (await this.#call<{ rules: AlertRuleView[] }>({ method: 'GET', path: `${API}/alerts/rules` })).rules;
  }

  /** Needs settings:manage and a recent sign-in. */
  async changeAlertRule(rule: string, change: AlertRuleChange): Promise<AlertRuleView> {
    return (await this.#call<{ rule: AlertRuleView }>({ method: 'PUT', path: `${API}/alerts/rules/${encodeURIComponent(rule)}`, body: change })).rule;
  }

  /** The keyed digest the audit log keeps for a sensitive string (`as: 'login'`: a sign-in name, normalised as sign-in does). */
  async auditHash(value: string, options: { as?: 'login' } = {}): Promise<string> {
    return (await this.#call<{ hash: string }>({ method: 'POST', path: `${API}/audit/hash`, body: { value, ...options } })).hash;
  }

  /**
   * The org's audit records of a period as they stream from the server: JSON lines (verifiable
   * offline, see `@keynest/sdk/audit-chain`) or CSV.
   */
  async exportAudit(options: { format?: 'jsonl' | 'csv'; from?: string; to?: string } = {}): Promise<AsyncIterable<Uint8Array>> {
    const spec: RequestSpec = { method: 'GET', path: `${API}/audit/export`, query: { format: options.format, from: options.from, to: options.to } };
    return this.#withRenewal((transport) => sendForStream(transport, spec));
  }

  /** Checks the org's whole audit hash chain against its signed checkpoints. */
  async verifyAudit(): Promise<AuditVerification> {
    return this.#call({ method: 'GET', path: `${API}/audit/verify` });
  }

  /** Signs the head of the org's audit chain now; null when the chain is empty. */
  async checkpointAudit(): Promise<AuditCheckpoint | null> {
    return (await this.#call<{ checkpoint: AuditCheckpoint | null }>({ method: 'POST', path: `${API}/audit/checkpoints` })).checkpoint;
  }

  async listAuditCheckpoints(): Promise<{ checkpoints: AuditCheckpoint[]; keys: AuditKey[] }> {
    return this.#call({ method: 'GET', path: `${API}/audit/checkpoints` });
  }

  /**
   * The org's security at a glance (needs `audit:read`, from a signed-in session): failed sign-ins
   * by address and lockouts of the last 24 hours, rate-limit refusals, 2FA adoption and the admins
   * without it, stale API tokens, active sessions.
   */
  async securityStatus(): Promise<SecurityStatus> {
    return this.#call({ method: 'GET', path: `${API}/security/status` });
  }

  // The org's audit webhooks (needs settings:manage; adding and removing need a recent sign-in).

  async listAuditSinks(): Promise<AuditSink[]> {
    return (await this.#call<{ sinks: AuditSink[] }>({ method: 'GET', path: `${API}/audit/sinks` })).sinks;
  }

  /** The answer holds the sink's signing secret: the only time it is shown. */
  async addAuditSink(input: { url: string; label?: string }): Promise<CreatedAuditSink> {
    return this.#call({ method: 'POST', path: `${API}/audit/sinks`, body: input });
  }

  async removeAuditSink(id: string): Promise<void> {
    await this.#call({ method: 'DELETE', path: `${API}/audit/sinks/${segment(id)}` });
  }

  /** Sends one signed test delivery; says how the receiver answered. */
  async testAuditSink(id: string): Promise<AuditSinkTest> {
    return this.#call({ method: 'POST', path: `${API}/audit/sinks/${segment(id)}/test` });
  }
}

function projectPath(project: string): string {
  return `${API}/projects/${segment(project)}`;
}

function envPath(project: string, env: string): string {
  return `${projectPath(project)}/environments/${segment(env)}`;
}

function secretPath(project: string, env: string, key: string): string {
  return `${envPath(project, env)}/secrets/${segment(key)}`;
}

/** The server rejects unknown and null fields, so an absent ifVersion must be left out, not sent. */
function withoutUndefinedIfVersion(write: SecretWrite): SecretWrite {
  return write.ifVersion === undefined ? { key: write.key, value: write.value } : { ...write };
}

/** The server rejects unknown and null fields, so an absent code is left out, not sent. */
function secondFactorFields(input: { totp?: string | undefined; backupCode?: string | undefined }): {
  totp?: string;
  backupCode?: string;
} {
  return {
    ...(input.totp != null && { totp: input.totp }),
    ...(input.backupCode != null && { backupCode: input.backupCode }),
  };
}

function proofBody(proof: TwoFactorProof): TwoFactorProof {
  return { password: proof.password, ...secondFactorFields(proof) };
}
