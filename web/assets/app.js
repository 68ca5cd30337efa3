// Recap's web page: a client of the JSON API on the same origin.
import { APIError, Credentials, finishSignIn, request, signIn } from './api.js';
import { clock, render, safeURL } from './markdown.js';
import { parseMarkmap, renderMindMap } from './mindmap.js';
import { events } from './sse.js';
import { wireSubscriptions } from './subscriptions.js';
import { momentURL, player } from './video.js';

const $ = (id) => document.getElementById(id);
const TERMINAL = ['succeeded', 'failed', 'canceled'];
const STAGES = {
  queued: 'Queued',
  resolving: 'Resolving the video',
  transcribing: 'Getting the transcript',
  summarizing: 'Summarizing',
  succeeded: 'Done',
  failed: 'Failed',
  canceled: 'Canceled',
};

const creds = new Credentials(document.querySelector('meta[name="recap-oauth-client"]').content.trim());

// The job on screen.
const view = {
  jobID: '',
  video: '',
  summary: '',
  conversation: [],
  transcriptLoaded: false,
  mindmapJob: '', // the job whose mind map is on screen
  abort: null, // AbortController of the streams following the job
  busy: false,
};

function showError(err) {
  const box = $('error');
  if (!err) {
    box.hidden = true;
    box.textContent = '';
    return;
  }
  box.textContent = err instanceof APIError || err instanceof Error ? err.message : String(err);
  box.hidden = false;
}

function setStatus(text, percent) {
  $('status').textContent = text;
  const p = $('progress');
  if (percent === null) {
    p.hidden = true;
  } else {
    p.hidden = false;
    if (percent === undefined) p.removeAttribute('value');
    else p.value = Math.max(0, Math.min(100, percent));
  }
}

// timestampNode is the link to a moment of the video on screen.
function timestampNode(sec, label) {
  const href = momentURL(view.video, sec);
  if (!href) return document.createTextNode(label);
  const a = document.createElement('a');
  a.className = 'ts';
  a.href = href;
  a.dataset.t = String(Math.floor(sec));
  a.rel = 'noopener noreferrer';
  a.target = '_blank';
  a.setAttribute('aria-label', `Play from ${clock(sec)}`);
  a.textContent = label;
  return a;
}

// With an embedded player, a timestamp link seeks it instead.
document.addEventListener('click', (e) => {
  const a = e.target instanceof Element ? e.target.closest('a.ts') : null;
  const media = $('media');
  if (!a || !media || e.ctrlKey || e.metaKey || e.shiftKey) return;
  e.preventDefault();
  media.currentTime = Number(a.dataset.t);
  media.play().catch(() => {});
  media.focus();
});

let renderQueued = false;
function renderSummary() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render($('summary'), view.summary, timestampNode, frameNode);
  });
}

// frames holds each frame's blob: URL (by its API path) while the page
// lives, so a re-render does not fetch it again.
const frames = new Map();

// frameNode shows one of a job's frames. An <img src> cannot send the
// key, so the picture is fetched with it and shown from a blob: URL.
function frameNode(path, alt) {
  const img = document.createElement('img');
  img.className = 'frame';
  img.alt = alt || 'frame';
  let url = frames.get(path);
  if (!url) {
    url = request(creds, path)
      .then((r) => r.blob())
      .then((b) => URL.createObjectURL(b));
    frames.set(path, url);
    url.catch(() => frames.delete(path));
  }
  url.then(
    (u) => {
      img.src = u;
    },
    () => img.replaceWith(document.createTextNode(img.alt)),
  );
  return img;
}

function slug() {
  const t = ($('title').textContent || 'summary').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '-').replace(/^-|-$/g, '');
  return (t || 'summary').slice(0, 60);
}

function download(name, blob) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

const TABS = ['summary', 'transcript', 'mindmap'];

function selectTab(which) {
  for (const name of TABS) {
    const on = name === which;
    const tab = $('tab-' + name);
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $('panel-' + name).hidden = !on;
  }
  if (which === 'transcript') loadTranscript();
}

