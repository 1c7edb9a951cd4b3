/** parseConnectorsYaml: the product page's examples, and every error, named by file, document and field. */
import { describe, expect, it } from 'vitest';
import type { Connector } from '../../src/connectors/model.ts';
import { ConfigError } from '../../src/connectors/documents.ts';
import { parseConfig } from '../../src/sources/file.ts';
import { connectorDocument as connector } from '../helpers/config-files.ts';
import { connectorFor } from '../helpers/connectors.ts';

const parseConnectorsYaml = (text: string, file: string) => parseConfig(text, file).connectors;

const FILE = '/etc/ocp/connectors.yaml';
const API = 'apiVersion: connectors.alauda.io/v1alpha1';
const TYPE = 'cpaas.io/distribution-registry-token';

/** "<file>: document N (...): <field>: <problem>", the shape every per-document error has. */
const SHAPE = /^\/etc\/ocp\/connectors\.yaml: document \d+ \([^)]+\): (?:invalid YAML|[A-Za-z][\w.[\]]*): \S.*$/;

/** A connector as the parser must return it: its origin and Docker Hub flag spelled out, not derived from the address. */
function c(fields: Partial<Connector> & Pick<Connector, 'name' | 'address' | 'upstreamOrigin'>): Connector {
  return connectorFor(fields.address, { dockerHub: false, ...fields });
}

function errorOf(yaml: string): string {
  try {
    const out = parseConnectorsYaml(yaml, FILE);
    throw new Error(`expected a ConfigError, got ${JSON.stringify(out)}`);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.message;
  }
}

function secret(name: string, body: string, meta = ''): string {
  return `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${name}\n${meta}type: ${TYPE}\n${body}`;
}

