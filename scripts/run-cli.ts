// Runs the command line from source (tests and development); `bin/kmip-server.js` runs the build.
import { main } from '../src/cli';

void main(process.argv.slice(2));
