/** The persona table: one entry per real client (../shared/clients/real-clients.md). */
import type { Persona } from './session';
import { vsphere } from './vsphere';

export const PERSONAS: readonly Persona[] = [vsphere];
