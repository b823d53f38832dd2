import { constants } from 'node:crypto';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { CertificatePair } from './certificates.js';
import type { TlsSettings } from './settings.js';

/**
 * TLS 1.3's suites (all AEAD), then TLS 1.2's ECDHE + AEAD ones only: forward secrecy always, no
 * CBC (Lucky13, POODLE-TLS), no RSA key exchange (ROBOT, no forward secrecy), no 3DES (Sweet32),
 * no RC4. Same as Mozilla's "intermediate" profile less its DHE suites (finite-field DH is slow
 * and only as good as its parameters).
 */
export const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
export const TLS12_SUITES = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

/**
 * What a certificate (re)load installs: the pair, the client CA, and the protocol policy. The same
 * object feeds the server at start and `setSecureContext` on reload, so a reload can never loosen it.
 */
export function secureContextOptions(pair: CertificatePair, settings: Pick<TlsSettings, 'clientCa'>): SecureContextOptions {
  return {
    cert: pair.cert,
    key: pair.key,
    ...(settings.clientCa ? { ca: settings.clientCa.pem } : {}),
    minVersion: 'TLSv1.2',
    ciphers: [...TLS13_SUITES, ...TLS12_SUITES].join(':'),
    honorCipherOrder: true,
    ecdhCurve: 'X25519:prime256v1:secp384r1',
    // Client-initiated renegotiation is a DoS lever and the root of old injection attacks;
    // compression is CRIME (OpenSSL 3 has it off already: said here so nobody turns it on).
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_NO_COMPRESSION | constants.SSL_OP_CIPHER_SERVER_PREFERENCE,
  };
}

const HANDSHAKE_TIMEOUT_MS = 10_000;

/** The options of the HTTPS server itself: the context above, and whether clients must show a certificate. */
export function httpsServerOptions(pair: CertificatePair, settings: Pick<TlsSettings, 'clientCa'>): TlsOptions {
  const mtls = settings.clientCa;
  return {
    ...secureContextOptions(pair, settings),
    // `optional` still verifies what is presented; the request sees `socket.authorized`.
    requestCert: mtls !== null,
    rejectUnauthorized: mtls?.mode === 'required',
    // A client that opens a connection and never finishes the handshake holds a socket: not for long
    // (Node's default is 120 s; the HTTP deadlines only start once TLS is up).
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  };
}
