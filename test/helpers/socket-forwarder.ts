// A UNIX socket that forwards each connection to a TCP port on loopback: how the docker tests give a
// container the coordinator (mounted with EXECUTOR_DOCKER_ADDITIONAL_MOUNTS, named by SRC_PROXY) without
// opening a host port to the container network.
import fs from 'node:fs/promises';
import net from 'node:net';

/** Listens on `socketPath` (mode 0777, so a container's root or any user may connect); close it when done. */
export async function forwardUnixSocketToPort(socketPath: string, port: number): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  await fs.chmod(socketPath, 0o777);
  return server;
}
