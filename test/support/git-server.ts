/**
 * A real Git smart-HTTP server: `git http-backend` behind a small Node HTTP server, serving bare
 * repositories that tests create, with optional HTTP Basic auth, request/byte counters and fault
 * injection (500s, hangs). With `tls` it speaks HTTPS with a self-signed certificate made at start
 * (driftless sends credentials over https:// only), which clients trust through `ca`/`caFile`.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface GitServerOptions {
  /** Require HTTP Basic auth with these credentials. @default no auth */
  auth?: { username: string; password: string };
  /** Serve HTTPS with a self-signed certificate for 127.0.0.1 and localhost. @default plain HTTP */
  tls?: boolean;
}

export type GitFault = 'none' | 'error500' | 'hang';

export interface GitRequestLog {
  method: string;
  path: string;
  status: number;
  /** Bytes of the response body sent to the client. */
  bytes: number;
}

export interface GitServer {
  /** `http://127.0.0.1:PORT`, or `https://…` with `tls` */
  baseUrl: string;
  /** With `tls`: the server's certificate (PEM), the one CA a client must trust (the source's `ca` option). */
  ca?: string;
  /** With `tls`: the path of `ca`, for `NODE_EXTRA_CA_CERTS` of a child process. */
  caFile?: string;
  /** `baseUrl/<name>.git` */
  url(name: string): string;
  /** Every request served since start or the last `resetLog()`. */
  readonly requests: GitRequestLog[];
  resetLog(): void;
  /** Makes every following request fail with 500 or hang (never answered) until set back to 'none'. */
  setFault(fault: GitFault): void;
  /** Creates a bare repository with `initialBranch` (default `main`) and a work tree to commit from. */
  createRepo(name: string, options?: { initialBranch?: string }): Promise<GitRepo>;
  stop(): Promise<void>;
}

export interface GitRepo {
  name: string;
  url: string;
  /** Path of the work tree (a clone of the bare repo). */
  workTree: string;
  /** Path of the bare repository that the server serves. */
  bareDir: string;
  /**
   * Writes files (relative path -> content; `null` deletes), commits everything and pushes
   * the branch (default: the initial branch). Returns the new commit SHA.
   */
  commit(
    files: Record<string, string | null>,
    options?: { message?: string; branch?: string },
  ): Promise<string>;
  /** Runs `git` in the work tree. */
  git(...args: string[]): Promise<string>;
  /** Runs `git` in the bare repository. */
  bareGit(...args: string[]): Promise<string>;
}

