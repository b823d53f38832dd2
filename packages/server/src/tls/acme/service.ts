import { once } from 'node:events';
import type { Server } from 'node:http';
import type { Clock } from '../../context.js';
import type { Logger } from '../../logger.js';
import { Http01Challenges, createChallengeServer } from './challenges.js';
import type { AcmeConfig } from './config.js';
import { AcmeCertificateManager, type AcmeCertificate } from './manager.js';

export interface AcmeDeps {
  /** Address the standalone responder binds (KEYNEST_HOST); the CA must reach it on port 80. */
  host: string;
  dataDir: string;
  /** The root key: seals the stored private keys. */
  sealKey: Buffer | undefined;
  clock: Clock;
  log: Logger;
  onCertificate: (cert: AcmeCertificate) => void | Promise<void>;
  /**
   * true: listen on `config.httpPort` with the standalone responder. false: the caller's plain-HTTP
   * listener (the HTTP→HTTPS redirect) serves `challenges.respond()` on that port itself.
   */
  standaloneResponder: boolean;
  /** Where the answers go; pass the one the caller's listener serves when standaloneResponder is false. */
  challenges?: Http01Challenges;
}

export interface RunningAcme {
  challenges: Http01Challenges;
  manager: AcmeCertificateManager;
  /** The certificate after start (stored or just ordered); null when the first order failed. */
  certificate: AcmeCertificate | null;
  /** Where the standalone responder listens; null without one. */
  responderPort: number | null;
  close(): Promise<void>;
}

/**
 * ACME wired as one piece: the responder is listening before the first order (the CA fetches the
 * answer during it), then the manager loads or orders a certificate and keeps it renewed.
 */
export async function startAcme(config: AcmeConfig, deps: AcmeDeps): Promise<RunningAcme> {
  const challenges = deps.challenges ?? new Http01Challenges();
  const log = deps.log.child({ component: 'acme' });
  let responder: Server | null = null;
  if (deps.standaloneResponder) {
    responder = createChallengeServer(challenges, log);
    responder.listen(config.httpPort, deps.host);
    await Promise.race([once(responder, 'listening'), once(responder, 'error').then(([err]) => Promise.reject(err as Error))]);
  }
  const manager = new AcmeCertificateManager({
    directoryUrl: config.directoryUrl,
    domains: config.domains,
    email: config.email,
    caBundle: config.caBundle,
    dataDir: deps.dataDir,
    sealKey: deps.sealKey,
    challenges,
    clock: deps.clock,
    log,
    onCertificate: deps.onCertificate,
  });
  const certificate = await manager.start();
  return {
    challenges,
    manager,
    certificate,
    responderPort: responder ? (responder.address() as { port: number }).port : null,
    close: async () => {
      await manager.stop();
      if (responder) await new Promise((r) => responder.close(r));
    },
  };
}