describe('parseConnectorsYaml: the product page examples', () => {
  it('Quick Start: Docker Hub with a stringData Secret and a health-check repository', () => {
    const yaml = `apiVersion: connectors.alauda.io/v1alpha1
kind: Connector
metadata:
  name: dockerhub
spec:
  connectorClassName: oci
  address: https://index.docker.io
  auth:
    name: tokenAuth
    params:
    - name: repository
      value: library/ubuntu
    secretRef:
      name: dockerhub
---
apiVersion: v1
stringData:
  password: your-token
  username: your-username
kind: Secret
metadata:
  name: dockerhub
type: cpaas.io/distribution-registry-token
`;
    expect(parseConnectorsYaml(yaml, FILE)).toEqual([
      c({
        name: 'dockerhub',
        address: 'https://index.docker.io',
        upstreamOrigin: 'https://registry-1.docker.io',
        dockerHub: true,
        credentials: { username: 'your-username', password: 'your-token' },
        healthRepository: 'library/ubuntu',
        params: { repository: 'library/ubuntu' },
      }),
    ]);
  });

  it('a Secret with base64 data', () => {
    const yaml = `apiVersion: connectors.alauda.io/v1alpha1
kind: Connector
metadata:
  name: connector-oci
spec:
  connectorClassName: oci
  address: http://harbor.example.com
  # . . .
  auth:
    name: tokenAuth
    secretRef:
      name: oci-secret
---
apiVersion: v1
data:
  password: YWRtaW4=
  username: YWRtaW4=
kind: Secret
metadata:
  name: oci-secret
type: cpaas.io/distribution-registry-token
`;
    expect(parseConnectorsYaml(yaml, FILE)).toEqual([
      c({ name: 'connector-oci', address: 'http://harbor.example.com', upstreamOrigin: 'http://harbor.example.com', credentials: { username: 'admin', password: 'admin' } }),
    ]);
  });

  it('an anonymous connector (auth without secretRef)', () => {
    const yaml = `apiVersion: connectors.alauda.io/v1alpha1
kind: Connector
metadata:
  name: connector-oci
spec:
  connectorClassName: oci
  address: http://harbor.example.com
  auth:
    name: tokenAuth
`;
    expect(parseConnectorsYaml(yaml, FILE)).toEqual([c({ name: 'connector-oci', address: 'http://harbor.example.com', upstreamOrigin: 'http://harbor.example.com' })]);
  });

  it('an anonymous connector without any auth block', () => {
    expect(parseConnectorsYaml(connector('plain', '  connectorClassName: oci\n  address: http://127.0.0.1:5000\n'), FILE)).toEqual([
      c({ name: 'plain', address: 'http://127.0.0.1:5000', upstreamOrigin: 'http://127.0.0.1:5000' }),
    ]);
  });

  it('the health-check example with params and data', () => {
    const yaml = `apiVersion: connectors.alauda.io/v1alpha1
kind: Connector
metadata:
  name: connector-oci
spec:
  connectorClassName: oci
  address: https://harbor.example.com
  auth:
    name: tokenAuth
    params:
    - name: repository
      value: library/ubuntu
    secretRef:
      name: oci-secret
---
apiVersion: v1
data:
  password: YWRtaW4=
  username: YWRtaW4=
kind: Secret
metadata:
  name: oci-secret
type: cpaas.io/distribution-registry-token
`;
    expect(parseConnectorsYaml(yaml, FILE)).toEqual([
      c({
        name: 'connector-oci',
        address: 'https://harbor.example.com',
        upstreamOrigin: 'https://harbor.example.com',
        credentials: { username: 'admin', password: 'admin' },
        healthRepository: 'library/ubuntu',
        params: { repository: 'library/ubuntu' },
      }),
    ]);
  });

  it('a Connector with a namespace and a status block (status is ignored)', () => {
    const yaml = `apiVersion: connectors.alauda.io/v1alpha1
kind: Connector
metadata:
  name: harbor
  namespace: default
spec:
  address: https://build.example.com
  auth:
    name: tokenAuth
    secretRef:
      name: harbor
  connectorClassName: oci
status:
  conditions: []
  proxy:
    httpAddress:
      url: http://c-harbor.default.svc.cluster.local
---
apiVersion: v1
kind: Secret
metadata:
  name: harbor
  namespace: default
type: cpaas.io/distribution-registry-token
stringData:
  username: robot$ci
  password: "p@ss: word # not a comment"
`;
    expect(parseConnectorsYaml(yaml, FILE)).toEqual([
      c({
        name: 'harbor',
        address: 'https://build.example.com',
        upstreamOrigin: 'https://build.example.com',
        credentials: { username: 'robot$ci', password: 'p@ss: word # not a comment' },
      }),
    ]);
  });

  it('several connectors in several namespaces, in file order, Secrets before or after, secretRef.namespace', () => {
    const yaml = [
      secret('shared', '  data:\n    username: dXNlcg==\n    password: cGFzcw==\n'.replace(/^ {2}/gm, ''), '  namespace: infra\n'),
      connector(
        'harbor',
        '  connectorClassName: oci\n  address: https://harbor.example.com/\n  auth:\n    secretRef:\n      name: shared\n      namespace: infra\n',
        '  namespace: team-a\n',
      ),
      connector('hub', '  connectorClassName: oci\n  address: https://docker.io\n'),
      connector(
        'local',
        '  connectorClassName: oci\n  address: http://registry.local:5000/v2/\n  auth:\n    name: tokenAuth\n    secretRef:\n      name: local\n',
        '  namespace: team-b\n',
      ),
      secret('local', 'stringData:\n  username: u\n  password: p\n', '  namespace: team-b\n'),
      '# trailing comment-only document\n',
    ].join('---\n');
    expect(parseConnectorsYaml(yaml, FILE)).toEqual([
      c({
        namespace: 'team-a',
        name: 'harbor',
        address: 'https://harbor.example.com/',
        upstreamOrigin: 'https://harbor.example.com',
        credentials: { username: 'user', password: 'pass' },
      }),
      c({ name: 'hub', address: 'https://docker.io', upstreamOrigin: 'https://registry-1.docker.io', dockerHub: true }),
      c({
        namespace: 'team-b',
        name: 'local',
        address: 'http://registry.local:5000/v2/',
        upstreamOrigin: 'http://registry.local:5000',
        credentials: { username: 'u', password: 'p' },
      }),
    ]);
  });

  const hub: [address: string, origin: string, dockerHub: boolean][] = [
    ['https://index.docker.io', 'https://registry-1.docker.io', true],
    ['https://index.docker.io/v1/', 'https://registry-1.docker.io', true],
    ['https://docker.io', 'https://registry-1.docker.io', true],
    ['https://registry-1.docker.io', 'https://registry-1.docker.io', true],
    ['https://registry.hub.docker.com', 'https://registry-1.docker.io', true],
    ['https://mirror.gcr.io', 'https://mirror.gcr.io', false],
    ['http://harbor.example.com:80', 'http://harbor.example.com', false],
    ['https://harbor.example.com:443/', 'https://harbor.example.com', false],
    ['https://harbor.example.com:8443', 'https://harbor.example.com:8443', false],
    ['HTTPS://Harbor.Example.com', 'https://harbor.example.com', false],
    ['http://[::1]:5000', 'http://[::1]:5000', false],
    ['http://10.1.2.3:5000/v2', 'http://10.1.2.3:5000', false],
  ];
  it.each(hub)('address %s dials %s (Docker Hub: %s)', (address, origin, dockerHub) => {
    const [got] = parseConnectorsYaml(connector('r', `  connectorClassName: oci\n  address: ${address}\n`), FILE);
    expect([got!.address, got!.upstreamOrigin, got!.dockerHub]).toEqual([address, origin, dockerHub]);
  });

  it('stringData wins over data for the same key, as in Kubernetes', () => {
    const yaml = [
      connector('r', '  connectorClassName: oci\n  address: https://r.example.com\n  auth:\n    secretRef:\n      name: s\n'),
      secret('s', 'data:\n  username: dXNlcg==\n  password: b2xk\nstringData:\n  password: new\n'),
    ].join('---\n');
    expect(parseConnectorsYaml(yaml, FILE)[0]!.credentials).toEqual({ username: 'user', password: 'new' });
  });

  it('merges spec.params and spec.auth.params', () => {
    const yaml = connector(
      'r',
      '  connectorClassName: oci\n  address: https://r.example.com\n  params:\n  - name: a\n    value: "1"\n  auth:\n    params:\n    - name: repository\n      value: team/app\n',
    );
    expect(parseConnectorsYaml(yaml, FILE)[0]!.params).toEqual({ a: '1', repository: 'team/app' });
  });
});

