/**
 * A real rsyslog (Debian's rsyslogd with its GnuTLS driver) as a SIEM collector for tests: syslog
 * over TLS (imtcp, octet-counted frames) on a loopback port, its certificate from a CA made at test
 * time, every received message written to a file with the raw message and the fields rsyslog's own
 * RFC 5424 parser read from it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createCertificateAuthority, issueServerCertificate } from '../../src/pki/dev-pki';

export const RSYSLOGD = '/usr/sbin/rsyslogd';

/** One message as rsyslog received and parsed it. */
export interface ReceivedMessage {
  readonly appName: string;
  readonly procId: string;
  readonly msgId: string;
  readonly structuredData: string;
  readonly facility: number;
  readonly severity: number;
  readonly hostname: string;
  /** rsyslog's MSG part. */
  readonly msg: string;
  /** The whole message as it arrived (after the octet count). */
  readonly raw: string;
}

const FIELDS = ['app-name', 'procid', 'msgid', 'structured-data', 'syslogfacility', 'syslogseverity', 'hostname', 'msg', 'rawmsg'];

/** A loopback port nobody listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export class RsyslogCollector {
  private child: ChildProcess | null = null;
  private output = '';
  readonly caPath: string;
  private readonly confPath: string;
  private readonly receivedPath: string;

  /** Writes the configuration and certificates in `dir`; `start()` runs rsyslogd. */
  constructor(
    private readonly dir: string,
    readonly port: number,
  ) {
    if (!fs.existsSync(RSYSLOGD)) {
      throw new Error(`${RSYSLOGD} is missing: install Debian's rsyslog and rsyslog-gnutls (scripts/install-system-deps.sh)`);
    }
    const pki = path.join(dir, 'pki');
    createCertificateAuthority(pki, { commonName: 'Test SIEM CA' });
    issueServerCertificate(pki, pki, { fileBase: 'collector' }); // SAN localhost, 127.0.0.1, ::1
    this.caPath = path.join(pki, 'ca.pem');
    const work = path.join(dir, 'work');
    fs.mkdirSync(work, { recursive: true });
    this.receivedPath = path.join(dir, 'received.log');
    this.confPath = path.join(dir, 'rsyslog.conf');
    // Tabs separate the fields: JSON and the header fields hold none.
    const template = FIELDS.map((f) => `%${f}%`).join('\\t');
    fs.writeFileSync(
      this.confPath,
      `global(workDirectory="${work}" maxMessageSize="64k"
  defaultNetstreamDriver="gtls"
  defaultNetstreamDriverCAFile="${this.caPath}"
  defaultNetstreamDriverCertFile="${path.join(pki, 'collector.pem')}"
  defaultNetstreamDriverKeyFile="${path.join(pki, 'collector-key.pem')}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" address="127.0.0.1" port="${port}" name="siem")
template(name="fields" type="string" string="${template}\\n")
if $inputname == "siem" then {
  action(type="omfile" file="${this.receivedPath}" template="fields")
}
`,
    );
  }

  /** Starts rsyslogd in the foreground and resolves once it accepts connections. */
  async start(): Promise<void> {
    const pidFile = path.join(this.dir, 'rsyslogd.pid');
    fs.rmSync(pidFile, { force: true });
    const child = spawn(RSYSLOGD, ['-n', '-f', this.confPath, '-i', pidFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    const deadline = Date.now() + 30_000;
    while (!(await this.accepts())) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`rsyslogd exited (${child.exitCode ?? child.signalCode}):\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`rsyslogd did not listen on port ${this.port}:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 50)); // polling interval of the readiness check
    }
  }

  private accepts(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = net.connect(this.port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  }

  /** Stops rsyslogd (SIGTERM) and resolves when it has exited. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  log(): string {
    return this.output;
  }

  /** Every message received so far, in arrival order. */
  received(): ReceivedMessage[] {
    let text: string;
    try {
      text = fs.readFileSync(this.receivedPath, 'utf8');
    } catch {
      return [];
    }
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    return complete
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const [appName, procId, msgId, structuredData, facility, severity, hostname, msg, raw] = l.split('\t');
        return { appName: appName!, procId: procId!, msgId: msgId!, structuredData: structuredData!, facility: Number(facility), severity: Number(severity), hostname: hostname!, msg: msg!, raw: raw! };
      });
  }
}
