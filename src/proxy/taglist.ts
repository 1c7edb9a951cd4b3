/**
 * In path mode a tag list's `name` carries the connector prefix back, like Location and Link,
 * so that `<name>:<tag>` is a reference the client can use. The list is never held whole: a
 * small byte scanner follows the JSON just far enough to find the top-level "name" member,
 * swaps its string value, and lets everything else through as it came, chunk by chunk. Work
 * per chunk is linear and stops once the name is replaced (registries write it first), so a
 * list of any size costs neither memory nor a blocked event loop.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** A "name" value longer than this is not a repository name: left as it is. */
const MAX_NAME_BYTES = 4096;
const MAX_KEY_BYTES = 64;

type Where = 'start' | 'object' | 'string' | 'done';

export class TagListNameRewriter {
  /** Nothing more will change: the rest of the body passes as it is. */
  settled = false;
  /** Bytes the rewrite added (negative: removed); meaningful once settled. */
  delta = 0;
  private readonly replacement: Buffer;
  private where: Where = 'start';
  private depth = 0;
  private expectKey = true;
  private escaped = false;
  /** The string being read is a key at depth 1 (its bytes kept), the name's value (held back), or other. */
  private stringKind: 'key' | 'name' | 'other' = 'other';
  private key: number[] = [];
  private lastKey = '';
  /** The name value's bytes from its opening quote, held back until it closes. */
  private held: Buffer[] = [];
  private heldBytes = 0;

  constructor(name: string) {
    this.replacement = Buffer.from(JSON.stringify(name));
  }

  /** The bytes to send for `chunk`. */
  push(chunk: Buffer): Buffer {
    if (this.settled) return chunk;
    const out: Buffer[] = [];
    let from = 0; // start of the part of `chunk` not yet sent or held
    for (let i = 0; i < chunk.length && !this.settled; i++) {
      const b = chunk[i]!;
      if (this.where === 'string') {
        if (this.stringKind === 'key' && this.key.length <= MAX_KEY_BYTES) this.key.push(b);
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) from = this.closeString(chunk, from, i, out);
      } else {
        from = this.structural(chunk, from, i, b, out);
      }
    }
    if (this.stringKind === 'name' && this.where === 'string') {
      this.hold(chunk.subarray(from));
      if (this.heldBytes > MAX_NAME_BYTES) out.push(this.end()); // not a repository name: give up
    } else out.push(chunk.subarray(from));
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  /** At the end of the body: whatever was held back, as it came. */
  end(): Buffer {
    this.settled = true;
    const rest = Buffer.concat(this.held);
    this.held = [];
    return rest;
  }

  private structural(chunk: Buffer, from: number, i: number, b: number, out: Buffer[]): number {
    if (this.where === 'start') {
      if (b === 0x7b) {
        this.where = 'object';
        this.depth = 1;
      } else if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) {
        this.settled = true; // not a JSON object
      }
      return from;
    }
    if (b === QUOTE) return this.openString(chunk, from, i, out);
    if (b === 0x7b || b === 0x5b) this.depth++;
    else if (b === 0x7d || b === 0x5d) {
      if (--this.depth === 0) this.settled = true; // the object ended without a name
    } else if (this.depth === 1 && b === 0x3a) this.expectKey = false;
    else if (this.depth === 1 && b === 0x2c) this.expectKey = true;
    return from;
  }

  private openString(chunk: Buffer, from: number, i: number, out: Buffer[]): number {
    this.where = 'string';
    if (this.depth !== 1) this.stringKind = 'other';
    else if (this.expectKey) {
      this.stringKind = 'key';
      this.key = [];
    } else this.stringKind = this.lastKey === 'name' ? 'name' : 'other';
    if (this.stringKind !== 'name') return from;
    out.push(chunk.subarray(from, i));
    return i; // held from the opening quote
  }

  private closeString(chunk: Buffer, from: number, i: number, out: Buffer[]): number {
    this.where = 'object';
    if (this.stringKind === 'key') {
      this.lastKey = keyText(this.key);
      return from;
    }
    if (this.stringKind !== 'name') return from;
    this.hold(chunk.subarray(from, i + 1));
    this.settled = true;
    if (this.heldBytes > MAX_NAME_BYTES) out.push(...this.held);
    else {
      out.push(this.replacement);
      this.delta = this.replacement.length - this.heldBytes;
    }
    this.held = [];
    return i + 1;
  }

  private hold(part: Buffer): void {
    if (part.length === 0) return;
    this.held.push(part);
    this.heldBytes += part.length;
  }
}

/** A key's text (its bytes up to the closing quote), JSON escapes decoded. */
function keyText(bytes: number[]): string {
  if (bytes.length > MAX_KEY_BYTES) return '';
  try {
    return JSON.parse('"' + Buffer.from(bytes.slice(0, -1)).toString('utf8') + '"') as string;
  } catch {
    return '';
  }
}
