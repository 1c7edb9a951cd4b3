/** Connector objects (src/connectors/model.ts) for tests that hand them to the proxy or expect them from a parser. */
import { type Connector, upstreamOriginFor } from '../../src/connectors/model.ts';

/**
 * The connector `default/upstream` for `address`: anonymous, no params, no health repository,
 * dialling the origin (and with the Docker Hub flag) the parser derives from the address.
 * `fields` overrides any of these. A test that expects a connector from the parser passes
 * `upstreamOrigin` and `dockerHub` itself, so the expectation does not come from the code it checks.
 */
export function connectorFor(address: string, fields: Partial<Omit<Connector, 'address'>> = {}): Connector {
  const { origin, dockerHub } = upstreamOriginFor(new URL(address));
  return {
    namespace: 'default',
    name: 'upstream',
    address,
    upstreamOrigin: origin,
    dockerHub,
    credentials: undefined,
    healthRepository: undefined,
    params: {},
    ...fields,
  };
}
