// The SSH Transport: one ssh2 connection per host (optionally through a jump host), reused by every
// exec, upload and download; commands run on persistent shells (lib/ssh/persistent-shell.ts), one
// with a timeout in a session of its own; sudo handling; atomic uploads; reconnect after a reboot.
import type { Client, SFTPWrapper } from 'ssh2';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { HostSpec } from '../inventory/model.ts';
import { buildLaunch, sudoRefusal, TIMEOUT_EXIT_CODE } from './become.ts';
import { ChannelOpenError, openChannel, runCommand, type RawResult } from './channel.ts';
import { waitForBanner, tcpStream } from './banner.ts';
import { dial, forwardedStream, where, type DialTarget } from './dial.ts';
import { RemoteFileNotFound } from './errors.ts';
import { DEFAULT_CONNECT_TIMEOUT_MS, type TransportOptions } from './options.ts';
import { PersistentShell, SHELL_LOOP, ShellPool } from './persistent-shell.ts';
import { SFTP_NO_SUCH_FILE, sftpOps, unlinkQuietly, writeAll, type SftpError } from './sftp.ts';
import { shQuote } from './shell.ts';
import { Slots } from './slots.ts';
import type { ExecOptions, ExecResult, Transport, UploadOptions } from './types.ts';
import { TransportError } from './types.ts';
import { checkMode, checkRemotePath, chownAndRenameScript, installFromStagingScript, stagedPathIn, tempPathFor } from './upload-plan.ts';

/**
 * sshd's MaxSessions is 10 by default: one goes to SFTP, up to 5 to persistent shells (several
 * hosts' queries can land on one server's connection at once), 4 to commands with a timeout.
 */
const MAX_SHELLS = 5;
const MAX_CHANNELS = 4;
/** argv strings above 128 KiB are refused by Linux; larger scripts go through a staged file */
const INLINE_SCRIPT_MAX = 100 * 1024;
/** the host-side `timeout` fires first; this client-side backstop covers a dead connection */
const TIMEOUT_GRACE_MS = 3000;
/** name of the login user's private directory for staged uploads and large scripts */
const STAGING_DIR = '.clusterseed-staging';
const DOWNLOAD_MISSING_CODE = 44;
/** tries to open an exec channel the server refused (50 ms .. 1.6 s apart) */
const CHANNEL_OPEN_ATTEMPTS = 6;

interface Connection {
  client: Client;
  jump?: Client;
  shells: ShellPool;
  sftp?: Promise<SFTPWrapper>;
  staging?: Promise<string>;
}

interface LaunchRequest {
  sudo: boolean;
  stdin?: Buffer;
  timeoutMs?: number;
}

export class SshTransport implements Transport {
  private conn?: Connection;
  private connecting?: Promise<void>;
  private trips = 0;
  private readonly slots = new Slots(MAX_CHANNELS);
  private readonly target: DialTarget;

  constructor(
    readonly host: HostSpec,
    private readonly opts: TransportOptions,
    private readonly onClose?: (t: SshTransport) => void,
  ) {
    this.target = { label: host.name, address: host.address, port: host.port, user: host.user, keyFile: host.sshKey };
  }

  get roundTrips(): number {
    return this.trips;
  }

  /** true while the SSH connection is up */
  get connected(): boolean {
    return this.conn !== undefined;
  }

