import type { Mailer } from '../email/mailer.js';
import { composeMail, type MailParams } from '../email/templates.js';

type NoticeKind = 'account_locked' | 'new_sign_in' | 'backup_code_used' | 'two_factor_enabled' | 'two_factor_disabled' | 'password_changed';

/**
 * Security notices mailed to a user about their own account. Sent after the change committed and
 * never awaited by the request: a slow or failing mail server must not slow or fail a sign-in (the
 * mailer logs a failure without the mail's content, and waits for sends under way at shutdown).
 */
export class SecurityNotices {
  constructor(private readonly mailer: Mailer) {}

  send<K extends NoticeKind>(to: string, kind: K, params: MailParams[K]): void {
    this.mailer.send(composeMail(to, kind, params)).catch(() => {
      // Already logged by the mailer ("mail not sent"); nothing else to do for a notice.
    });
  }
}
