/**
 * Debian's PyKMIP client parses the shapes our server answers in (issue 13, "answer in the shapes
 * clients parse"), over real mutual TLS against the server started by its own command line.
 * The client script is ours: pykmip_shapes.py.
 */
import path from 'node:path';
import { ok, runPyKmip, useServerProcess } from '../helpers/pykmip';

const SCRIPT = path.join(__dirname, 'pykmip_shapes.py');
const server = useServerProcess();

const runScenario = (version: string, scenario: string) => runPyKmip(SCRIPT, server(), [version, scenario]);

describe.each(['1.2', '1.4', '2.0'])('PyKMIP client, KMIP %s', (version) => {
  test('Get wrapped: No Encoding keeps the Key Value a Structure PyKMIP parses; TTLV Encoding wraps the whole Key Value', async () => {
    const steps = await runScenario(version, 'wrapped');
    const wrappingKey = ok(steps, 'create_wrapping_key');
    ok(steps, 'activate_wrapping_key');
    expect(ok(steps, 'get_no_encoding')).toEqual({
      wrapped_length: 40, // a 256-bit key under RFC 3394: 8 bytes longer
      differs_from_key: true,
      unwraps_to_key: true,
      wrapping_method: 'ENCRYPT',
      wrapping_key: wrappingKey,
      encoding_option: 'NO_ENCODING',
    });
    expect(ok(steps, 'get_ttlv_encoding')).toEqual({
      key_value_type: 'ByteString',
      encoding_option: 'TTLV_ENCODING',
      inner_key_material_is_key: true,
    });
  });

  if (version !== '2.0') {
    test('Get, Add, Modify and Delete Attribute answer the Attribute Index PyKMIP reads, 0 included', async () => {
      const steps = await runScenario(version, 'index');
      const uid = ok(steps, 'create');
      expect(ok(steps, 'get_attributes_name')).toEqual([
        { name: 'Cryptographic Length', index: null },
        { name: 'Name', index: 0 },
      ]);
      expect(ok(steps, 'add_name')).toEqual({ name: 'Name', index: 1 });
      expect(ok(steps, 'add_contact')).toEqual({ name: 'Contact Information', index: 0 });
      expect(ok(steps, 'modify_name')).toEqual({ uid, name: 'Name', index: 0, value: 'renamed' });
      expect(ok(steps, 'delete_name_1')).toEqual({ uid, index: 1, value: 'second' });
      expect(ok(steps, 'delete_name_0')).toEqual({ uid, index: 0, value: 'renamed' });
    });
  }
});
