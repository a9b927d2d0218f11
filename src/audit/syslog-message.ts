/**
 * One audit line as an RFC 5424 syslog message in an RFC 5425 frame (`LEN SP MSG`): what the
 * forwarder (syslog-forwarder.ts) writes on its TLS connection.
 */

/**
 * SD-ID of the structured data element (`name@PEN`). 32473 is the enterprise number RFC 5612
 * reserves for documentation: a placeholder until the project registers its own.
 */
export const SD_ID = 'kmip@32473';

const BOM = '\ufeff';

/** RFC 5424 severity from the record: err for internal errors, warning, informational otherwise. */
function severityOf(record: Record<string, unknown> | undefined): number {
  const level = record?.['level'];
  if (level === 'error') return 3;
  if (level === 'warn') return 4;
  return 6;
}

/** RFC 5424 TIMESTAMP: at most 6 fraction digits, Z or a numeric offset. */
const RFC5424_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;

/** Printable US-ASCII without space, at most `max` characters; "-" (NILVALUE) if nothing is left. */
export function headerField(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean === '' ? '-' : clean;
}

export interface MessageHeader {
  readonly facility: number;
  readonly hostname: string;
  readonly appName: string;
  readonly procId: string;
}

/**
 * One audit line as an RFC 5425 frame: `LEN SP <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID audit
 * [kmip@32473 seq="N"] MSG`. MSG is the line's exact bytes, so the collector can check the chain
 * (`prev`); RFC 5424 wants a BOM before UTF-8, so a line that is not plain ASCII gets one.
 * TIMESTAMP is the record's own time (a line sent again keeps it).
 */
export function syslogFrame(line: string, seq: number, record: Record<string, unknown> | undefined, header: MessageHeader): Buffer {
  const pri = header.facility * 8 + severityOf(record);
  const time = typeof record?.['timestamp'] === 'string' && RFC5424_TIME.test(record['timestamp']) ? record['timestamp'] : new Date().toISOString();
  const msg = /[^\x00-\x7f]/.test(line) ? BOM + line : line;
  const text = `<${pri}>1 ${time} ${header.hostname} ${header.appName} ${header.procId} audit [${SD_ID} seq="${seq}"] ${msg}`;
  const body = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}