  /**
   * Resolve true once the current connection has closed (e.g. the host went down for a reboot),
   * false if it is still up after `timeoutMs`. Lets a caller avoid reconnecting to the old system.
   */
  waitForDisconnect(timeoutMs: number): Promise<boolean> {
    const conn = this.conn;
    if (!conn) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        conn.client.off('close', onClose);
        resolve(false);
      }, timeoutMs);
      const onClose = () => {
        clearTimeout(timer);
        resolve(true);
      };
      conn.client.once('close', onClose);
    });
  }

  async connect(): Promise<void> {
    if (this.conn) return;
    this.connecting ??= this.open(this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, false).finally(() => {
      this.connecting = undefined;
    });
    await this.connecting;
  }

  async exec(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const sudo = this.wantsSudo(opts.become);
    const stdin = opts.stdin === undefined ? undefined : Buffer.from(opts.stdin);
    this.trips++;
    this.log(`exec${sudo ? ' (sudo)' : ''}${stdin ? ` (stdin: ${stdin.length} bytes, not shown)` : ''}:\n${indent(script)}`);
    const r = await this.launch(script, { sudo, stdin, timeoutMs: opts.timeoutMs });
    return {
      code: r.code,
      stdout: r.stdout.toString('utf8'),
      stderr: r.stderr.toString('utf8'),
      ...(r.signal ? { signal: r.signal } : {}),
    };
  }

  async upload(target: string, content: string | Buffer, opts: UploadOptions = {}): Promise<void> {
    checkRemotePath(target);
    checkMode(opts.mode);
    const data = Buffer.from(content);
    const sudo = this.wantsSudo(opts.become);
    const attrs = [
      `${data.length} bytes`,
      opts.mode !== undefined ? `mode ${opts.mode.toString(8).padStart(4, '0')}` : undefined,
      opts.owner || opts.group ? `owner ${opts.owner ?? ''}:${opts.group ?? ''}` : undefined,
      sudo ? 'via sudo' : undefined,
    ];
    this.log(`upload ${target} (${attrs.filter(Boolean).join(', ')})`);
    try {
      if (sudo) await this.uploadThroughStaging(target, data, opts);
      else await this.uploadDirect(target, data, opts);
    } catch (err) {
      throw await this.asTransportError(err, `upload of ${target}`);
    }
  }

  async download(file: string, opts: { become?: boolean } = {}): Promise<Buffer> {
    checkRemotePath(file);
    const sudo = this.wantsSudo(opts.become);
    this.trips++;
    this.log(`download ${file}${sudo ? ' (sudo)' : ''}`);
    if (sudo) {
      const r = await this.launch(`f=${shQuote(file)}\n[ -e "$f" ] || exit ${DOWNLOAD_MISSING_CODE}\nexec cat -- "$f"`, { sudo });
      if (r.code === DOWNLOAD_MISSING_CODE) throw new RemoteFileNotFound(this.host.name, file);
      if (r.code !== 0) throw new TransportError(`${this.host.name}: cannot read ${file}: ${r.stderr.toString().trim()}`, 'exec');
      return r.stdout;
    }
    try {
      return await sftpOps.readFile(await this.sftp(), file);
    } catch (err) {
      if ((err as SftpError).code === SFTP_NO_SUCH_FILE) throw new RemoteFileNotFound(this.host.name, file);
      throw await this.asTransportError(err, `download of ${file}`);
    }
  }

  async reconnect(deadlineMs: number): Promise<void> {
    // commands issued meanwhile wait for this instead of opening a second connection
    const attempt = this.reconnectUntil(Date.now() + deadlineMs, deadlineMs);
    const tracked: Promise<void> = attempt.finally(() => {
      if (this.connecting === tracked) this.connecting = undefined;
    });
    tracked.catch(() => undefined); // the failure is reported through `attempt`
    this.connecting = tracked;
    await attempt;
  }

  private async reconnectUntil(deadline: number, deadlineMs: number): Promise<void> {
    this.log(`reconnecting (up to ${Math.round(deadlineMs / 1000)} s)`);
    await this.drop();
    let last: Error | undefined;
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      try {
        // wait for the banner, then log in once with a long timeout (instead of hammering sshd)
        await this.open(Math.min(remaining, Math.max(this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, 30_000)), true);
        this.log(`reconnected after ${attempt} attempt(s)`);
        return;
      } catch (err) {
        const kind = err instanceof TransportError ? err.kind : 'unreachable';
        // a refused key or login will not get better by waiting
        if (kind === 'hostkey-unknown' || kind === 'hostkey-changed' || kind === 'auth') throw err;
        last = err as Error;
        this.log(`reconnect attempt ${attempt}: ${last.message}`);
        await sleep(Math.min(500 * attempt, 3000, Math.max(0, deadline - Date.now())));
      }
    }
    throw new TransportError(
      `${where(this.target)}: not reachable again within ${Math.round(deadlineMs / 1000)} s${last ? ` (last error: ${last.message})` : ''}`,
      'unreachable',
    );
  }

  async close(): Promise<void> {
    await this.drop();
    this.onClose?.(this);
  }

  // ---- connection ------------------------------------------------------------------------------

  private async open(timeoutMs: number, probeBanner: boolean): Promise<void> {
    const host = this.host;
    let jump: Client | undefined;
    try {
      if (host.jump) {
        const jumpTarget: DialTarget = {
          label: `jump host of ${host.name}`,
          address: host.jump.address,
          port: host.jump.port,
          user: host.jump.user,
          keyFile: host.jump.sshKey ?? host.sshKey,
        };
        jump = await dial(jumpTarget, this.opts, timeoutMs);
      }
      const via = jump;
      const openStream = via
        ? () =>
            forwardedStream(via, host.address, host.port).catch((e: Error) => {
              throw new TransportError(`${where(this.target)}: the jump host cannot reach it: ${e.message}`, 'unreachable');
            })
        : () => tcpStream(host.address, host.port);
      if (probeBanner) {
        await waitForBanner(openStream, Math.min(timeoutMs, 10_000)).catch((e: Error) => {
          throw e instanceof TransportError ? e : new TransportError(`${where(this.target)}: ${e.message}`, 'unreachable');
        });
      }
      const sock = via ? await openStream() : undefined;
      const client = await dial(this.target, this.opts, timeoutMs, sock);
      this.attach(client, jump);
    } catch (err) {
      jump?.end();
      throw err;
    }
  }

  private attach(client: Client, jump?: Client): void {
    const conn: Connection = { client, jump, shells: new ShellPool(MAX_SHELLS) };
    this.conn = conn;
    client.on('error', (e: Error) => this.log(`connection error: ${e.message}`));
    client.on('close', () => {
      if (this.conn === conn) {
        this.conn = undefined;
        this.log('connection closed');
      }
      jump?.end();
    });
    if (jump) {
      jump.on('error', (e: Error) => this.log(`jump host connection error: ${e.message}`));
      jump.on('close', () => client.end());
    }
  }

  /** end the current connection and wait (briefly) until it is closed */
  private async drop(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    if (!conn) return;
    conn.shells.closeAll();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      conn.client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      conn.client.end();
      conn.jump?.end();
    });
  }

  private async client(): Promise<Client> {
    await this.connect();
    if (!this.conn) throw new TransportError(`${where(this.target)}: connection lost`, 'unreachable');
    return this.conn.client;
  }

  private async sftp(): Promise<SFTPWrapper> {
    const client = await this.client();
    const conn = this.conn!;
    conn.sftp ??= new Promise<SFTPWrapper>((resolve, reject) => {
      client.sftp((err, sftp) => {
        if (err) {
          conn.sftp = undefined;
          reject(new TransportError(`${where(this.target)}: cannot start SFTP: ${err.message}`, 'unreachable'));
          return;
        }
        sftp.on('close', () => {
          if (conn.sftp) conn.sftp = undefined;
        });
        resolve(sftp);
      });
    });
    return conn.sftp;
  }

  // ---- exec ------------------------------------------------------------------------------------

  private wantsSudo(become: boolean | undefined): boolean {
    // root needs no sudo; sudo may not even be installed yet
    return (become ?? this.host.become) && this.host.user !== 'root';
  }

  private becomePassword(): string | undefined {
    const name = this.host.becomePasswordEnv;
    if (!name) return undefined;
    const value = process.env[name];
    if (value === undefined || value === '') {
      throw new TransportError(`${this.host.name}: become password variable ${name} is not set in the environment`, 'auth');
    }
    return value;
  }

  /** run a script (not counted as a round trip here: callers count) */
  private async launch(script: string, req: LaunchRequest): Promise<RawResult> {
    // a timeout needs a process group of its own to kill: such a command gets its own session
    return req.timeoutMs === undefined ? this.launchOnShell(script, req) : this.launchInSession(script, req);
  }

  private async launchOnShell(script: string, req: LaunchRequest): Promise<RawResult> {
    const password = req.sudo ? this.becomePassword() : undefined;
    const client = await this.client();
    const conn = this.conn!;
    const r = await conn.shells.run(
      req.sudo ? 'sudo' : 'user',
      () => this.startShell(client, req.sudo, password),
      Buffer.from(script),
      req.stdin,
    );
    // the shell itself may have ended before running anything: sudo refused to start it
    if (req.sudo && r.shellExited) this.checkSudo(r);
    return r;
  }

  private async startShell(client: Client, sudo: boolean, password: string | undefined): Promise<PersistentShell> {
    const launch = buildLaunch(SHELL_LOOP, { sudo, password });
    // expanded by the login shell, before sudo resets the environment
    const command = `${launch.command} sh "$SSH_CONNECTION"`;
    const channel = await this.withChannelRetry(() => openChannel(client, command, this.host.name));
    this.log(`persistent shell started${sudo ? ' (sudo)' : ''}`);
    return new PersistentShell(channel, this.host.name, launch.stdinPrefix);
  }

  private checkSudo(r: RawResult): void {
    const refusal = sudoRefusal(r.code, r.stderr.toString('utf8'));
    if (refusal) {
      throw new TransportError(
        `${this.host.name}: sudo refused for ${this.host.user}: ${refusal}` +
          (this.host.becomePasswordEnv ? '' : ' (set becomePasswordEnv if sudo needs a password)'),
        'auth',
      );
    }
  }

  private async launchInSession(script: string, req: LaunchRequest): Promise<RawResult> {
    const password = req.sudo ? this.becomePassword() : undefined;
    const client = await this.client();
    let staged: string | undefined;
    let body = script;
    if (Buffer.byteLength(script) > INLINE_SCRIPT_MAX) {
      this.trips++;
      staged = await this.stage(Buffer.from(script));
      body = `. ${shQuote(staged)}`;
    }
    const launch = buildLaunch(body, { sudo: req.sudo, password, timeoutMs: req.timeoutMs });
    const stdin = launch.stdinPrefix && req.stdin ? Buffer.concat([launch.stdinPrefix, req.stdin]) : (launch.stdinPrefix ?? req.stdin);
    const started = Date.now();
    let r: RawResult;
    try {
      r = await this.slots.run(() =>
        this.withChannelRetry(() =>
          runCommand(client, launch.command, {
            stdin,
            timeoutMs: req.timeoutMs === undefined ? undefined : req.timeoutMs + TIMEOUT_GRACE_MS,
            label: this.host.name,
          }),
        ),
      );
    } finally {
      // removed before returning, so the caller never sees the staging dir in use
      if (staged && this.conn)
        await this.sftp().then(
          (s) => unlinkQuietly(s, staged),
          () => undefined,
        );
    }
    if (req.timeoutMs !== undefined && (r.code === TIMEOUT_EXIT_CODE || r.code === 128 + 9) && Date.now() - started >= req.timeoutMs) {
      throw new TransportError(`${this.host.name}: command timed out after ${req.timeoutMs} ms`, 'timeout');
    }
    if (req.sudo) this.checkSudo(r);
    return r;
  }

  /**
   * sshd frees a session only once it has reaped the session's process, so right after many short
   * commands a new channel can be refused for a moment; the command never started, so retry.
   */
  private async withChannelRetry<T>(open: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await open();
      } catch (err) {
        if (!(err instanceof ChannelOpenError) || attempt >= CHANNEL_OPEN_ATTEMPTS || !this.conn) throw err;
        this.log(`${err.message}; retrying`);
        await sleep(50 * 2 ** attempt);
      }
    }
  }

  // ---- upload ----------------------------------------------------------------------------------

  /** Login user may write the target itself: SFTP into a temp file beside it, then rename. */
  private async uploadDirect(target: string, data: Buffer, opts: UploadOptions): Promise<void> {
    this.trips++;
    const sftp = await this.sftp();
    const temp = tempPathFor(target);
    const [existing, handle] = await Promise.all([
      sftpOps.stat(sftp, target).catch((e: SftpError) => {
        if (e.code === SFTP_NO_SUCH_FILE) return undefined;
        throw e;
      }),
      sftpOps.open(sftp, temp, 'wx', 0o600),
    ]).catch(async (err) => {
      await unlinkQuietly(sftp, temp);
      throw err;
    });
    const byName = Boolean(opts.owner || opts.group);
    try {
      await writeAll(sftp, handle, data);
      await this.fsync(sftp, handle);
      // what landed must be what was sent, before it replaces anything (same SFTP batch; read
      // while the temp file is still 0600, whatever mode it gets)
      const written = await sftpOps.readFile(sftp, temp);
      if (sha256Of(written) !== sha256Of(data)) {
        throw new TransportError(
          `${this.host.name}: ${target}: the written content does not match what was sent (${written.length} of ${data.length} bytes; disk full?)`,
          'exec',
        );
      }
      await sftpOps.fchmod(sftp, handle, opts.mode ?? (existing ? existing.mode & 0o7777 : 0o644));
      // keep the owner of the file being replaced (only root can give files away)
      if (!byName && existing && this.host.user === 'root') await sftpOps.fchown(sftp, handle, existing.uid, existing.gid);
      await sftpOps.close(sftp, handle);
    } catch (err) {
      await sftpOps.close(sftp, handle).catch(() => undefined);
      await unlinkQuietly(sftp, temp);
      throw err;
    }
    if (!byName) {
      try {
        await sftpOps.rename(sftp, temp, target);
      } catch (err) {
        await unlinkQuietly(sftp, temp);
        throw err;
      }
      return;
    }
    // SFTP only takes numeric ids: chown by name and rename in one command
    this.trips++;
    const r = await this.launch(chownAndRenameScript(temp, target, opts.owner, opts.group), { sudo: false });
    if (r.code !== 0)
      throw new TransportError(`${this.host.name}: setting the owner of ${target} failed: ${r.stderr.toString().trim()}`, 'exec');
  }

  /** Login user is not root: SFTP into the private staging dir, then one sudo command installs it. */
  private async uploadThroughStaging(target: string, data: Buffer, opts: UploadOptions): Promise<void> {
    this.trips++;
    const staged = await this.stage(data);
    this.trips++;
    let r: RawResult;
    try {
      r = await this.launch(installFromStagingScript(staged, target, opts, sha256Of(data)), { sudo: true });
    } catch (err) {
      // the install script removes the staged file itself; here it may never have run
      if (this.conn)
        await this.sftp().then(
          (s) => unlinkQuietly(s, staged),
          () => undefined,
        );
      throw err;
    }
    if (r.code !== 0) {
      throw new TransportError(`${this.host.name}: installing ${target} failed: ${r.stderr.toString().trim()}`, 'exec');
    }
  }

  /** Write a file (0600) into the login user's private staging directory; returns its path. */
  private async stage(data: Buffer): Promise<string> {
    const sftp = await this.sftp();
    const dir = await this.stagingDir(sftp);
    const file = stagedPathIn(dir);
    const handle = await sftpOps.open(sftp, file, 'wx', 0o600);
    try {
      await writeAll(sftp, handle, data);
      await sftpOps.close(sftp, handle);
    } catch (err) {
      await sftpOps.close(sftp, handle).catch(() => undefined);
      await unlinkQuietly(sftp, file);
      throw err;
    }
    return file;
  }

  /** ~/.clusterseed-staging, mode 0700 (created once per connection) */
  private stagingDir(sftp: SFTPWrapper): Promise<string> {
    const conn = this.conn!;
    conn.staging ??= (async () => {
      const home = await sftpOps.realpath(sftp, '.');
      const dir = path.posix.join(home, STAGING_DIR);
      await sftpOps.mkdir(sftp, dir, 0o700).catch(() => undefined);
      const st = await sftpOps.lstat(sftp, dir);
      if (!st.isDirectory()) throw new Error(`${dir} exists and is not a directory`);
      if ((st.mode & 0o077) !== 0) await sftpOps.chmod(sftp, dir, 0o700);
      return dir;
    })().catch((err) => {
      conn.staging = undefined;
      throw err;
    });
    return conn.staging;
  }

  private async fsync(sftp: SFTPWrapper, handle: Buffer): Promise<void> {
    try {
      await sftpOps.fsync(sftp, handle);
    } catch (err) {
      if (!/does not support/.test((err as Error).message)) throw err;
      // servers without fsync@openssh.com (non-OpenSSH): the rename is still atomic
      this.log('SFTP server has no fsync extension; file written without fsync');
    }
  }

  private async asTransportError(err: unknown, what: string): Promise<TransportError> {
    if (err instanceof TransportError) return err;
    const message = (err as Error).message ?? String(err);
    // the connection's 'close' event can trail the failed request by a tick
    await new Promise((resolve) => setImmediate(resolve));
    const lost = !this.conn || /No response from server|SFTP session closed|Not connected|not open|ECONNRESET|EPIPE/i.test(message);
    // a failed SFTP request on a live connection is the task's problem; a dead connection is not
    return lost
      ? new TransportError(`${this.host.name}: connection lost during ${what} (${message})`, 'unreachable')
      : new TransportError(`${this.host.name}: ${what} failed: ${message}`, 'exec');
  }

  private log(line: string): void {
    this.opts.log?.(`${this.host.name}: ${line}`);
  }
}

/** scripts as shown in the -vv log: indented, long ones cut (a role's script is rarely that long) */
const LOGGED_SCRIPT_MAX = 4096;
function indent(script: string): string {
  const shown =
    script.length > LOGGED_SCRIPT_MAX
      ? `${script.slice(0, LOGGED_SCRIPT_MAX)}\n... (${script.length - LOGGED_SCRIPT_MAX} more characters)`
      : script;
  return shown
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sha256Of(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