function resetResult(video, title) {
  if (view.abort) view.abort.abort();
  view.abort = new AbortController();
  view.jobID = '';
  view.video = video;
  view.summary = '';
  view.conversation = [];
  view.transcriptLoaded = false;
  view.mindmapJob = '';
  $('tab-mindmap').hidden = true;
  $('mindmap').replaceChildren();
  $('result').hidden = false;
  $('title').textContent = title || 'Summary';
  const src = $('source');
  const href = safeURL(video);
  src.textContent = video;
  if (href) src.href = href;
  else src.removeAttribute('href');
  $('summary').replaceChildren();
  $('thread').replaceChildren();
  $('transcript').replaceChildren();
  $('transcript-status').textContent = '';
  $('dl-md').disabled = true;
  $('ask').disabled = true;
  $('cancel').hidden = true;
  const p = player(video);
  $('player').replaceChildren(...(p ? [p] : []));
  selectTab('summary');
  setStatus('Starting…', undefined);
  return view.abort.signal;
}

function finished(summary) {
  if (summary !== undefined) view.summary = summary;
  renderSummary();
  $('summary').setAttribute('aria-busy', 'false');
  $('dl-md').disabled = !view.summary;
  $('ask').disabled = !view.summary;
  $('cancel').hidden = true;
  if (view.summary) view.conversation.push({ role: 'assistant', content: view.summary });
  if (view.summary && view.jobID) loadMindMap(view.jobID);
}

// loadMindMap shows the Mind map tab when the job's summary has one (the
// markmap export); a summary still being stored is asked again shortly.
async function loadMindMap(jobID, tries = 0) {
  if (view.mindmapJob === jobID) return;
  let text;
  try {
    const resp = await request(creds, `/api/v1/jobs/${encodeURIComponent(jobID)}/chapters?format=markmap`);
    text = await resp.text();
  } catch (err) {
    if (err instanceof APIError && err.status === 409 && tries < 5 && jobID === view.jobID) {
      setTimeout(() => loadMindMap(jobID, tries + 1), 1000);
    }
    return; // no mind map: the tab stays hidden
  }
  if (jobID !== view.jobID) return;
  const tree = parseMarkmap(text);
  if (!tree.children.length) return;
  view.mindmapJob = jobID;
  renderMindMap($('mindmap'), tree, timestampNode);
  $('tab-mindmap').hidden = false;
}

// followProgress shows the job's stage and percent from its event stream;
// with deltas it also streams the summary (a job opened from the list).
async function followProgress(jobID, signal, deltas) {
  const resp = await request(creds, `/api/v1/jobs/${encodeURIComponent(jobID)}/events`, { signal });
  for await (const ev of events(resp.body)) {
    let data;
    try {
      data = JSON.parse(ev.data);
    } catch {
      continue;
    }
    switch (ev.event) {
      case 'state':
        setStatus(STAGES[data.state] ? STAGES[data.state] + '…' : data.state, data.state === 'summarizing' ? undefined : 0);
        break;
      case 'progress':
        setStatus(data.message || $('status').textContent, data.percent ?? undefined);
        break;
      case 'delta':
        if (deltas) {
          view.summary += data.text || '';
          renderSummary();
        }
        break;
      case 'result':
        setStatus(STAGES.succeeded, null);
        if (deltas) finished(data.result ? data.result.markdown : view.summary);
        return;
      case 'error':
        setStatus(STAGES.failed, null);
        if (deltas) {
          showError(new APIError(0, (data.error && data.error.message) || 'The job failed.', data.error && data.error.code));
          finished();
        }
        return;
      case 'job':
        // The job's events have expired: its final view.
        setStatus(STAGES[data.state] || data.state, null);
        if (deltas) {
          if (data.result) finished(data.result.summary);
          if (data.error) showError(new APIError(0, data.error.message, data.error.code));
        }
        return;
    }
  }
}

// chat streams a chat completion; onText gets each piece of content and
// onNote each progress line. It returns the job id.
async function chat(body, signal, onText, onNote, onJob) {
  const resp = await request(creds, '/api/v1/chat/completions', {
    method: 'POST',
    body: JSON.stringify({ model: 'bibigpt', stream: true, ...body }),
    signal,
  });
  const jobID = resp.headers.get('X-Recap-Job-Id') || '';
  if (onJob) onJob(jobID);
  for await (const ev of events(resp.body)) {
    if (ev.data === '[DONE]') break;
    let chunk;
    try {
      chunk = JSON.parse(ev.data);
    } catch {
      continue;
    }
    if (chunk.error) throw new APIError(0, chunk.error.message, chunk.error.code);
    const d = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
    if (!d) continue;
    if (d.reasoning_content) onNote(d.reasoning_content.trim());
    if (d.content) onText(d.content);
  }
  return jobID;
}

