/** Every operation handler this server offers: the registry is built from this list alone. */
import { OperationRegistry, type OperationHandler } from '../server/registry';
import { activateHandler } from './activate';
import { createHandler } from './create';
import { destroyHandler } from './destroy';
import { discoverVersionsHandler } from './discover-versions';
import { getAttributeListHandler } from './get-attribute-list';
import { getAttributesHandler } from './get-attributes';
import { getHandler } from './get';
import { locateHandler } from './locate';
import { makeQueryHandler } from './query';
import { registerHandler } from './register';
import { revokeHandler } from './revoke';

export function buildRegistry(): OperationRegistry {
  const handlers: OperationHandler[] = [
    createHandler,
    registerHandler,
    getHandler,
    getAttributesHandler,
    getAttributeListHandler,
    activateHandler,
    revokeHandler,
    destroyHandler,
    locateHandler,
    discoverVersionsHandler,
  ];
  const registry: OperationRegistry = new OperationRegistry([...handlers, makeQueryHandler(() => registry)]);
  return registry;
}
