/**
 * When a certificate should be renewed: `renewBefore` ahead of notAfter, or, when renewBefore is
 * unset or not shorter than the certificate's actual lifetime, one third of the lifetime ahead
 * of notAfter.
 *
 * A certificate whose notAfter was cut to its CA's own expiry is not renewed before it expires:
 * any re-issue from the same CA would be cut to the same instant, so renewing would only loop
 * (a storm of writes near the CA's end). It is re-issued when the CA changes (IncorrectIssuer),
 * or when a renewed CA lets it live longer (then its notAfter is no longer the CA's).
 */
export function renewalTime(notBefore: Date, notAfter: Date, renewBeforeMs?: number, caNotAfter?: Date): Date {
  if (isCutToCA(notAfter, caNotAfter)) return new Date(notAfter.getTime());
  const lifetime = notAfter.getTime() - notBefore.getTime();
  if (lifetime <= 0) return new Date(notBefore.getTime());
  const before =
    renewBeforeMs !== undefined && renewBeforeMs > 0 && renewBeforeMs < lifetime
      ? renewBeforeMs
      : Math.floor(lifetime / 3);
  return new Date(notAfter.getTime() - before);
}

/**
 * Whether a certificate already lives as long as its CA allows: its notAfter is at (or, in
 * whole seconds, just under) the CA's notAfter. Certificates carry whole seconds only.
 */
export function isCutToCA(notAfter: Date, caNotAfter: Date | undefined): boolean {
  return caNotAfter !== undefined && notAfter.getTime() >= Math.floor(caNotAfter.getTime() / 1000) * 1000;
}