export async function startGitServer(options: GitServerOptions = {}): Promise<GitServer> {
  const root = await mkdtemp(join(tmpdir(), 'driftless-git-'));
  const reposDir = join(root, 'repos');
  const worksDir = join(root, 'work');
  await mkdir(reposDir);
  await mkdir(worksDir);
  const requests: GitRequestLog[] = [];
  let fault: GitFault = 'none';
  const hanging = new Set<ServerResponse>();

  const certificate = options.tls ? await selfSignedCertificate(root) : undefined;
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    const log: GitRequestLog = { method: req.method ?? 'GET', path, status: 0, bytes: 0 };
    requests.push(log);
    const write = res.write.bind(res);
    res.write = ((chunk: Buffer | string, ...rest: never[]) => {
      log.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      return write(chunk, ...rest);
    }) as typeof res.write;
    res.on('finish', () => {
      log.status = res.statusCode;
    });

    if (fault === 'hang') {
      hanging.add(res);
      return;
    }
    if (fault === 'error500') {
      res.statusCode = 500;
      res.end('injected failure');
      return;
    }
    if (options.auth && !authorized(req, options.auth)) {
      res.statusCode = 401;
      res.setHeader('WWW-Authenticate', 'Basic realm="driftless-test"');
      res.end('authentication required');
      return;
    }
    serveBackend(req, res, reposDir);
  };
  const server: Server = certificate
    ? createTlsServer({ cert: certificate.cert, key: certificate.key }, listener)
    : createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `${certificate ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    baseUrl,
    ca: certificate?.cert,
    caFile: certificate?.certFile,
    url: (name) => `${baseUrl}/${name}.git`,
    requests,
    resetLog: () => {
      requests.length = 0;
    },
    setFault: (next) => {
      fault = next;
      if (next !== 'hang') {
        for (const res of hanging) res.destroy();
        hanging.clear();
      }
    },
    async createRepo(name, repoOptions = {}) {
      const branch = repoOptions.initialBranch ?? 'main';
      const bareDir = join(reposDir, `${name}.git`);
      const workTree = join(worksDir, name);
      await mkdir(dirname(bareDir), { recursive: true });
      await exec('git', ['init', '--quiet', '--bare', `--initial-branch=${branch}`, bareDir]);
      await exec('git', ['-C', bareDir, 'config', 'http.receivepack', 'true']);
      await mkdir(workTree, { recursive: true });
      const git = async (...args: string[]) => (await exec('git', ['-C', workTree, ...args])).stdout.trim();
      await git('init', '--quiet', `--initial-branch=${branch}`);
      await git('config', 'user.email', 'test@driftless.dev');
      await git('config', 'user.name', 'driftless test');
      await git('remote', 'add', 'origin', bareDir);
      return {
        name,
        url: `${baseUrl}/${name}.git`,
        workTree,
        bareDir,
        git,
        bareGit: async (...args: string[]) => (await exec('git', ['-C', bareDir, ...args])).stdout.trim(),
        async commit(files, commitOptions = {}) {
          const target = commitOptions.branch ?? branch;
          const current = await git('rev-parse', '--abbrev-ref', 'HEAD').catch(() => branch);
          if (current !== target) await git('checkout', '--quiet', '-B', target);
          for (const [file, content] of Object.entries(files)) {
            const path = join(workTree, file);
            if (content === null) {
              await rm(path, { force: true, recursive: true });
            } else {
              await mkdir(dirname(path), { recursive: true });
              await writeFile(path, content);
            }
          }
          await git('add', '-A');
          await git('commit', '--quiet', '--allow-empty', '-m', commitOptions.message ?? 'update');
          await git('push', '--quiet', '--force', 'origin', `HEAD:refs/heads/${target}`);
          return git('rev-parse', 'HEAD');
        },
      };
    },
    async stop() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** A one-day self-signed certificate for 127.0.0.1 and localhost, made by the openssl CLI (node:crypto makes keys, not certificates). */
async function selfSignedCertificate(root: string): Promise<{ cert: string; key: string; certFile: string }> {
  const certFile = join(root, 'git-server.crt');
  const keyFile = join(root, 'git-server.key');
  await exec('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=driftless test git server',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
  return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8'), certFile };
}

function authorized(req: IncomingMessage, auth: { username: string; password: string }): boolean {
  const header = req.headers.authorization ?? '';
  if (!header.startsWith('Basic ')) return false;
  const decoded = Buffer.from(header.slice(6), 'base64').toString();
  return decoded === `${auth.username}:${auth.password}`;
}

/** Runs `git http-backend` as a CGI script for one request. */
function serveBackend(req: IncomingMessage, res: ServerResponse, reposDir: string): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const backend = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: reposDir,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method ?? 'GET',
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      CONTENT_LENGTH: req.headers['content-length'] ?? '',
      HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
      GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
      REMOTE_USER: 'driftless',
      REMOTE_ADDR: '127.0.0.1',
    },
  });
  req.pipe(backend.stdin);
  let head = Buffer.alloc(0);
  let headersDone = false;
  backend.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    headersDone = true;
    for (const line of head.subarray(0, end).toString().split('\r\n')) {
      const colon = line.indexOf(':');
      const key = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (key.toLowerCase() === 'status') res.statusCode = Number.parseInt(value, 10);
      else res.setHeader(key, value);
    }
    const body = head.subarray(end + 4);
    if (body.length > 0) res.write(body);
  });
  backend.on('close', () => res.end());
  backend.on('error', () => {
    res.statusCode = 500;
    res.end();
  });
}