async function summarize(url, prompt, lang, withFrames) {
  const signal = resetResult(url);
  const content = prompt ? `${url}\n\n${prompt}` : url;
  view.conversation = [{ role: 'user', content }];
  $('summary').setAttribute('aria-busy', 'true');
  const body = { messages: [{ role: 'user', content }] };
  if (lang) body.output_language = lang;
  if (withFrames) body.frames = true;
  let progress = null;
  // The progress stream ends with the job; a reply served from cache has
  // none to follow, so it is closed when the reply ends.
  const pc = new AbortController();
  signal.addEventListener('abort', () => pc.abort());
  try {
    await chat(
      body,
      signal,
      (text) => {
        view.summary += text;
        renderSummary();
      },
      (note) => setStatus(note, undefined),
      (jobID) => {
        view.jobID = jobID;
        $('cancel').hidden = !jobID;
        if (jobID) progress = followProgress(jobID, pc.signal, false).catch(() => {});
      },
    );
    setStatus(STAGES.succeeded, null);
    // The frames are linked into the job's result once they are made:
    // the job's summary then replaces the streamed one.
    finished(withFrames && view.jobID ? await jobSummary(view.jobID, view.summary) : undefined);
    if (view.jobID) showJobMeta(view.jobID);
  } catch (err) {
    if (signal.aborted) return;
    setStatus(STAGES.failed, null);
    finished();
    showError(err);
  } finally {
    pc.abort();
    await progress;
    loadJobs();
  }
}

// jobSummary is the job's result summary, or fallback.
async function jobSummary(jobID, fallback) {
  try {
    const v = await (await request(creds, `/api/v1/jobs/${encodeURIComponent(jobID)}`)).json();
    return (v.result && v.result.summary) || fallback;
  } catch {
    return fallback;
  }
}

async function showJobMeta(jobID) {
  try {
    const v = await (await request(creds, `/api/v1/jobs/${encodeURIComponent(jobID)}`)).json();
    if (v.title && jobID === view.jobID) $('title').textContent = v.title;
  } catch {
    // the heading stays generic
  }
}

async function openJob(jobID) {
  showError(null);
  let v;
  try {
    v = await (await request(creds, `/api/v1/jobs/${encodeURIComponent(jobID)}`)).json();
  } catch (err) {
    showError(err);
    return;
  }
  const signal = resetResult(v.url || '', v.title);
  view.jobID = v.id;
  view.conversation = [{ role: 'user', content: v.prompt ? `${v.url}\n\n${v.prompt}` : v.url }];
  $('result').scrollIntoView({ block: 'start' });
  if (v.state === 'succeeded') {
    setStatus(STAGES.succeeded, null);
    finished(v.result ? v.result.summary : '');
    return;
  }
  if (TERMINAL.includes(v.state)) {
    setStatus(STAGES[v.state], null);
    finished();
    if (v.error) showError(new APIError(0, v.error.message, v.error.code));
    return;
  }
  $('cancel').hidden = false;
  $('summary').setAttribute('aria-busy', 'true');
  try {
    await followProgress(v.id, signal, true);
  } catch (err) {
    if (!signal.aborted) showError(err);
  }
  loadJobs();
}

async function loadTranscript() {
  if (view.transcriptLoaded || !view.jobID) {
    if (!view.jobID) $('transcript-status').textContent = 'The transcript is ready once the job has one.';
    return;
  }
  const jobID = view.jobID;
  $('transcript-status').textContent = 'Loading the transcript…';
  try {
    const t = await (await request(creds, `/api/v1/transcripts/${encodeURIComponent(jobID)}`)).json();
    if (jobID !== view.jobID) return;
    const list = $('transcript');
    const frag = document.createDocumentFragment();
    for (const s of t.segments || []) {
      const li = document.createElement('li');
      li.append(timestampNode(s.start, clock(s.start)), ' ');
      const span = document.createElement('span');
      span.textContent = s.text;
      li.append(span);
      frag.append(li);
    }
    list.replaceChildren(frag);
    view.transcriptLoaded = true;
    const n = (t.segments || []).length;
    $('transcript-status').textContent = `${n} line${n === 1 ? '' : 's'}` + (t.language ? ` · ${t.language}` : '') + (t.source ? ` · ${t.source}` : '');
  } catch (err) {
    $('transcript-status').textContent = err.message;
  }
}

