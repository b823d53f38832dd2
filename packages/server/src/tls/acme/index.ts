export { AcmeCertificateManager, type AcmeCertificate, type AcmeManagerOptions, type AcmeStatus, type RenewOutcome } from './manager.js';
export { ACME_CHALLENGE_PREFIX, Http01Challenges, createChallengeServer } from './challenges.js';
export { ACME_FILES, ACME_FILE_MODE } from './store.js';
export { parseAcmeConfig, type AcmeConfig } from './config.js';
export { startAcme, type AcmeDeps, type RunningAcme } from './service.js';
