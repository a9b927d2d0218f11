// Runs the `kmip` client command from source (tests and development); `bin/kmip.js` runs the build.
import { main } from '../src/kmip-cli';

void main(process.argv.slice(2));
