// A small markdown renderer for untrusted text (model output, transcripts).
//
// It never parses HTML: every piece of text becomes a text node, every
// element is made with createElement, and the only links are http(s) URLs
// and the timestamp links it makes itself. Markup such as <img onerror>,
// <script> or [x](javascript:…) therefore shows as text.

const TS = String.raw`\d{1,2}:\d{2}(?::\d{2})?`;

// One inline token; the groups are read in inline() below.
const INLINE = new RegExp(
  [
    String.raw`(\x60+)([^\x60][\s\S]*?)\1(?!\x60)`, // 1,2 code span
    String.raw`\*\*(?=\S)([\s\S]+?)\*\*`, // 3 strong
    String.raw`__(?=\S)([\s\S]+?)__`, // 4 strong
    String.raw`\*(?=[^\s*])([^*]+?)\*`, // 5 emphasis
    String.raw`\[([^\[\]\n]{1,500})\]\(\s*<?([^\s()<>]{1,2048}(?:\([^\s()]*\)[^\s()<>]*)*)>?(?:\s+"[^"\n]*")?\s*\)`, // 6,7 link
    String.raw`([\[(])(${TS})(?:(\s*[–—-]\s*)(${TS}))?([\])])`, // 8..12 timestamp or range
    String.raw`(https?:\/\/[^\s<>()\[\]"'\x60]+[^\s<>()\[\]"'\x60.,;:!?])`, // 13 bare URL
    // 14,15 a frame of a job (frames: true): this API's own path, nothing else
    String.raw`!\[([^\[\]\n]{0,100})\]\((\/(?:api\/)?v1\/jobs\/[0-9A-Za-z-]{1,64}\/frames\/\d{1,3}\.jpg)\)`,
  ].join('|'),
  'g',
);

const MAX_DEPTH = 4;

/** parseClock turns "mm:ss" or "h:mm:ss" into seconds. */
export function parseClock(s) {
  let total = 0;
  for (const p of s.split(':')) total = total * 60 + Number(p);
  return total;
}

