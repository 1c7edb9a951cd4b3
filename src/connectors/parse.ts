/**
 * Connector documents (connectors.alauda.io/v1alpha1, class `oci`) and the registry-token Secrets
 * they reference, from a file (documents.ts) or from the Kubernetes API, checked the same way.
 * Every problem is a ConfigError naming the file, the document, the field and what is wrong.
 */
import { nameProblem } from '../distribution/names.ts';
import { ConfigError, type Doc, isObj, type Obj, secretValues, secretWhere } from './documents.ts';
import { type Connector, type Credentials, redactAddress, upstreamOriginFor } from './model.ts';
import { checkParams, DNS_SUBDOMAIN } from './params.ts';
import { CA_KEY, CERT_KEY, checkCaBundle, checkKeyPair, KEY_KEY, type UpstreamTls } from './tls.ts';

export { ConfigError } from './documents.ts';

export const CONNECTOR_API_VERSION = 'connectors.alauda.io/v1alpha1';
export const SECRET_TYPE = 'cpaas.io/distribution-registry-token';

/**
 * The Connector documents of a file, with the credentials of the Secrets they reference (`secrets`,
 * from secretsOf). At least one unless `required` is false.
 */
export function connectorsFrom(docs: readonly Doc[], secrets: ReadonlyMap<string, Doc>, file: string, required = true): Connector[] {
  const connectors: Connector[] = [];
  const seen = new Map<string, number>();
  for (const d of docs) {
    if (d.kind === 'Secret') continue;
    const where = `${file}: document ${d.index} (${d.kind} ${d.namespace}/${d.name})`;
    if (d.kind !== 'Connector') throw new ConfigError(`${where}: kind: expected Connector or Secret`);
    if (d.body['apiVersion'] !== CONNECTOR_API_VERSION) {
      throw new ConfigError(`${where}: apiVersion: must be "${CONNECTOR_API_VERSION}", got ${JSON.stringify(d.body['apiVersion'])}`);
    }
    const key = `${d.namespace}/${d.name}`;
    if (seen.has(key)) throw new ConfigError(`${where}: metadata.name: a Connector with this name is already defined in document ${seen.get(key)}`);
    seen.set(key, d.index);
    connectors.push(parseConnector(d, file, where, secrets));
  }
  if (connectors.length === 0 && required) throw new ConfigError(`${file}: no Connector document found`);
  return connectors;
}

/** A Secret a Connector names, and the field that names it. */
export interface SecretRef {
  namespace: string;
  name: string;
  field: 'spec.auth.secretRef' | 'spec.caCertSecretRef' | 'spec.params[clientCertSecret]';
}

/** `spec.auth.secretRef` of a Connector object as `{namespace, name}`, if it names one. */
export function secretRefOf(obj: Obj, namespace: string): SecretRef | undefined {
  const spec = obj['spec'];
  const auth = isObj(spec) ? spec['auth'] : undefined;
  const ref = isObj(auth) ? auth['secretRef'] : undefined;
  if (!isObj(ref) || typeof ref['name'] !== 'string' || ref['name'] === '') return undefined;
  return { namespace: typeof ref['namespace'] === 'string' && ref['namespace'] !== '' ? ref['namespace'] : namespace, name: ref['name'], field: 'spec.auth.secretRef' };
}

/**
 * Every Secret a Connector object names: its credentials, its CA bundle and its client
 * certificate (the last two always in the Connector's own namespace).
 */
export function secretRefsOf(obj: Obj, namespace: string): SecretRef[] {
  const refs: SecretRef[] = [];
  const auth = secretRefOf(obj, namespace);
  if (auth) refs.push(auth);
  const spec = isObj(obj['spec']) ? obj['spec'] : {};
  const ca = spec['caCertSecretRef'];
  if (isObj(ca) && typeof ca['name'] === 'string' && ca['name'] !== '') refs.push({ namespace, name: ca['name'], field: 'spec.caCertSecretRef' });
  const params: Record<string, string> = {};
  try {
    readParams(spec['params'], '', params);
  } catch {
    // reported by the parse itself
  }
  if (params['clientCertSecret']) refs.push({ namespace, name: params['clientCertSecret'], field: 'spec.params[clientCertSecret]' });
  return refs;
}

