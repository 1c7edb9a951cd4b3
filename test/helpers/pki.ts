/**
 * Certificates for the TLS tests, made with the openssl command line: a CA, and leaf
 * certificates it signs (server, client, expired, for the wrong name). P-256 keys, so making
 * them takes milliseconds. Everything lives in one temp directory.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Issued {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

export interface Ca {
  name: string;
  certPath: string;
  cert: string;
  /** A leaf certificate for `sans` (`IP:127.0.0.1`, `DNS:proxy.test`), usable as server and client. */
  issue(name: string, sans: string[], options?: { expired?: boolean }): Issued;
}

export interface Pki {
  dir: string;
  ca(name: string): Ca;
  remove(): void;
}

const openssl = (args: string[], cwd: string): void => {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
};

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'ocp-pki-'));
  let serial = 1;
  return {
    dir,
    remove: () => rmSync(dir, { recursive: true, force: true }),
    ca(name) {
      const caKey = join(dir, `${name}.key`);
      const certPath = join(dir, `${name}.crt`);
      // prettier-ignore
      openssl(
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          caKey,
          '-out',
          certPath,
          '-days',
          '2',
          '-subj',
          `/CN=${name}`,
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-addext',
          'keyUsage=critical,keyCertSign,cRLSign',
        ],
        dir,
      );
      return {
        name,
        certPath,
        cert: readFileSync(certPath, 'utf8'),
        issue(leaf, sans, options = {}) {
          const base = join(dir, `${name}-${leaf}-${serial}`);
          const ext = `${base}.ext`;
          writeFileSync(ext, `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n`);
          openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${leaf}`], dir);
          if (options.expired) {
            // `openssl ca` is the one that takes explicit dates: a day in 2020.
            const db = `${base}.db`;
            writeFileSync(db, '');
            const conf = `${base}.cnf`;
            writeFileSync(
              conf,
              `[ca]\ndefault_ca=d\n[d]\ndatabase=${db}\nnew_certs_dir=${dir}\nserial=${base}.serial\ndefault_md=sha256\npolicy=p\ncopy_extensions=none\n[p]\ncommonName=supplied\n`,
            );
            writeFileSync(`${base}.serial`, `${(serial + 4096).toString(16)}\n`);
            // prettier-ignore
            openssl(
              [
                'ca',
                '-batch',
                '-config',
                conf,
                '-cert',
                certPath,
                '-keyfile',
                caKey,
                '-in',
                `${base}.csr`,
                '-out',
                `${base}.crt`,
                '-startdate',
                '20200101000000Z',
                '-enddate',
                '20200102000000Z',
                '-extfile',
                ext,
                '-notext',
              ],
              dir,
            );
          } else {
            // prettier-ignore
            openssl(
              ['x509', '-req', '-in', `${base}.csr`, '-CA', certPath, '-CAkey', caKey, '-set_serial', String(serial), '-days', '1', '-extfile', ext, '-out', `${base}.crt`],
              dir,
            );
          }
          serial++;
          return { certPath: `${base}.crt`, keyPath: `${base}.key`, cert: readFileSync(`${base}.crt`, 'utf8'), key: readFileSync(`${base}.key`, 'utf8') };
        },
      };
    },
  };
}
