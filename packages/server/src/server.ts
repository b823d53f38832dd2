import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ApiTokenService } from './access/service.js';
import { buildApp, type Services } from './app.js';
import { AuditService } from './audit/service.js';
import type { Config } from './config.js';
import type { Clock } from './context.js';
import { Invalidation } from './cache.js';
import { Keyring } from './crypto/keyring.js';
import { loadRootKey } from './crypto/root-key.js';
import { IdentityService } from './identity/service.js';
import { PasswordChecker } from './identity/password-policy.js';
import { SessionService } from './identity/sessions.js';
import { TwoFactorService } from './identity/two-factor.js';
import { LoginThrottle } from './identity/throttle.js';
import type { Logger } from './logger.js';
import { OrgService } from './orgs/service.js';
import { ProjectService } from './projects/service.js';
import { KeyRotationService } from './secrets/key-rotation.js';
import { SecretService } from './secrets/service.js';
import { openStorage, type Storage } from './storage/database.js';

export const SETUP_TOKEN_FILE = 'setup-token';

export interface KeyNest {
  app: FastifyInstance;
  storage: Storage;
  services: Services;
  keyring: Keyring;
  /** The one-time setup token when the instance is not set up yet; null afterwards. */
  setupToken: string | null;
  /** Stops accepting, lets in-flight requests finish, then closes the database. */
  close(): Promise<void>;
}

/** The composition root: config -> storage -> migrations -> keyring -> services -> app. */
export async function createKeyNest(config: Config, log: Logger, clock: Clock): Promise<KeyNest> {
  const storage = await openStorage(config);
  try {
    await storage.migrate();
    const rootKey = loadRootKey(config.rootKey, config.dataDir, log);
    const { db } = storage;
    const keyring = new Keyring(rootKey);
    const audit = new AuditService(db);
    const invalidation = new Invalidation();
    const orgs = new OrgService({ db, keyring });
    const projects = new ProjectService({ db, audit, invalidation, clock });
    const sessions = new SessionService({
      db,
      audit,
      invalidation,
      policy: {
        ttlS: config.sessionTtlS,
        idleS: config.sessionIdleS,
        rememberTtlS: config.sessionRememberTtlS,
        rememberIdleS: config.sessionRememberIdleS,
        maxPerUser: config.sessionsPerUser,
      },
    });
    const twoFactor = new TwoFactorService({ db, keyring, audit });
    const throttle = new LoginThrottle({
      db,
      policy: { lockoutThreshold: config.lockoutThreshold, lockoutS: config.lockoutS, perIp: config.loginRatePerIp, perAccountIp: config.loginRatePerAccountIp },
    });
    const services: Services = {
      identity: new IdentityService({ db, orgs, audit, log, sessions, throttle, passwords: new PasswordChecker(config.passwordPolicy), twoFactor, setupTokenFile: path.join(config.dataDir, SETUP_TOKEN_FILE) }),
      sessions,
      twoFactor,
      orgs,
      projects,
      secrets: new SecretService({ db, keyring, audit, projects, invalidation, valueCache: { ttlMs: config.valueCacheTtlMs, maxBytes: config.valueCacheMaxBytes } }),
      rotation: new KeyRotationService({ db, keyring, audit }),
      tokens: new ApiTokenService({ db, audit, invalidation }),
      audit,
    };
    const setupToken = await services.identity.prepareSetup(clock());
    const lifecycle = { draining: false };
    const app = await buildApp(services, { config, log, clock, lifecycle });
    let closing: Promise<void> | null = null;
    return {
      app,
      storage,
      services,
      keyring,
      setupToken,
      close: () =>
        (closing ??= (async () => {
          lifecycle.draining = true;
          await app.close();
          await storage.close();
        })()),
    };
  } catch (err) {
    await storage.close();
    throw err;
  }
}