/** clock formats seconds as mm:ss, or h:mm:ss from an hour on. */
export function clock(sec) {
  const s = Math.max(0, Math.floor(sec));
  const pad = (n) => String(n).padStart(2, '0');
  if (s >= 3600) return `${Math.floor(s / 3600)}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
  return `${pad(Math.floor(s / 60))}:${pad(s % 60)}`;
}

/** safeURL returns the URL's normalized form when it is http(s), else null. */
export function safeURL(raw) {
  let u;
  try {
    u = new URL(raw);
  } catch {
    return null;
  }
  return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
}

/**
 * render fills container with the markdown of text. timestamp(sec, label)
 * returns the node for one timestamp (a link to that moment); image(path,
 * alt), when given, the node for one of a job's frames (its API path).
 */
export function render(container, text, timestamp, image) {
  const frag = document.createDocumentFragment();
  blocks(frag, String(text ?? '').split(/\r\n|\r|\n/), { timestamp, image, depth: 0 });
  container.replaceChildren(frag);
}

/** inlineInto appends the inline markdown of text to parent. */
export function inlineInto(parent, text, timestamp) {
  inline(parent, text, { timestamp, depth: 0 });
}

const FENCE = /^\s{0,3}(\x60{3,}|~{3,})/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_SEP = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;

function el(tag, cls) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  return e;
}

function blocks(parent, lines, ctx) {
  let para = null;
  const flush = () => {
    if (para) {
      const p = el('p');
      inline(p, para.join(' '), ctx);
      parent.append(p);
      para = null;
    }
  };
  for (let i = 0; i < lines.length; ) {
    const line = lines[i];
    let m;
    if (line.trim() === '') {
      flush();
      i++;
    } else if ((m = FENCE.exec(line))) {
      flush();
      const fence = m[1];
      const code = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith(fence)) code.push(lines[i++]);
      i++;
      const pre = el('pre');
      const c = el('code');
      c.textContent = code.join('\n');
      pre.append(c);
      parent.append(pre);
    } else if ((m = HEADING.exec(line))) {
      flush();
      // The page owns h1 and h2: the summary's headings start at h3.
      const h = el('h' + Math.min(6, m[1].length + 2));
      inline(h, m[2], ctx);
      parent.append(h);
      i++;
    } else if (RULE.test(line) && !para) {
      parent.append(el('hr'));
      i++;
    } else if (QUOTE.test(line) && ctx.depth < MAX_DEPTH) {
      flush();
      const inner = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) {
        inner.push(m[1]);
        i++;
      }
      const q = el('blockquote');
      blocks(q, inner, { ...ctx, depth: ctx.depth + 1 });
      parent.append(q);
    } else if (ITEM.test(line)) {
      flush();
      i = list(parent, lines, i, ctx);
    } else if (line.includes('|') && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1])) {
      flush();
      i = table(parent, lines, i, ctx);
    } else {
      (para ??= []).push(line.trim());
      i++;
    }
  }
  flush();
}

// list renders the list starting at lines[i] (nested by indentation) and
// returns the index of the first line after it.
function list(parent, lines, i, ctx) {
  const stack = []; // {indent, list, item}
  for (; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') {
      // A blank line ends the list unless an indented item follows.
      if (i + 1 < lines.length && ITEM.test(lines[i + 1]) && /^\s/.test(lines[i + 1])) continue;
      if (i + 1 < lines.length && ITEM.test(lines[i + 1]) && stack.length) continue;
      break;
    }
    const m = ITEM.exec(line);
    if (!m) {
      // A continuation line belongs to the last item.
      if (stack.length && /^\s+\S/.test(line)) {
        const top = stack[stack.length - 1];
        top.item.append(' ');
        inline(top.item, line.trim(), ctx);
        continue;
      }
      break;
    }
    const indent = m[1].replace(/\t/g, '    ').length;
    const ordered = /\d/.test(m[2]);
    while (stack.length && indent < stack[stack.length - 1].indent) stack.pop();
    let top = stack[stack.length - 1];
    if (!top || indent > top.indent) {
      if (stack.length >= MAX_DEPTH + 2) {
        top.item.append(' ');
        inline(top.item, m[3], ctx);
        continue;
      }
      const l = el(ordered ? 'ol' : 'ul');
      if (ordered && m[2] !== '1.' && m[2] !== '1)') l.start = parseInt(m[2], 10);
      (top ? top.item : parent).append(l);
      top = { indent, list: l, item: null };
      stack.push(top);
    }
    const li = el('li');
    inline(li, m[3], ctx);
    top.list.append(li);
    top.item = li;
  }
  return i;
}

function cells(line) {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|')) s = s.slice(0, -1);
  return s.split('|').map((c) => c.trim());
}

function table(parent, lines, i, ctx) {
  const t = el('table');
  const head = el('thead');
  const tr = el('tr');
  for (const c of cells(lines[i])) {
    const th = el('th');
    th.scope = 'col';
    inline(th, c, ctx);
    tr.append(th);
  }
  head.append(tr);
  t.append(head);
  const body = el('tbody');
  for (i += 2; i < lines.length && lines[i].includes('|') && lines[i].trim() !== ''; i++) {
    const r = el('tr');
    for (const c of cells(lines[i])) {
      const td = el('td');
      inline(td, c, ctx);
      r.append(td);
    }
    body.append(r);
  }
  t.append(body);
  const wrap = el('div', 'table-wrap');
  wrap.append(t);
  parent.append(wrap);
  return i;
}

function link(href, label, ctx) {
  const a = el('a');
  a.href = href;
  a.rel = 'noopener noreferrer nofollow ugc';
  a.target = '_blank';
  a.title = href;
  inline(a, label, { ...ctx, noLinks: true, depth: ctx.depth + 1 });
  return a;
}

function inline(parent, text, ctx) {
  if (ctx.depth > MAX_DEPTH) {
    parent.append(text);
    return;
  }
  const re = new RegExp(INLINE.source, 'g');
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    if (m.index > last) parent.append(text.slice(last, m.index));
    last = re.lastIndex;
    const deeper = { ...ctx, depth: ctx.depth + 1 };
    if (m[2] !== undefined) {
      const c = el('code');
      c.textContent = m[2].trim() === '' ? m[2] : m[2].trim();
      parent.append(c);
    } else if (m[3] !== undefined || m[4] !== undefined) {
      const s = el('strong');
      inline(s, m[3] ?? m[4], deeper);
      parent.append(s);
    } else if (m[5] !== undefined) {
      const e = el('em');
      inline(e, m[5], deeper);
      parent.append(e);
    } else if (m[6] !== undefined) {
      const href = safeURL(m[7]);
      if (href && !ctx.noLinks) {
        parent.append(link(href, m[6], ctx));
      } else {
        // Not an http(s) link (javascript:, data:, …): the label as text.
        inline(parent, m[6], deeper);
      }
    } else if (m[9] !== undefined) {
      const close = m[12];
      if ((m[8] === '[') !== (close === ']') || ctx.noLinks || !ctx.timestamp) {
        parent.append(m[0]);
        continue;
      }
      parent.append(m[8]);
      parent.append(ctx.timestamp(parseClock(m[9]), m[9]));
      if (m[11] !== undefined) {
        parent.append(m[10]);
        parent.append(ctx.timestamp(parseClock(m[11]), m[11]));
      }
      parent.append(close);
    } else if (m[15] !== undefined) {
      // Only the page's image hook shows it (fetched with the key); else
      // the alt text.
      parent.append(ctx.image && !ctx.noLinks ? ctx.image(m[15], m[14]) : m[14]);
    } else if (m[13] !== undefined) {
      const href = safeURL(m[13]);
      if (href && !ctx.noLinks) {
        parent.append(link(href, m[13], { ...ctx, depth: MAX_DEPTH }));
      } else {
        parent.append(m[13]);
      }
    }
  }
  if (last < text.length) parent.append(text.slice(last));
}
