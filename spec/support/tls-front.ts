/**
 * HTTPS in front of a plain-HTTP test server, the way Cloud Foundry's components sit behind
 * certificates of the foundation's own CAs: a TLS listener on loopback that hands each
 * connection's bytes to the server behind it. Tests of trust use it to put a real certificate
 * (from throwaway-ca.ts) in front of the CAPI and UAA simulators without teaching them TLS.
 */
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import type { ThrowawayCertificates } from './throwaway-ca.ts';

export interface TlsFront {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `certificates` on a free loopback port, forwarding to `target` (an `http://host:port` URL). */
export async function startTlsFront(target: string, certificates: ThrowawayCertificates): Promise<TlsFront> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<TLSSocket>();
  const server = createServer({ cert: certificates.cert, key: certificates.key }, (socket) => {
    sockets.add(socket);
    const upstream = connect(Number(port), hostname);
    socket.pipe(upstream).pipe(socket);
    const end = () => {
      socket.destroy();
      upstream.destroy();
      sockets.delete(socket);
    };
    socket.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  // A client refusing the certificate resets the handshake: that is the client's answer, not a test failure.
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