async function ask(question) {
  const entry = document.createElement('div');
  entry.className = 'turn';
  const q = document.createElement('p');
  q.className = 'question';
  q.textContent = question;
  const a = document.createElement('div');
  a.className = 'md answer';
  a.setAttribute('aria-live', 'polite');
  entry.append(q, a);
  $('thread').append(entry);
  const messages = [...view.conversation, { role: 'user', content: question }];
  let text = '';
  $('ask').disabled = true;
  try {
    await chat(
      { messages },
      view.abort ? view.abort.signal : undefined,
      (piece) => {
        text += piece;
        render(a, text, timestampNode);
      },
      () => {},
    );
    view.conversation.push({ role: 'user', content: question }, { role: 'assistant', content: text });
  } catch (err) {
    a.textContent = '';
    const p = document.createElement('p');
    p.className = 'error';
    p.textContent = err.message;
    a.append(p);
  } finally {
    $('ask').disabled = !view.summary;
  }
}

function jobItem(v) {
  const li = document.createElement('li');
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'job';
  const title = document.createElement('span');
  title.className = 'job-title';
  title.textContent = v.title || v.url || v.id;
  const state = document.createElement('span');
  state.className = 'state state-' + (TERMINAL.includes(v.state) || STAGES[v.state] ? v.state : 'other');
  state.textContent = v.state + (v.state !== 'succeeded' && !TERMINAL.includes(v.state) && v.progress ? ` ${Math.round(v.progress)}%` : '');
  const when = document.createElement('time');
  when.dateTime = v.created_at;
  when.textContent = new Date(v.created_at).toLocaleString();
  b.append(title, state, when);
  b.addEventListener('click', () => openJob(v.id));
  li.append(b);
  if (v.error && v.error.message) {
    const e = document.createElement('p');
    e.className = 'hint';
    e.textContent = v.error.message;
    li.append(e);
  }
  return li;
}

let nextCursor = '';
async function loadJobs(more = false) {
  if (!creds.token()) return;
  const status = $('jobs-status');
  try {
    const q = new URLSearchParams({ limit: '10' });
    if (more && nextCursor) q.set('cursor', nextCursor);
    const page = await (await request(creds, '/api/v1/jobs?' + q)).json();
    const list = $('jobs');
    if (!more) list.replaceChildren();
    for (const v of page.data) list.append(jobItem(v));
    nextCursor = page.has_more ? page.next_cursor : '';
    $('more-jobs').hidden = !nextCursor;
    status.textContent = list.children.length ? '' : 'No jobs yet.';
  } catch (err) {
    status.textContent = err.message;
  }
}

async function batch(urls) {
  const out = $('batch-jobs');
  out.replaceChildren();
  try {
    const body = { urls };
    const prompt = $('prompt').value.trim();
    if (prompt) body.prompt = prompt;
    if ($('output_language').value) body.output_language = $('output_language').value;
    const resp = await request(creds, '/api/v1/jobs', { method: 'POST', body: JSON.stringify(body) });
    let jobs = (await resp.json()).data;
    // The batch view follows its jobs until each has ended.
    for (let round = 0; round < 400; round++) {
      out.replaceChildren(...jobs.map(jobItem));
      if (jobs.every((j) => TERMINAL.includes(j.state))) break;
      await new Promise((r) => setTimeout(r, 3000));
      jobs = await Promise.all(jobs.map(async (j) => (TERMINAL.includes(j.state) ? j : (await request(creds, `/api/v1/jobs/${encodeURIComponent(j.id)}`)).json())));
    }
    loadJobs();
  } catch (err) {
    const li = document.createElement('li');
    li.className = 'error';
    li.textContent = err.message;
    out.append(li);
  }
}