/**
 * One Connector object from the Kubernetes API, with the Secrets it references that exist
 * (`secretOf`), checked exactly as in a file. Throws ConfigError naming `where`.
 */
export function connectorFromObject(obj: Obj, secretOf: (namespace: string, name: string) => Obj | undefined, where: string): Connector {
  const meta = isObj(obj['metadata']) ? obj['metadata'] : {};
  const namespace = typeof meta['namespace'] === 'string' ? meta['namespace'] : 'default';
  const name = typeof meta['name'] === 'string' ? meta['name'] : '';
  const d: Doc = { index: 0, kind: 'Connector', namespace, name, body: obj };
  const secrets = new Map<string, Doc>();
  for (const ref of secretRefsOf(obj, namespace)) {
    const body = secretOf(ref.namespace, ref.name);
    if (body) secrets.set(`${ref.namespace}/${ref.name}`, { index: 0, kind: 'Secret', namespace: ref.namespace, name: ref.name, body });
  }
  return parseConnector(d, where, where, secrets);
}

function parseConnector(d: Doc, file: string, where: string, secrets: ReadonlyMap<string, Doc>): Connector {
  const spec = d.body['spec'];
  if (!isObj(spec)) throw new ConfigError(`${where}: spec: missing`);
  const cls = spec['connectorClassName'];
  if (cls !== 'oci') throw new ConfigError(`${where}: spec.connectorClassName: must be "oci", got ${JSON.stringify(cls)}`);

  const address = spec['address'];
  if (typeof address !== 'string' || address === '') throw new ConfigError(`${where}: spec.address: missing`);
  const url = parseAddress(address, where);
  const { origin, dockerHub } = upstreamOriginFor(url);

  const params: Record<string, string> = {};
  readParams(spec['params'], `${where}: spec.params`, params);

  let credentials: Credentials | undefined;
  let healthRepository: string | undefined;
  const auth = spec['auth'];
  if (auth !== undefined && auth !== null) {
    if (!isObj(auth)) throw new ConfigError(`${where}: spec.auth: must be a mapping`);
    const authName = auth['name'] ?? 'tokenAuth';
    if (authName !== 'tokenAuth') throw new ConfigError(`${where}: spec.auth.name: must be "tokenAuth", got ${JSON.stringify(authName)}`);
    const authParams: Record<string, string> = {};
    readParams(auth['params'], `${where}: spec.auth.params`, authParams);
    // spec.params are the proxy's settings and win over a same-named auth parameter.
    for (const [k, v] of Object.entries(authParams)) if (!(k in params)) params[k] = v;
    if (authParams['repository'] !== undefined) {
      healthRepository = authParams['repository'];
      const p = nameProblem(healthRepository);
      if (p) throw new ConfigError(`${where}: spec.auth.params[repository]: ${p}`);
    }
    const ref = auth['secretRef'];
    if (ref !== undefined && ref !== null) {
      if (!isObj(ref) || typeof ref['name'] !== 'string' || ref['name'] === '') {
        throw new ConfigError(`${where}: spec.auth.secretRef.name: missing`);
      }
      const ns = typeof ref['namespace'] === 'string' && ref['namespace'] !== '' ? ref['namespace'] : d.namespace;
      const secretKey = `${ns}/${ref['name']}`;
      const secret = secrets.get(secretKey);
      if (!secret) throw new ConfigError(`${where}: spec.auth.secretRef: Secret ${secretKey} is not defined in this file`);
      credentials = parseSecret(secret, secretWhere(secret, file));
    }
  }

  checkParams(params, `${where}: spec.params`);
  const tls = upstreamTls(spec, params, d.namespace, secrets, file, where);
  return {
    namespace: d.namespace,
    name: d.name,
    address,
    upstreamOrigin: origin,
    dockerHub,
    credentials,
    healthRepository,
    params,
    tls,
  };
}

/** The Secret `name` of `namespace` from the file (or the API), or a ConfigError naming the field that names it. */
function referenced(secrets: ReadonlyMap<string, Doc>, namespace: string, name: string, field: string): Doc {
  const secret = secrets.get(`${namespace}/${name}`);
  if (!secret) throw new ConfigError(`${field}: Secret ${namespace}/${name} is not defined in this file`);
  return secret;
}

