/** The persona table: one entry per real client (../shared/clients/real-clients.md). */
import type { Persona } from './session';
import { vsphere } from './vsphere';
import { mongod, mongodLegacy } from './mongodb';
import { perconaMongodb } from './percona-mongodb';
import { pgTde } from './pg-tde';
import { cephRgw } from './ceph-rgw';
import { synology } from './synology';
import { veeam } from './veeam';
import { vast } from './vast';
import { fortigate } from './fortigate';
import { netapp } from './netapp';
import { hpeEzmeral10, hpeEzmeral14 } from './hpe-ezmeral';
import { storageArray } from './storage-array';
import { mysqlKeyring } from './mysql-keyring';

export const PERSONAS: readonly Persona[] = [
  vsphere,
  mongod,
  mongodLegacy,
  perconaMongodb,
  pgTde,
  cephRgw,
  synology,
  veeam,
  vast,
  fortigate,
  netapp,
  hpeEzmeral10,
  hpeEzmeral14,
  storageArray,
  mysqlKeyring,
];