function updateAccount() {
  $('signed-in').hidden = !creds.signedIn;
  $('sign-out').hidden = !creds.signedIn;
  $('sign-in').hidden = creds.signedIn || !creds.clientID;
  $('key-row').hidden = creds.signedIn;
}

function wire() {
  const key = Credentials.rememberedKey();
  if (key) {
    $('key').value = key;
    $('remember').checked = true;
  }
  creds.key = $('key').value;
  $('key').addEventListener('input', () => {
    creds.key = $('key').value;
    if ($('remember').checked) Credentials.remember(creds.key.trim());
  });
  $('key').addEventListener('change', () => loadJobs());
  $('remember').addEventListener('change', () => Credentials.remember($('remember').checked ? creds.key.trim() : ''));

  $('form').addEventListener('submit', (e) => {
    e.preventDefault();
    showError(null);
    const url = $('url').value.trim();
    creds.key = $('key').value;
    if (!creds.token()) {
      showError(new APIError(401, 'Paste an API key, or sign in, first.'));
      $('key').focus();
      return;
    }
    Credentials.remember($('remember').checked ? creds.key.trim() : '');
    summarize(url, $('prompt').value.trim(), $('output_language').value, $('frames').checked);
  });
  $('cancel').addEventListener('click', async () => {
    if (!view.jobID) return;
    try {
      await request(creds, `/api/v1/jobs/${encodeURIComponent(view.jobID)}`, { method: 'DELETE' });
    } catch (err) {
      showError(err);
    }
  });
  $('followup').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = $('question').value.trim();
    if (!q || !view.summary) return;
    $('question').value = '';
    ask(q);
  });
  $('dl-md').addEventListener('click', () => download(slug() + '.md', new Blob([view.summary], { type: 'text/markdown' })));
  for (const b of document.querySelectorAll('.dl-transcript')) {
    b.addEventListener('click', async () => {
      const format = b.dataset.format;
      try {
        const resp = await request(creds, `/api/v1/transcripts/${encodeURIComponent(view.jobID)}?format=${format}`);
        download(`${slug()}.${format}`, await resp.blob());
      } catch (err) {
        $('transcript-status').textContent = err.message;
      }
    });
  }
  $('tab-summary').addEventListener('click', () => selectTab('summary'));
  $('tab-transcript').addEventListener('click', () => selectTab('transcript'));
  $('tab-mindmap').addEventListener('click', () => selectTab('mindmap'));
  document.querySelector('[role=tablist]').addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight' && e.key !== 'Home' && e.key !== 'End') return;
    e.preventDefault();
    const shown = TABS.filter((name) => !$('tab-' + name).hidden);
    const at = shown.findIndex((name) => $('tab-' + name).getAttribute('aria-selected') === 'true');
    const step = e.key === 'ArrowLeft' ? -1 : 1;
    const which = e.key === 'Home' ? shown[0] : e.key === 'End' ? shown[shown.length - 1] : shown[(at + step + shown.length) % shown.length];
    selectTab(which);
    $('tab-' + which).focus();
  });
  $('refresh-jobs').addEventListener('click', () => {
    creds.key = $('key').value;
    loadJobs();
  });
  $('more-jobs').addEventListener('click', () => loadJobs(true));
  $('batch').addEventListener('submit', (e) => {
    e.preventDefault();
    const urls = $('urls').value.split(/\s+/).filter(Boolean);
    if (!urls.length) return;
    creds.key = $('key').value;
    if (!creds.token()) {
      showError(new APIError(401, 'Paste an API key, or sign in, first.'));
      return;
    }
    batch(urls);
  });
  $('sign-in').addEventListener('click', () => signIn(creds.clientID).catch(showError));
  $('sign-out').addEventListener('click', () => {
    creds.saveOAuth(null);
    updateAccount();
    $('jobs').replaceChildren();
  });
}

async function main() {
  wire();
  wireSubscriptions(creds, () => { creds.key = $('key').value; });
  try {
    if (creds.clientID) await finishSignIn(creds);
  } catch (err) {
    showError(err);
  }
  updateAccount();
  loadJobs();
  document.body.dataset.ready = 'true';
}

main();
