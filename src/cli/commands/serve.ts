import { Command } from 'commander';
import { AgentError } from '../../errors.ts';
import { runner } from '../action.ts';
import { emit } from '../runtime.ts';

/** `HOST:PORT`, `[V6]:PORT`; loopback by default (development and demos). */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535)
    throw new AgentError('USAGE', `--listen must be HOST:PORT, not ${text}`);
  return { host: (match[1] ?? match[2]) as string, port };
}

export function serveCommand(): Command {
  return new Command('serve')
    .description(
      'serve a repository directory over HTTP with Range, ETag and If-Range (development, demos)',
    )
    .argument('<dir>', 'repository directory')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8080')
    .action(
      runner(async (opts, log, args) => {
        const { host, port } = parseListen(String(opts.listen));
        const { startServer } = await import('../../serve/server.ts');
        const server = await startServer({
          root: args[0] as string,
          host,
          port,
          log: (line) => log.info(line),
        });
        emit(opts, { url: server.url, root: args[0] }, () => `serving ${args[0]} at ${server.url}`);
        await new Promise<void>((resolve) => {
          const stop = (): void => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        await server.close();
        return 0;
      }),
    );
}