/** spec.caCertSecretRef, spec.params clientCertSecret and insecureSkipTLSVerify; undefined when none is set. */
function upstreamTls(spec: Obj, params: Record<string, string>, namespace: string, secrets: ReadonlyMap<string, Doc>, file: string, where: string): UpstreamTls | undefined {
  let ca: string | undefined;
  const caRef = spec['caCertSecretRef'];
  if (caRef !== undefined && caRef !== null) {
    if (!isObj(caRef) || typeof caRef['name'] !== 'string' || caRef['name'] === '') throw new ConfigError(`${where}: spec.caCertSecretRef.name: missing`);
    const secret = referenced(secrets, namespace, caRef['name'], `${where}: spec.caCertSecretRef`);
    const sw = secretWhere(secret, file);
    const pem = secretValues(secret, sw)[CA_KEY];
    if (!pem) throw new ConfigError(`${sw}: data.${CA_KEY}: missing (the connector's spec.caCertSecretRef names this Secret for its CA certificates)`);
    ca = checkCaBundle(pem, `${sw}: data.${CA_KEY}`);
  }
  let clientCert: UpstreamTls['clientCert'];
  const certName = params['clientCertSecret'];
  if (certName !== undefined) {
    const secret = referenced(secrets, namespace, certName, `${where}: spec.params[clientCertSecret]`);
    const sw = secretWhere(secret, file);
    const values = secretValues(secret, sw);
    for (const k of [CERT_KEY, KEY_KEY]) if (!values[k]) throw new ConfigError(`${sw}: data.${k}: missing (a client certificate Secret needs ${CERT_KEY} and ${KEY_KEY})`);
    clientCert = checkKeyPair(values[CERT_KEY]!, values[KEY_KEY]!, { cert: `${sw}: data.${CERT_KEY}`, key: `${sw}: data.${KEY_KEY}` });
  }
  const insecureSkipVerify = params['insecureSkipTLSVerify'] === 'true';
  if (ca === undefined && clientCert === undefined && !insecureSkipVerify) return undefined;
  return { ca, clientCert, insecureSkipVerify };
}

function parseAddress(address: string, where: string): URL {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new ConfigError(`${where}: spec.address: ${JSON.stringify(redactAddress(address))} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${where}: spec.address: ${JSON.stringify(redactAddress(address))} must start with http:// or https://`);
  }
  if (url.username || url.password) {
    throw new ConfigError(`${where}: spec.address: must not hold credentials; put them in the Secret named by spec.auth.secretRef`);
  }
  if (url.search || url.hash) throw new ConfigError(`${where}: spec.address: must not have a query or fragment`);
  // The registry API lives at /v2/ of the host; Docker's legacy "/v1/" form is accepted as the root.
  if (!['/', '/v1', '/v1/', '/v2', '/v2/'].includes(url.pathname)) {
    throw new ConfigError(`${where}: spec.address: must be the registry's base URL without a path, got path ${JSON.stringify(url.pathname)}`);
  }
  if (!DNS_SUBDOMAIN.test(url.hostname) && !/^\[[0-9a-f:.]+\]$/.test(url.hostname) && !/^[0-9.]+$/.test(url.hostname)) {
    throw new ConfigError(`${where}: spec.address: invalid host ${JSON.stringify(url.hostname)}`);
  }
  return url;
}

function readParams(value: unknown, where: string, into: Record<string, string>): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value)) throw new ConfigError(`${where}: must be a list of {name, value}`);
  value.forEach((p, i) => {
    if (!isObj(p) || typeof p['name'] !== 'string' || p['name'] === '') throw new ConfigError(`${where}[${i}].name: missing`);
    const v = p['value'];
    if (typeof v !== 'string') throw new ConfigError(`${where}[${i}].value: must be a string`);
    into[p['name']] = v;
  });
}

function parseSecret(d: Doc, where: string): Credentials {
  const type = d.body['type'];
  if (type !== SECRET_TYPE) throw new ConfigError(`${where}: type: must be "${SECRET_TYPE}", got ${JSON.stringify(type)}`);
  const values = secretValues(d, where);
  for (const field of ['username', 'password'] as const) {
    if (!values[field]) throw new ConfigError(`${where}: data.${field}: missing (a ${SECRET_TYPE} Secret needs username and password)`);
  }
  return { username: values['username']!, password: values['password']! };
}
