/**
 * Secret masking: every line the runner prints (its own and the tools' streamed output) and
 * every text it uploads passes through {@link SecretMasker.mask}.
 */

export const MASK = '***';

/** Secrets shorter than this are not masked: masking "a" would garble every line. */
const MIN_SECRET_LENGTH = 6;

/** The HTTP Authorization header value git sends for a token (GitHub's convention). */
export function basicAuthValue(token: string): string {
  return Buffer.from(`x-access-token:${token}`, 'utf8').toString('base64');
}

export class SecretMasker {
  private secrets: string[] = [];

  /** Adds a secret in every form it could appear in: raw, base64 header, URL-encoded, per line. */
  addToken(token: string | undefined): this {
    if (!token) return this;
    this.add(token);
    this.add(basicAuthValue(token));
    this.add(Buffer.from(token, 'utf8').toString('base64'));
    this.add(encodeURIComponent(token));
    return this;
  }

  /** Adds an SSH private key: the whole key and each of its body lines. */
  addSshKey(key: string | undefined): this {
    if (!key) return this;
    this.add(key.trim());
    for (const line of key.split(/\r?\n/)) {
      const body = line.trim();
      if (body.startsWith('-----')) continue;
      this.add(body);
    }
    return this;
  }

  add(secret: string): this {
    if (secret.length < MIN_SECRET_LENGTH || this.secrets.includes(secret)) return this;
    this.secrets.push(secret);
    // Longest first, so a secret that contains another is replaced whole.
    this.secrets.sort((a, b) => b.length - a.length);
    return this;
  }

  /** Whether `text` holds any known secret. */
  contains(text: string): boolean {
    return this.secrets.some((s) => text.includes(s));
  }

  mask(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join(MASK);
    return out;
  }
}

/**
 * Splits a byte stream into lines, so secrets are masked whole even when a chunk boundary
 * falls inside one. Call `flush` at the end for a last line without a newline.
 */
export class LineSplitter {
  private pending = '';
  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: string): void {
    const text = this.pending + chunk;
    const lines = text.split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) this.onLine(line.replace(/\r$/, ''));
  }

  flush(): void {
    if (this.pending !== '') this.onLine(this.pending.replace(/\r$/, ''));
    this.pending = '';
  }
}
