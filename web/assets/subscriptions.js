// The page's subscriptions section: follow a channel, playlist or feed
// (POST /api/v1/subscriptions), list the caller's, unsubscribe. Every
// value from the server is written as text, never as markup.
import { request } from './api.js';

const $ = (id) => document.getElementById(id);

function item(creds, s) {
  const li = document.createElement('li');
  li.dataset.id = s.id;
  const a = document.createElement('a');
  a.href = /^https?:\/\//.test(s.url) ? s.url : '#';
  a.rel = 'noopener noreferrer';
  a.target = '_blank';
  a.textContent = s.title || s.url;
  const meta = document.createElement('span');
  meta.className = 'hint';
  let text = ` · ${s.state}${s.paused_reason ? ' (' + s.paused_reason + ')' : ''} · every ${s.interval_seconds}s`;
  if (s.last_error) text += ` · ${s.last_error}`;
  meta.textContent = text;
  const del = document.createElement('button');
  del.type = 'button';
  del.className = 'secondary unsubscribe';
  del.textContent = 'Unsubscribe';
  del.addEventListener('click', async () => {
    try {
      await request(creds, `/api/v1/subscriptions/${encodeURIComponent(s.id)}`, { method: 'DELETE' });
      li.remove();
    } catch (err) {
      meta.textContent = ' · ' + err.message;
    }
  });
  li.append(a, meta, ' ', del);
  return li;
}

/** loadSubscriptions lists the caller's subscriptions. */
export async function loadSubscriptions(creds) {
  if (!creds.token()) return;
  const status = $('subs-status');
  try {
    const page = await (await request(creds, '/api/v1/subscriptions?limit=100')).json();
    $('subs').replaceChildren(...page.data.map((s) => item(creds, s)));
    status.textContent = page.data.length ? '' : 'No subscriptions yet.';
  } catch (err) {
    status.textContent = err.message;
  }
}

/** wireSubscriptions connects the section's form. */
export function wireSubscriptions(creds, syncKey) {
  $('subscribe').addEventListener('submit', async (e) => {
    e.preventDefault();
    syncKey();
    const status = $('subs-status');
    const body = { url: $('sub-url').value.trim() };
    const every = parseInt($('sub-interval').value, 10);
    if (every > 0) body.interval_seconds = every;
    try {
      const s = await (await request(creds, '/api/v1/subscriptions', { method: 'POST', body: JSON.stringify(body) })).json();
      $('sub-url').value = '';
      await loadSubscriptions(creds);
      const feed = $('sub-feed');
      feed.hidden = false;
      feed.querySelector('code').textContent = s.feed_url;
    } catch (err) {
      status.textContent = err.message;
    }
  });
  $('subs-box').addEventListener('toggle', () => {
    syncKey();
    loadSubscriptions(creds);
  });
}
