/**
 * `kmip-server ttlv dump`: hex, base64 or a capture file of raw TTLV messages into the named tree.
 */

export interface TtlvDumpCommandOptions {
  readonly format?: 'hex' | 'base64' | 'binary';
  readonly redact: boolean;
}

/**
 * Reads `input` (a file path, or stdin when undefined) and returns the text to print. Throws an
 * Error with one clear line on bad input.
 */
export async function ttlvDumpCommand(input: string | undefined, opts: TtlvDumpCommandOptions): Promise<string> {
  void input;
  void opts;
  throw new Error('ttlv dump: not built yet');
}
