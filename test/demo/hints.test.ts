import assert from 'node:assert/strict';
import { hintFor } from '../../src/demo/client.ts';

describe('demo client: hints for TLS failures', () => {
  it('a host name the server certificate lacks: names it, what it holds, and to issue with --dns <host>', () => {
    const hint = hintFor('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: Host: localhost. is not in the cert's altnames: DNS:web.dev.svc, URI:spiffe://cluster.local/ns/dev/sa/default");
    assert.equal(hint, 'the server\'s certificate does not name "localhost" (it names DNS:web.dev.svc, URI:spiffe://cluster.local/ns/dev/sa/default): call the server by one of its dnsNames, or issue the server\'s files for it: kubectl mtls issue --local ... --dns localhost');
  });

  it('an IP address: names it, and asks for a DNS name instead', () => {
    const hint = hintFor('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list: ");
    assert.equal(hint, 'the server\'s certificate does not name "127.0.0.1": call the server by one of its dnsNames (an IP address needs spec.ipAddresses and an allow-list range)');
  });

  it('an unknown message shape still gives the general advice', () => {
    assert.equal(hintFor('ERR_TLS_CERT_ALTNAME_INVALID', 'something else'), 'the server\'s certificate does not name the host we called: call the server by one of its dnsNames');
  });
});
