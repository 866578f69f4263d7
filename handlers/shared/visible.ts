import { escapeHtml, SafeHtml } from './html';

/**
 * Characters that lay text out, or hide, instead of showing themselves: C0 and C1 controls (CR,
 * NUL, ESC, NEL…), format characters (bidi overrides and isolates, zero-width spaces and joiners,
 * the BOM, tag characters), line and paragraph separators, spaces other than U+0020, and every
 * other default-ignorable code point (variation selectors, Hangul fillers, the soft hyphen). In plan text any of them can make a value look like
 * a different line, a different address or a different order (docs/architecture.md, property 10), so the
 * approval page and the messages show each one as a visible escape and never as layout.
 * `\n` is not among them only where a caller splits lines on it first.
 */
export const INVISIBLE =
  /(?! )(?:[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Zs}]|\p{Default_Ignorable_Code_Point})/gu;

/**
 * The visible stand-in of one invisible character: the Unicode control picture for C0 controls
 * and DEL (`␍` for CR, `␀` for NUL, `␛` for ESC), a `\u202E`-style escape for everything else.
 */
export function escapeInvisible(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  if (code < 0x20) return String.fromCharCode(0x2400 + code);
  if (code === 0x7f) return '\u2421';
  const hex = code.toString(16).toUpperCase();
  return code > 0xffff ? `\\u{${hex}}` : `\\u${hex.padStart(4, '0')}`;
}

/** Text with every invisible character replaced by its visible escape. */
export function visibleText(text: string): string {
  return text.replace(INVISIBLE, escapeInvisible);
}

/**
 * Text as markup: HTML-escaped, with every invisible character shown as its escape in a marked
 * `<span class="ctl">` (so an escape stands out from the same letters typed in a value).
 */
export function visibleHtml(text: string): SafeHtml {
  let out = '';
  let last = 0;
  for (const m of text.matchAll(INVISIBLE)) {
    const ch = m[0];
    const code = (ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
    out += escapeHtml(text.slice(last, m.index));
    out += `<span class="ctl" title="U+${code}">${escapeHtml(escapeInvisible(ch))}</span>`;
    last = m.index + ch.length;
  }
  return new SafeHtml(out + escapeHtml(text.slice(last)));
}
