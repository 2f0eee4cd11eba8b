/**
 * When a certificate should be renewed: `renewBefore` ahead of notAfter, or, when renewBefore is
 * unset or not shorter than the certificate's actual lifetime (a lifetime cut short by the CA's
 * own expiry), one third of the lifetime ahead of notAfter.
 */
export function renewalTime(notBefore: Date, notAfter: Date, renewBeforeMs?: number): Date {
  const lifetime = notAfter.getTime() - notBefore.getTime();
  if (lifetime <= 0) return new Date(notBefore.getTime());
  const before =
    renewBeforeMs !== undefined && renewBeforeMs > 0 && renewBeforeMs < lifetime
      ? renewBeforeMs
      : Math.floor(lifetime / 3);
  return new Date(notAfter.getTime() - before);
}
