import { createHash } from 'node:crypto';

/**
 * HTML with escaping by construction: `html\`...\`` escapes every interpolated value unless it
 * is already `SafeHtml` (the result of another `html\`\``), so text from a plan, a reason or a
 * repo name can never become markup.
 */

export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

type Interpolation =
  | SafeHtml
  | string
  | number
  | boolean
  | null
  | undefined
  | readonly Interpolation[];

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

/** Only for constant markup written in this code base. */
export function trusted(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/**
 * The page style: system fonts, high contrast (all text ≥ 4.5:1 on its background), large touch
 * targets, readable on a phone. Inline and allowed by its hash, so the CSP needs no
 * 'unsafe-inline' and the page loads nothing from anywhere.
 */
export const PAGE_STYLE = `
:root{color-scheme:light;--fg:#1a1a1a;--muted:#4a4a4a;--bg:#fff;--line:#c8c8c8;--panel:#f4f5f7;--danger:#a4000f;--danger-bg:#fdecee;--ok:#0b6b2a;--focus:#0b57d0}
*{box-sizing:border-box}
html{font-size:100%;-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
.wrap{max-width:46rem;margin:0 auto;padding:1rem}
header{border-bottom:1px solid var(--line);margin-bottom:1rem}
.brand{margin:0;color:var(--muted);font-size:.875rem;letter-spacing:.04em;text-transform:uppercase}
h1{font-size:1.5rem;line-height:1.25;margin:.25rem 0 .75rem}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
h3{font-size:1rem;margin:1rem 0 .25rem}
a{color:var(--focus)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;overflow-wrap:anywhere}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;overflow-wrap:anywhere}
ul.counts{list-style:none;padding:0;margin:0;display:flex;flex-wrap:wrap;gap:.5rem}
ul.counts li{background:var(--panel);border:1px solid var(--line);border-radius:.375rem;padding:.25rem .625rem}
ul.counts li.hot{background:var(--danger-bg);border-color:var(--danger);color:var(--danger);font-weight:600}
.danger{background:var(--danger-bg);border:2px solid var(--danger);border-radius:.5rem;padding:.75rem 1rem;margin:1rem 0}
.danger h3{color:var(--danger);margin-top:0}
.note{background:var(--panel);border-left:4px solid var(--muted);padding:.5rem .75rem;margin:1rem 0}
.error{background:var(--danger-bg);border-left:4px solid var(--danger);padding:.5rem .75rem;margin:1rem 0;color:var(--danger);font-weight:600}
ul.changes{padding-left:1.25rem;margin:.25rem 0}
ul.changes li{margin:.125rem 0}
.tag{display:inline-block;font-size:.8rem;font-weight:600;border-radius:.25rem;padding:0 .375rem;margin-left:.375rem;border:1px solid currentColor}
.tag.destroy,.tag.replace{color:var(--danger)}
.tag.add{color:var(--ok)}
.tag.change{color:#6b4a00}
.decide{border:1px solid var(--line);border-radius:.5rem;padding:1rem;margin:1rem 0}
.decide h3{margin-top:0}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
.hint{color:var(--muted);font-size:.875rem;margin:.125rem 0 .25rem}
input[type=text],textarea{width:100%;font:inherit;padding:.625rem;border:2px solid #6b6b6b;border-radius:.375rem;background:#fff;color:var(--fg)}
textarea{min-height:5rem}
button{font:inherit;font-weight:600;min-height:2.75rem;padding:.5rem 1.25rem;margin-top:.75rem;border-radius:.375rem;border:2px solid transparent;cursor:pointer;width:100%}
button.approve{background:var(--ok);color:#fff}
button.reject{background:#fff;color:var(--danger);border-color:var(--danger)}
footer{border-top:1px solid var(--line);margin-top:2rem;padding-top:.75rem;color:var(--muted);font-size:.875rem}
.tag.update{color:#6b4a00}
.tag.create{color:var(--ok)}
.tag.other{color:var(--muted)}
.plan-total{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.875rem;margin:.5rem 0}
details.res{border:1px solid var(--line);border-radius:.375rem;margin:.375rem 0;background:#fff}
details.res>summary{cursor:pointer;padding:.5rem .75rem;overflow-wrap:anywhere}
details.res>summary .tag{margin:0 .125rem 0 0}
details.res>summary .why{color:var(--muted);font-size:.875rem}
details.res[open]>summary{border-bottom:1px solid var(--line);background:var(--panel)}
pre.diff{margin:0;padding:.5rem .75rem;overflow-x:auto;font:.8125rem/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre;tab-size:4}
pre.diff .n{color:var(--muted)}
pre.diff .a{color:var(--ok)}
pre.diff .d,pre.diff .r{color:var(--danger)}
pre.diff .c{color:#6b4a00}
pre.diff .f{font-weight:700}
.ctl{border:1px solid currentColor;border-radius:.2rem;padding:0 .125rem;margin:0 .0625rem;background:#fff4c2;color:#5c2e00;font-weight:700}
@media (min-width:40rem){button{width:auto}.wrap{padding:1.5rem 2rem}}
`.trim();

const STYLE_HASH = createHash('sha256').update(PAGE_STYLE, 'utf8').digest('base64');

/** The page's Content-Security-Policy: nothing loads, only the hashed style applies, forms post back here. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${STYLE_HASH}'`,
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers on every page response. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};

/** A complete HTML document. */
export function page(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<title>${title} · deploy-runner</title>
<style>${trusted(PAGE_STYLE)}</style>
</head>
<body>
<div class="wrap">
<header><p class="brand">deploy-runner</p></header>
<main>
${body}
</main>
</div>
</body>
</html>
`.value;
}

/** An http(s) URL for an `href`, or `#` for anything else (no `javascript:` links from data). */
export function safeHref(url: string | undefined): string {
  if (!url) return '#';
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : '#';
  } catch {
    return '#';
  }
}
