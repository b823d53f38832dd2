import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { normalizeFingerprint } from './certificates.js';

/**
 * The SHA-256 fingerprint (lower-case hex) of the client certificate the TLS handshake verified
 * against KEYNEST_TLS_CLIENT_CA; null over plain HTTP, without a certificate, or with one the CA did
 * not sign (`optional` mode lets such a handshake through, and it then counts for nothing). Headers
 * a proxy might add are never read: only the built-in TLS vouches for a certificate.
 */
export function verifiedClientCertSha256(socket: Socket): string | null {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return null;
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.fingerprint256) return null;
  return normalizeFingerprint(cert.fingerprint256);
}