describe('parseConnectorsYaml: errors', () => {
  const ok = (spec = '') => connector('r', `  connectorClassName: oci\n  address: https://r.example.com\n${spec}`);
  const withSecret = (secretBody: string, secretType = TYPE) =>
    [ok('  auth:\n    name: tokenAuth\n    secretRef:\n      name: s\n'), `apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ntype: ${secretType}\n${secretBody}`].join('---\n');
  const C = `${FILE}: document 1 (Connector default/r)`;
  const S = `${FILE}: document 2 (Secret default/s)`;
  const MISSING = `missing (a ${TYPE} Secret needs username and password)`;

  const cases: [name: string, yaml: string, message: string][] = [
    ['class not oci', connector('r', '  connectorClassName: git\n  address: https://r.example.com\n'), `${C}: spec.connectorClassName: must be "oci", got "git"`],
    ['class missing', connector('r', '  address: https://r.example.com\n'), `${C}: spec.connectorClassName: must be "oci", got undefined`],
    ['spec missing', `${API}\nkind: Connector\nmetadata:\n  name: r\n`, `${C}: spec: missing`],
    ['address missing', connector('r', '  connectorClassName: oci\n'), `${C}: spec.address: missing`],
    ['address empty', connector('r', '  connectorClassName: oci\n  address: ""\n'), `${C}: spec.address: missing`],
    ['address not a string', connector('r', '  connectorClassName: oci\n  address: 5000\n'), `${C}: spec.address: missing`],
    [
      'address ftp://',
      connector('r', '  connectorClassName: oci\n  address: ftp://r.example.com\n'),
      `${C}: spec.address: "ftp://r.example.com" must start with http:// or https://`,
    ],
    ['address without scheme', connector('r', '  connectorClassName: oci\n  address: r.example.com\n'), `${C}: spec.address: "r.example.com" is not a URL`],
    ['address not a URL', connector('r', '  connectorClassName: oci\n  address: not a url\n'), `${C}: spec.address: "not a url" is not a URL`],
    [
      'address host:port without scheme',
      connector('r', '  connectorClassName: oci\n  address: localhost:5000\n'),
      `${C}: spec.address: "localhost:5000" must start with http:// or https://`,
    ],
    [
      'address with credentials',
      connector('r', '  connectorClassName: oci\n  address: https://admin:secret@r.example.com\n'),
      `${C}: spec.address: must not hold credentials; put them in the Secret named by spec.auth.secretRef`,
    ],
    [
      'address with a user only',
      connector('r', '  connectorClassName: oci\n  address: https://admin@r.example.com\n'),
      `${C}: spec.address: must not hold credentials; put them in the Secret named by spec.auth.secretRef`,
    ],
    [
      'address with a path',
      connector('r', '  connectorClassName: oci\n  address: https://r.example.com/library\n'),
      `${C}: spec.address: must be the registry's base URL without a path, got path "/library"`,
    ],
    [
      'address with a /v2 sub-path',
      connector('r', '  connectorClassName: oci\n  address: https://r.example.com/v2/library\n'),
      `${C}: spec.address: must be the registry's base URL without a path, got path "/v2/library"`,
    ],
    ['address with a query', connector('r', '  connectorClassName: oci\n  address: https://r.example.com/?ns=x\n'), `${C}: spec.address: must not have a query or fragment`],
    ['address with a fragment', connector('r', '  connectorClassName: oci\n  address: https://r.example.com/#x\n'), `${C}: spec.address: must not have a query or fragment`],
    ['address with an invalid host', connector('r', '  connectorClassName: oci\n  address: http://my_registry:5000\n'), `${C}: spec.address: invalid host "my_registry"`],
    ['auth not a mapping', ok('  auth: tokenAuth\n'), `${C}: spec.auth: must be a mapping`],
    ['auth.name not tokenAuth', ok('  auth:\n    name: basicAuth\n'), `${C}: spec.auth.name: must be "tokenAuth", got "basicAuth"`],
    [
      'invalid repository param',
      ok('  auth:\n    params:\n    - name: repository\n      value: Library/Ubuntu\n'),
      `${C}: spec.auth.params[repository]: invalid repository name "Library/Ubuntu"`,
    ],
    ['empty repository param', ok('  auth:\n    params:\n    - name: repository\n      value: ""\n'), `${C}: spec.auth.params[repository]: repository name is empty`],
    ['auth.params not a list', ok('  auth:\n    params:\n      repository: x\n'), `${C}: spec.auth.params: must be a list of {name, value}`],
    ['auth.params entry without name', ok('  auth:\n    params:\n    - value: x\n'), `${C}: spec.auth.params[0].name: missing`],
    [
      'auth.params value not a string',
      ok('  auth:\n    params:\n    - name: a\n      value: x\n    - name: b\n      value: 3\n'),
      `${C}: spec.auth.params[1].value: must be a string`,
    ],
    ['spec.params not a list', ok('  params: x\n'), `${C}: spec.params: must be a list of {name, value}`],
    ['secretRef to a missing Secret', ok('  auth:\n    secretRef:\n      name: nope\n'), `${C}: spec.auth.secretRef: Secret default/nope is not defined in this file`],
    [
      'secretRef.namespace to a missing Secret',
      [ok('  auth:\n    secretRef:\n      name: s\n      namespace: other\n'), secret('s', 'stringData:\n  username: u\n  password: p\n')].join('---\n'),
      `${C}: spec.auth.secretRef: Secret other/s is not defined in this file`,
    ],
    [
      'secretRef looks in the Connector namespace by default',
      [
        connector('r', '  connectorClassName: oci\n  address: https://r.example.com\n  auth:\n    secretRef:\n      name: s\n', '  namespace: team\n'),
        secret('s', 'stringData:\n  username: u\n  password: p\n'),
      ].join('---\n'),
      `${FILE}: document 1 (Connector team/r): spec.auth.secretRef: Secret team/s is not defined in this file`,
    ],
    ['secretRef without name', ok('  auth:\n    secretRef:\n      namespace: x\n'), `${C}: spec.auth.secretRef.name: missing`],
    ['Secret of the wrong type', withSecret('stringData:\n  username: u\n  password: p\n', 'Opaque'), `${S}: type: must be "${TYPE}", got "Opaque"`],
    [
      'Secret of the dockerconfigjson type',
      withSecret('stringData:\n  username: u\n  password: p\n', 'kubernetes.io/dockerconfigjson'),
      `${S}: type: must be "${TYPE}", got "kubernetes.io/dockerconfigjson"`,
    ],
    [
      'Secret without a type',
      [ok('  auth:\n    secretRef:\n      name: s\n'), 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  username: u\n  password: p\n'].join('---\n'),
      `${S}: type: must be "${TYPE}", got undefined`,
    ],
    ['Secret missing username', withSecret('stringData:\n  password: p\n'), `${S}: data.username: ${MISSING}`],
    ['Secret missing password', withSecret('data:\n  username: YWRtaW4=\n'), `${S}: data.password: ${MISSING}`],
    ['Secret with an empty password', withSecret('stringData:\n  username: u\n  password: ""\n'), `${S}: data.password: ${MISSING}`],
    ['Secret with neither data nor stringData', withSecret(''), `${S}: data.username: ${MISSING}`],
    ['invalid base64 (length)', withSecret('data:\n  username: YWRtaW4=\n  password: YWRtaW4\n'), `${S}: data.password: not valid base64`],
    ['invalid base64 (characters)', withSecret('data:\n  username: YW!t\n  password: YWRtaW4=\n'), `${S}: data.username: not valid base64`],
    ['invalid base64 (not a string)', withSecret('data:\n  username: 1234\n  password: YWRtaW4=\n'), `${S}: data.username: not valid base64`],
    ['data not a mapping', withSecret('data: abc\n'), `${S}: data: must be a mapping`],
    ['stringData value not a string', withSecret('stringData:\n  username: u\n  password: 1234\n'), `${S}: stringData.password: must be a string`],
    ['Secret apiVersion not v1', [ok(), 'apiVersion: v2\nkind: Secret\nmetadata:\n  name: s\n'].join('---\n'), `${S}: apiVersion: must be "v1"`],
    ['Connector apiVersion wrong', `apiVersion: v1\nkind: Connector\nmetadata:\n  name: r\nspec: {}\n`, `${C}: apiVersion: must be "connectors.alauda.io/v1alpha1", got "v1"`],
    ['another kind', `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: r\n`, `${FILE}: document 1 (ConfigMap default/r): kind: expected Connector or Secret`],
    ['metadata missing', `${API}\nkind: Connector\nspec: {}\n`, `${FILE}: document 1 (Connector): metadata: missing`],
    [
      'metadata.name not a DNS label',
      connector('Harbor', '  connectorClassName: oci\n'),
      `${FILE}: document 1 (Connector): metadata.name: must be a DNS label (lower-case letters, digits, '-'), got "Harbor"`,
    ],
    [
      'metadata.name missing',
      `${API}\nkind: Connector\nmetadata:\n  namespace: x\n`,
      `${FILE}: document 1 (Connector): metadata.name: must be a DNS label (lower-case letters, digits, '-'), got undefined`,
    ],
    [
      'metadata.name too long',
      connector('a'.repeat(64), '  connectorClassName: oci\n'),
      `${FILE}: document 1 (Connector): metadata.name: must be a DNS label (lower-case letters, digits, '-'), got "${'a'.repeat(64)}"`,
    ],
    [
      'metadata.namespace not a DNS label',
      connector('r', '  connectorClassName: oci\n', '  namespace: Team_A\n'),
      `${FILE}: document 1 (Connector r): metadata.namespace: must be a DNS label, got "Team_A"`,
    ],
  ];
  it.each(cases)('%s', (_name, yaml, message) => {
    expect(errorOf(yaml)).toBe(message);
  });

  it.each(cases)('%s: message has the shape "<file>: document N (...): <field>: <problem>"', (_name, yaml) => {
    expect(errorOf(yaml)).toMatch(SHAPE);
  });

  it('reports the first problem in file order', () => {
    const yaml = [ok(), connector('x', '  connectorClassName: git\n'), connector('y', '  connectorClassName: oci\n  address: ftp://y\n')].join('---\n');
    expect(errorOf(yaml)).toBe(`${FILE}: document 2 (Connector default/x): spec.connectorClassName: must be "oci", got "git"`);
  });

  it('counts empty documents when numbering', () => {
    const yaml = [ok(), '# an empty document\n', connector('x', '  connectorClassName: git\n')].join('---\n');
    expect(errorOf(yaml)).toBe(`${FILE}: document 3 (Connector default/x): spec.connectorClassName: must be "oci", got "git"`);
  });

  describe('invalid YAML names the document, line and column', () => {
    const yamlCases: [name: string, yaml: string, prefix: string][] = [
      ['unclosed flow map in document 2', `${ok()}---\nkind: Connector\nmetadata: {name: x\nspec: 1\n`, `${FILE}: document 2 (line 11, column 1): invalid YAML: `],
      ['bad indentation in document 2', `${ok()}---\nkind: Connector\n  bad: indent\n`, `${FILE}: document 2 (line 9, column 7): invalid YAML: `],
      ['unclosed quote in document 1', `kind: "Connector\n`, `${FILE}: document 1 (line 2, column 1): invalid YAML: `],
      ['duplicate key in document 1', `${API}\nkind: Connector\nkind: Secret\n`, `${FILE}: document 1 (line 3, column 1): invalid YAML: `],
      ['tab indentation in document 1', `${API}\nkind: Connector\nmetadata:\n\tname: r\n`, `${FILE}: document 1 (line 4, column 1): invalid YAML: `],
    ];
    it.each(yamlCases)('%s', (_name, yaml, prefix) => {
      const message = errorOf(yaml);
      expect(message.startsWith(prefix), message).toBe(true);
      expect(message.length).toBeGreaterThan(prefix.length);
      expect(message).not.toContain('\n');
      expect(message).toMatch(SHAPE);
    });
  });

  describe('duplicates', () => {
    const dupConnectors = [ok(), connector('other', '  connectorClassName: oci\n  address: https://o.example.com\n'), ok()].join('---\n');
    const dupSecrets = [ok(), secret('s', 'stringData:\n  username: u\n  password: p\n'), secret('s', 'stringData:\n  username: u\n  password: q\n')].join('---\n');

    it('a Connector name used twice in one namespace', () => {
      const message = errorOf(dupConnectors);
      expect(message).toContain(`${FILE}: document 3 (Connector default/r): `);
      expect(message).toContain('already defined in document 1');
      expect(message).toMatch(SHAPE);
    });

    it('a Secret name used twice in one namespace', () => {
      const message = errorOf(dupSecrets);
      expect(message).toContain(`${FILE}: document 3 (Secret default/s): `);
      expect(message).toContain('already defined in document 2');
      expect(message).toMatch(SHAPE);
    });

    it('the same name in two namespaces is fine', () => {
      const yaml = [ok(), connector('r', '  connectorClassName: oci\n  address: https://o.example.com\n', '  namespace: other\n')].join('---\n');
      expect(parseConnectorsYaml(yaml, FILE).map((x) => `${x.namespace}/${x.name}`)).toEqual(['default/r', 'other/r']);
    });
  });

  describe('file-level errors', () => {
    const fileCases: [name: string, yaml: string, message: string][] = [
      ['empty file', '', `${FILE}: no Connector document found`],
      ['only comments', '# nothing here\n---\n# nor here\n', `${FILE}: no Connector document found`],
      ['only a Secret', secret('s', 'stringData:\n  username: u\n  password: p\n'), `${FILE}: no Connector document found`],
      ['a list, not a mapping', '- a\n- b\n', `${FILE}: document 1: expected a mapping with apiVersion and kind`],
      ['a scalar document', 'just text\n', `${FILE}: document 1: expected a mapping with apiVersion and kind`],
      ['kind missing', 'apiVersion: v1\nmetadata:\n  name: x\n', `${FILE}: document 1: kind: missing`],
    ];
    it.each(fileCases)('%s', (_name, yaml, message) => {
      expect(errorOf(yaml)).toBe(message);
    });
  });

  it('never puts a secret value into an error message', () => {
    const message = errorOf(withSecret('data:\n  username: c3VwZXJzZWNyZXQ=\n  password: c3VwZXJzZWNyZXQ\n'));
    expect(message).toBe(`${S}: data.password: not valid base64`);
    expect(message).not.toContain('c3VwZXJzZWNyZXQ');
  });
});

describe('YAML aliases', () => {
  it('an unresolved alias (a password starting with *) is a ConfigError that does not quote it', () => {
    const text = `apiVersion: connectors.alauda.io/v1alpha1\nkind: Connector\nmetadata: {name: r}\nspec: {connectorClassName: oci, address: 'https://r.example.com', auth: {secretRef: {name: s}}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: cpaas.io/distribution-registry-token\nstringData:\n  username: u\n  password: *Xy9SecretPw\n`;
    let caught: unknown;
    try {
      parseConfig(text, 'c.yaml');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as Error).message).toBe('c.yaml: document 2: invalid YAML: an unresolved or excessive YAML alias (a value starting with * or & must be quoted)');
    expect((caught as Error).message).not.toContain('Xy9SecretPw');
  });
});
