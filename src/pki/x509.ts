/**
 * The one place @peculiar/x509 is imported: loads the reflect polyfill its README asks for
 * (tsyringe needs it), then points the library at Node's WebCrypto. Import `x509` from here,
 * never from '@peculiar/x509' directly.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
