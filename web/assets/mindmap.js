// The mind map: the markmap export of a summary (a markdown headings tree,
// GET /api/v1/jobs/{id}/chapters?format=markmap) shown as a nested list.
// Every node with children is a <details>, so the tree folds without
// script and without an external library; text goes in as text nodes.

// parseMarkmap turns the export into a tree of {text, children}: headings
// nest by level, list items under the heading before them (by indent).
export function parseMarkmap(src) {
  const lines = String(src).replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  if (lines[0] === '---') {
    // YAML front matter: the title and markmap's options.
    const end = lines.indexOf('---', 1);
    i = end > 0 ? end + 1 : 0;
  }
  const root = { text: '', children: [] };
  // stack of {depth, node}: headings have depth 1..6, items 10 + indent.
  const stack = [{ depth: 0, node: root }];
  const add = (depth, text) => {
    while (stack.length > 1 && stack[stack.length - 1].depth >= depth) stack.pop();
    const node = { text, children: [] };
    stack[stack.length - 1].node.children.push(node);
    stack.push({ depth, node });
  };
  for (; i < lines.length; i++) {
    const line = lines[i];
    let m = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (m) {
      add(m[1].length, m[2]);
      continue;
    }
    m = /^(\s*)[-*+]\s+(.*)$/.exec(line);
    if (m) {
      add(10 + m[1].replace(/\t/g, '    ').length, m[2].trim());
    }
  }
  return root;
}

// renderMindMap fills container with the tree; levels above openDepth
// start unfolded. tsNode(sec, label) makes a timestamp's link.
export function renderMindMap(container, root, tsNode, openDepth = 2) {
  const list = (nodes, level) => {
    const ul = document.createElement('ul');
    ul.className = level === 1 ? 'mindmap-tree' : '';
    for (const n of nodes) {
      const li = document.createElement('li');
      const label = document.createElement('span');
      label.className = 'mm-label';
      label.append(...textNodes(n.text, tsNode));
      if (n.children.length) {
        const d = document.createElement('details');
        d.open = level < openDepth;
        const s = document.createElement('summary');
        s.append(label);
        d.append(s, list(n.children, level + 1));
        li.append(d);
      } else {
        li.append(label);
      }
      ul.append(li);
    }
    return ul;
  };
  container.replaceChildren(list(root.children, 1));
}

// textNodes is a node's text with its [mm:ss] stamps as links and the
// markdown emphasis markers dropped.
function textNodes(text, tsNode) {
  const out = [];
  const re = /\[(\d{1,2}:\d{2}(?::\d{2})?)\]/g;
  let last = 0;
  let m;
  const plain = (s) => document.createTextNode(s.replace(/\*\*|__|`/g, ''));
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(plain(text.slice(last, m.index)));
    const sec = m[1].split(':').reduce((acc, p) => acc * 60 + Number(p), 0);
    out.push(tsNode(sec, m[1]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(plain(text.slice(last)));
  return out;
}
