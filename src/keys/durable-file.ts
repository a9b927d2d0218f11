/**
 * A small state file replaced whole: written to a temporary file, synced, renamed over, and (when
 * it must survive a power cut, not only a crash of the process) its directory synced. A reader, or
 * a restart after a crash, finds the old content or the new, never a mix or nothing.
 */
import fs from 'node:fs';
import path from 'node:path';

export function replaceFileDurably(file: string, content: string, opts: { readonly syncDirectory: boolean }): void {
  // Per process: two processes replacing one file never write the same temporary file.
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  if (!opts.syncDirectory) return;
  const dirFd = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}
